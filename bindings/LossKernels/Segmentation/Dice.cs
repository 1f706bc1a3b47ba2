namespace LossKernels.Segmentation;

/// <summary>
/// The soft Dice loss. Per group g (the batch, or each image) and class c, with I, P, T the sums of p·t, p and t over the
/// pixels not ignored: <c>D = (2·I + smooth) / max(P + T + smooth, eps)</c> (<see cref="Squared"/>: Σp² + Σt², the V-Net
/// form); <c>ℓ = 1 − D</c>, or <c>−ln max(D, eps)</c> with <see cref="LogLoss"/>; a class with no target pixels (T = 0)
/// contributes 0; <c>L = mean_{g,c} w_c·ℓ_{g,c}</c> over all G·C terms.
/// Gradient: <c>∂D/∂I = 2/den</c>, <c>∂D/∂P = −(2I + smooth)/den²</c> (0 where the eps clamp holds), chained to each pixel
/// by <c>∂I/∂p = t</c>, <c>∂P/∂p = 1</c> (<c>∂P₂/∂p = 2p</c>), then through the softmax or sigmoid.
/// </summary>
/// <remarks>
/// <para>segmentation_models_pytorch <c>DiceLoss(mode, from_logits, smooth, ignore_index, log_loss, eps)</c>: the same sums
/// (smp multiplies p and t by the ignore mask), the same clamp, log loss, absent-class rule and mean over classes.</para>
/// <para>Differences: <see cref="OverlapOptions.PerImage"/> (MONAI <c>DiceLoss(batch=False)</c>'s grouping; smp always sums
/// over the batch), <see cref="Squared"/> (MONAI's <c>squared_pred</c>) and class weights (MONAI's <c>weight</c>, applied
/// before the mean) are MONAI's options; smp's <c>classes</c> subset is a zero weight here. The softmax is
/// <c>e^(x − max)/Σe</c> (smp: <c>log_softmax(x).exp()</c>; equal within rounding).</para>
/// </remarks>
/// <param name="options">The mode, logits or probabilities, per-image sums and ignored value.</param>
/// <param name="smooth">Added to the numerator and the denominator (≥ 0).</param>
/// <param name="eps">The least denominator and, with <paramref name="logLoss"/>, the least D (&gt; 0).</param>
/// <param name="logLoss">−ln D instead of 1 − D.</param>
/// <param name="squared">Σp² + Σt² in the denominator (V-Net).</param>
public readonly struct DiceLoss(OverlapOptions options = default, float smooth = 0f, float eps = 1e-7f, bool logLoss = false, bool squared = false) : IOverlapLoss
{
    /// <summary>smp's defaults: multiclass from logits, smooth 0, eps 1e-7.</summary>
    public DiceLoss()
        : this(options: default)
    {
    }

    /// <inheritdoc/>
    public OverlapOptions Options { get; } = options;

    /// <summary>Added to the numerator and the denominator.</summary>
    public float Smooth { get; } = smooth;

    /// <summary>The least denominator (and the least D of the log loss).</summary>
    public float Eps { get; } = eps;

    /// <summary>−ln D instead of 1 − D.</summary>
    public bool LogLoss { get; } = logLoss;

    /// <summary>Σp² + Σt² in the denominator.</summary>
    public bool Squared { get; } = squared;

    /// <inheritdoc/>
    public bool TakesClassWeight => true;

    /// <inheritdoc/>
    public void Validate()
    {
        Options.Validate();
        ThrowHelper.IfNegative(Smooth, nameof(Smooth));
        ThrowHelper.IfNotPositive(Eps, nameof(Eps));
    }

    /// <inheritdoc/>
    public double Evaluate(ReadOnlySpan<double> sums, int groups, int classes, ReadOnlySpan<float> classWeight, Span<double> sumGradient)
    {
        double terms = (double)groups * classes, total = 0d;
        int cardinality = Squared ? (int)OverlapSum.PredictionSquares : (int)OverlapSum.Prediction;
        for (int g = 0; g < groups; g++)
        {
            for (int c = 0; c < classes; c++)
            {
                int at = (g * classes + c) * OverlapSums.Count;
                if (!OverlapSums.Present(sums, at))
                    continue;
                double weight = classWeight.IsEmpty ? 1d : classWeight[c];
                double predicted = sums[at + cardinality];
                double target = sums[at + cardinality + 1];
                OverlapSums.Ratio(2d * sums[at] + Smooth, predicted + target + Smooth, Eps, out double dice, out double overDenominator, out double perDenominator);
                double loss, slope;
                if (LogLoss)
                {
                    loss = -Math.Log(Math.Max(dice, Eps));
                    slope = dice > Eps ? -1d / dice : 0d;
                }
                else
                {
                    loss = 1d - dice;
                    slope = -1d;
                }

                total += weight * loss;
                double scale = weight * slope / terms;
                sumGradient[at] = scale * 2d * overDenominator;
                sumGradient[at + cardinality] = scale * perDenominator;
            }
        }

        return total / terms;
    }
}

/// <summary>The helpers the overlap losses' host math shares.</summary>
internal static class OverlapSums
{
    /// <summary>The sums per group and class: <see cref="OverlapSum"/>'s five.</summary>
    public const int Count = 5;

    /// <summary>Whether the class has target pixels in the group (smp's <c>y_true.sum(dims) &gt; 0</c>; NaN is absent).</summary>
    public static bool Present(ReadOnlySpan<double> sums, int at) => sums[at + (int)OverlapSum.Target] > 0d;

    /// <summary>
    /// ratio = numerator / max(denominator, eps); <paramref name="overDenominator"/> = ∂ratio/∂numerator and
    /// <paramref name="perDenominator"/> = ∂ratio/∂denominator (0 where the clamp holds, as torch's <c>clamp_min</c>).
    /// </summary>
    public static void Ratio(double numerator, double denominator, double eps, out double ratio, out double overDenominator, out double perDenominator)
    {
        bool clamped = denominator < eps;
        double divisor = clamped ? eps : denominator;
        ratio = numerator / divisor;
        overDenominator = 1d / divisor;
        perDenominator = clamped ? 0d : -ratio / divisor;
    }
}
