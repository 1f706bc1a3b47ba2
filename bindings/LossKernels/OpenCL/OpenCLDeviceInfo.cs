namespace LossKernels.OpenCL;

/// <summary>The kind of an OpenCL device (<c>CL_DEVICE_TYPE_*</c>).</summary>
[Flags]
public enum OpenCLDeviceType : ulong
{
    /// <summary>The platform's default device.</summary>
    Default = 1 << 0,

    /// <summary>A CPU device, such as PoCL.</summary>
    Cpu = 1 << 1,

    /// <summary>A GPU.</summary>
    Gpu = 1 << 2,

    /// <summary>An accelerator (FPGA, DSP, a simulator such as Oclgrind).</summary>
    Accelerator = 1 << 3,

    /// <summary>A device with no OpenCL C compiler.</summary>
    Custom = 1 << 4,
}

/// <summary>The facts of one OpenCL device, as <see cref="OpenCLDevice.ListDevices"/> found them.</summary>
public sealed class OpenCLDeviceInfo
{
    internal OpenCLDeviceInfo(int index, nint platformId, nint deviceId, string platform, string name, string vendor, string version,
        OpenCLDeviceType type, long globalMemoryBytes, int computeUnits, int maxWorkGroupSize, bool supportsDouble, bool correctlyRoundedDivide)
    {
        Index = index;
        PlatformId = platformId;
        DeviceId = deviceId;
        Platform = platform;
        Name = name;
        Vendor = vendor;
        Version = version;
        Type = type;
        GlobalMemoryBytes = globalMemoryBytes;
        ComputeUnits = computeUnits;
        MaxWorkGroupSize = maxWorkGroupSize;
        SupportsDouble = supportsDouble;
        CorrectlyRoundedDivide = correctlyRoundedDivide;
    }

    /// <summary>The position in <see cref="OpenCLDevice.ListDevices"/> (platforms in loader order, devices in platform order): the index <c>LOSSKERNELS_OPENCL_DEVICE</c> takes.</summary>
    public int Index { get; }

    /// <summary>The platform's name (<c>Portable Computing Language</c>, <c>NVIDIA CUDA</c>, …).</summary>
    public string Platform { get; }

    /// <summary>The device's name.</summary>
    public string Name { get; }

    /// <summary>The device's vendor.</summary>
    public string Vendor { get; }

    /// <summary>The OpenCL version the device reports (<c>OpenCL 3.0 PoCL …</c>).</summary>
    public string Version { get; }

    /// <summary>CPU, GPU or accelerator.</summary>
    public OpenCLDeviceType Type { get; }

    /// <summary>Global memory in bytes.</summary>
    public long GlobalMemoryBytes { get; }

    /// <summary>Compute units (cores on a CPU device, SMs or CUs on a GPU).</summary>
    public int ComputeUnits { get; }

    /// <summary>The largest work-group the device runs.</summary>
    public int MaxWorkGroupSize { get; }

    /// <summary>Whether the device has <c>cl_khr_fp64</c>: the kernels then add partial sums in double.</summary>
    public bool SupportsDouble { get; }

    /// <summary>Whether the device builds correctly rounded float division and square root (the kernels ask for it where it can).</summary>
    public bool CorrectlyRoundedDivide { get; }

    internal nint PlatformId { get; }

    internal nint DeviceId { get; }

    /// <summary>One line: index, name, type, platform, memory and compute units.</summary>
    public override string ToString() =>
        $"[{Index}] {Name} ({Type}, {Platform}, {GlobalMemoryBytes / (1 << 20)} MiB, {ComputeUnits} compute units, work-groups up to {MaxWorkGroupSize})";
}
