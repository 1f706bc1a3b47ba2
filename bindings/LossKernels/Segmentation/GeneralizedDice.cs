namespace LossKernels.Segmentation;

/// <summary>How <see cref="GeneralizedDiceLoss"/> weighs a class from its target volume Σt (MONAI's <c>w_type</c>).</summary>
public enum GeneralizedDiceWeight
{
    /// <summary>1/(Σt)² (Sudre et al.'s choice, MONAI's default).</summary>
    Square,

    /// <summary>1/Σt.</summary>
    Simple,

    /// <summary>1.</summary>
    Uniform,
}

/// <summary>
/// The generalized Dice loss (Sudre et al. 2017). Per group g (the batch, or each image), with class weights w_c from the
/// target volumes T_c (<see cref="WeightType"/>; a class with T_c = 0, whose weight is infinite, takes the largest finite
/// weight of its group): <c>f_g = 1 − (2·Σ_c w_c·I_c + smooth_nr) / (Σ_c w_c·(P_c + T_c) + smooth_dr)</c>, <c>L = mean_g f_g</c>.
/// Gradient (w does not depend on the input): <c>∂f/∂I_c = −2·w_c/den</c>, <c>∂f/∂P_c = num·w_c/den²</c>, divided by G.
/// </summary>
/// <remarks>
/// <para>MONAI <c>GeneralizedDiceLoss(softmax/sigmoid, w_type, smooth_nr=1e-5, smooth_dr=1e-5, batch, reduction="mean")</c>:
/// the same weights and infinite-weight rule; <see cref="OverlapOptions.PerImage"/> is MONAI's <c>batch=False</c>
/// (its default; this type's default is the batch, as the other overlap losses), and <c>to_onehot_y</c> is the
/// multiclass mode.</para>
/// <para>Differences: the weights are computed in double (MONAI: float32); <see cref="OverlapOptions.IgnoreIndex"/> (not in
/// MONAI) leaves pixels out of every sum as for Dice; no per-class weight input (the weights are the loss's own).</para>
/// </remarks>
/// <param name="options">The mode, logits or probabilities, per-image sums and ignored value.</param>
/// <param name="weightType">How a class is weighed from its target volume.</param>
/// <param name="smoothNumerator">smooth_nr (≥ 0).</param>
/// <param name="smoothDenominator">smooth_dr (≥ 0).</param>
public readonly struct GeneralizedDiceLoss(OverlapOptions options = default, GeneralizedDiceWeight weightType = GeneralizedDiceWeight.Square,
    float smoothNumerator = 1e-5f, float smoothDenominator = 1e-5f) : IOverlapLoss
{
    /// <summary>MONAI's defaults (square weights, smooth_nr = smooth_dr = 1e-5), multiclass from logits over the batch.</summary>
    public GeneralizedDiceLoss()
        : this(options: default)
    {
    }

    /// <inheritdoc/>
    public OverlapOptions Options { get; } = options;

    /// <summary>How a class is weighed from its target volume.</summary>
    public GeneralizedDiceWeight WeightType { get; } = weightType;

    /// <summary>smooth_nr, added to the numerator.</summary>
    public float SmoothNumerator { get; } = smoothNumerator;

    /// <summary>smooth_dr, added to the denominator.</summary>
    public float SmoothDenominator { get; } = smoothDenominator;

    /// <inheritdoc/>
    public bool TakesClassWeight => false;

    /// <inheritdoc/>
    public void Validate()
    {
        Options.Validate();
        if (WeightType is not (GeneralizedDiceWeight.Square or GeneralizedDiceWeight.Simple or GeneralizedDiceWeight.Uniform))
            ThrowHelper.OutOfRange(nameof(WeightType), (int)WeightType, "a defined GeneralizedDiceWeight");
        ThrowHelper.IfNegative(SmoothNumerator, nameof(SmoothNumerator));
        ThrowHelper.IfNegative(SmoothDenominator, nameof(SmoothDenominator));
    }

    /// <inheritdoc/>
    public double Evaluate(ReadOnlySpan<double> sums, int groups, int classes, ReadOnlySpan<float> classWeight, Span<double> sumGradient)
    {
        double total = 0d;
        for (int g = 0; g < groups; g++)
        {
            int first = g * classes * OverlapSums.Count;
            double largest = 0d;
            for (int c = 0; c < classes; c++)
            {
                double w = Weight(sums[first + c * OverlapSums.Count + (int)OverlapSum.Target]);
                if (!double.IsInfinity(w) && w > largest)
                    largest = w;
            }

            double numerator = SmoothNumerator, denominator = SmoothDenominator;
            for (int c = 0; c < classes; c++)
            {
                int at = first + c * OverlapSums.Count;
                double w = ClassWeight(sums[at + (int)OverlapSum.Target], largest);
                numerator += 2d * w * sums[at];
                denominator += w * (sums[at + (int)OverlapSum.Prediction] + sums[at + (int)OverlapSum.Target]);
            }

            total += 1d - numerator / denominator;
            for (int c = 0; c < classes; c++)
            {
                int at = first + c * OverlapSums.Count;
                double w = ClassWeight(sums[at + (int)OverlapSum.Target], largest);
                sumGradient[at] = -2d * w / denominator / groups;
                sumGradient[at + (int)OverlapSum.Prediction] = numerator * w / (denominator * denominator) / groups;
            }
        }

        return total / groups;
    }

    private double Weight(double volume) => WeightType switch
    {
        GeneralizedDiceWeight.Square => 1d / (volume * volume),
        GeneralizedDiceWeight.Simple => 1d / volume,
        _ => 1d,
    };

    /// <summary>The class weight, an infinite one (no target pixels) replaced by the group's largest finite weight, as MONAI.</summary>
    private double ClassWeight(double volume, double largest)
    {
        double w = Weight(volume);
        return double.IsInfinity(w) ? largest : w;
    }
}
