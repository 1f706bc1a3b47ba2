using System.Runtime.CompilerServices;

namespace LossKernels.Embedding;

/// <summary>An anchor's row of the batch's distance matrix and the batch's labels, as the mining reads them (CPU pointers or device views).</summary>
internal interface IMiningRow
{
    /// <summary>B, the batch size.</summary>
    int Count { get; }

    /// <summary>d(anchor, j).</summary>
    float Distance(int j);

    /// <summary>The label of row j.</summary>
    long Label(int j);
}

/// <summary>Where an anchor's mining puts ∂L/∂d(anchor, j) times the distance's slope: a row of the coefficient matrix, zero where not added to.</summary>
internal interface IMiningCoefficients
{
    void Add(int j, float value);
}

/// <summary>
/// One anchor's mining and triplet losses, written once for the CPU driver and the ILGPU kernels (<c>kernels/opencl/embedding.cl</c>
/// mirrors it): the anchor's mined triplets, Σ ℓ over them, their count, and each triplet's ∂ℓ/∂d(a, p) = ℓ′, ∂ℓ/∂d(a, n) = −ℓ′
/// added to the coefficients. Scans go in index order and replace only on a strictly better distance, so ties go to the lowest index.
/// </summary>
internal static class TripletMiningMath
{
    /// <summary>d from the Gram entries: √max(s, 0), max(s, 0) with s = G_aa + G_jj − 2·G_aj, or 1 − G_aj on normalized rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Distance(float squareA, float squareJ, float gram, TripletDistance distance)
    {
        if (distance == TripletDistance.Cosine)
            return 1f - gram;
        float square = squareA + squareJ - 2f * gram;
        square = square < 0f ? 0f : square;
        return distance == TripletDistance.Squared ? square : MathF.Sqrt(square);
    }

    /// <summary>
    /// The factor that turns ∂L/∂d into the coefficient of the rows' difference: 1/d for the euclidean distance (0 at d = 0, the
    /// finite choice the norm's backward makes in PyTorch), 2 for the squared one, 1 for the cosine one (whose gradient is −e_j).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Slope(float d, TripletDistance distance) =>
        distance == TripletDistance.Euclidean ? (d > 0f ? 1f / d : 0f) : distance == TripletDistance.Squared ? 2f : 1f;

    /// <summary>
    /// ℓ(h) for h = d(a, p) − d(a, n) + margin: max(0, h) (NaN stays NaN), or softplus(h) = max(h, 0) + ln(1 + e^−|h|); and ℓ′(h):
    /// 1 where h &gt; 0 else 0 (<c>F.relu</c>'s convention), or the sigmoid.
    /// </summary>
    /// <remarks>The exp and log are the library's (<see cref="IVectorMath{TVec}.Exp"/>), on one lane, so that every backend computes the same.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Triplet<TVec, TMath>(float h, bool softMargin, out float slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (!softMargin)
        {
            slope = h > 0f ? 1f : 0f;
            return h < 0f ? 0f : h;
        }

        TVec e = TMath.Exp(TMath.Create(-MathF.Abs(h)));
        float exp = Lane0<TVec, TMath>(e), log = Lane0<TVec, TMath>(VectorMath.Log1P<TVec, TMath>(e));
        slope = (h > 0f ? 1f : exp) / (1f + exp);
        return (h > 0f ? h : 0f) + log;
    }

    /// <summary>The first lane's value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Lane0<TVec, TMath>(TVec value)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        (float)TMath.Sum(TMath.KeepLanes(value, 0, 1));

    /// <summary>
    /// One anchor: returns Σ ℓ over its mined triplets and sets <paramref name="count"/> (hard: one triplet when the anchor has a
    /// positive and a negative; semihard: one per positive when a negative exists; all: every triplet with ℓ &gt; 0).
    /// </summary>
    public static double Anchor<TRow, TCoefficients, TVec, TMath>(in TRow row, int anchor, TripletMining mining, float margin, bool softMargin, TripletDistance distance,
        bool gradient, ref TCoefficients coefficients, out long count)
        where TRow : struct, IMiningRow
        where TCoefficients : struct, IMiningCoefficients
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        count = 0;
        double total = 0d;
        long label = row.Label(anchor);
        int rows = row.Count;
        if (mining == TripletMining.Hard)
        {
            int positive = -1, negative = -1;
            float far = 0f, near = 0f;
            for (int j = 0; j < rows; j++)
            {
                if (j == anchor)
                    continue;
                float d = row.Distance(j);
                if (row.Label(j) == label)
                {
                    if (positive < 0 || d > far)
                    {
                        positive = j;
                        far = d;
                    }
                }
                else if (negative < 0 || d < near)
                {
                    negative = j;
                    near = d;
                }
            }

            if (positive >= 0 && negative >= 0)
            {
                total = Add<TCoefficients, TVec, TMath>(ref coefficients, positive, far, negative, near, margin, softMargin, distance, gradient);
                count = 1;
            }

            return total;
        }

        for (int p = 0; p < rows; p++)
        {
            if (p == anchor || row.Label(p) != label)
                continue;
            float dp = row.Distance(p);
            if (mining == TripletMining.SemiHard)
            {
                // FaceNet's semihard negative: the closest one farther than the positive; where none is, the farthest (TF Addons' rule).
                int closest = -1, farthest = -1;
                float closestD = 0f, farthestD = 0f;
                for (int n = 0; n < rows; n++)
                {
                    if (row.Label(n) == label)
                        continue;
                    float d = row.Distance(n);
                    if (d > dp && (closest < 0 || d < closestD))
                    {
                        closest = n;
                        closestD = d;
                    }

                    if (farthest < 0 || d > farthestD)
                    {
                        farthest = n;
                        farthestD = d;
                    }
                }

                if (farthest < 0)
                    continue;
                total += closest >= 0
                    ? Add<TCoefficients, TVec, TMath>(ref coefficients, p, dp, closest, closestD, margin, softMargin, distance, gradient)
                    : Add<TCoefficients, TVec, TMath>(ref coefficients, p, dp, farthest, farthestD, margin, softMargin, distance, gradient);
                count++;
                continue;
            }

            for (int n = 0; n < rows; n++)
            {
                if (row.Label(n) == label)
                    continue;
                float dn = row.Distance(n);
                float h = dp - dn + margin;
                if (!softMargin && !(h > 0f))
                    continue;
                total += Add<TCoefficients, TVec, TMath>(ref coefficients, p, dp, n, dn, margin, softMargin, distance, gradient);
                count++;
            }
        }

        return total;
    }

    /// <summary>One triplet's ℓ, and its coefficients when <paramref name="gradient"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Add<TCoefficients, TVec, TMath>(ref TCoefficients coefficients, int positive, float dp, int negative, float dn, float margin, bool softMargin,
        TripletDistance distance, bool gradient)
        where TCoefficients : struct, IMiningCoefficients
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        float loss = Triplet<TVec, TMath>(dp - dn + margin, softMargin, out float slope);
        if (gradient && slope != 0f)
        {
            coefficients.Add(positive, slope * Slope(dp, distance));
            coefficients.Add(negative, -slope * Slope(dn, distance));
        }

        return loss;
    }
}
