using System.Numerics;
using System.Text;
using LossKernels.Catalog;

namespace LossKernels.OpenCL;

/// <summary>How the OpenCL kernels of reduced losses split the sum (see <c>kernels/opencl/elementwise.h</c>).</summary>
public enum OpenCLReductionVariant
{
    /// <summary>By device type: <see cref="ChunkPerWorkItem"/> on CPU devices, <see cref="WorkGroupTree"/> elsewhere.</summary>
    Auto,

    /// <summary>For GPUs: a work-group of up to 256 work-items per 4,096-element tile, coalesced float4 loads, a barrier tree in local memory.</summary>
    WorkGroupTree,

    /// <summary>For CPU devices such as PoCL: one work-item per contiguous chunk in float16 vectors, no barriers.</summary>
    ChunkPerWorkItem,
}

/// <summary>
/// One OpenCL device with the context and command queue the library runs on it, and what it builds
/// once and reuses: programs and kernels per loss, the reduction partials and the error flag. After
/// the first call of a loss (which builds its program), a call allocates nothing on the host and
/// creates no OpenCL object.
/// </summary>
/// <remarks>
/// <para>Threads: any number of threads may call losses on one device at once; launches on a device are
/// serialized (they share kernels and scratch), and a reduced call holds the device until its sum is read back.</para>
/// <para>Getting a device: PoCL on a CPU (<c>apt-get install pocl-opencl-icd ocl-icd-libopencl1</c>), or a GPU vendor's driver.
/// <see cref="Select()"/> honours <c>LOSSKERNELS_OPENCL_DEVICE</c> (an index into <see cref="ListDevices"/> or a
/// case-insensitive part of a device name), else takes the first GPU, else the first device.</para>
/// </remarks>
public sealed unsafe partial class OpenCLDevice : LossDevice, IDisposable
{
    /// <summary>The environment variable <see cref="Select()"/> reads: an index or a part of a device name.</summary>
    public const string DeviceVariable = "LOSSKERNELS_OPENCL_DEVICE";

    private const int IntMax = int.MaxValue;

    private readonly Lock gate = new();
    private readonly Dictionary<ProgramKey, KernelSet> programs = [];
    private readonly ContextHandle context;
    private readonly QueueHandle queue;
    private readonly MemoryHandle faultFlag;
    private MemoryHandle? partials;
    private int partialsCapacity;
    private MemoryHandle? counters;
    private int[] counterHost = [];
    private double[] hostPartials = [];
    private float[] hostFloatPartials = [];
    /// <summary>Scratch buffers per device: the overlap losses use 0 and 1 (statistics, coefficients), the Lovász losses 0 and 2 to 7 (statistics, two key and two payload buffers, the counts, ∂L/∂p), triplet mining 0, 2, 3 and 4 (rows, distances, coefficients, squares and norms), the Gram style loss 8 and 9 (the Grams, the backward's matrix).</summary>
    internal const int ScratchSlots = 10;

    private readonly MemoryHandle?[] scratch = new MemoryHandle?[ScratchSlots];
    private readonly long[] scratchBytes = new long[ScratchSlots];
    private OpenCLReductionVariant variant;
    private bool disposed;

    private OpenCLDevice(OpenCLDeviceInfo info)
    {
        Info = info;
        nint deviceId = info.DeviceId;
        int status;
        context = ContextHandle.Create(OpenCLNative.clCreateContext(null, 1, &deviceId, 0, 0, &status), status);
        queue = QueueHandle.Create(OpenCLNative.clCreateCommandQueue(context.DangerousGetHandle(), deviceId, 0, &status), status);
        faultFlag = MemoryHandle.Create(OpenCLNative.clCreateBuffer(context.DangerousGetHandle(), OpenCLNative.MemReadWrite, sizeof(int), null, &status), status);
        WriteFault(IntMax);
    }

    /// <summary>The facts of the device.</summary>
    public OpenCLDeviceInfo Info { get; }

    /// <summary>How reduced losses split their sum on this device; <see cref="OpenCLReductionVariant.Auto"/> by default.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined variant.</exception>
    public OpenCLReductionVariant Variant
    {
        get => variant;
        set
        {
            if (!Enum.IsDefined(value))
                ThrowHelper.OutOfRange(nameof(value), (int)value, "a defined OpenCLReductionVariant");
            lock (gate)
                variant = value;
        }
    }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => disposed;

    /// <summary>The variant a launch uses now: <see cref="Variant"/>, with Auto resolved by the device type.</summary>
    internal OpenCLReductionVariant ResolvedVariant => variant != OpenCLReductionVariant.Auto ? variant
        : Info.Type.HasFlag(OpenCLDeviceType.Cpu) ? OpenCLReductionVariant.ChunkPerWorkItem : OpenCLReductionVariant.WorkGroupTree;

    /// <summary>
    /// Whether launches take the CPU devices' kernels (<see cref="OpenCLReductionVariant.ChunkPerWorkItem"/>): a row, a run or sixteen
    /// neighbours per work-item in float16 vectors, no barriers, where the GPU kernels give a work-item per element or a group per row.
    /// </summary>
    internal bool RunsPerWorkItem => ResolvedVariant == OpenCLReductionVariant.ChunkPerWorkItem;

    /// <summary>Serializes launches: kernel arguments and scratch are shared by every caller of the device.</summary>
    internal Lock Gate => gate;

    internal nint Context => context.DangerousGetHandle();

    internal nint Queue => queue.DangerousGetHandle();

    /// <summary>
    /// Every OpenCL device of every platform the loader finds, in loader order. Empty when no OpenCL
    /// loader (<c>libOpenCL.so.1</c>) or no platform is installed.
    /// </summary>
    public static IReadOnlyList<OpenCLDeviceInfo> ListDevices()
    {
        uint platformCount;
        try
        {
            int status = OpenCLNative.clGetPlatformIDs(0, null, &platformCount);
            if (status == -1001 || platformCount == 0)
                return [];
            OpenCLException.ThrowIfFailed(status, "clGetPlatformIDs");
        }
        catch (DllNotFoundException)
        {
            return [];
        }

        var platformIds = new nint[platformCount];
        fixed (nint* ids = platformIds)
            OpenCLException.ThrowIfFailed(OpenCLNative.clGetPlatformIDs(platformCount, ids, null), "clGetPlatformIDs");
        var devices = new List<OpenCLDeviceInfo>();
        foreach (nint platformId in platformIds)
        {
            uint deviceCount;
            int status = OpenCLNative.clGetDeviceIDs(platformId, OpenCLNative.DeviceTypeAll, 0, null, &deviceCount);
            if (status == -1 || deviceCount == 0)
                continue;
            OpenCLException.ThrowIfFailed(status, "clGetDeviceIDs");
            var deviceIds = new nint[deviceCount];
            fixed (nint* ids = deviceIds)
                OpenCLException.ThrowIfFailed(OpenCLNative.clGetDeviceIDs(platformId, OpenCLNative.DeviceTypeAll, deviceCount, ids, null), "clGetDeviceIDs");
            string platformName = PlatformString(platformId, OpenCLNative.PlatformName);
            foreach (nint deviceId in deviceIds)
            {
                string extensions = DeviceString(deviceId, OpenCLNative.DeviceExtensions);
                devices.Add(new OpenCLDeviceInfo(devices.Count, platformId, deviceId, platformName,
                    DeviceString(deviceId, OpenCLNative.DeviceName), DeviceString(deviceId, OpenCLNative.DeviceVendor),
                    DeviceString(deviceId, OpenCLNative.DeviceVersion), (OpenCLDeviceType)DeviceValue<ulong>(deviceId, OpenCLNative.DeviceType),
                    (long)DeviceValue<ulong>(deviceId, OpenCLNative.DeviceGlobalMemSize), (int)DeviceValue<uint>(deviceId, OpenCLNative.DeviceMaxComputeUnits),
                    (int)DeviceValue<nuint>(deviceId, OpenCLNative.DeviceMaxWorkGroupSize), extensions.Contains("cl_khr_fp64", StringComparison.Ordinal),
                    (DeviceValue<ulong>(deviceId, OpenCLNative.DeviceSingleFpConfig) & OpenCLNative.FpCorrectlyRoundedDivideSqrt) != 0));
            }
        }

        return devices;
    }

    /// <summary>Opens the device at <paramref name="index"/> of <see cref="ListDevices"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No device has that index.</exception>
    public static OpenCLDevice Open(int index)
    {
        IReadOnlyList<OpenCLDeviceInfo> devices = ListDevices();
        if ((uint)index >= (uint)devices.Count)
            ThrowHelper.OutOfRange(nameof(index), index, $"an index into the {devices.Count} OpenCL devices found");
        return new OpenCLDevice(devices[index]);
    }

    /// <summary>Opens the device <see cref="DeviceVariable"/> names, else the first GPU, else the first device.</summary>
    /// <exception cref="InvalidOperationException">No OpenCL device is installed, or none matches the variable.</exception>
    public static OpenCLDevice Select() => Select(Environment.GetEnvironmentVariable(DeviceVariable));

    /// <summary>Opens the device <paramref name="selector"/> names (an index into <see cref="ListDevices"/>, or a case-insensitive part of a device name); null or empty: the first GPU, else the first device.</summary>
    /// <exception cref="InvalidOperationException">No OpenCL device is installed, or none matches <paramref name="selector"/>.</exception>
    public static OpenCLDevice Select(string? selector)
    {
        IReadOnlyList<OpenCLDeviceInfo> devices = ListDevices();
        if (devices.Count == 0)
            throw new InvalidOperationException("No OpenCL device found: install an OpenCL driver (PoCL for CPUs: apt-get install pocl-opencl-icd ocl-icd-libopencl1; the vendor's driver for a GPU).");
        OpenCLDeviceInfo? chosen;
        if (string.IsNullOrWhiteSpace(selector))
            chosen = devices.FirstOrDefault(d => d.Type.HasFlag(OpenCLDeviceType.Gpu)) ?? devices[0];
        else if (int.TryParse(selector, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
            chosen = index < devices.Count ? devices[index] : null;
        else
            chosen = devices.FirstOrDefault(d => d.Name.Contains(selector.Trim(), StringComparison.OrdinalIgnoreCase));
        return chosen is not null
            ? new OpenCLDevice(chosen)
            : throw new InvalidOperationException($"No OpenCL device matches '{selector}'. Devices:{Environment.NewLine}{string.Join(Environment.NewLine, devices)}");
    }

    /// <summary>Allocates a buffer of <paramref name="length"/> elements on the device (contents undefined until written).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    /// <exception cref="OpenCLException">The device is out of memory (<c>CL_MEM_OBJECT_ALLOCATION_FAILURE</c>, …).</exception>
    public DeviceBuffer<T> Allocate<T>(int length)
        where T : unmanaged
    {
        ThrowIfDisposed();
        if (length < 0)
            ThrowHelper.OutOfRange(nameof(length), length, "non-negative");
        if (length == 0)
            return new DeviceBuffer<T>(this, null, 0);
        int status;
        nint memory = OpenCLNative.clCreateBuffer(Context, OpenCLNative.MemReadWrite, (nuint)length * (nuint)sizeof(T), null, &status);
        return new DeviceBuffer<T>(this, MemoryHandle.Create(memory, status), length);
    }

    /// <summary>
    /// Wraps a <c>cl_mem</c> the caller owns, created in this device's context (see <see cref="NativeContext"/>), as a buffer of
    /// <paramref name="length"/> elements: no copy; disposing the wrapper never releases the memory.
    /// </summary>
    /// <exception cref="ArgumentException">The memory belongs to another context, or holds fewer than <paramref name="length"/> elements.</exception>
    public DeviceBuffer<T> Wrap<T>(nint memory, int length)
        where T : unmanaged
    {
        ThrowIfDisposed();
        if (length < 0)
            ThrowHelper.OutOfRange(nameof(length), length, "non-negative");
        nint owner;
        nuint bytes;
        OpenCLException.ThrowIfFailed(OpenCLNative.clGetMemObjectInfo(memory, OpenCLNative.MemContext, (nuint)sizeof(nint), &owner, null), "clGetMemObjectInfo");
        if (owner != Context)
            ThrowHelper.Argument(nameof(memory), "The cl_mem belongs to another OpenCL context; create it in this device's NativeContext.");
        OpenCLException.ThrowIfFailed(OpenCLNative.clGetMemObjectInfo(memory, OpenCLNative.MemSize, (nuint)sizeof(nuint), &bytes, null), "clGetMemObjectInfo");
        if (bytes < (nuint)length * (nuint)sizeof(T))
            ThrowHelper.Argument(nameof(length), $"The cl_mem holds {bytes} bytes, fewer than {length} elements of {sizeof(T)} bytes.");
        return new DeviceBuffer<T>(this, MemoryHandle.Borrow(memory), length);
    }

    /// <summary>The <c>cl_context</c> the library runs in, for engines that create their own buffers to <see cref="Wrap{T}"/>.</summary>
    public nint NativeContext
    {
        get
        {
            ThrowIfDisposed();
            return Context;
        }
    }

    /// <summary>Waits until every command queued on the device has finished (<c>clFinish</c>).</summary>
    public void Finish()
    {
        ThrowIfDisposed();
        OpenCLException.ThrowIfFailed(OpenCLNative.clFinish(Queue), "clFinish");
    }

    /// <summary>Waits for queued work and releases the kernels, programs, scratch, queue and context. Buffers allocated here must not be used afterwards.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed)
                return;
            disposed = true;
            // Best effort: a failing queue must not stop the releases below.
            OpenCLNative.clFinish(Queue);
            foreach (KernelSet set in programs.Values)
                set.Dispose();
            programs.Clear();
            partials?.Dispose();
            counters?.Dispose();
            foreach (MemoryHandle? buffer in scratch)
                buffer?.Dispose();
            faultFlag.Dispose();
            queue.Dispose();
            context.Dispose();
        }
    }

    /// <summary>One line: the device's <see cref="OpenCLDeviceInfo"/>.</summary>
    public override string ToString() => Info.ToString();

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>The kernels <paramref name="names"/> of the program <paramref name="key"/>, built on first use. Call under <see cref="Gate"/>.</summary>
    internal KernelSet Kernels(in ProgramKey key, string[] names)
    {
        if (!programs.TryGetValue(key, out KernelSet? set))
        {
            set = KernelSet.Build(this, key, names);
            programs.Add(key, set);
        }

        return set;
    }

    /// <summary>A device buffer of at least <paramref name="count"/> partial sums, grown on demand and reused. Call under <see cref="Gate"/>.</summary>
    internal nint Partials(int count)
    {
        if (count > partialsCapacity)
        {
            int capacity = Math.Max(count, 2 * partialsCapacity);
            partials?.Dispose();
            partials = null;
            partialsCapacity = 0;
            int status;
            nint memory = OpenCLNative.clCreateBuffer(Context, OpenCLNative.MemReadWrite, (nuint)capacity * (nuint)PartialSize, null, &status);
            partials = MemoryHandle.Create(memory, status);
            partialsCapacity = capacity;
            if (Info.SupportsDouble)
                hostPartials = new double[capacity];
            else
                hostFloatPartials = new float[capacity];
        }

        return partials!.DangerousGetHandle();
    }

    /// <summary>
    /// A device buffer of <paramref name="count"/> integer counters set to zero (histograms: integer atomics give the same
    /// counts in any order), grown on demand and reused. Call under <see cref="Gate"/>; read them with <see cref="ReadCounters"/>.
    /// </summary>
    internal nint Counters(int count)
    {
        if (count > counterHost.Length)
        {
            counters?.Dispose();
            counters = null;
            int status;
            nint memory = OpenCLNative.clCreateBuffer(Context, OpenCLNative.MemReadWrite, (nuint)count * sizeof(int), null, &status);
            counters = MemoryHandle.Create(memory, status);
            counterHost = new int[count];
        }

        Array.Clear(counterHost);
        fixed (int* zeros = counterHost)
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueWriteBuffer(Queue, counters!.DangerousGetHandle(), OpenCLNative.True, 0, (nuint)count * sizeof(int), zeros, 0, null, null), "clEnqueueWriteBuffer");
        return counters.DangerousGetHandle();
    }

    /// <summary>Waits for the launch and reads the first <paramref name="count"/> counters. Call under <see cref="Gate"/>.</summary>
    internal ReadOnlySpan<int> ReadCounters(int count)
    {
        fixed (int* values = counterHost)
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueReadBuffer(Queue, counters!.DangerousGetHandle(), OpenCLNative.True, 0, (nuint)count * sizeof(int), values, 0, null, null), "clEnqueueReadBuffer");
        return counterHost.AsSpan(0, count);
    }

    /// <summary>
    /// Device scratch <paramref name="slot"/> (below <see cref="ScratchSlots"/>) of at least <paramref name="bytes"/> bytes, grown on demand
    /// and reused: per-pixel statistics and small tables that a loss passes from one launch to the next. Call under <see cref="Gate"/>.
    /// </summary>
    internal nint Scratch(int slot, long bytes)
    {
        if (bytes > scratchBytes[slot] || scratch[slot] is null)
        {
            long capacity = Math.Max(Math.Max(bytes, 64), 2 * scratchBytes[slot]);
            scratch[slot]?.Dispose();
            scratch[slot] = null;
            scratchBytes[slot] = 0;
            int status;
            // Created as zeros (a host copy, on growth only): Oclgrind, after a scratch buffer is re-created, flags the next
            // kernel's reads of values an earlier kernel of the same call wrote as uninitialized, although they read back right.
            byte[] zeros = new byte[capacity];
            nint memory;
            fixed (byte* initial = zeros)
                memory = OpenCLNative.clCreateBuffer(Context, OpenCLNative.MemReadWrite | OpenCLNative.MemCopyHostPtr, (nuint)capacity, initial, &status);
            scratch[slot] = MemoryHandle.Create(memory, status);
            scratchBytes[slot] = capacity;
        }

        return scratch[slot]!.DangerousGetHandle();
    }

    /// <summary>Queues zeros into the first <paramref name="floats"/> floats of <paramref name="buffer"/> (OpenCL 1.2's fill). Call under <see cref="Gate"/>.</summary>
    internal void Zero(nint buffer, int floats)
    {
        if (floats == 0)
            return;
        float zero = 0f;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueFillBuffer(Queue, buffer, &zero, sizeof(float), 0, (nuint)floats * sizeof(float), 0, null, null), "clEnqueueFillBuffer");
    }

    /// <summary>Copies <paramref name="values"/> into scratch <paramref name="slot"/> (a blocking write) and returns its handle. Call under <see cref="Gate"/>.</summary>
    internal nint UploadScratch(int slot, ReadOnlySpan<float> values)
    {
        nint buffer = Scratch(slot, (long)values.Length * sizeof(float));
        if (!values.IsEmpty)
        {
            fixed (float* data = values)
                OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueWriteBuffer(Queue, buffer, OpenCLNative.True, 0, (nuint)values.Length * sizeof(float), data, 0, null, null), "clEnqueueWriteBuffer");
        }

        return buffer;
    }

    /// <summary>Waits for the launch and reads the first <paramref name="destination"/>.Length partials, as doubles. Call under <see cref="Gate"/>.</summary>
    internal void ReadPartials(Span<double> destination)
    {
        int count = destination.Length;
        if (count == 0)
            return;
        if (Info.SupportsDouble)
        {
            fixed (double* values = destination)
                OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueReadBuffer(Queue, partials!.DangerousGetHandle(), OpenCLNative.True, 0, (nuint)count * sizeof(double), values, 0, null, null), "clEnqueueReadBuffer");
            return;
        }

        fixed (float* values = hostFloatPartials)
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueReadBuffer(Queue, partials!.DangerousGetHandle(), OpenCLNative.True, 0, (nuint)count * sizeof(float), values, 0, null, null), "clEnqueueReadBuffer");
        for (int i = 0; i < count; i++)
            destination[i] = hostFloatPartials[i];
    }

    /// <summary>Reads back <paramref name="count"/> partials from <paramref name="offset"/> (waiting for the launch) and adds them in index order. Call under <see cref="Gate"/>.</summary>
    internal double SumPartials(int count, int offset = 0) =>
        Info.SupportsDouble ? ReadAndSum(hostPartials, count, offset) : ReadAndSum(hostFloatPartials, count, offset);

    /// <summary>The error flag kernels record their first fault in: INT_MAX until one faults.</summary>
    internal nint FaultFlag => faultFlag.DangerousGetHandle();

    /// <summary>Waits for the launch and returns the lowest faulting position it recorded, or null; a fault is cleared for the next launch. Call under <see cref="Gate"/>.</summary>
    internal int? TakeFault()
    {
        int first;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueReadBuffer(Queue, FaultFlag, OpenCLNative.True, 0, sizeof(int), &first, 0, null, null), "clEnqueueReadBuffer");
        if (first == IntMax)
            return null;
        WriteFault(IntMax);
        return first;
    }

    private int PartialSize => Info.SupportsDouble ? sizeof(double) : sizeof(float);

    private void WriteFault(int value) =>
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueWriteBuffer(Queue, FaultFlag, OpenCLNative.True, 0, sizeof(int), &value, 0, null, null), "clEnqueueWriteBuffer");

    private double ReadAndSum<T>(T[] host, int count, int offset)
        where T : unmanaged, INumberBase<T>
    {
        double sum = 0;
        fixed (T* values = host)
        {
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueReadBuffer(Queue, partials!.DangerousGetHandle(), OpenCLNative.True, (nuint)offset * (nuint)sizeof(T),
                (nuint)count * (nuint)sizeof(T), values, 0, null, null), "clEnqueueReadBuffer");
            for (int i = 0; i < count; i++)
                sum += double.CreateTruncating(values[i]);
        }

        return sum;
    }

    private static string PlatformString(nint platform, uint name) => InfoString(&OpenCLNative.clGetPlatformInfo, platform, name, "clGetPlatformInfo");

    private static string DeviceString(nint device, uint name) => InfoString(&OpenCLNative.clGetDeviceInfo, device, name, "clGetDeviceInfo");

    /// <summary>A string property of a platform or device: its size first, then its bytes.</summary>
    private static string InfoString(delegate*<nint, uint, nuint, void*, nuint*, int> query, nint target, uint name, string call)
    {
        nuint size;
        OpenCLException.ThrowIfFailed(query(target, name, 0, null, &size), call);
        var bytes = new byte[(int)size];
        fixed (byte* value = bytes)
            OpenCLException.ThrowIfFailed(query(target, name, size, value, null), call);
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }

    private static T DeviceValue<T>(nint device, uint name)
        where T : unmanaged
    {
        T value;
        OpenCLException.ThrowIfFailed(OpenCLNative.clGetDeviceInfo(device, name, (nuint)sizeof(T), &value, null), "clGetDeviceInfo");
        return value;
    }
}

/// <summary>
/// A program by its source and build: the family's .cl file, the LOSS function (null for a family's own kernels),
/// the reduction variant, and the driver whose step runs LOSS (<c>elementwise</c> or <c>box</c>).
/// </summary>
internal readonly record struct ProgramKey(string Family, string? Loss, OpenCLReductionVariant Variant, string Driver = "elementwise");
