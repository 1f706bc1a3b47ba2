using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Quality focal loss (Generalized Focal Loss, Li et al. 2020) on logits x and soft targets t ∈ [0, 1] (the IoU score
/// at a positive's class, 0 elsewhere): with p = σ(x) and ce the binary cross entropy with logits,
/// <c>ℓ = ce(x, t)·|p − t|^β</c>; gradient <c>∂ℓ/∂x = (p − t)·|p − t|^β + β·ce·p(1 − p)·|p − t|^(β−1)·sign(p − t)</c>,
/// taken as 0 where p = t (the subgradient of |·|, and the limit for β ≥ 1).
/// Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>quality_focal_loss_tensor_target(pred, target, beta)</c>, and <c>quality_focal_loss(pred, (label, score), beta)</c>
/// with the (label, score) pair written as the dense target (score at [i, label[i]], 0 elsewhere): the same values
/// element by element. Difference: mmdetection sums each row over the classes before <c>weight_reduce_loss</c>, so its
/// <c>weight</c> is per row and its unweighted mean divides by the row count N; here weights are per element and the
/// mean divides by N·C. With <c>avg_factor</c> (how GFL calls it) and row weights repeated over the classes the
/// results are equal.
/// Also, p − t is computed as (1 − t)·p − t·(1 − p), with 1 − p = σ(−x) from the same exponential, so that a hard label's
/// Also, p − t is one sigmoid to float32's precision (autograd's float32 <c>σ(x) − 1</c> keeps only the bits of σ(−x) above 2⁻²⁴: 0 at x = 17).
/// </remarks>
public readonly struct QualityFocalLoss : IElementwiseLoss
{
    /// <summary>mmdetection's default β = 2.</summary>
    public QualityFocalLoss()
        : this(2f)
    {
    }

    /// <summary>With exponent <paramref name="beta"/>.</summary>
    /// <param name="beta">β ≥ 0: the exponent of the scale |p − t|.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="beta"/> is negative or not finite.</exception>
    public QualityFocalLoss(float beta)
    {
        ThrowHelper.IfNegative(beta, nameof(beta));
        Beta = beta;
    }

    /// <summary>β: the exponent of the scale |p − t|.</summary>
    public float Beta { get; }

    /// <summary>Throws when β is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Beta, nameof(Beta));

    /// <summary>The OpenCL kernel: <c>quality_focal_loss</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "quality_focal_loss", new Vector4(Beta, 0f, 0f, 0f));

    /// <summary><c>ℓ = ce·|p − t|^β</c> and its derivative, as the type's summary writes them.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    // Its own method: inlined into the driver's four call sites, the exp/log of the power exhaust the JIT's inlining budget.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec crossEntropy = SigmoidTerms.CrossEntropy<TVec, TMath>(input, target, out TVec p, out TVec q);
        TVec difference = SigmoidTerms.Difference<TVec, TMath>(p, q, target);
        TVec distance = TMath.Abs(difference);
        TVec scale = SigmoidTerms.Power<TVec, TMath>(distance, Beta);
        // |d|^(β−1)·sign(d) = (|d|^β / |d|)·(d / |d|): no |d|² to underflow.
        TVec scaleSlope = TMath.Multiply(TMath.Divide(scale, distance), TMath.Divide(difference, distance));
        TVec focusing = TMath.Multiply(TMath.Multiply(TMath.Create(Beta), crossEntropy), TMath.Multiply(TMath.Multiply(p, q), scaleSlope));
        gradient = TMath.Add(TMath.Multiply(difference, scale), TMath.And(TMath.GreaterThan(distance, TMath.Create(0f)), focusing));
        return TMath.Multiply(crossEntropy, scale);
    }
}
