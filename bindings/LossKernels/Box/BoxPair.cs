using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// A vector of (prediction, target) box pairs and the quantities the IoU family shares — intersection,
/// areas, enclosing box, center offset — each with its hand-written backward step, which adds
/// ∂loss/∂quantity × ∂quantity/∂coordinate into the eight gradient accumulators. min and max split a
/// tie evenly, as PyTorch's backward does, so identical boxes get PyTorch's gradient.
/// </summary>
internal struct BoxPair<TVec, TMath>
    where TVec : struct
    where TMath : struct, IVectorMath<TVec>
{
    public readonly Lanes<TVec, TMath> X1, Y1, X2, Y2;
    public readonly Lanes<TVec, TMath> TX1, TY1, TX2, TY2;
    public Lanes<TVec, TMath> GX1, GY1, GX2, GY2;
    public Lanes<TVec, TMath> GTX1, GTY1, GTX2, GTY2;

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
        GX1 = GY1 = GX2 = GY2 = 0f;
        GTX1 = GTY1 = GTX2 = GTY2 = 0f;
    }

    public readonly Lanes<TVec, TMath> Width => X2 - X1;

    public readonly Lanes<TVec, TMath> Height => Y2 - Y1;

    public readonly Lanes<TVec, TMath> TargetWidth => TX2 - TX1;

    public readonly Lanes<TVec, TMath> TargetHeight => TY2 - TY1;

    /// <summary>Width and height of the overlap, min(x2) − max(x1) and min(y2) − max(y1); negative when the boxes are apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly (Lanes<TVec, TMath> Width, Lanes<TVec, TMath> Height) Overlap() =>
        (Lanes<TVec, TMath>.Min(X2, TX2) - Lanes<TVec, TMath>.Max(X1, TX1), Lanes<TVec, TMath>.Min(Y2, TY2) - Lanes<TVec, TMath>.Max(Y1, TY1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackOverlap(Lanes<TVec, TMath> gWidth, Lanes<TVec, TMath> gHeight)
    {
        Lanes<TVec, TMath> share = Lanes<TVec, TMath>.MinShare(X2, TX2);
        GX2 += gWidth * share;
        GTX2 += gWidth * (1f - share);
        share = Lanes<TVec, TMath>.MaxShare(X1, TX1);
        GX1 -= gWidth * share;
        GTX1 -= gWidth * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(Y2, TY2);
        GY2 += gHeight * share;
        GTY2 += gHeight * (1f - share);
        share = Lanes<TVec, TMath>.MaxShare(Y1, TY1);
        GY1 -= gHeight * share;
        GTY1 -= gHeight * (1f - share);
    }

    /// <summary>
    /// The intersection area. torchvision's form (<paramref name="clamp"/> false): w·h where both are
    /// positive, else 0, and no gradient where it is 0. mmdetection's (true): max(w, 0)·max(h, 0), whose
    /// clamp passes the gradient at exactly 0 as <c>torch.clamp</c> does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Lanes<TVec, TMath> Intersection(bool clamp, out Lanes<TVec, TMath> width, out Lanes<TVec, TMath> height)
    {
        (Lanes<TVec, TMath> w, Lanes<TVec, TMath> h) = Overlap();
        Lanes<TVec, TMath> zero = 0f;
        if (clamp)
        {
            width = Lanes<TVec, TMath>.Max(w, zero);
            height = Lanes<TVec, TMath>.Max(h, zero);
            return width * height;
        }

        Lanes<TVec, TMath> overlapping = Lanes<TVec, TMath>.And(Lanes<TVec, TMath>.Greater(w, zero), Lanes<TVec, TMath>.Greater(h, zero));
        width = Lanes<TVec, TMath>.And(overlapping, w);
        height = Lanes<TVec, TMath>.And(overlapping, h);
        return width * height;
    }

    /// <summary>Backward of <see cref="Intersection"/> given ∂/∂intersection.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackIntersection(bool clamp, Lanes<TVec, TMath> gIntersection, Lanes<TVec, TMath> width, Lanes<TVec, TMath> height)
    {
        Lanes<TVec, TMath> gWidth = gIntersection * height;
        Lanes<TVec, TMath> gHeight = gIntersection * width;
        if (clamp)
        {
            (Lanes<TVec, TMath> w, Lanes<TVec, TMath> h) = Overlap();
            gWidth = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(w, 0f), 0f, gWidth);
            gHeight = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(h, 0f), 0f, gHeight);
        }

        BackOverlap(gWidth, gHeight);
    }

    /// <summary>Backward of the two areas (x2 − x1)(y2 − y1) given ∂/∂area of the prediction and of the target.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackAreas(Lanes<TVec, TMath> gPredictionArea, Lanes<TVec, TMath> gTargetArea)
    {
        Lanes<TVec, TMath> gw = gPredictionArea * Height;
        Lanes<TVec, TMath> gh = gPredictionArea * Width;
        GX2 += gw;
        GX1 -= gw;
        GY2 += gh;
        GY1 -= gh;
        gw = gTargetArea * TargetHeight;
        gh = gTargetArea * TargetWidth;
        GTX2 += gw;
        GTX1 -= gw;
        GTY2 += gh;
        GTY1 -= gh;
    }

    /// <summary>Width and height of the smallest enclosing box, max(x2) − min(x1) and max(y2) − min(y1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly (Lanes<TVec, TMath> Width, Lanes<TVec, TMath> Height) Enclosure() =>
        (Lanes<TVec, TMath>.Max(X2, TX2) - Lanes<TVec, TMath>.Min(X1, TX1), Lanes<TVec, TMath>.Max(Y2, TY2) - Lanes<TVec, TMath>.Min(Y1, TY1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackEnclosure(Lanes<TVec, TMath> gWidth, Lanes<TVec, TMath> gHeight)
    {
        Lanes<TVec, TMath> share = Lanes<TVec, TMath>.MaxShare(X2, TX2);
        GX2 += gWidth * share;
        GTX2 += gWidth * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(X1, TX1);
        GX1 -= gWidth * share;
        GTX1 -= gWidth * (1f - share);
        share = Lanes<TVec, TMath>.MaxShare(Y2, TY2);
        GY2 += gHeight * share;
        GTY2 += gHeight * (1f - share);
        share = Lanes<TVec, TMath>.MinShare(Y1, TY1);
        GY1 -= gHeight * share;
        GTY1 -= gHeight * (1f - share);
    }

    /// <summary>
    /// The offset of the prediction's center from the target's, ((x1 − tx1) + (x2 − tx2))/2 and the same in y: the
    /// differences of nearby coordinates are exact, where ((x1 + x2) − (tx1 + tx2))/2 loses the offset of two close
    /// centers far from the origin to the rounding of the sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly (Lanes<TVec, TMath> X, Lanes<TVec, TMath> Y) CenterOffset() =>
        (((X1 - TX1) + (X2 - TX2)) * 0.5f, ((Y1 - TY1) + (Y2 - TY2)) * 0.5f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackCenterOffset(Lanes<TVec, TMath> gX, Lanes<TVec, TMath> gY)
    {
        Lanes<TVec, TMath> half = gX * 0.5f;
        GX1 += half;
        GX2 += half;
        GTX1 -= half;
        GTX2 -= half;
        half = gY * 0.5f;
        GY1 += half;
        GY2 += half;
        GTY1 -= half;
        GTY2 -= half;
    }

    /// <summary>Backward of the four sizes: ∂/∂(prediction width, height) and ∂/∂(target width, height).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackSizes(Lanes<TVec, TMath> gWidth, Lanes<TVec, TMath> gHeight, Lanes<TVec, TMath> gTargetWidth, Lanes<TVec, TMath> gTargetHeight)
    {
        GX2 += gWidth;
        GX1 -= gWidth;
        GY2 += gHeight;
        GY1 -= gHeight;
        GTX2 += gTargetWidth;
        GTX1 -= gTargetWidth;
        GTY2 += gTargetHeight;
        GTY1 -= gTargetHeight;
    }

    /// <summary>
    /// IoU = intersection / (area₁ + area₂ − intersection + <paramref name="eps"/>), the form of torchvision's
    /// losses (<paramref name="clamp"/> false) and of mmdetection's DIoU/CIoU/SIoU (true: see <see cref="Intersection"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Lanes<TVec, TMath> IoU(bool clamp, Lanes<TVec, TMath> eps, out Lanes<TVec, TMath> union, out Lanes<TVec, TMath> interWidth, out Lanes<TVec, TMath> interHeight)
    {
        Lanes<TVec, TMath> intersection = Intersection(clamp, out interWidth, out interHeight);
        union = Width * Height + TargetWidth * TargetHeight - intersection + eps;
        return intersection / union;
    }

    /// <summary>Backward of <see cref="IoU"/> given ∂/∂IoU, plus <paramref name="gUnion"/> for a loss that also reads the union.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackIoU(bool clamp, Lanes<TVec, TMath> gIou, Lanes<TVec, TMath> gUnion, Lanes<TVec, TMath> iou, Lanes<TVec, TMath> union,
        Lanes<TVec, TMath> interWidth, Lanes<TVec, TMath> interHeight)
    {
        Lanes<TVec, TMath> gUnionTotal = gUnion - gIou * iou / union;
        BackAreas(gUnionTotal, gUnionTotal);
        BackIntersection(clamp, gIou / union - gUnionTotal, interWidth, interHeight);
    }

    /// <summary>
    /// DIoU's penalty ρ²/(c² + eps): the squared center distance over the squared diagonal of the enclosing
    /// box. <paramref name="clamp"/>: mmdetection clamps the enclosing width and height at 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Lanes<TVec, TMath> DistancePenalty(bool clamp, Lanes<TVec, TMath> eps, out DistanceParts parts)
    {
        (Lanes<TVec, TMath> width, Lanes<TVec, TMath> height) = Enclosure();
        if (clamp)
        {
            width = Lanes<TVec, TMath>.Max(width, 0f);
            height = Lanes<TVec, TMath>.Max(height, 0f);
        }

        (Lanes<TVec, TMath> dx, Lanes<TVec, TMath> dy) = CenterOffset();
        parts = new DistanceParts(width, height, dx, dy, width * width + height * height + eps);
        return (dx * dx + dy * dy) / parts.Diagonal;
    }

    /// <summary>Backward of <see cref="DistancePenalty"/> given ∂/∂penalty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BackDistancePenalty(bool clamp, Lanes<TVec, TMath> gPenalty, Lanes<TVec, TMath> penalty, in DistanceParts parts)
    {
        Lanes<TVec, TMath> gRho = gPenalty / parts.Diagonal;
        BackCenterOffset(gRho * 2f * parts.Dx, gRho * 2f * parts.Dy);
        Lanes<TVec, TMath> gDiagonal = -gRho * penalty;
        Lanes<TVec, TMath> gWidth = gDiagonal * 2f * parts.Width;
        Lanes<TVec, TMath> gHeight = gDiagonal * 2f * parts.Height;
        if (clamp)
        {
            (Lanes<TVec, TMath> width, Lanes<TVec, TMath> height) = Enclosure();
            gWidth = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(width, 0f), 0f, gWidth);
            gHeight = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(height, 0f), 0f, gHeight);
        }

        BackEnclosure(gWidth, gHeight);
    }

    /// <summary>What <see cref="BackDistancePenalty"/> needs of the forward pass.</summary>
    public readonly record struct DistanceParts(Lanes<TVec, TMath> Width, Lanes<TVec, TMath> Height, Lanes<TVec, TMath> Dx, Lanes<TVec, TMath> Dy, Lanes<TVec, TMath> Diagonal);

    /// <summary>The accumulated ∂loss/∂coordinate of both boxes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Gradients(out BoxVectors<TVec> prediction, out BoxVectors<TVec> target)
    {
        prediction = new BoxVectors<TVec>(GX1.Value, GY1.Value, GX2.Value, GY2.Value);
        target = new BoxVectors<TVec>(GTX1.Value, GTY1.Value, GTX2.Value, GTY2.Value);
    }
}
