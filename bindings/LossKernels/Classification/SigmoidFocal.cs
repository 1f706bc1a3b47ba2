using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Sigmoid focal loss (Lin et al. 2017) on logits x and targets t ∈ [0, 1]: with p = σ(x), ce the binary cross entropy
/// with logits and m = 1 − p_t = t·(1 − p) + (1 − t)·p, <c>ℓ = α_t · ce · m^γ</c>, α_t = α·t + (1 − α)(1 − t) for α ≥ 0 and
/// 1 for α &lt; 0. Gradient <c>∂ℓ/∂x = α_t·((p − t)·m^γ + γ·ce·m^γ·(p(1 − p)/m)·(1 − 2t))</c>.
/// Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// torchvision: <c>torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction)</c>, the same
/// formula (soft targets included); mmdetection's <c>FocalLoss(use_sigmoid=True)</c> for one-hot targets.
/// Differences: m = 1 − p_t is computed as t·σ(−x) + (1 − t)·σ(x), without the cancellation of 1 − p in float, so the
/// loss of a confident prediction is not rounded to 0; where m = 0 (a saturated, correct prediction) the gradient is
/// its limit 0, also for γ &lt; 1 where autograd's <c>pow</c> backward gives NaN; p(1 − p)/m ≤ 1 keeps every
/// intermediate finite. p − t is computed as (1 − t)·p − t·(1 − p), with 1 − p = σ(−x) from the same exponential, so that a hard label's p − t is one sigmoid to float32's precision (autograd's float32 <c>σ(x) − 1</c> keeps only the bits of σ(−x) above 2⁻²⁴: 0 at x = 17). Also takes mmdetection's <c>weight</c> and <c>avg_factor</c>.
/// </remarks>
public readonly struct SigmoidFocalLoss : IElementwiseLoss
{
    /// <summary>torchvision's defaults: α = 0.25, γ = 2.</summary>
    public SigmoidFocalLoss()
        : this(0.25f, 2f)
    {
    }

    /// <summary>Sigmoid focal loss with the given hyperparameters.</summary>
    /// <param name="alpha">α ∈ [0, 1] weighs positives, 1 − α negatives; a negative α turns the weighting off (torchvision).</param>
    /// <param name="gamma">γ ≥ 0: the focusing exponent; γ = 0 is the (α-weighted) binary cross entropy.</param>
    /// <exception cref="ArgumentOutOfRangeException">α above 1 or NaN; γ negative or not finite.</exception>
    public SigmoidFocalLoss(float alpha, float gamma)
    {
        Check(alpha, gamma, nameof(alpha), nameof(gamma));
        Alpha = alpha;
        Gamma = gamma;
    }

    /// <summary>α: the weight of positives (negative: no weighting).</summary>
    public float Alpha { get; }

    /// <summary>γ: the focusing exponent.</summary>
    public float Gamma { get; }

    /// <summary>Throws when α is above 1 or NaN, or γ is negative or not finite.</summary>
    public void Validate() => Check(Alpha, Gamma, nameof(Alpha), nameof(Gamma));

    private static void Check(float alpha, float gamma, string alphaName, string gammaName)
    {
        ThrowHelper.IfNegative(gamma, gammaName);
        if (!(alpha <= 1f) || float.IsNegativeInfinity(alpha))
            ThrowHelper.OutOfRange(alphaName, alpha, "at most 1 (a negative α turns the weighting off)");
    }

    /// <summary>The OpenCL kernel: <c>sigmoid_focal_loss</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "sigmoid_focal_loss", new Vector4(Alpha, Gamma, 0f, 0f));

    /// <summary><c>ℓ = α_t·ce·m^γ</c> and its derivative, as the type's summary writes them.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    // Inlined into the driver's loops (their optimized listings hold no calls); as a method of its own each vector crossed a call
    // through the stack, 1.2–1.6× slower forward and backward.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec one = TMath.Create(1f);
        TVec crossEntropy = SigmoidTerms.CrossEntropy<TVec, TMath>(input, target, out TVec p, out TVec q);
        TVec complement = TMath.Subtract(one, target);
        TVec m = TMath.MultiplyAdd(target, q, TMath.Multiply(complement, p));
        TVec modulation = SigmoidTerms.Power<TVec, TMath>(m, Gamma);
        TVec ratio = TMath.Select(TMath.GreaterThan(m, TMath.Create(0f)), TMath.Divide(TMath.Multiply(p, q), m), one);
        TVec focusing = TMath.Multiply(TMath.Multiply(TMath.Create(Gamma), crossEntropy), TMath.Multiply(ratio, TMath.Subtract(complement, target)));
        TVec slope = TMath.Multiply(modulation, TMath.Add(SigmoidTerms.Difference<TVec, TMath>(p, q, target), focusing));
        TVec loss = TMath.Multiply(crossEntropy, modulation);
        if (Alpha < 0f)
        {
            gradient = slope;
            return loss;
        }

        TVec alphaT = TMath.MultiplyAdd(TMath.Create(Alpha), target, TMath.Multiply(TMath.Create(1f - Alpha), complement));
        gradient = TMath.Multiply(alphaT, slope);
        return TMath.Multiply(alphaT, loss);
    }
}
