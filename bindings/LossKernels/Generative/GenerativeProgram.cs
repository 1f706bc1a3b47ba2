using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>
/// The OpenCL program of the generative family's own kernels (<c>kernels/opencl/generative.cl</c> built without <c>LOSS</c>): every
/// kernel of it, built together once per device, so that each loss finds its kernels whichever loss built the program first.
/// </summary>
internal static class GenerativeProgram
{
    public const int TotalVariation = 0, GramMatrix = 1, GramStyleSlopes = 2, GramStyleBackward = 3, TotalVariationRows = 4;

    private static readonly string[] Names = ["total_variation", "gram_matrix", "gram_style_slopes", "gram_style_backward", "total_variation_rows"];

    /// <summary>The program's kernels on <paramref name="device"/>. Call under its gate.</summary>
    public static KernelSet Kernels(OpenCLDevice device) => device.Kernels(new ProgramKey("generative", null, OpenCLReductionVariant.Auto), Names);
}
