using System.Buffers;

namespace LossKernels.Generative;

/// <summary>How <see cref="GramStyleLoss"/> scales a Gram matrix and its loss.</summary>
public enum GramNormalization
{
    /// <summary>Johnson et al. 2016: G = F·Fᵀ/(C·H·W), per image ℓ = ‖G(ŷ) − G(s)‖²_F.</summary>
    Johnson,

    /// <summary>Gatys et al. 2016: G = F·Fᵀ unnormalized, per image ℓ = ‖G(ŷ) − G(s)‖²_F/(4·C²·(H·W)²).</summary>
    Gatys,
}

/// <summary>
/// The Gram (style) loss of Gatys et al. 2016 and Johnson et al. 2016 on one layer's features [N, C, H, W]: per image the Gram matrix
/// G = s·F·Fᵀ of its features F ([C, H·W]), and <c>ℓ_n = w·‖G_n − A_n‖²_F</c> against the style's Gram A ([N or 1, C, C], one for every
/// image when its leading extent is 1), reduced by the mean over images (the papers') or the sum. <see cref="GramNormalization.Johnson"/>:
/// s = 1/(C·H·W), w = 1; <see cref="GramNormalization.Gatys"/>: s = 1, w = 1/(4·C²·(H·W)²). Gradient with respect to the features:
/// <c>∂ℓ_n/∂F_n = 2·w·s·(E + Eᵀ)·F_n</c> with E = G_n − A_n, i.e. <c>4·w·s·(G_n − ½(A_n + A_nᵀ))·F_n</c> (Gatys's (G − A)·F/(C²·(H·W)²)
/// for a symmetric A), over N for the mean, times the upstream gradient; the engine backpropagates it through its network.
/// </summary>
/// <remarks>
/// <para>Reference: PyTorch's <c>G = torch.bmm(F, F.transpose(1, 2)) / (C·H·W)</c> and <c>((G − A)**2).sum((1, 2)).mean()</c> through
/// autograd (Johnson's <c>gram_matrix</c> and style loss, as in the PyTorch examples' fast neural style, whose <c>mse_loss</c> divides by C²
/// as well: multiply by C² to compare); Gatys's normalization as in the paper. Differences: the style's Gram is a constant (no gradient
/// for it, as a detached style target); the mean or the sum over images only (call once per image for per-image values).</para>
/// <para>The work, per image: G by the blocked SIMD SYRK (<see cref="Gemm.GramLower"/>, the lower triangle mirrored), ℓ in double over
/// the C² entries, and the backward's [C, C]·[C, H·W] product by the blocked SGEMM (<see cref="Gemm.Multiply"/>): 3·C²·H·W flops against
/// the 6·C²·H·W of autograd's three matrix products. Threads split each product's columns; every element is one fused multiply-add
/// chain in index order, so every thread count gives the same bits. The Gram scratch is pooled: nothing is allocated per call after the
/// first.</para>
/// </remarks>
public readonly partial struct GramStyleLoss
{
    /// <summary>With the given normalization.</summary>
    /// <param name="normalization">Johnson's (the default) or Gatys's.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="normalization"/> is not a <see cref="GramNormalization"/>.</exception>
    public GramStyleLoss(GramNormalization normalization)
    {
        if (normalization is not (GramNormalization.Johnson or GramNormalization.Gatys))
            ThrowHelper.OutOfRange(nameof(normalization), (double)normalization, "Johnson or Gatys");
        Normalization = normalization;
    }

    /// <summary>Johnson's or Gatys's scaling (Johnson's for a default-constructed value).</summary>
    public GramNormalization Normalization { get; }

    /// <summary>
    /// The Gram matrices s·F·Fᵀ of <paramref name="images"/> images' features into <paramref name="gram"/> ([N, C, C], full and symmetric):
    /// what the loss compares with, computed once for a style image and kept by the caller as the target of every later call.
    /// </summary>
    /// <param name="features">N·C·H·W floats (H·W ≥ 1).</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 1).</param>
    /// <param name="gram">Receives N·C² floats; must not overlap <paramref name="features"/>.</param>
    public unsafe void ComputeGram(ReadOnlySpan<float> features, int images, int channels, Span<float> gram)
    {
        GramStyleShape shape = GramStyleShape.Of(features.Length, images, channels, "features");
        ThrowHelper.IfTooShort(shape.GramLength * images, gram.Length, nameof(gram));
        gram = gram.Slice(0, shape.GramLength * images);
        ThrowHelper.IfOverlaps(features, gram, nameof(gram), nameof(features));
        float scale = GramStyleMath.GramScale(Normalization, channels, shape.Spatial);
        fixed (float* f = features, g = gram)
        {
            for (int n = 0; n < images; n++)
                Gram(f + (nint)n * shape.ImageLength, shape, scale, g + (nint)n * shape.GramLength);
        }
    }

    /// <summary>Fused forward+backward: L and ∂(upstream·L)/∂input.</summary>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A: the style's Gram, C² floats (one for every image) or N·C² (one per image), as <see cref="ComputeGram(ReadOnlySpan{float}, int, int, Span{float})"/> writes it.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 1).</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input or the target.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> over images (the papers') or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L (NaN for the mean over no images).</returns>
    public float ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<float> targetGram, int images, int channels, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        GramStyleShape shape = Check(input, targetGram, images, channels, reduction);
        ThrowHelper.IfTooShort(input.Length, inputGrad.Length, nameof(inputGrad));
        inputGrad = inputGrad.Slice(0, input.Length);
        ThrowHelper.IfOverlaps(input, inputGrad, nameof(inputGrad), nameof(input));
        ThrowHelper.IfOverlaps(targetGram, inputGrad, nameof(inputGrad), nameof(targetGram));
        return Run(input, targetGram, shape, inputGrad, reduction, upstream, accumulate: false);
    }

    /// <summary>Forward only.</summary>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> targetGram, int images, int channels, Reduction reduction = Reduction.Mean) =>
        Run(input, targetGram, Check(input, targetGram, images, channels, reduction), default, reduction, 1f, accumulate: false);

    /// <summary>Backward only: ∂(upstream·L)/∂input (the Gram is needed for it, so the work is the fused call's).</summary>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> targetGram, int images, int channels, float upstream, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean) =>
        ForwardBackward(input, targetGram, images, channels, inputGrad, reduction, upstream);

    private static GramStyleShape Check(ReadOnlySpan<float> input, ReadOnlySpan<float> targetGram, int images, int channels, Reduction reduction) =>
        GramStyleShape.OfCall(input.Length, targetGram.Length, images, channels, reduction);

    /// <summary>
    /// The loss, and with a gradient its backward: written, or with <paramref name="accumulate"/> added to the gradient's values (a layer whose
    /// gradient another loss wrote first, each element's product chain starting from its value). The caller has checked the arguments.
    /// </summary>
    internal unsafe float Run(ReadOnlySpan<float> input, ReadOnlySpan<float> targetGram, GramStyleShape shape, Span<float> inputGrad, Reduction reduction,
        float upstream, bool accumulate)
    {
        if (shape.Images == 0)
            return reduction == Reduction.Mean ? float.NaN : 0f;
        int c = shape.Channels;
        float scale = GramStyleMath.GramScale(Normalization, c, shape.Spatial);
        double weight = GramStyleMath.LossWeight(Normalization, c, shape.Spatial);
        double perImage = reduction == Reduction.Mean ? 1d / shape.Images : 1d;
        float slope = GramStyleMath.SlopeFactor(Normalization, c, shape.Spatial, upstream, perImage);
        bool backward = !inputGrad.IsEmpty;
        float[] scratch = ArrayPool<float>.Shared.Rent(2 * shape.GramLength);
        try
        {
            double total = 0;
            fixed (float* f = input, a = targetGram, grad = inputGrad, g = scratch)
            {
                float* slopes = g + shape.GramLength;
                for (int n = 0; n < shape.Images; n++)
                {
                    float* image = f + (nint)n * shape.ImageLength;
                    Gram(image, shape, scale, g);
                    float* target = a + (shape.TargetImages == 1 ? 0 : (nint)n * shape.GramLength);
                    double sum = 0;
                    for (int i = 0; i < c; i++)
                    {
                        for (int j = 0; j < c; j++)
                        {
                            float gram = g[i * c + j], style = target[i * c + j];
                            double difference = GramStyleMath.Difference(gram, style);
                            sum += difference * difference;
                            if (backward)
                                slopes[i * c + j] = GramStyleMath.Slope(gram, style, target[j * c + i], slope);
                        }
                    }

                    total += weight * sum;
                    if (backward)
                        Gemm.Multiply(slopes, c, image, shape.Spatial, grad + (nint)n * shape.ImageLength, shape.Spatial, c, shape.Spatial, c, accumulate);
                }
            }

            return (float)(total * perImage);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>One image's G = scale·F·Fᵀ, full: the SYRK's lower triangle, scaled and mirrored.</summary>
    private static unsafe void Gram(float* features, GramStyleShape shape, float scale, float* gram)
    {
        int c = shape.Channels;
        Gemm.GramLower(features, c, shape.Spatial, gram);
        for (int i = 0; i < c; i++)
        {
            for (int j = 0; j < i; j++)
                gram[j * c + i] = gram[i * c + j] = GramStyleMath.Scaled(gram[i * c + j], scale);
            gram[i * c + i] = GramStyleMath.Scaled(gram[i * c + i], scale);
        }
    }
}

/// <summary>A Gram style call's extents: N images of C channels by H·W positions, and the target's images (1 or N).</summary>
internal readonly record struct GramStyleShape(int Images, int Channels, int Spatial, int TargetImages)
{
    /// <summary>C·H·W.</summary>
    public int ImageLength => Channels * Spatial;

    /// <summary>C².</summary>
    public int GramLength => Channels * Channels;

    /// <summary>Checks N, C and the features' length (a whole number of images of C channels of at least one position each).</summary>
    public static GramStyleShape Of(long length, int images, int channels, string paramName)
    {
        if (images < 0)
            ThrowHelper.OutOfRange(nameof(images), images, "≥ 0");
        if (channels < 1)
            ThrowHelper.OutOfRange(nameof(channels), channels, "≥ 1");
        if (images == 0)
        {
            if (length != 0)
                ThrowHelper.Argument(paramName, $"{paramName} holds {length} values for no images.");
            return new GramStyleShape(0, channels, 0, 1);
        }

        long perImage = length / images;
        if (length % images != 0 || perImage % channels != 0 || perImage == 0)
            ThrowHelper.Argument(paramName, $"{paramName} holds {length} values, not {images} images of {channels} channels of at least one position each.");
        if ((long)channels * channels > int.MaxValue)
            ThrowHelper.OutOfRange(nameof(channels), channels, "C² within an array");
        return new GramStyleShape(images, channels, (int)(perImage / channels), 1);
    }

    /// <summary>A loss call's checks, on every backend: the input's extents, the target's length (C² or N·C²), the reduction (mean or sum).</summary>
    public static GramStyleShape OfCall(long inputLength, long targetLength, int images, int channels, Reduction reduction)
    {
        GramStyleShape shape = Of(inputLength, images, channels, "input").WithTarget(targetLength);
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.Argument(nameof(reduction), "The Gram style loss reduces by the mean or the sum over images (call once per image for per-image values).");
        return shape;
    }

    /// <summary>The target's images from its length: C² (one for every image) or N·C².</summary>
    private GramStyleShape WithTarget(long targetLength)
    {
        if (targetLength == GramLength)
            return this with { TargetImages = 1 };
        if (Images > 0 && targetLength == (long)Images * GramLength)
            return this with { TargetImages = Images };
        ThrowHelper.Argument("targetGram", $"targetGram holds {targetLength} values, not C² = {GramLength} (one for every image) or N·C² = {(long)Images * GramLength}.");
        return this;
    }
}
