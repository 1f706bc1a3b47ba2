using System.Runtime.CompilerServices;

namespace LossKernels.Embedding;

/// <summary>The instances of a call as the per-instance step reads and writes them (CPU pointers or device views).</summary>
internal interface IDiscriminativeInstances
{
    /// <summary>E.</summary>
    int Channels { get; }

    /// <summary>n_c, the pixels of instance <paramref name="instance"/>.</summary>
    int Count(int instance);

    /// <summary>μ_c[e].</summary>
    float Mean(int instance, int channel);

    /// <summary>V_c[e] for e &lt; E; Σ_{i∈c} max(0, d_i − δv)² at e = E.</summary>
    float Spread(int instance, int channel);

    /// <summary>The instance's gradient coefficient e (K_c[e] for e &lt; E, the pixel factor at e = E), read back while it accumulates.</summary>
    float Coefficient(int instance, int channel);

    /// <summary>Sets coefficient e of the instance.</summary>
    void SetCoefficient(int instance, int channel, float value);
}

/// <summary>
/// The discriminative loss's math, written once for the CPU driver and the ILGPU kernels (<c>kernels/opencl/embedding.cl</c> mirrors
/// it): the pull of a pixel towards its mean, the push between two means, and one instance's share of its image's loss with the
/// coefficients of its gradient (<see cref="DiscriminativeLoss"/> has the formulas).
/// </summary>
internal static class DiscriminativeMath
{
    /// <summary>
    /// A pixel at squared distance <paramref name="squaredDistance"/> from its mean: returns h² with h = max(0, d − δv), and sets
    /// <paramref name="scale"/> = 2h/d, the factor of (x_i − μ_c) in v_i (0 where h = 0; NaN stays NaN).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Pull(float squaredDistance, float deltaV, out float scale) => SquaredHinge(squaredDistance, deltaV, 1f, out scale);

    /// <summary>
    /// Two means at squared distance <paramref name="squaredDistance"/>: returns k² with k = max(0, 2δd − D), and sets
    /// <paramref name="coefficient"/> = −4k/D, the factor of (μ_a − μ_b) in ∂(Σ over both orders of k²)/∂μ_a (0 at D = 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Push(float squaredDistance, float twoDeltaD, out float coefficient)
    {
        float squared = SquaredHinge(squaredDistance, twoDeltaD, -1f, out float slope);
        coefficient = 2f * slope;
        return squared;
    }

    /// <summary>h² for h = max(0, sign·(d − offset)), d = √<paramref name="squaredDistance"/>, and ∂h²/∂d over d = 2·sign·h/d (0 where h or d is 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SquaredHinge(float squaredDistance, float offset, float sign, out float slope)
    {
        float distance = MathF.Sqrt(squaredDistance);
        float hinge = sign * (distance - offset);
        if (hinge <= 0f)
        {
            slope = 0f;
            return 0f;
        }

        slope = distance > 0f ? 2f * sign * hinge / distance : 0f;
        return hinge * hinge;
    }

    /// <summary>
    /// Instance <paramref name="instance"/> of an image whose instances are <paramref name="first"/> … first + C − 1: its shares of
    /// the image's variance, distance and regularizer terms (already over C, C(C − 1) and C), and with <paramref name="gradient"/> its
    /// coefficients times <paramref name="scale"/> (∂objective/∂L_n): K_c[e] = scale·((∂L_n/∂μ_c)[e] − α/(C·n_c)·V_c[e])/n_c at
    /// e &lt; E and the pixel factor scale·α/(C·n_c) at e = E, so that ∂/∂x_i = factor·v_i + K_c.
    /// </summary>
    public static void Instance<TInstances>(ref TInstances instances, int instance, int first, int clusters, float deltaV, float twoDeltaD, float alpha,
        float beta, float gamma, float scale, bool gradient, out float variance, out float distance, out float regularizer)
        where TInstances : struct, IDiscriminativeInstances
    {
        int channels = instances.Channels;
        float count = instances.Count(instance);
        float perInstance = 1f / clusters;
        variance = instances.Spread(instance, channels) / count * perInstance;
        float squaredNorm = 0f;
        for (int e = 0; e < channels; e++)
        {
            float mean = instances.Mean(instance, e);
            squaredNorm += mean * mean;
            if (gradient)
                instances.SetCoefficient(instance, e, 0f);
        }

        float norm = MathF.Sqrt(squaredNorm);
        regularizer = norm * perInstance;
        float push = 0f;
        for (int b = first; b < first + clusters; b++)
        {
            if (b == instance)
                continue;
            float squared = 0f;
            for (int e = 0; e < channels; e++)
            {
                float difference = instances.Mean(instance, e) - instances.Mean(b, e);
                squared += difference * difference;
            }

            push += Push(squared, twoDeltaD, out float coefficient);
            if (!gradient || coefficient == 0f)
                continue;
            for (int e = 0; e < channels; e++)
                instances.SetCoefficient(instance, e, instances.Coefficient(instance, e) + coefficient * (instances.Mean(instance, e) - instances.Mean(b, e)));
        }

        float pairs = clusters > 1 ? 1f / ((float)clusters * (clusters - 1)) : 0f;
        distance = push * pairs;
        if (!gradient)
            return;
        float towardsNorm = norm > 0f ? gamma * perInstance / norm : 0f;
        float pixelFactor = alpha * perInstance / count;
        for (int e = 0; e < channels; e++)
        {
            float throughMean = beta * pairs * instances.Coefficient(instance, e) + towardsNorm * instances.Mean(instance, e);
            instances.SetCoefficient(instance, e, scale * (throughMean - pixelFactor * instances.Spread(instance, e)) / count);
        }

        instances.SetCoefficient(instance, channels, scale * pixelFactor);
    }
}
