using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>The kernels of <c>kernels/opencl/cross_entropy.cl</c>, one program for cross entropy and nll_loss (a device caches a program's kernels by its key).</summary>
internal static class CrossEntropyProgram
{
    public const int TargetsKernel = 0;
    public const int RowsKernel = 1;
    public const int NllRowsKernel = 2;
    public const int NllGradientKernel = 3;
    public const int PositionsKernel = 4;
    public const int LabelsKernel = 5;
    public const int SoftmaxKernel = 6;
    public const int OneHotKernel = 7;
    public const int MultiMarginKernel = 8;
    public const int TargetGradientKernel = 9;
    public const int RowVectorsKernel = 10;
    public const int RowLanesKernel = 11;
    public const int PositionLanesKernel = 12;
    public const int NllGradientRowsKernel = 13;

    /// <summary>The rows a work-item of <c>cross_entropy_row_lanes</c> takes, and the neighbouring positions of one sample a work-item of <c>cross_entropy_position_lanes</c> takes: one per float16 lane.</summary>
    public const int Lanes = 16;

    /// <summary>The widest rows that <c>cross_entropy_row_lanes</c> (sixteen rows per work-item, for CPU devices) takes; wider rows take <c>cross_entropy_row_vectors</c>.</summary>
    public const int RowLanesMaxClasses = 32;

    private static readonly string[] Names =
    [
        "cross_entropy_targets", "cross_entropy_rows", "nll_rows", "nll_gradient", "cross_entropy_positions", "check_distribution_labels",
        "softmax_rows", "one_hot", "multi_margin_rows", "cross_entropy_target_grad", "cross_entropy_row_vectors",
        "cross_entropy_row_lanes", "cross_entropy_position_lanes", "nll_gradient_rows",
    ];

    /// <summary>The program's kernels on <paramref name="device"/>, built on first use. Call under the device's gate.</summary>
    public static KernelSet On(OpenCLDevice device) => device.Kernels(new ProgramKey("cross_entropy", null, OpenCLReductionVariant.Auto), Names);
}
