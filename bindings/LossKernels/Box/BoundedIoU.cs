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

    /// <summary>The OpenCL kernel: <c>bounded_iou</c> in <c>kernels/opencl/box.cl</c>, p = (β, eps).</summary>
    public ElementwiseKernel Kernel => new("box", "bounded_iou", new Vector4(Beta, Eps, 0f, 0f));

    /// <summary>The formula of <see cref="BoundedIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        pair.CenterOffset(out TVec dx, out TVec dy);
        TVec zero = TMath.Create(0f);
        TVec lossX = Offset<TVec, TMath>(TMath.Subtract(zero, dx), pair.TargetWidth, out TVec gOffsetX);
        TVec lossY = Offset<TVec, TMath>(TMath.Subtract(zero, dy), pair.TargetHeight, out TVec gOffsetY);
        TVec lossW = Size<TVec, TMath>(pair.Width, pair.TargetWidth, out TVec gWidth);
        TVec lossH = Size<TVec, TMath>(pair.Height, pair.TargetHeight, out TVec gHeight);
        // Δ = c_t − c_p and c_p = (x1 + x2)/2: ∂/∂x1 = ∂/∂x2 = −∂/∂Δ / 2.
        TVec minusHalf = TMath.Create(-0.5f);
        TVec halfX = TMath.Multiply(minusHalf, gOffsetX), halfY = TMath.Multiply(minusHalf, gOffsetY);
        predictionGradient = new BoxVectors<TVec>(TMath.Subtract(halfX, gWidth), TMath.Subtract(halfY, gHeight), TMath.Add(halfX, gWidth), TMath.Add(halfY, gHeight));
        targetGradient = new BoxVectors<TVec>(zero, zero, zero, zero);
        return TMath.Add(TMath.Add(lossX, lossY), TMath.Add(lossW, lossH));
    }

    /// <summary>
    /// The smoothed center component and ∂/∂Δ. 1 − (w_t − 2|Δ|)/(w_t + 2|Δ| + eps) is computed as
    /// (4|Δ| + eps)/(w_t + 2|Δ| + eps), which has no cancellation when the ratio is near 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Offset<TVec, TMath>(TVec delta, TVec targetSize, out TVec gDelta)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec eps = TMath.Create(Eps);
        TVec two = TMath.Create(2f);
        TVec twice = TMath.Multiply(two, TMath.Abs(delta));
        TVec denominator = TMath.Add(TMath.Add(targetSize, twice), eps);
        TVec complement = TMath.Divide(TMath.Add(TMath.Multiply(two, twice), eps), denominator);
        TVec one = TMath.Create(1f);
        TVec value = Smooth<TVec, TMath>(TMath.Min(complement, one), out TVec gComponent);
        // ∂complement/∂|Δ| = 2(2·w_t + eps)/denominator²; max(ratio, 0) is min(complement, 1).
        TVec gComplement = TMath.Multiply(gComponent, BoxPair<TVec, TMath>.MinShare(complement, one));
        TVec slope = TMath.Divide(TMath.Multiply(two, TMath.Add(TMath.Multiply(two, targetSize), eps)), TMath.Multiply(denominator, denominator));
        gDelta = TMath.Multiply(TMath.Multiply(gComplement, slope), VectorMath.Sign<TVec, TMath>(delta));
        return value;
    }

    /// <summary>
    /// The smoothed size component and ∂/∂(prediction size): 1 − min(w_t/(w_p + eps), w_p/(w_t + eps)) computed as
    /// max((w_p + eps − w_t)/(w_p + eps), (w_t + eps − w_p)/(w_t + eps)), with no cancellation near 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Size<TVec, TMath>(TVec size, TVec targetSize, out TVec gSize)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec eps = TMath.Create(Eps);
        TVec shifted = TMath.Add(size, eps);
        TVec targetShifted = TMath.Add(targetSize, eps);
        TVec fromShrink = TMath.Divide(TMath.Subtract(shifted, targetSize), shifted);
        TVec fromGrow = TMath.Divide(TMath.Subtract(targetShifted, size), targetShifted);
        TVec value = Smooth<TVec, TMath>(TMath.Max(fromShrink, fromGrow), out TVec gComponent);
        TVec share = BoxPair<TVec, TMath>.MaxShare(fromShrink, fromGrow);
        TVec shrinkSlope = TMath.Divide(targetSize, TMath.Multiply(shifted, shifted));
        TVec growSlope = TMath.Divide(TMath.Create(1f), targetShifted);
        gSize = TMath.Multiply(gComponent, TMath.Subtract(TMath.Multiply(share, shrinkSlope), TMath.Multiply(TMath.Subtract(TMath.Create(1f), share), growSlope)));
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Smooth<TVec, TMath>(TVec component, out TVec gComponent)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec beta = TMath.Create(Beta);
        TVec quadratic = TMath.LessThan(component, beta);
        gComponent = TMath.Select(quadratic, TMath.Divide(component, beta), TMath.Create(1f));
        TVec half = TMath.Create(0.5f);
        return TMath.Select(quadratic, TMath.Divide(TMath.Multiply(TMath.Multiply(half, component), component), beta), TMath.Subtract(component, TMath.Multiply(half, beta)));
    }
}
