using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>Which published form of CIoU <see cref="CompleteIoULoss"/> computes.</summary>
public enum CompleteIoUVariant
{
    /// <summary>torchvision's <c>complete_box_iou_loss</c>: α = v/(1 − IoU + v + eps) always.</summary>
    Torchvision,

    /// <summary>
    /// mmdetection's <c>ciou_loss</c>: α = v/(1 − IoU + v) only where IoU &gt; 0.5 (else 0), eps added to both
    /// heights inside the aspect term, the intersection and enclosing box clamped at 0, and the CIoU
    /// clamped to [−1, 1] before <c>1 − CIoU</c>.
    /// </summary>
    MMDetection,
}

/// <summary>
/// Complete IoU loss (Zheng et al. 2020): <c>ℓ = 1 − IoU + ρ²/(c² + eps) + α·v</c>, with DIoU's terms
/// (<see cref="DistanceIoULoss"/>), the aspect term <c>v = (4/π²)·(atan(w_t/h_t) − atan(w_p/h_p))²</c> and
/// <c>α = v/(1 − IoU + v + eps)</c> treated as a constant in the gradient, as both torchvision and
/// mmdetection do. The gradient of the aspect term is written as ∂atan(w/h)/∂w = h/(w² + h²) and
/// ∂atan(w/h)/∂h = −w/(w² + h²); atan is <see cref="VectorFunctions.Atan{TVec, TMath}"/>.
/// Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// torchvision: <c>torchvision.ops.complete_box_iou_loss(boxes1, boxes2, reduction, eps=1e-7)</c>. As there, eps
/// enters α only; the DIoU part always uses 1e-7. Difference: torchvision divides w/h with no guard, so a
/// zero-height box gives a NaN gradient (and a NaN loss when the width is zero too); here a zero height is
/// replaced by eps in the aspect term only (mmdetection's guard), which gives the finite limit.
/// <see cref="CompleteIoUVariant.MMDetection"/> selects mmdetection's <c>ciou_loss</c> (see that value).
/// </remarks>
public readonly struct CompleteIoULoss : IBoxLoss
{
    private const float AspectScale = (float)(4d / (Math.PI * Math.PI));

    /// <summary>CIoU loss with torchvision's eps = 1e-7 and semantics.</summary>
    public CompleteIoULoss()
        : this(1e-7f)
    {
    }

    /// <summary>CIoU loss with the given eps and variant.</summary>
    /// <param name="eps">eps ≥ 0 (see <see cref="CompleteIoUVariant"/> for where it enters).</param>
    /// <param name="variant">torchvision's (default) or mmdetection's formula.</param>
    /// <exception cref="ArgumentOutOfRangeException">eps is negative or not finite, or the variant is undefined.</exception>
    public CompleteIoULoss(float eps, CompleteIoUVariant variant = CompleteIoUVariant.Torchvision)
    {
        Check(eps, variant, nameof(eps), nameof(variant));
        Eps = eps;
        Variant = variant;
    }

    /// <summary>eps.</summary>
    public float Eps { get; }

    /// <summary>torchvision's or mmdetection's formula.</summary>
    public CompleteIoUVariant Variant { get; }

    /// <summary>Throws when eps is negative or not finite, or the variant is undefined.</summary>
    public void Validate() => Check(Eps, Variant, nameof(Eps), nameof(Variant));

    private static void Check(float eps, CompleteIoUVariant variant, string epsName, string variantName)
    {
        ThrowHelper.IfNegative(eps, epsName);
        if (variant is not (CompleteIoUVariant.Torchvision or CompleteIoUVariant.MMDetection))
            ThrowHelper.OutOfRange(variantName, (int)variant, "a defined CompleteIoUVariant");
    }

    /// <summary>The OpenCL kernel: <c>ciou</c> in <c>kernels/opencl/box.cl</c>, with p.y = 1 for mmdetection's variant.</summary>
    public ElementwiseKernel Kernel => new("box", "ciou", new Vector4(Eps, Variant == CompleteIoUVariant.MMDetection ? 1f : 0f, 0f, 0f));

    /// <summary>The formula of <see cref="CompleteIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        bool mmdet = Variant == CompleteIoUVariant.MMDetection;
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        TVec zero = TMath.Create(0f);
        TVec one = TMath.Create(1f);
        TVec eps = TMath.Create(Eps);
        TVec diouEps = mmdet ? eps : TMath.Create(1e-7f);
        TVec iou = pair.IoU(mmdet, diouEps, out TVec union, out TVec interWidth, out TVec interHeight);
        TVec penalty = pair.DistancePenalty(mmdet, diouEps, out BoxPair<TVec, TMath>.DistanceParts parts);

        TVec width = pair.Width;
        TVec targetWidth = pair.TargetWidth;
        TVec height = GuardedHeight<TVec, TMath>(pair.Height, eps, mmdet);
        TVec targetHeight = GuardedHeight<TVec, TMath>(pair.TargetHeight, eps, mmdet);
        TVec angle = TMath.Subtract(VectorFunctions.Atan<TVec, TMath>(TMath.Divide(targetWidth, targetHeight)), VectorFunctions.Atan<TVec, TMath>(TMath.Divide(width, height)));
        TVec v = TMath.Multiply(TMath.Multiply(TMath.Create(AspectScale), angle), angle);
        // 1 − IoU as ((A_p − I) + (A_t − I) + eps)/U: exact for identical boxes, where float's 1 − IoU is 0 and α = 0/0.
        TVec intersection = TMath.Multiply(interWidth, interHeight);
        TVec complement = TMath.Divide(TMath.Add(TMath.Add(TMath.Subtract(TMath.Multiply(pair.Width, pair.Height), intersection),
            TMath.Subtract(TMath.Multiply(pair.TargetWidth, pair.TargetHeight), intersection)), diouEps), union);
        TVec hasAspectGap = TMath.GreaterThan(v, zero);
        TVec alpha;
        TVec gCiou;
        TVec loss;
        if (mmdet)
        {
            alpha = TMath.And(TMath.And(TMath.GreaterThan(iou, TMath.Create(0.5f)), hasAspectGap), TMath.Divide(v, TMath.Add(complement, v)));
            TVec ciou = TMath.Subtract(iou, TMath.Add(penalty, TMath.Multiply(alpha, v)));
            loss = TMath.Subtract(one, TMath.Min(TMath.Max(ciou, TMath.Create(-1f)), one));
            gCiou = BoxPair<TVec, TMath>.ClampOneSlope(ciou);
        }
        else
        {
            alpha = TMath.And(hasAspectGap, TMath.Divide(v, TMath.Add(TMath.Add(complement, v), eps)));
            loss = TMath.Add(TMath.Add(TMath.Subtract(one, iou), penalty), TMath.Multiply(alpha, v));
            gCiou = TMath.Create(-1f);
        }

        // ℓ = const − gCiou·(IoU − penalty − α·v): ∂ℓ/∂IoU = gCiou, ∂ℓ/∂penalty = ∂ℓ/∂v/α = −gCiou.
        TVec minusG = TMath.Subtract(zero, gCiou);
        pair.BackIoU(mmdet, gCiou, zero, iou, union, interWidth, interHeight);
        pair.BackDistancePenalty(mmdet, minusG, penalty, parts);
        TVec gAngle = TMath.Multiply(TMath.Multiply(TMath.Multiply(minusG, alpha), TMath.Create(2f * AspectScale)), angle);
        TVec predictionScale = TMath.Divide(gAngle, TMath.Add(TMath.Multiply(width, width), TMath.Multiply(height, height)));
        TVec targetScale = TMath.Divide(gAngle, TMath.Add(TMath.Multiply(targetWidth, targetWidth), TMath.Multiply(targetHeight, targetHeight)));
        pair.BackSizes(TMath.Subtract(zero, TMath.Multiply(predictionScale, height)), TMath.Multiply(predictionScale, width),
            TMath.Multiply(targetScale, targetHeight), TMath.Subtract(zero, TMath.Multiply(targetScale, targetWidth)));
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss;
    }

    /// <summary>mmdetection: h + eps; torchvision: h, raised by eps only where it is exactly 0 (where torchvision's gradient is NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec GuardedHeight<TVec, TMath>(TVec height, TVec eps, bool mmdet)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        mmdet ? TMath.Add(height, eps) : TMath.Add(height, TMath.And(TMath.Equal(height, TMath.Create(0f)), eps));
}
