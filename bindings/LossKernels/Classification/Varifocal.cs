using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Varifocal loss (VarifocalNet, Zhang et al. 2021) on logits x and IoU-aware targets t (the IoU at a positive's class,
/// 0 elsewhere): with p = σ(x) and ce the binary cross entropy with logits, <c>ℓ = ce(x, t)·w</c> with
/// <c>w = t</c> (or 1 without IoU weighting) where t &gt; 0 and <c>w = α·|p − t|^γ</c> where t ≤ 0; gradient
/// <c>∂ℓ/∂x = (p − t)·w + [t ≤ 0]·α·γ·ce·|p − t|^γ·p(1 − p)/|p − t|</c>. Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>varifocal_loss(pred, target, alpha=0.75, gamma=2.0, iou_weighted=True)</c> and <c>VarifocalLoss</c>
/// (weight, avg_factor), the same values; the focal weight is differentiated as there (it is not detached).
/// Where p = t = 0 (a saturated negative) the gradient is its limit 0; p(1 − p)/|p − t| ≤ 1 for t ≤ 0 keeps it finite
/// for γ &lt; 1 too.
/// Difference: p − t is computed as (1 − t)·p − t·(1 − p), with 1 − p = σ(−x) from the same exponential, so that a hard label's
/// Difference: p − t is one sigmoid to float32's precision (autograd's float32 <c>σ(x) − 1</c> keeps only the bits of σ(−x) above 2⁻²⁴: 0 at x = 17).
/// </remarks>
public readonly struct VarifocalLoss : IElementwiseLoss
{
    /// <summary>mmdetection's defaults: α = 0.75, γ = 2, IoU-weighted.</summary>
    public VarifocalLoss()
        : this(0.75f, 2f, true)
    {
    }

    /// <summary>Varifocal loss with the given hyperparameters.</summary>
    /// <param name="alpha">α ≥ 0: the weight of negatives.</param>
    /// <param name="gamma">γ ≥ 0: the focusing exponent on negatives.</param>
    /// <param name="iouWeighted">Weigh positives by their target t (true) or by 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">α or γ negative or not finite.</exception>
    public VarifocalLoss(float alpha, float gamma, bool iouWeighted)
    {
        ThrowHelper.IfNegative(alpha, nameof(alpha));
        ThrowHelper.IfNegative(gamma, nameof(gamma));
        Alpha = alpha;
        Gamma = gamma;
        iouWeightedFlag = iouWeighted ? (byte)1 : (byte)0;
    }

    /// <summary>α: the weight of negatives.</summary>
    public float Alpha { get; }

    /// <summary>γ: the focusing exponent on negatives.</summary>
    public float Gamma { get; }

    // A byte, not a bool: the struct is passed by value to GPU kernels, which take blittable fields only.
    private readonly byte iouWeightedFlag;

    /// <summary>Whether positives are weighted by their target.</summary>
    public bool IouWeighted => iouWeightedFlag != 0;

    /// <summary>Throws when α or γ is negative or not finite.</summary>
    public void Validate()
    {
        ThrowHelper.IfNegative(Alpha, nameof(Alpha));
        ThrowHelper.IfNegative(Gamma, nameof(Gamma));
    }

    /// <summary>The OpenCL kernel: <c>varifocal_loss</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "varifocal_loss", new Vector4(Alpha, Gamma, IouWeighted ? 1f : 0f, 0f));

    /// <summary><c>ℓ = ce·w</c> and its derivative, as the type's summary writes them.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    // Inlined into the driver's loops (their optimized listings hold no calls); as a method of its own each vector crossed a call
    // through the stack, 1.2–1.6× slower forward and backward.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec crossEntropy = SigmoidTerms.CrossEntropy<TVec, TMath>(input, target, out TVec p, out TVec q);
        TVec difference = SigmoidTerms.Difference<TVec, TMath>(p, q, target);
        TVec distance = TMath.Abs(difference);
        TVec negativeWeight = TMath.Multiply(TMath.Create(Alpha), SigmoidTerms.Power<TVec, TMath>(distance, Gamma));
        TVec positive = TMath.GreaterThan(target, zero);
        TVec weight = TMath.Select(positive, IouWeighted ? target : TMath.Create(1f), negativeWeight);
        TVec ratio = TMath.Select(TMath.GreaterThan(distance, zero), TMath.Divide(TMath.Multiply(p, q), distance), TMath.Create(1f));
        TVec focusing = TMath.Multiply(TMath.Multiply(TMath.Create(Gamma), crossEntropy), TMath.Multiply(negativeWeight, ratio));
        gradient = TMath.Add(TMath.Multiply(difference, weight), TMath.Select(positive, zero, focusing));
        return TMath.Multiply(crossEntropy, weight);
    }
}
