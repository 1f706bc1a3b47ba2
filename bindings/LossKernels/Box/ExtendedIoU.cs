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

    /// <summary>The OpenCL kernel: <c>extended_iou</c> in <c>kernels/opencl/box.cl</c>, p = (eps, smooth point).</summary>
    public ElementwiseKernel Kernel => new("box", "extended_iou", new Vector4(Eps, SmoothPoint, 0f, 0f));

    /// <summary>The formula of <see cref="ExtendedIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        TVec zero = TMath.Create(0f);
        TVec ex = TMath.Min(pair.X1, pair.TX1);
        TVec ey = TMath.Min(pair.Y1, pair.TY1);
        TVec ix1 = TMath.Max(pair.X1, pair.TX1);
        TVec iy1 = TMath.Max(pair.Y1, pair.TY1);
        TVec ix2 = TMath.Min(pair.X2, pair.TX2);
        TVec iy2 = TMath.Min(pair.Y2, pair.TY2);
        TVec a = TMath.Subtract(ix2, ex), b = TMath.Subtract(iy2, ey);
        TVec c = TMath.Subtract(TMath.Min(ix1, ix2), ex), d = TMath.Subtract(TMath.Min(iy1, iy2), ey);
        TVec e = TMath.Subtract(ix1, ex), f = TMath.Subtract(TMath.Max(iy1, iy2), ey);
        TVec g = TMath.Subtract(TMath.Max(ix1, ix2), ex), h = TMath.Subtract(iy1, ey);
        TVec intersection = TMath.Subtract(TMath.Subtract(TMath.Add(TMath.Multiply(a, b), TMath.Multiply(c, d)), TMath.Multiply(e, f)), TMath.Multiply(g, h));
        TVec union = TMath.Add(TMath.Subtract(TMath.Add(TMath.Multiply(pair.Width, pair.Height), TMath.Multiply(pair.TargetWidth, pair.TargetHeight)), intersection), TMath.Create(Eps));
        TVec q = TMath.Subtract(TMath.Create(1f), TMath.Divide(intersection, union));
        TVec smooth = TMath.Create(SmoothPoint);
        TVec quadratic = TMath.LessThan(q, smooth);
        TVec loss = TMath.Select(quadratic, TMath.Divide(TMath.Multiply(TMath.Multiply(TMath.Create(0.5f), q), q), smooth),
            TMath.Subtract(q, TMath.Multiply(TMath.Create(0.5f), smooth)));

        TVec gQ = TMath.Select(quadratic, TMath.Divide(q, smooth), TMath.Create(1f));
        TVec gUnion = TMath.Divide(TMath.Multiply(gQ, intersection), TMath.Multiply(union, union));
        pair.BackAreas(gUnion, gUnion);
        TVec gI = TMath.Subtract(TMath.Subtract(zero, TMath.Divide(gQ, union)), gUnion);
        // ∂I/∂(a, b, c, d, e, f, g, h) = (b, a, d, c, −f, −e, −h, −g); ex and ey enter every term with −1.
        TVec gA = TMath.Multiply(gI, b), gB = TMath.Multiply(gI, a), gC = TMath.Multiply(gI, d), gD = TMath.Multiply(gI, c);
        TVec gE = TMath.Multiply(gI, TMath.Subtract(zero, f)), gF = TMath.Multiply(gI, TMath.Subtract(zero, e));
        TVec gG = TMath.Multiply(gI, TMath.Subtract(zero, h)), gH = TMath.Multiply(gI, TMath.Subtract(zero, g));
        TVec gEx = TMath.Subtract(zero, TMath.Add(TMath.Add(gA, gC), TMath.Add(gE, gG)));
        TVec gEy = TMath.Subtract(zero, TMath.Add(TMath.Add(gB, gD), TMath.Add(gF, gH)));
        // xmin = min(i1x, i2x) (c), xmax = max(i1x, i2x) (g), and the same in y.
        TVec gIx1 = gE, gIx2 = gA, gIy1 = gH, gIy2 = gB;
        TVec share = BoxPair<TVec, TMath>.MinShare(ix1, ix2);
        gIx1 = TMath.Add(gIx1, TMath.Multiply(gC, share));
        gIx2 = TMath.Add(gIx2, TMath.Subtract(gC, TMath.Multiply(gC, share)));
        share = BoxPair<TVec, TMath>.MaxShare(ix1, ix2);
        gIx1 = TMath.Add(gIx1, TMath.Multiply(gG, share));
        gIx2 = TMath.Add(gIx2, TMath.Subtract(gG, TMath.Multiply(gG, share)));
        share = BoxPair<TVec, TMath>.MinShare(iy1, iy2);
        gIy1 = TMath.Add(gIy1, TMath.Multiply(gD, share));
        gIy2 = TMath.Add(gIy2, TMath.Subtract(gD, TMath.Multiply(gD, share)));
        share = BoxPair<TVec, TMath>.MaxShare(iy1, iy2);
        gIy1 = TMath.Add(gIy1, TMath.Multiply(gF, share));
        gIy2 = TMath.Add(gIy2, TMath.Subtract(gF, TMath.Multiply(gF, share)));
        pair.BackEdges(false, gIx1, gIy1, gIx2, gIy2);
        pair.BackEdges(true, gEx, gEy, zero, zero);
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss;
    }
}
