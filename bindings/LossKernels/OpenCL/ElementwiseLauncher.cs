namespace LossKernels.OpenCL;

/// <summary>The five passes of <c>kernels/opencl/elementwise.h</c>, in the order of <see cref="ElementwiseLauncher.KernelNames"/>.</summary>
internal enum ElementwisePass
{
    ForwardSum,
    ForwardNone,
    FusedSum,
    FusedNone,
    Backward,
}

/// <summary>
/// Launches an elementwise loss's kernel on a device: sets the arguments of a <see cref="StreamLaunch"/>, which
/// sizes the launch for the device's reduction variant and for a reduced pass reads the partials back and adds
/// them in index order. Everything here runs under the device's lock and allocates nothing once the program is built.
/// </summary>
internal static unsafe class ElementwiseLauncher
{
    public static readonly string[] KernelNames = ["forward_sum", "forward_none", "fused_sum", "fused_none", "backward"];

    /// <summary>Elements per work-group tile in the tree variant: 256 work-items × float4 × 4 iterations.</summary>
    public const int TreeTile = 4096;

    /// <summary>The tree's local array holds this many work-items (TREE_GROUP in the kernel).</summary>
    public const int TreeGroup = 256;

    private const int MinChunk = 16384;

    /// <summary>At most about this many chunks in the chunk variant, so that the partials stay few.</summary>
    private const int MaxChunks = 1024;

    /// <summary>Elements per work-item in the chunk variant: a multiple of 16 that depends on n alone.</summary>
    public static int ChunkLength(int length)
    {
        int needed = (int)(((long)length + MaxChunks - 1) / MaxChunks);
        return needed <= MinChunk ? MinChunk : (needed + 15) & ~15;
    }

    /// <summary>Runs <paramref name="pass"/> over n elements; returns the sum of the weighted element losses for a reduced pass, else 0.</summary>
    public static double Run(in ElementwiseKernel kernel, ElementwisePass pass, DeviceBuffer<float> input, DeviceBuffer<float> target,
        DeviceBuffer<float>? weight, DeviceBuffer<float>? upstream, DeviceBuffer<float>? output, DeviceBuffer<float>? gradient, float scale)
    {
        int n = input.Length;
        if (n == 0)
            return 0d;
        OpenCLDevice device = input.Device;
        lock (device.Gate)
        {
            var launch = StreamLaunch.Prepare(device, new ProgramKey(kernel.Family, kernel.Function, device.ResolvedVariant), pass, n);
            nint handle = launch.Kernel;
            KernelSet.SetBuffer(handle, 0, input.Handle);
            KernelSet.SetBuffer(handle, 1, target.Handle);
            KernelSet.SetBuffer(handle, 2, weight?.Handle ?? 0);
            KernelSet.SetBuffer(handle, 3, upstream?.Handle ?? 0);
            KernelSet.SetBuffer(handle, 4, output?.Handle ?? 0);
            KernelSet.SetBuffer(handle, 5, gradient?.Handle ?? 0);
            KernelSet.SetValue(handle, 6, scale);
            KernelSet.SetValue(handle, 7, n);
            KernelSet.SetValue(handle, 8, launch.Chunk);
            KernelSet.SetValue(handle, 9, kernel.Parameters);
            KernelSet.SetBuffer(handle, 10, launch.Partials);
            return launch.Enqueue(device);
        }
    }

    /// <summary>The largest power of two no larger than the tree's array or the kernel's limit on this device.</summary>
    internal static int TreeGroupSize(int kernelLimit)
    {
        int size = TreeGroup;
        while (size > kernelLimit && size > 1)
            size /= 2;
        return size;
    }
}

/// <summary>
/// One launch of a pass of <c>kernels/opencl/driver.h</c> over n items (elements or box pairs), sized for the device's
/// reduction variant: the kernel, its tile (<see cref="Chunk"/>) and work-groups, and the partials buffer of a
/// reduced pass. Prepare, set the family's arguments, then <see cref="Enqueue"/>; all under the device's lock.
/// </summary>
internal readonly unsafe struct StreamLaunch
{
    private readonly nuint global;
    private readonly nuint local;
    private readonly int groups;

    private StreamLaunch(nint kernel, int chunk, int groups, nuint local, nint partials)
    {
        Kernel = kernel;
        Chunk = chunk;
        this.groups = groups;
        this.local = local;
        global = (nuint)groups * local;
        Partials = partials;
    }

    /// <summary>The <c>cl_kernel</c> of the pass.</summary>
    public nint Kernel { get; }

    /// <summary>Items per tile: per work-item (chunk variant) or per work-group (tree variant).</summary>
    public int Chunk { get; }

    /// <summary>The partials buffer of a reduced pass; 0 (NULL) otherwise.</summary>
    public nint Partials { get; }

    public static StreamLaunch Prepare(OpenCLDevice device, in ProgramKey key, ElementwisePass pass, int n)
    {
        device.ThrowIfDisposed();
        KernelSet set = device.Kernels(key, ElementwiseLauncher.KernelNames);
        nint handle = set.Kernel((int)pass);
        int chunk;
        nuint local;
        if (key.Variant == OpenCLReductionVariant.ChunkPerWorkItem)
        {
            chunk = ElementwiseLauncher.ChunkLength(n);
            local = 1;
        }
        else
        {
            chunk = ElementwiseLauncher.TreeTile;
            local = (nuint)ElementwiseLauncher.TreeGroupSize(set.MaxWorkGroupSize((int)pass));
        }

        int groups = (int)(((long)n + chunk - 1) / chunk);
        bool reduce = pass is ElementwisePass.ForwardSum or ElementwisePass.FusedSum;
        return new StreamLaunch(handle, chunk, groups, local, reduce ? device.Partials(groups) : 0);
    }

    /// <summary>Enqueues the launch; for a reduced pass waits and returns the partials added in index order, else flushes and returns 0.</summary>
    public double Enqueue(OpenCLDevice device)
    {
        nuint globalSize = global, localSize = local;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, Kernel, 1, null, &globalSize, &localSize, 0, null, null), "clEnqueueNDRangeKernel");
        if (Partials == 0)
        {
            OpenCLException.ThrowIfFailed(OpenCLNative.clFlush(device.Queue), "clFlush");
            return 0d;
        }

        return device.SumPartials(groups);
    }
}
