using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// Extended IoU loss (mmdetection's <c>eiou_loss</c>, after Peng and Yu 2021, "Extended-IoU Loss"). The
/// intersection is mmdetection's piecewise form, which stays differentiable when the boxes are apart:
/// with e = min(x1, tx1), i1 = max(x1, tx1), i2 = min(x2, tx2) (and the same in y),
/// <c>I = (i2x − ex)(i2y − ey) + (min(i1x, i2x) − ex)(min(i1y, i2y) − ey) − (i1x − ex)(max(i1y, i2y) − ey)
/// − (max(i1x, i2x) − ex)(i1y − ey)</c>, U = A₁ + A₂ − I + eps, q = 1 − I/U and
/// <c>ℓ = q &lt; s ? q²/(2s) : q − s/2</c> (s the smooth point). The gradient is the analytic derivative with
/// respect to all eight coordinates (min/max split a tie evenly). Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>eiou_loss(pred, target, smooth_point=0.1, eps=1e-7)</c> and <c>EIoULoss</c>, the same formula.
/// mmdetection detaches the branch test (q &lt; s) only, as here. No torchvision equivalent.
/// </remarks>
public readonly struct ExtendedIoULoss : IBoxLoss
{
    /// <summary>Extended IoU loss with mmdetection's defaults: smooth point 0.1, eps = 1e-7.</summary>
    public ExtendedIoULoss()
        : this(0.1f, 1e-7f)
    {
    }

    /// <summary>Extended IoU loss with the given smooth point and eps.</summary>
    /// <param name="smoothPoint">s &gt; 0: where the loss turns from quadratic to linear in q.</param>
    /// <param name="eps">eps ≥ 0, added to the union.</param>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is out of range.</exception>
    public ExtendedIoULoss(float smoothPoint, float eps = 1e-7f)
    {
        ThrowHelper.IfNotPositive(smoothPoint, nameof(smoothPoint));
        ThrowHelper.IfNegative(eps, nameof(eps));
        SmoothPoint = smoothPoint;
        Eps = eps;
    }

    /// <summary>s: where the loss turns linear.</summary>
    public float SmoothPoint { get; }

    /// <summary>eps, added to the union.</summary>
    public float Eps { get; }

    /// <summary>Throws when a hyperparameter is out of range (as for <c>default(ExtendedIoULoss)</c>).</summary>
    public void Validate()
    {
        ThrowHelper.IfNotPositive(SmoothPoint, nameof(SmoothPoint));
        ThrowHelper.IfNegative(Eps, nameof(Eps));
    }

    /// <summary>The OpenCL kernel: <c>extended_iou</c> in <c>kernels/box.cl</c>, p = (eps, smooth point).</summary>
    public ElementwiseKernel Kernel => new("box", "extended_iou", new Vector4(Eps, SmoothPoint, 0f, 0f));

    /// <summary>The formula of <see cref="ExtendedIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        Lanes<TVec, TMath> ex = Lanes<TVec, TMath>.Min(pair.X1, pair.TX1);
        Lanes<TVec, TMath> ey = Lanes<TVec, TMath>.Min(pair.Y1, pair.TY1);
        Lanes<TVec, TMath> ix1 = Lanes<TVec, TMath>.Max(pair.X1, pair.TX1);
        Lanes<TVec, TMath> iy1 = Lanes<TVec, TMath>.Max(pair.Y1, pair.TY1);
        Lanes<TVec, TMath> ix2 = Lanes<TVec, TMath>.Min(pair.X2, pair.TX2);
        Lanes<TVec, TMath> iy2 = Lanes<TVec, TMath>.Min(pair.Y2, pair.TY2);
        Lanes<TVec, TMath> xmin = Lanes<TVec, TMath>.Min(ix1, ix2);
        Lanes<TVec, TMath> ymin = Lanes<TVec, TMath>.Min(iy1, iy2);
        Lanes<TVec, TMath> xmax = Lanes<TVec, TMath>.Max(ix1, ix2);
        Lanes<TVec, TMath> ymax = Lanes<TVec, TMath>.Max(iy1, iy2);
        Lanes<TVec, TMath> a = ix2 - ex, b = iy2 - ey, c = xmin - ex, d = ymin - ey;
        Lanes<TVec, TMath> e = ix1 - ex, f = ymax - ey, g = xmax - ex, h = iy1 - ey;
        Lanes<TVec, TMath> intersection = a * b + c * d - e * f - g * h;
        Lanes<TVec, TMath> union = pair.Width * pair.Height + pair.TargetWidth * pair.TargetHeight - intersection + Eps;
        Lanes<TVec, TMath> q = 1f - intersection / union;
        Lanes<TVec, TMath> smooth = SmoothPoint;
        Lanes<TVec, TMath> quadratic = Lanes<TVec, TMath>.Less(q, smooth);
        Lanes<TVec, TMath> loss = Lanes<TVec, TMath>.Select(quadratic, 0.5f * q * q / smooth, q - 0.5f * smooth);

        Lanes<TVec, TMath> gQ = Lanes<TVec, TMath>.Select(quadratic, q / smooth, 1f);
        Lanes<TVec, TMath> gUnion = gQ * intersection / (union * union);
        pair.BackAreas(gUnion, gUnion);
        Lanes<TVec, TMath> gI = -gQ / union - gUnion;
        Lanes<TVec, TMath> gXmin = gI * d, gYmin = gI * c, gYmax = -gI * e, gXmax = -gI * h;
        Lanes<TVec, TMath> gIx2 = gI * b, gIy2 = gI * a, gIx1 = -gI * f, gIy1 = -gI * g;
        Lanes<TVec, TMath> gEx = -(gI * b + gI * d - gI * f - gI * h);
        Lanes<TVec, TMath> gEy = -(gI * a + gI * c - gI * e - gI * g);
        Lanes<TVec, TMath> share = Lanes<TVec, TMath>.MinShare(ix1, ix2);
        gIx1 += gXmin * share;
        gIx2 += gXmin * (1f - share);
        share = Lanes<TVec, TMath>.MaxShare(ix1, ix2);
        gIx1 += gXmax * share;
        gIx2 += gXmax * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(iy1, iy2);
        gIy1 += gYmin * share;
        gIy2 += gYmin * (1f - share);
        share = Lanes<TVec, TMath>.MaxShare(iy1, iy2);
        gIy1 += gYmax * share;
        gIy2 += gYmax * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(pair.X2, pair.TX2);
        pair.GX2 += gIx2 * share;
        pair.GTX2 += gIx2 * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(pair.Y2, pair.TY2);
        pair.GY2 += gIy2 * share;
        pair.GTY2 += gIy2 * (1f - share);
        share = Lanes<TVec, TMath>.MaxShare(pair.X1, pair.TX1);
        pair.GX1 += gIx1 * share;
        pair.GTX1 += gIx1 * (1f - share);
        share = Lanes<TVec, TMath>.MaxShare(pair.Y1, pair.TY1);
        pair.GY1 += gIy1 * share;
        pair.GTY1 += gIy1 * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(pair.X1, pair.TX1);
        pair.GX1 += gEx * share;
        pair.GTX1 += gEx * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(pair.Y1, pair.TY1);
        pair.GY1 += gEy * share;
        pair.GTY1 += gEy * (1f - share);
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss.Value;
    }
}
