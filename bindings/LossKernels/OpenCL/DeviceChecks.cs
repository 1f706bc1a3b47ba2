namespace LossKernels.OpenCL;

/// <summary>The argument checks every device entry point makes on an optional buffer: the same device, and the length it needs. No allocation.</summary>
internal static class DeviceChecks
{
    /// <summary>Throws unless <paramref name="buffer"/> (when given) lives on <paramref name="device"/> and holds <paramref name="length"/> elements (any length when negative).</summary>
    public static void Buffer<T>(DeviceBuffer<T>? buffer, OpenCLDevice device, int length, string paramName)
        where T : unmanaged
    {
        if (buffer is null)
            return;
        buffer.ThrowIfDisposed();
        if (!ReferenceEquals(buffer.Device, device))
            ThrowHelper.Argument(paramName, $"{paramName} lives on another device than the first input.");
        if (length >= 0)
            ThrowHelper.IfLengthDiffers(length, buffer.Length, paramName);
    }

    /// <summary>Throws when <paramref name="written"/> is the same OpenCL buffer as <paramref name="read"/> (a buffer is the unit of memory here: two wrappers of one <c>cl_mem</c> are the same; two empty buffers are not).</summary>
    public static void IfSame<TWritten, TRead>(DeviceBuffer<TWritten>? written, DeviceBuffer<TRead>? read, string paramName, string readName)
        where TWritten : unmanaged
        where TRead : unmanaged
    {
        // Empty buffers have no cl_mem (handle 0) and share nothing.
        if (written is not null && read is not null && written.Handle != 0 && written.Handle == read.Handle)
            ThrowHelper.Argument(paramName, $"{paramName} must not be the {readName} buffer.");
    }
}
