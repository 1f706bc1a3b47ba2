namespace LossKernels.Generative;

/// <summary>
/// <see cref="GramStyleLoss"/>'s math per Gram entry, written once for the CPU driver and ILGPU's kernels (the OpenCL C in
/// <c>kernels/opencl/generative.cl</c> mirrors it): the Gram's scale s, the loss's weight w, and per entry the difference
/// e = G − A, whose squares the loss adds, and the backward's matrix entry D = 4·w·s·u·(G − ½(A + Aᵀ)) (u the upstream gradient over the
/// images of a mean), which multiplies the features.
/// </summary>
internal static class GramStyleMath
{
    /// <summary>s: 1/(C·H·W) for Johnson's, 1 for Gatys's.</summary>
    public static float GramScale(GramNormalization normalization, int channels, int spatial) =>
        normalization == GramNormalization.Gatys ? 1f : (float)(1d / ((double)channels * spatial));

    /// <summary>w: 1 for Johnson's, 1/(4·C²·(H·W)²) for Gatys's.</summary>
    public static double LossWeight(GramNormalization normalization, int channels, int spatial) =>
        normalization == GramNormalization.Gatys ? 1d / (4d * channels * channels * ((double)spatial * spatial)) : 1d;

    /// <summary>The backward matrix's factor 4·w·s·u·(1/N for the mean).</summary>
    public static float SlopeFactor(GramNormalization normalization, int channels, int spatial, float upstream, double perImage) =>
        (float)(4 * LossWeight(normalization, channels, spatial) * GramScale(normalization, channels, spatial) * upstream * perImage);

    /// <summary>A Gram entry: the sum of products times s.</summary>
    public static float Scaled(float sum, float scale) => sum * scale;

    /// <summary>e = G_ij − A_ij.</summary>
    public static float Difference(float gram, float style) => gram - style;

    /// <summary>D_ij = factor·(G_ij − ½(A_ij + A_ji)): the symmetric part of E, so that a target that is not symmetric gets ∂ℓ/∂F = 2·w·s·(E + Eᵀ)·F.</summary>
    public static float Slope(float gram, float style, float styleTransposed, float factor) => factor * (gram - 0.5f * (style + styleTransposed));
}
