using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// Bounded IoU loss (Tychsen-Smith and Petersson 2018), as mmdetection's <c>bounded_iou_loss</c>. With centers
/// and sizes of both boxes, Δx = c_t − c_p and the same in y, four components
/// <c>d_x = 1 − max((w_t − 2|Δx|)/(w_t + 2|Δx| + eps), 0)</c>, d_y likewise,
/// <c>d_w = 1 − min(w_t/(w_p + eps), w_p/(w_t + eps))</c>, d_h likewise, each smoothed as
/// <c>d &lt; β ? d²/(2β) : d − β/2</c>; the box's loss is the sum of the four. The gradient is with respect to the
/// prediction only (mmdetection computes the target terms under <c>torch.no_grad()</c>): the target gradient is 0.
/// Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>bounded_iou_loss(pred, target, beta=0.2, eps=1e-3)</c> and <c>BoundedIoULoss</c>. Differences:
/// mmdetection returns the four components per box (<c>[N, 4]</c>) and its mean divides by 4N; here a box's loss
/// is the sum of its components (the row sums of mmdetection's <c>[N, 4]</c>), so Sum and Mean with avgFactor equal
/// mmdetection's, and Mean without avgFactor is 4× mmdetection's. Weights are per box (mmdetection's may be
/// per component). No torchvision equivalent.
/// </remarks>
public readonly struct BoundedIoULoss : IBoxLoss
{
    /// <summary>Bounded IoU loss with mmdetection's defaults β = 0.2, eps = 1e-3.</summary>
    public BoundedIoULoss()
        : this(0.2f, 1e-3f)
    {
    }

    /// <summary>Bounded IoU loss with the given β and eps.</summary>
    /// <param name="beta">β &gt; 0: where each component turns linear.</param>
    /// <param name="eps">eps ≥ 0, added to the denominators.</param>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range.</exception>
    public BoundedIoULoss(float beta, float eps = 1e-3f)
    {
        ThrowHelper.IfNotPositive(beta, nameof(beta));
        ThrowHelper.IfNegative(eps, nameof(eps));
        Beta = beta;
        Eps = eps;
    }

    /// <summary>β: where each component turns linear.</summary>
    public float Beta { get; }

    /// <summary>eps, added to the denominators.</summary>
    public float Eps { get; }

    /// <summary>Throws when a hyperparameter is out of range (as for <c>default(BoundedIoULoss)</c>).</summary>
    public void Validate()
    {
        ThrowHelper.IfNotPositive(Beta, nameof(Beta));
        ThrowHelper.IfNegative(Eps, nameof(Eps));
    }

    /// <summary>The OpenCL kernel: <c>bounded_iou</c> in <c>kernels/box.cl</c>, p = (β, eps).</summary>
    public ElementwiseKernel Kernel => new("box", "bounded_iou", new Vector4(Beta, Eps, 0f, 0f));

    /// <summary>The formula of <see cref="BoundedIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        (Lanes<TVec, TMath> dx, Lanes<TVec, TMath> dy) = pair.CenterOffset();
        Lanes<TVec, TMath> lossX = Offset(-dx, pair.TargetWidth, out Lanes<TVec, TMath> gOffsetX);
        Lanes<TVec, TMath> lossY = Offset(-dy, pair.TargetHeight, out Lanes<TVec, TMath> gOffsetY);
        Lanes<TVec, TMath> lossW = Size(pair.Width, pair.TargetWidth, out Lanes<TVec, TMath> gWidth);
        Lanes<TVec, TMath> lossH = Size(pair.Height, pair.TargetHeight, out Lanes<TVec, TMath> gHeight);
        // Δ = c_t − c_p and c_p = (x1 + x2)/2: ∂/∂x1 = ∂/∂x2 = −∂/∂Δ / 2.
        Lanes<TVec, TMath> halfX = -0.5f * gOffsetX, halfY = -0.5f * gOffsetY;
        predictionGradient = new BoxVectors<TVec>((halfX - gWidth).Value, (halfY - gHeight).Value, (halfX + gWidth).Value, (halfY + gHeight).Value);
        targetGradient = default;
        return (lossX + lossY + lossW + lossH).Value;
    }

    /// <summary>
    /// The smoothed center component and ∂/∂Δ. 1 − (w_t − 2|Δ|)/(w_t + 2|Δ| + eps) is computed as
    /// (4|Δ| + eps)/(w_t + 2|Δ| + eps), which has no cancellation when the ratio is near 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Lanes<TVec, TMath> Offset<TVec, TMath>(Lanes<TVec, TMath> delta, Lanes<TVec, TMath> targetSize, out Lanes<TVec, TMath> gDelta)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        Lanes<TVec, TMath> twice = 2f * Lanes<TVec, TMath>.Abs(delta);
        Lanes<TVec, TMath> denominator = targetSize + twice + Eps;
        Lanes<TVec, TMath> complement = (2f * twice + Eps) / denominator;
        Lanes<TVec, TMath> value = Smooth(Lanes<TVec, TMath>.Min(complement, 1f), out Lanes<TVec, TMath> gComponent);
        // ∂complement/∂|Δ| = 2(2·w_t + eps)/denominator²; max(ratio, 0) is min(complement, 1).
        Lanes<TVec, TMath> gComplement = gComponent * Lanes<TVec, TMath>.MinShare(complement, 1f);
        gDelta = gComplement * (2f * (2f * targetSize + Eps)) / (denominator * denominator) * Lanes<TVec, TMath>.Sign(delta);
        return value;
    }

    /// <summary>
    /// The smoothed size component and ∂/∂(prediction size): 1 − min(w_t/(w_p + eps), w_p/(w_t + eps)) computed as
    /// max((w_p + eps − w_t)/(w_p + eps), (w_t + eps − w_p)/(w_t + eps)), with no cancellation near 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Lanes<TVec, TMath> Size<TVec, TMath>(Lanes<TVec, TMath> size, Lanes<TVec, TMath> targetSize, out Lanes<TVec, TMath> gSize)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        Lanes<TVec, TMath> shifted = size + Eps;
        Lanes<TVec, TMath> targetShifted = targetSize + Eps;
        Lanes<TVec, TMath> fromShrink = (shifted - targetSize) / shifted;
        Lanes<TVec, TMath> fromGrow = (targetShifted - size) / targetShifted;
        Lanes<TVec, TMath> value = Smooth(Lanes<TVec, TMath>.Max(fromShrink, fromGrow), out Lanes<TVec, TMath> gComponent);
        Lanes<TVec, TMath> share = Lanes<TVec, TMath>.MaxShare(fromShrink, fromGrow);
        gSize = gComponent * (share * targetSize / (shifted * shifted) - (1f - share) / targetShifted);
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Lanes<TVec, TMath> Smooth<TVec, TMath>(Lanes<TVec, TMath> component, out Lanes<TVec, TMath> gComponent)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        Lanes<TVec, TMath> beta = Beta;
        Lanes<TVec, TMath> quadratic = Lanes<TVec, TMath>.Less(component, beta);
        gComponent = Lanes<TVec, TMath>.Select(quadratic, component / beta, 1f);
        return Lanes<TVec, TMath>.Select(quadratic, 0.5f * component * component / beta, component - 0.5f * beta);
    }
}
