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
        Eps = eps;
        Variant = variant;
        Validate();
    }

    /// <summary>eps.</summary>
    public float Eps { get; }

    /// <summary>torchvision's or mmdetection's formula.</summary>
    public CompleteIoUVariant Variant { get; }

    /// <summary>Throws when eps is negative or not finite, or the variant is undefined.</summary>
    public void Validate()
    {
        ThrowHelper.IfNegative(Eps, nameof(Eps));
        if (Variant is not (CompleteIoUVariant.Torchvision or CompleteIoUVariant.MMDetection))
            ThrowHelper.OutOfRange(nameof(Variant), (int)Variant, "a defined CompleteIoUVariant");
    }

    /// <summary>The OpenCL kernel: <c>ciou</c> in <c>kernels/box.cl</c>, with p.y = 1 for mmdetection's variant.</summary>
    public ElementwiseKernel Kernel => new("box", "ciou", new Vector4(Eps, Variant == CompleteIoUVariant.MMDetection ? 1f : 0f, 0f, 0f));

    /// <summary>The formula of <see cref="CompleteIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        bool mmdet = Variant == CompleteIoUVariant.MMDetection;
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        Lanes<TVec, TMath> eps = Eps;
        Lanes<TVec, TMath> diouEps = mmdet ? eps : 1e-7f;
        Lanes<TVec, TMath> iou = pair.IoU(mmdet, diouEps, out Lanes<TVec, TMath> union, out Lanes<TVec, TMath> interWidth, out Lanes<TVec, TMath> interHeight);
        Lanes<TVec, TMath> penalty = pair.DistancePenalty(mmdet, diouEps, out BoxPair<TVec, TMath>.DistanceParts parts);

        Lanes<TVec, TMath> width = pair.Width;
        Lanes<TVec, TMath> targetWidth = pair.TargetWidth;
        Lanes<TVec, TMath> height = GuardedHeight(pair.Height, eps, mmdet);
        Lanes<TVec, TMath> targetHeight = GuardedHeight(pair.TargetHeight, eps, mmdet);
        Lanes<TVec, TMath> angle = new(VectorFunctions.Atan<TVec, TMath>((targetWidth / targetHeight).Value));
        angle -= new Lanes<TVec, TMath>(VectorFunctions.Atan<TVec, TMath>((width / height).Value));
        Lanes<TVec, TMath> v = AspectScale * angle * angle;
        // 1 − IoU as ((A_p − I) + (A_t − I) + eps)/U: exact for identical boxes, where float's 1 − IoU is 0 and α = 0/0.
        Lanes<TVec, TMath> intersection = interWidth * interHeight;
        Lanes<TVec, TMath> complement = ((pair.Width * pair.Height - intersection) + (pair.TargetWidth * pair.TargetHeight - intersection) + diouEps) / union;
        Lanes<TVec, TMath> hasAspectGap = Lanes<TVec, TMath>.Greater(v, 0f);
        Lanes<TVec, TMath> alpha;
        Lanes<TVec, TMath> gCiou;
        Lanes<TVec, TMath> loss;
        if (mmdet)
        {
            alpha = Lanes<TVec, TMath>.And(Lanes<TVec, TMath>.And(Lanes<TVec, TMath>.Greater(iou, 0.5f), hasAspectGap), v / (complement + v));
            Lanes<TVec, TMath> ciou = iou - (penalty + alpha * v);
            loss = 1f - Lanes<TVec, TMath>.Min(Lanes<TVec, TMath>.Max(ciou, -1f), 1f);
            // torch.clamp passes the gradient on [−1, 1], bounds included.
            gCiou = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(ciou, -1f), 0f, Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Greater(ciou, 1f), 0f, -1f));
        }
        else
        {
            alpha = Lanes<TVec, TMath>.And(hasAspectGap, v / (complement + v + eps));
            loss = 1f - iou + penalty + alpha * v;
            gCiou = -1f;
        }

        // ℓ = const − gCiou·(IoU − penalty − α·v): ∂ℓ/∂IoU = gCiou, ∂ℓ/∂penalty = ∂ℓ/∂v/α = −gCiou.
        pair.BackIoU(mmdet, gCiou, 0f, iou, union, interWidth, interHeight);
        pair.BackDistancePenalty(mmdet, -gCiou, penalty, parts);
        Lanes<TVec, TMath> gAngle = -gCiou * alpha * (2f * AspectScale) * angle;
        Lanes<TVec, TMath> predictionScale = gAngle / (width * width + height * height);
        Lanes<TVec, TMath> targetScale = gAngle / (targetWidth * targetWidth + targetHeight * targetHeight);
        pair.BackSizes(-predictionScale * height, predictionScale * width, targetScale * targetHeight, -targetScale * targetWidth);
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss.Value;
    }

    /// <summary>mmdetection: h + eps; torchvision: h, with eps only where h is exactly 0 (where torchvision's gradient is NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Lanes<TVec, TMath> GuardedHeight<TVec, TMath>(Lanes<TVec, TMath> height, Lanes<TVec, TMath> eps, bool mmdet)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        mmdet ? height + eps : Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Equal(height, 0f), eps, height);
}
