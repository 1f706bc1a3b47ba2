using LossKernels.OpenCL;

namespace LossKernels.Segmentation;

/// <summary>The OpenCL program of the segmentation family (<c>kernels/opencl/segmentation.cl</c>): its kernels, built together once per device.</summary>
internal static unsafe class SegmentationProgram
{
    public const int SoftmaxStats = 0, OverlapSums = 1, OverlapGradient = 2, ClassCounts = 3, CheckBinary = 4, SoftmaxKeys = 5, HingeKeys = 6,
        RadixCounts = 7, Scan = 8, RadixScatter = 9, WalkCounts = 10, Walk = 11, Clear = 12, SoftmaxChain = 13;

    /// <summary>The CPU devices' forms of <see cref="SoftmaxStats"/>, <see cref="OverlapSums"/> and <see cref="OverlapGradient"/>: sixteen pixels per work-item in float16 lanes.</summary>
    public const int SoftmaxStats16 = 14, OverlapSums16 = 15, OverlapGradient16 = 16;

    /// <summary>Work-items per group of the per-item launches.</summary>
    public const int Group = 64;

    private static readonly string[] Names =
    [
        "overlap_softmax_stats", "overlap_sums", "overlap_gradient", "lovasz_class_counts", "lovasz_check_binary", "lovasz_softmax_keys", "lovasz_hinge_keys",
        "lovasz_radix_counts", "lovasz_scan", "lovasz_radix_scatter", "lovasz_walk_counts", "lovasz_walk", "lovasz_clear", "lovasz_softmax_chain",
        "overlap_softmax_stats16", "overlap_sums16", "overlap_gradient16",
    ];

    /// <summary>The work-items of a per-pixel launch: a pixel each, or on a CPU device sixteen neighbouring pixels of one image each.</summary>
    public static int PixelItems(OpenCLDevice device, in SegmentationShape shape) =>
        device.RunsPerWorkItem ? checked(shape.Batch * ((shape.Spatial + 15) / 16)) : (int)shape.Pixels;

    /// <summary>The program's kernels on <paramref name="device"/>. Call under its gate.</summary>
    public static KernelSet Kernels(OpenCLDevice device) => device.Kernels(new ProgramKey("segmentation", null, OpenCLReductionVariant.Auto), Names);

    /// <summary>One work-item per item, in groups of <see cref="Group"/> (the kernels return past the last item).</summary>
    public static void Launch(OpenCLDevice device, nint kernel, int items)
    {
        nuint local = Group, global = ((nuint)items + Group - 1) / Group * Group;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
    }

    /// <summary>Launches the per-pixel softmax statistics (max and 1/Σe, interleaved) of <paramref name="input"/> into <paramref name="stats"/>.</summary>
    public static void SoftmaxStatistics(OpenCLDevice device, KernelSet kernels, DeviceBuffer<float> input, in SegmentationShape shape, nint stats)
    {
        int pixels = (int)shape.Pixels;
        if (pixels == 0)
            return;
        nint kernel = kernels.Kernel(device.RunsPerWorkItem ? SoftmaxStats16 : SoftmaxStats);
        KernelSet.SetBuffer(kernel, 0, input.Handle);
        KernelSet.SetValue(kernel, 1, shape.Classes);
        KernelSet.SetValue(kernel, 2, shape.Spatial);
        KernelSet.SetValue(kernel, 3, pixels);
        KernelSet.SetBuffer(kernel, 4, stats);
        Launch(device, kernel, PixelItems(device, shape));
    }
}
