namespace LossKernels.Generative;

/// <summary>Which total variation <see cref="TotalVariationLoss"/> measures.</summary>
public enum TotalVariationNorm
{
    /// <summary>Σ |Δx| + Σ |Δy| over every defined difference (kornia's <c>total_variation</c>).</summary>
    Anisotropic,

    /// <summary>Σ √(Δx² + Δy² + eps) over the pixels with both differences.</summary>
    Isotropic,

    /// <summary>Σ (Δx² + Δy²)^(β/2) over the pixels with both differences (Mahendran &amp; Vedaldi 2015).</summary>
    Beta,
}

/// <summary>
/// Total variation of N images of C channels of H × W pixels (<c>[N, C, H, W]</c>), one value per image over its channels, with
/// Δx = x[i, j + 1] − x[i, j] (j &lt; W − 1) and Δy = x[i + 1, j] − x[i, j] (i &lt; H − 1): <see cref="TotalVariationNorm.Anisotropic"/>
/// <c>TV = Σ |Δx| + Σ |Δy|</c> over every defined difference; <see cref="TotalVariationNorm.Isotropic"/> <c>Σ √(Δx² + Δy² + eps)</c>
/// and <see cref="TotalVariationNorm.Beta"/> <c>Σ (Δx² + Δy²)^(β/2)</c> over the pixels i &lt; H − 1, j &lt; W − 1 that have both.
/// Reduction none gives the N values, sum their sum, mean their mean over images. Gradient, with A = ∂term/∂Δx and B = ∂term/∂Δy at
/// each pixel (0 where the term is not defined): <c>∂TV/∂x[i, j] = A[i, j − 1] + B[i − 1, j] − A[i, j] − B[i, j]</c>; for the
/// anisotropic norm A = sign(Δx), B = sign(Δy) (0 at 0, the subgradient <c>torch.abs</c> takes), for the others
/// A = β·term/s·Δx, B = β·term/s·Δy with s = Δx² + Δy² + eps (β = 1 for the isotropic norm), 0 where s = 0.
/// </summary>
/// <remarks>
/// <para>The reference is kornia's <c>TotalVariation</c> module of [N, C, H, W] images (per image, summed over channels and
/// pixels; newer kornia's <c>total_variation</c> returns one value per [H, W] plane: pass <c>images</c> = N·C and
/// <c>channels</c> = 1 for that), and for the isotropic and β norms the formulas in PyTorch over
/// <c>x[..., :-1, 1:] − x[..., :-1, :-1]</c> and <c>x[..., 1:, :-1] − x[..., :-1, :-1]</c>, in float64 for the golden cases.
/// Differences: the β norm's gradient at a pixel with Δx = Δy = 0 is 0 (for β &lt; 2 PyTorch's <c>pow</c> gives ∞ or NaN
/// there); an image of H = 1 or W = 1 has no isotropic or β terms (0), and its anisotropic terms are the defined direction's.</para>
/// <para>The work: each plane in bands of 64 rows, the rows' differences in vectors, each band's sum in its own partial added in
/// band order (the same bits for any thread count).</para>
/// </remarks>
public readonly partial struct TotalVariationLoss
{
    /// <summary>Anisotropic (kornia's).</summary>
    public TotalVariationLoss()
        : this(TotalVariationNorm.Anisotropic)
    {
    }

    /// <summary>With the given norm.</summary>
    /// <param name="norm">Which total variation.</param>
    /// <param name="eps">Added under the isotropic norm's root (finite, ≥ 0).</param>
    /// <param name="beta">The β norm's exponent (finite, &gt; 0).</param>
    /// <exception cref="ArgumentOutOfRangeException">norm is not defined, eps is negative or not finite, beta not positive or not finite.</exception>
    public TotalVariationLoss(TotalVariationNorm norm, float eps = 1e-8f, float beta = 2f)
    {
        Check(norm, eps, beta, nameof(norm), nameof(eps), nameof(beta));
        Norm = norm;
        Eps = eps;
        Beta = beta;
    }

    /// <summary>Which total variation.</summary>
    public TotalVariationNorm Norm { get; }

    /// <summary>The isotropic norm's eps.</summary>
    public float Eps { get; }

    /// <summary>The β norm's exponent.</summary>
    public float Beta { get; }

    /// <summary>Fused forward+backward, reduced: returns TV (summed or averaged over images) and writes ∂(upstream·TV)/∂input.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input (each pixel's gradient reads its neighbours).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over images) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂TV.</param>
    /// <exception cref="ArgumentException">A length is not N·C·H·W, the gradient overlaps the input, or reduction is None (use the unreduced overload).</exception>
    public float ForwardBackward(ReadOnlySpan<float> input, int images, int channels, int height, int width, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        TotalVariationDriver.Run(this, input, new(images, channels, height, width), default, inputGrad, default, upstream, Reduced(reduction), true, false);

    /// <summary>Fused forward+backward, unreduced: N values into <paramref name="output"/>, and ∂(Σ upstream_n·TV_n)/∂input.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="output">Receives N values; must not overlap the input or the gradient.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input (each pixel's gradient reads its neighbours).</param>
    /// <param name="upstream">N values, ∂objective/∂TV_n.</param>
    public void ForwardBackward(ReadOnlySpan<float> input, int images, int channels, int height, int width, Span<float> output, Span<float> inputGrad,
        ReadOnlySpan<float> upstream) =>
        TotalVariationDriver.Run(this, input, new(images, channels, height, width), output, inputGrad, upstream, 1f, Reduction.None, true, true);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public float Forward(ReadOnlySpan<float> input, int images, int channels, int height, int width, Reduction reduction = Reduction.Mean) =>
        TotalVariationDriver.Run(this, input, new(images, channels, height, width), default, default, default, 1f, Reduced(reduction), false, false);

    /// <summary>Forward only, unreduced: N values into <paramref name="output"/>.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="output">Receives N values; must not overlap the input.</param>
    public void Forward(ReadOnlySpan<float> input, int images, int channels, int height, int width, Span<float> output) =>
        TotalVariationDriver.Run(this, input, new(images, channels, height, width), output, default, default, 1f, Reduction.None, false, true);

    /// <summary>Backward only, reduced: writes ∂(upstream·TV)/∂input.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="upstream">∂objective/∂TV.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input (each pixel's gradient reads its neighbours).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input, int images, int channels, int height, int width, float upstream, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean) =>
        TotalVariationDriver.Run(this, input, new(images, channels, height, width), default, inputGrad, default, upstream, Reduced(reduction), true, false);

    /// <summary>Backward only, unreduced: writes ∂(Σ upstream_n·TV_n)/∂input.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="upstream">N values.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input (each pixel's gradient reads its neighbours).</param>
    public void Backward(ReadOnlySpan<float> input, int images, int channels, int height, int width, ReadOnlySpan<float> upstream, Span<float> inputGrad) =>
        TotalVariationDriver.Run(this, input, new(images, channels, height, width), default, inputGrad, upstream, 1f, Reduction.None, true, false);

    /// <summary>The joint term's exponent over 2: ½ for the isotropic norm, β/2 for the β norm.</summary>
    internal float HalfExponent => Norm == TotalVariationNorm.Isotropic ? 0.5f : 0.5f * Beta;

    /// <summary>What the joint term adds under its root or power: eps for the isotropic norm, 0 for the β norm.</summary>
    internal float JointEps => Norm == TotalVariationNorm.Isotropic ? Eps : 0f;

    /// <summary>Throws when an option is out of range (a default-constructed struct is anisotropic, which reads neither eps nor β).</summary>
    internal void Validate()
    {
        if (Norm != TotalVariationNorm.Anisotropic)
            Check(Norm, Eps, Beta, nameof(Norm), nameof(Eps), nameof(Beta));
    }

    /// <summary>The reduced overloads take Mean or Sum.</summary>
    private static Reduction Reduced(Reduction reduction)
    {
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "Mean or Sum (the unreduced overloads take an output)");
        return reduction;
    }

    private static void Check(TotalVariationNorm norm, float eps, float beta, string normName, string epsName, string betaName)
    {
        if (norm is not (TotalVariationNorm.Anisotropic or TotalVariationNorm.Isotropic or TotalVariationNorm.Beta))
            ThrowHelper.OutOfRange(normName, (int)norm, "Anisotropic, Isotropic or Beta");
        ThrowHelper.IfNegative(eps, epsName);
        ThrowHelper.IfNotPositive(beta, betaName);
    }
}
