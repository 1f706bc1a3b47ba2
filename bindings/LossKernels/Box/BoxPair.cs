using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// A vector of (prediction, target) box pairs and the quantities the IoU family shares — intersection,
/// areas, enclosing box, center offset — each with its hand-written backward step, which adds
/// ∂loss/∂quantity × ∂quantity/∂coordinate into the eight gradient accumulators. min and max split a
/// tie evenly, as PyTorch's backward does, so identical boxes get PyTorch's gradient.
/// </summary>
/// <remarks>
/// Written with <typeparamref name="TMath"/> calls on plain vectors rather than an operator wrapper: the JIT stops
/// inlining past a fixed number of locals per method, and every inlined wrapper operator costs several.
/// </remarks>
internal struct BoxPair<TVec, TMath>
    where TVec : struct
    where TMath : struct, IVectorMath<TVec>
{
    public readonly TVec X1, Y1, X2, Y2;
    public readonly TVec TX1, TY1, TX2, TY2;
    public TVec GX1, GY1, GX2, GY2;
    public TVec GTX1, GTY1, GTX2, GTY2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BoxPair(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target)
    {
        X1 = prediction.X1;
        Y1 = prediction.Y1;
        X2 = prediction.X2;
        Y2 = prediction.Y2;
        TX1 = target.X1;
        TY1 = target.Y1;
        TX2 = target.X2;
        TY2 = target.Y2;
        GX1 = GY1 = GX2 = GY2 = TMath.Create(0f);
        GTX1 = GTY1 = GTX2 = GTY2 = TMath.Create(0f);
    }

    public readonly TVec Width => TMath.Subtract(X2, X1);

    public readonly TVec Height => TMath.Subtract(Y2, Y1);

    public readonly TVec TargetWidth => TMath.Subtract(TX2, TX1);

    public readonly TVec TargetHeight => TMath.Subtract(TY2, TY1);

    /// <summary>
    /// The share of ∂min(a, b) that goes to a: 1 where a &lt; b, ½ where a = b, 0 where a &gt; b — PyTorch's
    /// <c>torch.minimum</c>/<c>torch.min(a, b)</c> backward, which splits a tie evenly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec MinShare(TVec a, TVec b) =>
        TMath.Add(TMath.And(TMath.LessThan(a, b), TMath.Create(1f)), TMath.And(TMath.Equal(a, b), TMath.Create(0.5f)));

    /// <summary>The share of ∂max(a, b) that goes to a: 1 where a &gt; b, ½ at a tie, else 0 (PyTorch's split).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec MaxShare(TVec a, TVec b) =>
        TMath.Add(TMath.And(TMath.GreaterThan(a, b), TMath.Create(1f)), TMath.And(TMath.Equal(a, b), TMath.Create(0.5f)));

    /// <summary>g where <paramref name="a"/> ≥ <paramref name="bound"/>, else 0: the backward of <c>torch.clamp(min=bound)</c>, which passes at the bound.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec ClampMinSlope(TVec g, TVec a, TVec bound) => TMath.Select(TMath.LessThan(a, bound), TMath.Create(0f), g);

    /// <summary>∂ℓ/∂v for ℓ = 1 − clamp(v, −1, 1): −1 on [−1, 1], bounds included (<c>torch.clamp</c>'s backward), else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec ClampOneSlope(TVec v)
    {
        TVec outside = TMath.Add(TMath.And(TMath.LessThan(v, TMath.Create(-1f)), TMath.Create(1f)), TMath.And(TMath.GreaterThan(v, TMath.Create(1f)), TMath.Create(1f)));
        return TMath.Select(TMath.GreaterThan(outside, TMath.Create(0f)), TMath.Create(0f), TMath.Create(-1f));
    }

    /// <summary>Adds ∂/∂min(a, b) · share to <paramref name="ga"/> and the rest to <paramref name="gb"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Split(TVec g, TVec share, ref TVec ga, ref TVec gb)
    {
        TVec toA = TMath.Multiply(g, share);
        ga = TMath.Add(ga, toA);
        gb = TMath.Add(gb, TMath.Subtract(g, toA));
    }

    /// <summary>Width and height of the overlap, min(x2) − max(x1) and min(y2) − max(y1); negative when the boxes are apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Overlap(out TVec width, out TVec height)
    {
        width = TMath.Subtract(TMath.Min(X2, TX2), TMath.Max(X1, TX1));
        height = TMath.Subtract(TMath.Min(Y2, TY2), TMath.Max(Y1, TY1));
    }

    /// <summary>
    /// Backward of the four edges a pair defines, given ∂/∂ each edge. The overlap's edges are max(x1, tx1),
    /// max(y1, ty1), min(x2, tx2), min(y2, ty2); the enclosing box's (<paramref name="enclosing"/>) the min of the
    /// left and top edges and the max of the right and bottom ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackEdges(bool enclosing, TVec gLeft, TVec gTop, TVec gRight, TVec gBottom)
    {
        Split(gLeft, enclosing ? MinShare(X1, TX1) : MaxShare(X1, TX1), ref GX1, ref GTX1);
        Split(gTop, enclosing ? MinShare(Y1, TY1) : MaxShare(Y1, TY1), ref GY1, ref GTY1);
        Split(gRight, enclosing ? MaxShare(X2, TX2) : MinShare(X2, TX2), ref GX2, ref GTX2);
        Split(gBottom, enclosing ? MaxShare(Y2, TY2) : MinShare(Y2, TY2), ref GY2, ref GTY2);
    }

    /// <summary>
    /// The intersection area. torchvision's form (<paramref name="clamp"/> false): w·h where both are
    /// positive, else 0, and no gradient where it is 0. mmdetection's (true): max(w, 0)·max(h, 0), whose
    /// clamp passes the gradient at exactly 0 as <c>torch.clamp</c> does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly TVec Intersection(bool clamp, out TVec width, out TVec height)
    {
        Overlap(out TVec w, out TVec h);
        TVec zero = TMath.Create(0f);
        if (clamp)
        {
            width = TMath.Max(w, zero);
            height = TMath.Max(h, zero);
        }
        else
        {
            TVec overlapping = TMath.And(TMath.GreaterThan(w, zero), TMath.GreaterThan(h, zero));
            width = TMath.And(overlapping, w);
            height = TMath.And(overlapping, h);
        }

        return TMath.Multiply(width, height);
    }

    /// <summary>Backward of <see cref="Intersection"/> given ∂/∂intersection.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackIntersection(bool clamp, TVec gIntersection, TVec width, TVec height)
    {
        TVec gWidth = TMath.Multiply(gIntersection, height);
        TVec gHeight = TMath.Multiply(gIntersection, width);
        if (clamp)
        {
            Overlap(out TVec w, out TVec h);
            TVec zero = TMath.Create(0f);
            gWidth = ClampMinSlope(gWidth, w, zero);
            gHeight = ClampMinSlope(gHeight, h, zero);
        }

        BackEdges(false, TMath.Subtract(TMath.Create(0f), gWidth), TMath.Subtract(TMath.Create(0f), gHeight), gWidth, gHeight);
    }

    /// <summary>Backward of the two areas (x2 − x1)(y2 − y1) given ∂/∂area of the prediction and of the target.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackAreas(TVec gPredictionArea, TVec gTargetArea) =>
        BackSizes(TMath.Multiply(gPredictionArea, Height), TMath.Multiply(gPredictionArea, Width),
            TMath.Multiply(gTargetArea, TargetHeight), TMath.Multiply(gTargetArea, TargetWidth));

    /// <summary>Width and height of the smallest enclosing box, max(x2) − min(x1) and max(y2) − min(y1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Enclosure(out TVec width, out TVec height)
    {
        width = TMath.Subtract(TMath.Max(X2, TX2), TMath.Min(X1, TX1));
        height = TMath.Subtract(TMath.Max(Y2, TY2), TMath.Min(Y1, TY1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackEnclosure(TVec gWidth, TVec gHeight) =>
        BackEdges(true, TMath.Subtract(TMath.Create(0f), gWidth), TMath.Subtract(TMath.Create(0f), gHeight), gWidth, gHeight);

    /// <summary>
    /// The offset of the prediction's center from the target's, ((x1 − tx1) + (x2 − tx2))/2 and the same in y: the
    /// differences of nearby coordinates are exact, where ((x1 + x2) − (tx1 + tx2))/2 loses the offset of two close
    /// centers far from the origin to the rounding of the sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void CenterOffset(out TVec dx, out TVec dy)
    {
        TVec half = TMath.Create(0.5f);
        dx = TMath.Multiply(TMath.Add(TMath.Subtract(X1, TX1), TMath.Subtract(X2, TX2)), half);
        dy = TMath.Multiply(TMath.Add(TMath.Subtract(Y1, TY1), TMath.Subtract(Y2, TY2)), half);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackCenterOffset(TVec gX, TVec gY)
    {
        TVec half = TMath.Create(0.5f);
        TVec g = TMath.Multiply(gX, half);
        GX1 = TMath.Add(GX1, g);
        GX2 = TMath.Add(GX2, g);
        GTX1 = TMath.Subtract(GTX1, g);
        GTX2 = TMath.Subtract(GTX2, g);
        g = TMath.Multiply(gY, half);
        GY1 = TMath.Add(GY1, g);
        GY2 = TMath.Add(GY2, g);
        GTY1 = TMath.Subtract(GTY1, g);
        GTY2 = TMath.Subtract(GTY2, g);
    }

    /// <summary>Backward of the four sizes: ∂/∂(prediction width, height) and ∂/∂(target width, height).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackSizes(TVec gWidth, TVec gHeight, TVec gTargetWidth, TVec gTargetHeight)
    {
        GX2 = TMath.Add(GX2, gWidth);
        GX1 = TMath.Subtract(GX1, gWidth);
        GY2 = TMath.Add(GY2, gHeight);
        GY1 = TMath.Subtract(GY1, gHeight);
        GTX2 = TMath.Add(GTX2, gTargetWidth);
        GTX1 = TMath.Subtract(GTX1, gTargetWidth);
        GTY2 = TMath.Add(GTY2, gTargetHeight);
        GTY1 = TMath.Subtract(GTY1, gTargetHeight);
    }

    /// <summary>
    /// IoU = intersection / (area₁ + area₂ − intersection + <paramref name="eps"/>), the form of torchvision's
    /// losses (<paramref name="clamp"/> false) and of mmdetection's DIoU/CIoU/SIoU (true: see <see cref="Intersection"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly TVec IoU(bool clamp, TVec eps, out TVec union, out TVec interWidth, out TVec interHeight)
    {
        TVec intersection = Intersection(clamp, out interWidth, out interHeight);
        union = TMath.Add(TMath.Subtract(TMath.Add(TMath.Multiply(Width, Height), TMath.Multiply(TargetWidth, TargetHeight)), intersection), eps);
        return TMath.Divide(intersection, union);
    }

    /// <summary>Backward of <see cref="IoU"/> given ∂/∂IoU, plus <paramref name="gUnion"/> for a loss that also reads the union.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackIoU(bool clamp, TVec gIou, TVec gUnion, TVec iou, TVec union, TVec interWidth, TVec interHeight)
    {
        TVec gUnionTotal = TMath.Subtract(gUnion, TMath.Divide(TMath.Multiply(gIou, iou), union));
        BackAreas(gUnionTotal, gUnionTotal);
        BackIntersection(clamp, TMath.Subtract(TMath.Divide(gIou, union), gUnionTotal), interWidth, interHeight);
    }

    /// <summary>
    /// DIoU's penalty ρ²/(c² + eps): the squared center distance over the squared diagonal of the enclosing
    /// box. <paramref name="clamp"/>: mmdetection clamps the enclosing width and height at 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly TVec DistancePenalty(bool clamp, TVec eps, out DistanceParts parts)
    {
        Enclosure(out TVec width, out TVec height);
        if (clamp)
        {
            width = TMath.Max(width, TMath.Create(0f));
            height = TMath.Max(height, TMath.Create(0f));
        }

        CenterOffset(out TVec dx, out TVec dy);
        TVec diagonal = TMath.Add(TMath.Add(TMath.Multiply(width, width), TMath.Multiply(height, height)), eps);
        parts = new DistanceParts(width, height, dx, dy, diagonal);
        return TMath.Divide(TMath.Add(TMath.Multiply(dx, dx), TMath.Multiply(dy, dy)), diagonal);
    }

    /// <summary>Backward of <see cref="DistancePenalty"/> given ∂/∂penalty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackDistancePenalty(bool clamp, TVec gPenalty, TVec penalty, in DistanceParts parts)
    {
        TVec gRho = TMath.Divide(gPenalty, parts.Diagonal);
        TVec twiceRho = TMath.Add(gRho, gRho);
        BackCenterOffset(TMath.Multiply(twiceRho, parts.Dx), TMath.Multiply(twiceRho, parts.Dy));
        TVec gDiagonal = TMath.Multiply(TMath.Subtract(TMath.Create(0f), twiceRho), penalty);
        TVec gWidth = TMath.Multiply(gDiagonal, parts.Width);
        TVec gHeight = TMath.Multiply(gDiagonal, parts.Height);
        if (clamp)
        {
            Enclosure(out TVec width, out TVec height);
            TVec zero = TMath.Create(0f);
            gWidth = ClampMinSlope(gWidth, width, zero);
            gHeight = ClampMinSlope(gHeight, height, zero);
        }

        BackEnclosure(gWidth, gHeight);
    }

    /// <summary>The accumulated ∂loss/∂coordinate of both boxes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Gradients(out BoxVectors<TVec> prediction, out BoxVectors<TVec> target)
    {
        prediction = new BoxVectors<TVec>(GX1, GY1, GX2, GY2);
        target = new BoxVectors<TVec>(GTX1, GTY1, GTX2, GTY2);
    }

    /// <summary>What <see cref="BackDistancePenalty"/> needs of the forward pass.</summary>
    public readonly record struct DistanceParts(TVec Width, TVec Height, TVec Dx, TVec Dy, TVec Diagonal);
}
