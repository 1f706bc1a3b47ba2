namespace LossKernels.OpenCL;

/// <summary>
/// A typed buffer of <see cref="Length"/> elements on an <see cref="OpenCLDevice"/>: what the device
/// overloads of the loss entry points take in place of spans. Made by <see cref="OpenCLDevice.Allocate{T}"/>
/// (owned: <see cref="Dispose"/> releases it) or <see cref="OpenCLDevice.Wrap{T}"/> (an engine's own
/// <c>cl_mem</c>: never released here). Upload and download copy from and to spans, block until done,
/// and allocate nothing.
/// </summary>
/// <typeparam name="T">An unmanaged element type (<see cref="float"/> for data, <see cref="long"/> for class indices).</typeparam>
public sealed unsafe class DeviceBuffer<T> : IDisposable
    where T : unmanaged
{
    private readonly MemoryHandle? memory;

    internal DeviceBuffer(OpenCLDevice device, MemoryHandle? memory, int length)
    {
        Device = device;
        this.memory = memory;
        Length = length;
    }

    /// <summary>The device the buffer lives on.</summary>
    public OpenCLDevice Device { get; }

    /// <summary>The element count.</summary>
    public int Length { get; }

    /// <summary>Whether disposing the buffer releases its memory (false for a wrapped <c>cl_mem</c>).</summary>
    public bool OwnsMemory => memory?.OwnsHandle ?? true;

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>The <c>cl_mem</c> handle (zero for an empty buffer), for engines that pass it to their own kernels.</summary>
    /// <exception cref="ObjectDisposedException">The buffer or its device is disposed.</exception>
    public nint NativeHandle => Handle;

    /// <summary>The <c>cl_mem</c>; throws once the buffer or its device is disposed.</summary>
    internal nint Handle
    {
        get
        {
            ThrowIfDisposed();
            return memory?.DangerousGetHandle() ?? 0;
        }
    }

    /// <summary>Copies <paramref name="source"/> into the buffer starting at element <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="source"/> does not fit from <paramref name="offset"/>.</exception>
    /// <exception cref="ObjectDisposedException">The buffer or its device is disposed.</exception>
    public void Upload(ReadOnlySpan<T> source, int offset = 0)
    {
        fixed (T* host = source)
            Transfer(host, source.Length, offset, write: true, nameof(source));
    }

    /// <summary>Copies elements from <paramref name="offset"/> on into all of <paramref name="destination"/>, after the work queued before it has finished.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> reaches past the buffer's end.</exception>
    /// <exception cref="ObjectDisposedException">The buffer or its device is disposed.</exception>
    public void Download(Span<T> destination, int offset = 0)
    {
        fixed (T* host = destination)
            Transfer(host, destination.Length, offset, write: false, nameof(destination));
    }

    /// <summary>Releases the memory if the buffer owns it; a wrapped <c>cl_mem</c> stays the engine's.</summary>
    public void Dispose()
    {
        IsDisposed = true;
        memory?.Dispose();
    }

    /// <summary>One line: element type, length and device.</summary>
    public override string ToString() => $"DeviceBuffer<{typeof(T).Name}>[{Length}] on {Device.Info.Name}";

    internal void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        Device.ThrowIfDisposed();
    }

    /// <summary>A blocking copy of <paramref name="count"/> elements between <paramref name="host"/> and the buffer from <paramref name="offset"/>.</summary>
    private void Transfer(T* host, int count, int offset, bool write, string paramName)
    {
        ThrowIfDisposed();
        if ((uint)offset > (uint)Length)
            ThrowHelper.OutOfRange(nameof(offset), offset, $"between 0 and the buffer length {Length}");
        if (count > Length - offset)
            ThrowHelper.Argument(paramName, $"{count} elements from offset {offset} do not fit in a buffer of {Length}.");
        if (count == 0)
            return;
        nuint byteOffset = (nuint)offset * (nuint)sizeof(T), bytes = (nuint)count * (nuint)sizeof(T);
        int status = write
            ? OpenCLNative.clEnqueueWriteBuffer(Device.Queue, Handle, OpenCLNative.True, byteOffset, bytes, host, 0, null, null)
            : OpenCLNative.clEnqueueReadBuffer(Device.Queue, Handle, OpenCLNative.True, byteOffset, bytes, host, 0, null, null);
        OpenCLException.ThrowIfFailed(status, write ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer");
    }
}
