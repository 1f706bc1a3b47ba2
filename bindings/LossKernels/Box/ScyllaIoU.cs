using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// SCYLLA IoU loss (SIoU, Gevorgyan 2022), as mmdetection's <c>siou_loss</c>. With IoU = I/(U + eps) (clamped
/// intersection), the enclosing size C_w, C_h clamped at eps, the center offset s = (target − prediction
/// centers) + eps, σ = |s|, sin α the smaller of |s_x|/σ, |s_y|/σ (the test is |s_x|/σ &gt; √2/2), the angle cost
/// Λ = cos(2·asin(sin α) − π/2) = 2·sin α·√(1 − sin²α), γ = 2 − Λ, the distance cost
/// Δ = 2 − e^(γ(s_x/C_w)²) − e^(γ(s_y/C_h)²), the shape cost Ω = Σ (1 − e^(−ω))⁴ over
/// ω_w = |w_p − w_t|/max(w_p, w_t) and ω_h likewise with eps added to both heights:
/// <c>ℓ = 1 − clamp(IoU − (Δ + Ω)/2, −1, 1)</c>. The gradient is the analytic derivative with respect to all
/// eight coordinates. Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>siou_loss(pred, target, eps=1e-7, neg_gamma=False)</c> and <c>SIoULoss</c>; <c>negGamma</c> gives
/// γ = Λ − 2, the paper's sign. Λ is computed in the closed form 2·sin α·√(1 − sin²α), equal to mmdetection's
/// cos(2·asin(sin α) − π/2); sin α ≤ √2/2, so its derivative is finite. No torchvision equivalent.
/// </remarks>
public readonly struct ScyllaIoULoss : IBoxLoss
{
    private const float Threshold = 0.707106781f;

    /// <summary>SIoU loss with mmdetection's defaults: eps = 1e-7, γ = 2 − Λ.</summary>
    public ScyllaIoULoss()
        : this(1e-7f)
    {
    }

    /// <summary>SIoU loss with the given eps and sign of γ.</summary>
    /// <param name="eps">eps ≥ 0 (union, heights, center offsets, enclosing clamp).</param>
    /// <param name="negGamma">true: γ = Λ − 2 (the paper); false: γ = 2 − Λ (mmdetection's default).</param>
    /// <exception cref="ArgumentOutOfRangeException">eps is negative or not finite.</exception>
    public ScyllaIoULoss(float eps, bool negGamma = false)
    {
        ThrowHelper.IfNegative(eps, nameof(eps));
        Eps = eps;
        NegGamma = negGamma;
    }

    /// <summary>eps.</summary>
    public float Eps { get; }

    /// <summary>Whether γ = Λ − 2 (the paper) rather than 2 − Λ.</summary>
    public bool NegGamma { get; }

    /// <summary>Throws when eps is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Eps, nameof(Eps));

    /// <summary>The OpenCL kernel: <c>siou</c> in <c>kernels/box.cl</c>, p = (eps, negGamma ? 1 : 0).</summary>
    public ElementwiseKernel Kernel => new("box", "siou", new Vector4(Eps, NegGamma ? 1f : 0f, 0f, 0f));

    /// <summary>The formula of <see cref="ScyllaIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        Lanes<TVec, TMath> eps = Eps;
        Lanes<TVec, TMath> iou = pair.IoU(true, eps, out Lanes<TVec, TMath> union, out Lanes<TVec, TMath> interWidth, out Lanes<TVec, TMath> interHeight);
        (Lanes<TVec, TMath> rawWidth, Lanes<TVec, TMath> rawHeight) = pair.Enclosure();
        Lanes<TVec, TMath> cw = Lanes<TVec, TMath>.Max(rawWidth, eps);
        Lanes<TVec, TMath> ch = Lanes<TVec, TMath>.Max(rawHeight, eps);
        (Lanes<TVec, TMath> dx, Lanes<TVec, TMath> dy) = pair.CenterOffset();
        Lanes<TVec, TMath> sx = eps - dx;
        Lanes<TVec, TMath> sy = eps - dy;
        Lanes<TVec, TMath> sigma = Lanes<TVec, TMath>.Sqrt(sx * sx + sy * sy);
        Lanes<TVec, TMath> sinX = Lanes<TVec, TMath>.Abs(sx) / sigma;
        Lanes<TVec, TMath> sinY = Lanes<TVec, TMath>.Abs(sy) / sigma;
        Lanes<TVec, TMath> useY = Lanes<TVec, TMath>.Greater(sinX, Threshold);
        Lanes<TVec, TMath> sin = Lanes<TVec, TMath>.Select(useY, sinY, sinX);
        Lanes<TVec, TMath> cos = Lanes<TVec, TMath>.Sqrt(1f - sin * sin);
        Lanes<TVec, TMath> angleCost = 2f * sin * cos;
        Lanes<TVec, TMath> gamma = NegGamma ? angleCost - 2f : 2f - angleCost;
        Lanes<TVec, TMath> rhoX = sx / cw * (sx / cw);
        Lanes<TVec, TMath> rhoY = sy / ch * (sy / ch);
        Lanes<TVec, TMath> expX = Lanes<TVec, TMath>.Exp(gamma * rhoX);
        Lanes<TVec, TMath> expY = Lanes<TVec, TMath>.Exp(gamma * rhoY);
        Lanes<TVec, TMath> distanceCost = 2f - expX - expY;

        Lanes<TVec, TMath> width = pair.Width, targetWidth = pair.TargetWidth;
        Lanes<TVec, TMath> height = pair.Height + eps, targetHeight = pair.TargetHeight + eps;
        Lanes<TVec, TMath> widthGap = width - targetWidth, heightGap = height - targetHeight;
        Lanes<TVec, TMath> widthMax = Lanes<TVec, TMath>.Max(width, targetWidth), heightMax = Lanes<TVec, TMath>.Max(height, targetHeight);
        Lanes<TVec, TMath> omegaW = Lanes<TVec, TMath>.Abs(widthGap) / widthMax;
        Lanes<TVec, TMath> omegaH = Lanes<TVec, TMath>.Abs(heightGap) / heightMax;
        Lanes<TVec, TMath> decayW = Lanes<TVec, TMath>.Exp(-omegaW), decayH = Lanes<TVec, TMath>.Exp(-omegaH);
        Lanes<TVec, TMath> riseW = 1f - decayW, riseH = 1f - decayH;
        Lanes<TVec, TMath> riseW2 = riseW * riseW, riseH2 = riseH * riseH;
        Lanes<TVec, TMath> shapeCost = riseW2 * riseW2 + riseH2 * riseH2;
        Lanes<TVec, TMath> siou = iou - 0.5f * (distanceCost + shapeCost);
        Lanes<TVec, TMath> loss = 1f - Lanes<TVec, TMath>.Min(Lanes<TVec, TMath>.Max(siou, -1f), 1f);

        // torch.clamp passes the gradient on [−1, 1], bounds included; ∂ℓ/∂SIoU = −1 there.
        Lanes<TVec, TMath> gSiou = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(siou, -1f), 0f, Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Greater(siou, 1f), 0f, -1f));
        Lanes<TVec, TMath> gCost = -0.5f * gSiou;
        pair.BackIoU(true, gSiou, 0f, iou, union, interWidth, interHeight);

        Lanes<TVec, TMath> gOmegaW = gCost * 4f * riseW2 * riseW * decayW;
        Lanes<TVec, TMath> gOmegaH = gCost * 4f * riseH2 * riseH * decayH;
        Lanes<TVec, TMath> gGapW = gOmegaW * Lanes<TVec, TMath>.Sign(widthGap) / widthMax;
        Lanes<TVec, TMath> gGapH = gOmegaH * Lanes<TVec, TMath>.Sign(heightGap) / heightMax;
        Lanes<TVec, TMath> gMaxW = -gOmegaW * omegaW / widthMax;
        Lanes<TVec, TMath> gMaxH = -gOmegaH * omegaH / heightMax;
        Lanes<TVec, TMath> shareW = Lanes<TVec, TMath>.MaxShare(width, targetWidth);
        Lanes<TVec, TMath> shareH = Lanes<TVec, TMath>.MaxShare(height, targetHeight);
        pair.BackSizes(gGapW + gMaxW * shareW, gGapH + gMaxH * shareH, -gGapW + gMaxW * (1f - shareW), -gGapH + gMaxH * (1f - shareH));

        Lanes<TVec, TMath> gRhoX = -gCost * expX * gamma;
        Lanes<TVec, TMath> gRhoY = -gCost * expY * gamma;
        Lanes<TVec, TMath> gGamma = -gCost * (expX * rhoX + expY * rhoY);
        Lanes<TVec, TMath> gAngle = NegGamma ? gGamma : -gGamma;
        // ∂Λ/∂sin = 2(1 − 2·sin²)/√(1 − sin²).
        Lanes<TVec, TMath> gSin = gAngle * 2f * (1f - 2f * sin * sin) / cos;
        Lanes<TVec, TMath> gSinX = Lanes<TVec, TMath>.Select(useY, 0f, gSin);
        Lanes<TVec, TMath> gSinY = Lanes<TVec, TMath>.Select(useY, gSin, 0f);
        Lanes<TVec, TMath> gSigma = -(gSinX * sinX + gSinY * sinY) / sigma;
        Lanes<TVec, TMath> gSx = gSinX * Lanes<TVec, TMath>.Sign(sx) / sigma + gSigma * sx / sigma + gRhoX * 2f * sx / (cw * cw);
        Lanes<TVec, TMath> gSy = gSinY * Lanes<TVec, TMath>.Sign(sy) / sigma + gSigma * sy / sigma + gRhoY * 2f * sy / (ch * ch);
        pair.BackCenterOffset(-gSx, -gSy);
        // torch.clamp(min=eps) passes the gradient where the size is ≥ eps.
        Lanes<TVec, TMath> gCw = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(rawWidth, eps), 0f, -2f * gRhoX * rhoX / cw);
        Lanes<TVec, TMath> gCh = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(rawHeight, eps), 0f, -2f * gRhoY * rhoY / ch);
        pair.BackEnclosure(gCw, gCh);
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss.Value;
    }
}
