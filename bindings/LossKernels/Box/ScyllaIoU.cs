using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// SCYLLA IoU loss (SIoU, Gevorgyan 2022), as mmdetection's <c>siou_loss</c>. With IoU = I/(U + eps) (clamped
/// intersection), the enclosing size C_w, C_h clamped at eps, the center offset s = (target − prediction
/// centers) + eps, σ = |s|, sin α the smaller of |s_x|/σ, |s_y|/σ (the test is |s_x|/σ &gt; √2/2), the angle cost
/// Λ = cos(2·asin(sin α) − π/2) = 2·sin α·√(1 − sin²α) = 2|s_x·s_y|/σ², γ = 2 − Λ, the distance cost
/// Δ = 2 − e^(γ(s_x/C_w)²) − e^(γ(s_y/C_h)²), the shape cost Ω = Σ (1 − e^(−ω))⁴ over
/// ω_w = |w_p − w_t|/max(w_p, w_t) and ω_h likewise with eps added to both heights:
/// <c>ℓ = 1 − clamp(IoU − (Δ + Ω)/2, −1, 1)</c>. The gradient is the analytic derivative with respect to all
/// eight coordinates. Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>siou_loss(pred, target, eps=1e-7, neg_gamma=False)</c> and <c>SIoULoss</c>; <c>negGamma</c> gives
/// γ = Λ − 2, the paper's sign. Λ is computed as 2|s_x·s_y|/σ², equal to mmdetection's cos(2·asin(sin α) − π/2) in both
/// branches of its test (sin α and √(1 − sin²α) are |s_x|/σ and |s_y|/σ, in one order or the other): no branch, no 1/cos α in
/// the derivative, and where |s_x| = |s_y| (identical centers, whose offsets are both eps) the angle's gradient is exactly 0,
/// not float rounding amplified by 1/σ ≈ 10⁷ as the branch form's would be. Where mmdetection divides 0 by 0 and
/// returns NaN — two zero-width boxes (ω_w), two zero heights or identical centers with eps = 0 (ω_h, σ) — the
/// quotient here is 0. No torchvision equivalent.
/// </remarks>
public readonly struct ScyllaIoULoss : IBoxLoss
{
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
        negGammaFlag = negGamma ? (byte)1 : (byte)0;
    }

    /// <summary>eps.</summary>
    public float Eps { get; }

    // A byte, not a bool: the struct is passed by value to GPU kernels, which take blittable fields only.
    private readonly byte negGammaFlag;

    /// <summary>Whether γ = Λ − 2 (the paper) rather than 2 − Λ.</summary>
    public bool NegGamma => negGammaFlag != 0;

    /// <summary>Throws when eps is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Eps, nameof(Eps));

    /// <summary>The OpenCL kernel: <c>siou</c> in <c>kernels/opencl/box.cl</c>, p = (eps, negGamma ? 1 : 0).</summary>
    public ElementwiseKernel Kernel => new("box", "siou", new Vector4(Eps, NegGamma ? 1f : 0f, 0f, 0f));

    /// <summary>The formula of <see cref="ScyllaIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        TVec zero = TMath.Create(0f);
        TVec one = TMath.Create(1f);
        TVec two = TMath.Create(2f);
        TVec eps = TMath.Create(Eps);
        TVec iou = pair.IoU(true, eps, out TVec union, out TVec interWidth, out TVec interHeight);
        pair.Enclosure(out TVec rawWidth, out TVec rawHeight);
        TVec cw = TMath.Max(rawWidth, eps);
        TVec ch = TMath.Max(rawHeight, eps);
        pair.CenterOffset(out TVec dx, out TVec dy);
        TVec sx = TMath.Subtract(eps, dx);
        TVec sy = TMath.Subtract(eps, dy);
        // Both offsets 0 (eps = 0, same centers): σ² = 1 makes Λ = 0 where mmdetection divides 0 by 0.
        TVec sxSquared = TMath.Multiply(sx, sx), sySquared = TMath.Multiply(sy, sy);
        // The divisors' reciprocals, each computed once: a vector division costs several multiplications.
        TVec inverseSigmaSquared = TMath.Divide(one, NonZero(TMath.Add(sxSquared, sySquared)));
        TVec inverseCw = TMath.Divide(one, cw), inverseCh = TMath.Divide(one, ch);
        TVec angleCost = TMath.Multiply(TMath.Multiply(two, TMath.Abs(TMath.Multiply(sx, sy))), inverseSigmaSquared);
        TVec gamma = NegGamma ? TMath.Subtract(angleCost, two) : TMath.Subtract(two, angleCost);
        TVec ratioX = TMath.Multiply(sx, inverseCw), ratioY = TMath.Multiply(sy, inverseCh);
        TVec rhoX = TMath.Multiply(ratioX, ratioX), rhoY = TMath.Multiply(ratioY, ratioY);
        TVec expX = TMath.Exp(TMath.Multiply(gamma, rhoX));
        TVec expY = TMath.Exp(TMath.Multiply(gamma, rhoY));
        TVec distanceCost = TMath.Subtract(TMath.Subtract(two, expX), expY);

        TVec width = pair.Width, targetWidth = pair.TargetWidth;
        TVec height = TMath.Add(pair.Height, eps), targetHeight = TMath.Add(pair.TargetHeight, eps);
        TVec widthGap = TMath.Subtract(width, targetWidth), heightGap = TMath.Subtract(height, targetHeight);
        // Both widths 0 (or both heights, with eps = 0): ω = 0, the limit of equal sizes, where mmdetection's is 0/0.
        TVec inverseWidthMax = TMath.Divide(one, NonZero(TMath.Max(width, targetWidth)));
        TVec inverseHeightMax = TMath.Divide(one, NonZero(TMath.Max(height, targetHeight)));
        TVec omegaW = TMath.Multiply(TMath.Abs(widthGap), inverseWidthMax);
        TVec omegaH = TMath.Multiply(TMath.Abs(heightGap), inverseHeightMax);
        TVec decayW = TMath.Exp(TMath.Subtract(zero, omegaW)), decayH = TMath.Exp(TMath.Subtract(zero, omegaH));
        TVec riseW = TMath.Subtract(one, decayW), riseH = TMath.Subtract(one, decayH);
        TVec riseW2 = TMath.Multiply(riseW, riseW), riseH2 = TMath.Multiply(riseH, riseH);
        TVec shapeCost = TMath.Add(TMath.Multiply(riseW2, riseW2), TMath.Multiply(riseH2, riseH2));
        TVec siou = TMath.Subtract(iou, TMath.Multiply(TMath.Create(0.5f), TMath.Add(distanceCost, shapeCost)));
        TVec loss = TMath.Subtract(one, TMath.Min(TMath.Max(siou, TMath.Create(-1f)), one));

        TVec gSiou = BoxPair<TVec, TMath>.ClampOneSlope(siou);
        TVec gCost = TMath.Multiply(TMath.Create(-0.5f), gSiou);
        pair.BackIoU(true, gSiou, zero, iou, union, interWidth, interHeight);

        // Ω: ∂(1 − e^−ω)⁴/∂ω = 4(1 − e^−ω)³e^−ω; ω = |gap|/max.
        TVec four = TMath.Create(4f);
        TVec gOmegaW = TMath.Multiply(TMath.Multiply(TMath.Multiply(gCost, four), TMath.Multiply(riseW2, riseW)), decayW);
        TVec gOmegaH = TMath.Multiply(TMath.Multiply(TMath.Multiply(gCost, four), TMath.Multiply(riseH2, riseH)), decayH);
        TVec gGapW = TMath.Multiply(TMath.Multiply(gOmegaW, VectorMath.Sign<TVec, TMath>(widthGap)), inverseWidthMax);
        TVec gGapH = TMath.Multiply(TMath.Multiply(gOmegaH, VectorMath.Sign<TVec, TMath>(heightGap)), inverseHeightMax);
        TVec gMaxW = TMath.Subtract(zero, TMath.Multiply(TMath.Multiply(gOmegaW, omegaW), inverseWidthMax));
        TVec gMaxH = TMath.Subtract(zero, TMath.Multiply(TMath.Multiply(gOmegaH, omegaH), inverseHeightMax));
        TVec toW = TMath.Multiply(gMaxW, BoxPair<TVec, TMath>.MaxShare(width, targetWidth));
        TVec toH = TMath.Multiply(gMaxH, BoxPair<TVec, TMath>.MaxShare(height, targetHeight));
        pair.BackSizes(TMath.Add(gGapW, toW), TMath.Add(gGapH, toH),
            TMath.Subtract(TMath.Subtract(gMaxW, toW), gGapW), TMath.Subtract(TMath.Subtract(gMaxH, toH), gGapH));

        // Δ: ∂/∂ρ = −gCost·e^(γρ)·γ, ∂/∂γ = −gCost·(e^(γρx)ρx + e^(γρy)ρy), γ = ±(2 − Λ).
        TVec minusCost = TMath.Subtract(zero, gCost);
        TVec gRhoX = TMath.Multiply(TMath.Multiply(minusCost, expX), gamma);
        TVec gRhoY = TMath.Multiply(TMath.Multiply(minusCost, expY), gamma);
        TVec gGamma = TMath.Multiply(minusCost, TMath.Add(TMath.Multiply(expX, rhoX), TMath.Multiply(expY, rhoY)));
        TVec gAngle = NegGamma ? gGamma : TMath.Subtract(zero, gGamma);
        // ∂Λ/∂s_x = 2|s_y|·sgn(s_x)·(s_y² − s_x²)/σ⁴ and likewise for s_y, as two bounded factors over σ² each.
        TVec balance = TMath.Multiply(TMath.Subtract(sySquared, sxSquared), inverseSigmaSquared);
        TVec gBalance = TMath.Multiply(TMath.Multiply(TMath.Multiply(gAngle, two), balance), inverseSigmaSquared);
        TVec gSx = TMath.Add(TMath.Multiply(TMath.Multiply(gBalance, TMath.Abs(sy)), VectorMath.Sign<TVec, TMath>(sx)),
            TMath.Multiply(TMath.Multiply(TMath.Multiply(gRhoX, two), ratioX), inverseCw));
        TVec gSy = TMath.Subtract(TMath.Multiply(TMath.Multiply(TMath.Multiply(gRhoY, two), ratioY), inverseCh),
            TMath.Multiply(TMath.Multiply(gBalance, TMath.Abs(sx)), VectorMath.Sign<TVec, TMath>(sy)));
        pair.BackCenterOffset(TMath.Subtract(zero, gSx), TMath.Subtract(zero, gSy));
        // ∂ρ/∂C = −2ρ/C; torch.clamp(min=eps) passes where the size is ≥ eps.
        TVec minusTwo = TMath.Create(-2f);
        TVec gCw = BoxPair<TVec, TMath>.ClampMinSlope(TMath.Multiply(TMath.Multiply(TMath.Multiply(minusTwo, gRhoX), rhoX), inverseCw), rawWidth, eps);
        TVec gCh = BoxPair<TVec, TMath>.ClampMinSlope(TMath.Multiply(TMath.Multiply(TMath.Multiply(minusTwo, gRhoY), rhoY), inverseCh), rawHeight, eps);
        pair.BackEnclosure(gCw, gCh);
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss;

        // 1 where the divisor is 0: its dividend is then 0 too, and the quotient becomes 0.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static TVec NonZero(TVec divisor) => TMath.Select(TMath.Equal(divisor, TMath.Create(0f)), TMath.Create(1f), divisor);
    }
}
