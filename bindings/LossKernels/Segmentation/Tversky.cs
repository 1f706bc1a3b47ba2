namespace LossKernels.Segmentation;

/// <summary>
/// The Tversky loss (Salehi et al. 2017). Per group g and class c, with the soft TP = I = Σp·t, FP = Σp·(1 − t) = P − I and
/// FN = Σ(1 − p)·t = T − I over the pixels not ignored: <c>T_c = (TP + smooth) / max(TP + α·FP + β·FN + smooth, eps)</c>;
/// a class with no target pixels contributes 0; <c>L = (mean_{g,c} w_c·(1 − T_c))^γ</c>.
/// Gradient: with den the clamped denominator, <c>∂T/∂I = 1/den − (TP + smooth)(1 − α − β)/den²</c>,
/// <c>∂T/∂P = −(TP + smooth)·α/den²</c>, and <c>∂L/∂T_c = −γ·M^(γ−1)·w_c/(G·C)</c> with M the mean (0 at M = 0 when γ &lt; 1).
/// </summary>
/// <remarks>
/// <para>segmentation_models_pytorch <c>TverskyLoss(mode, classes, log_loss=False, from_logits, smooth, ignore_index, eps,
/// alpha, beta, gamma)</c>: the same score, absent-class rule and <c>loss.mean() ** gamma</c>. α = β = 0.5 is the Dice loss.</para>
/// <para>Differences: <see cref="OverlapOptions.PerImage"/> and class weights are MONAI's options (smp has neither; its
/// <c>classes</c> subset is a zero weight here); smp's <c>log_loss</c> is not offered for Tversky.</para>
/// </remarks>
/// <param name="options">The mode, logits or probabilities, per-image sums and ignored value.</param>
/// <param name="alpha">α ≥ 0, the weight of false positives.</param>
/// <param name="beta">β ≥ 0, the weight of false negatives.</param>
/// <param name="gamma">γ &gt; 0, the exponent of the mean.</param>
/// <param name="smooth">Added to the numerator and the denominator (≥ 0).</param>
/// <param name="eps">The least denominator (&gt; 0).</param>
public readonly struct TverskyLoss(OverlapOptions options = default, float alpha = 0.5f, float beta = 0.5f, float gamma = 1f, float smooth = 0f, float eps = 1e-7f)
    : IOverlapLoss
{
    /// <summary>smp's defaults: multiclass from logits, α = β = 0.5, γ = 1, smooth 0, eps 1e-7.</summary>
    public TverskyLoss()
        : this(options: default)
    {
    }

    /// <inheritdoc/>
    public OverlapOptions Options { get; } = options;

    /// <summary>α, the weight of false positives.</summary>
    public float Alpha { get; } = alpha;

    /// <summary>β, the weight of false negatives.</summary>
    public float Beta { get; } = beta;

    /// <summary>γ, the exponent of the mean.</summary>
    public float Gamma { get; } = gamma;

    /// <summary>Added to the numerator and the denominator.</summary>
    public float Smooth { get; } = smooth;

    /// <summary>The least denominator.</summary>
    public float Eps { get; } = eps;

    /// <inheritdoc/>
    public bool TakesClassWeight => true;

    /// <inheritdoc/>
    public void Validate() => TverskyIndex.Validate(Options, Alpha, Beta, Gamma, Smooth, Eps);

    /// <inheritdoc/>
    public double Evaluate(ReadOnlySpan<double> sums, int groups, int classes, ReadOnlySpan<float> classWeight, Span<double> sumGradient)
    {
        double terms = (double)groups * classes, mean = 0d;
        for (int g = 0; g < groups; g++)
        {
            for (int c = 0; c < classes; c++)
            {
                int at = (g * classes + c) * OverlapSums.Count;
                if (OverlapSums.Present(sums, at))
                    mean += (classWeight.IsEmpty ? 1d : classWeight[c]) * (1d - TverskyIndex.Of(sums, at, Alpha, Beta, Smooth, Eps, out _, out _));
            }
        }

        mean /= terms;
        double slope = Gamma == 1f ? 1d : mean > 0d ? Gamma * Math.Pow(mean, Gamma - 1d) : 0d;
        for (int g = 0; g < groups; g++)
        {
            for (int c = 0; c < classes; c++)
            {
                int at = (g * classes + c) * OverlapSums.Count;
                if (!OverlapSums.Present(sums, at))
                    continue;
                TverskyIndex.Of(sums, at, Alpha, Beta, Smooth, Eps, out double perIntersection, out double perPrediction);
                double scale = -slope * (classWeight.IsEmpty ? 1d : classWeight[c]) / terms;
                sumGradient[at] = scale * perIntersection;
                sumGradient[at + (int)OverlapSum.Prediction] = scale * perPrediction;
            }
        }

        return Gamma == 1f ? mean : Math.Pow(mean, Gamma);
    }
}

/// <summary>
/// The focal Tversky loss (Abraham &amp; Khan 2019): <c>L = mean_{g,c} w_c·(1 − T_c)^(1/γ)</c> with the Tversky index T_c of
/// <see cref="TverskyLoss"/>; a class with no target pixels contributes 0. Gradient
/// <c>∂L/∂T_c = −(1/γ)·(1 − T_c)^(1/γ − 1)·w_c/(G·C)</c>, taken as 0 where 1 − T_c ≤ 0 (its limit is infinite there for γ &gt; 1).
/// </summary>
/// <remarks>
/// <para>The paper's form, with the exponent 1/γ per class (γ = 4/3, α = 0.7, β = 0.3 its defaults). Implementations
/// disagree on where γ goes: smp's <c>TverskyLoss</c> raises the mean over classes to γ (that is <see cref="TverskyLoss"/>'s
/// <c>gamma</c>), and some repositories raise each class to γ rather than 1/γ; this follows the paper.</para>
/// <para>The same options, sums and ignore rule as <see cref="TverskyLoss"/>.</para>
/// </remarks>
/// <param name="options">The mode, logits or probabilities, per-image sums and ignored value.</param>
/// <param name="alpha">α ≥ 0, the weight of false positives.</param>
/// <param name="beta">β ≥ 0, the weight of false negatives.</param>
/// <param name="gamma">γ &gt; 0: each class's 1 − T is raised to 1/γ.</param>
/// <param name="smooth">Added to the numerator and the denominator (≥ 0).</param>
/// <param name="eps">The least denominator (&gt; 0).</param>
public readonly struct FocalTverskyLoss(OverlapOptions options = default, float alpha = 0.7f, float beta = 0.3f, float gamma = 4f / 3f, float smooth = 0f,
    float eps = 1e-7f) : IOverlapLoss
{
    /// <summary>the paper's defaults: multiclass from logits, α = 0.7, β = 0.3, γ = 4/3, smooth 0, eps 1e-7.</summary>
    public FocalTverskyLoss()
        : this(options: default)
    {
    }

    /// <inheritdoc/>
    public OverlapOptions Options { get; } = options;

    /// <summary>α, the weight of false positives.</summary>
    public float Alpha { get; } = alpha;

    /// <summary>β, the weight of false negatives.</summary>
    public float Beta { get; } = beta;

    /// <summary>γ: each class's 1 − T is raised to 1/γ.</summary>
    public float Gamma { get; } = gamma;

    /// <summary>Added to the numerator and the denominator.</summary>
    public float Smooth { get; } = smooth;

    /// <summary>The least denominator.</summary>
    public float Eps { get; } = eps;

    /// <inheritdoc/>
    public bool TakesClassWeight => true;

    /// <inheritdoc/>
    public void Validate() => TverskyIndex.Validate(Options, Alpha, Beta, Gamma, Smooth, Eps);

    /// <inheritdoc/>
    public double Evaluate(ReadOnlySpan<double> sums, int groups, int classes, ReadOnlySpan<float> classWeight, Span<double> sumGradient)
    {
        double terms = (double)groups * classes, total = 0d, exponent = 1d / Gamma;
        for (int g = 0; g < groups; g++)
        {
            for (int c = 0; c < classes; c++)
            {
                int at = (g * classes + c) * OverlapSums.Count;
                if (!OverlapSums.Present(sums, at))
                    continue;
                double weight = classWeight.IsEmpty ? 1d : classWeight[c];
                double miss = 1d - TverskyIndex.Of(sums, at, Alpha, Beta, Smooth, Eps, out double perIntersection, out double perPrediction);
                total += weight * Math.Pow(miss, exponent);
                double scale = miss > 0d ? -exponent * Math.Pow(miss, exponent - 1d) * weight / terms : 0d;
                sumGradient[at] = scale * perIntersection;
                sumGradient[at + (int)OverlapSum.Prediction] = scale * perPrediction;
            }
        }

        return total / terms;
    }
}

/// <summary>The Tversky index from the sums, shared by <see cref="TverskyLoss"/> and <see cref="FocalTverskyLoss"/>.</summary>
internal static class TverskyIndex
{
    /// <summary>The hyperparameter checks both losses make.</summary>
    public static void Validate(in OverlapOptions options, float alpha, float beta, float gamma, float smooth, float eps)
    {
        options.Validate();
        ThrowHelper.IfNotPositive(gamma, "Gamma");
        ThrowHelper.IfNegative(alpha, "Alpha");
        ThrowHelper.IfNegative(beta, "Beta");
        ThrowHelper.IfNegative(smooth, "Smooth");
        ThrowHelper.IfNotPositive(eps, "Eps");
    }

    /// <summary>T = (I + smooth)/max(I + α(P − I) + β(T − I) + smooth, eps), with ∂T/∂I and ∂T/∂P.</summary>
    public static double Of(ReadOnlySpan<double> sums, int at, double alpha, double beta, double smooth, double eps, out double perIntersection, out double perPrediction)
    {
        double tp = sums[at];
        double fp = sums[at + (int)OverlapSum.Prediction] - tp;
        double fn = sums[at + (int)OverlapSum.Target] - tp;
        OverlapSums.Ratio(tp + smooth, tp + alpha * fp + beta * fn + smooth, eps, out double index, out double overDenominator, out double perDenominator);
        // The denominator moves with I by 1 − α − β and with P by α.
        perIntersection = overDenominator + perDenominator * (1d - alpha - beta);
        perPrediction = perDenominator * alpha;
        return index;
    }
}
