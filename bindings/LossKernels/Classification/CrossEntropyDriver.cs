using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels.Classification;

/// <summary>
/// One cross-entropy call over N rows of C logits: pointers into the caller's pinned spans (null when absent)
/// and the hyperparameters. The gradient written for row r is <c>GradientScale · upstream[r] · ∂ℓ_r/∂x</c>.
/// </summary>
internal readonly unsafe struct CrossEntropyArgs<TIndex>
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    public readonly float* Logits;
    public readonly TIndex* Target;

    /// <summary>N·C target probabilities for soft targets (then <see cref="Target"/> is null), else null.</summary>
    public readonly float* SoftTarget;

    /// <summary>N continuous labels in [0, C − 1] for distribution focal loss (then <see cref="Target"/> is null), else null.</summary>
    public readonly float* ContinuousTarget;

    /// <summary>N row (or position) weights that scale each row's target share, so its loss and gradient (mmdetection's <c>weight</c> of distribution focal labels; the U-Net pixel weights of hard targets), or null.</summary>
    public readonly float* RowWeight;

    /// <summary>Softmax focal loss (mmcv): the row loss is α·w_y·(1 − p_y)^γ·(−ln p_y) instead of w_y·(−ln p_y).</summary>
    public readonly bool Focal;
    public readonly float FocalAlpha;
    public readonly float FocalGamma;
    public readonly float* ClassWeight;
    public readonly float* Upstream;
    public readonly float* Output;
    public readonly float* Gradient;
    /// <summary>N·D: the positions that each get a loss (rows when D = 1).</summary>
    public readonly int Rows;
    public readonly int Classes;

    /// <summary>D = d1·d2·…: positions per sample of an [N, C, d1, …] input, whose class axis has stride D; 1 for [N, C].</summary>
    public readonly int Spatial;
    public readonly long IgnoreIndex;
    public readonly float Smoothing;
    public readonly float LseSquareScale;
    public readonly float GradientScale;

    /// <summary>Σ_c w_c over every class (C without weights): the smoothing term's total weight.</summary>
    public readonly float ClassWeightSum;

    public CrossEntropyArgs(float* logits, TIndex* target, float* softTarget, float* classWeight, float* upstream, float* output, float* gradient, int rows, int classes,
        long ignoreIndex, float smoothing, float lseSquareScale, float gradientScale, float classWeightSum, int spatial = 1,
        float* continuousTarget = null, float* rowWeight = null, bool focal = false, float focalAlpha = 0f, float focalGamma = 0f)
    {
        Focal = focal;
        FocalAlpha = focalAlpha;
        FocalGamma = focalGamma;
        Spatial = spatial;
        ContinuousTarget = continuousTarget;
        RowWeight = rowWeight;
        Logits = logits;
        Target = target;
        SoftTarget = softTarget;
        ClassWeight = classWeight;
        Upstream = upstream;
        Output = output;
        Gradient = gradient;
        Rows = rows;
        Classes = classes;
        IgnoreIndex = ignoreIndex;
        Smoothing = smoothing;
        LseSquareScale = lseSquareScale;
        GradientScale = gradientScale;
        ClassWeightSum = classWeightSum;
    }
}

/// <summary>
/// What a row's target asks of its logits besides the per-class shares a_c: <see cref="LeftShare"/> of class
/// <see cref="Left"/> and <see cref="RightShare"/> of class <see cref="Right"/> (−1 for none). A hard target y has
/// (1 − ε)·w_y at y; a distribution focal label between two classes splits its row weight between them; soft targets
/// have none.
/// </summary>
internal readonly struct RowTarget(int left, float leftShare, int right, float rightShare)
{
    public readonly int Left = left;
    public readonly float LeftShare = leftShare;
    public readonly int Right = right;
    public readonly float RightShare = rightShare;

    /// <summary>No target classes: soft targets, whose shares are all per class.</summary>
    public static RowTarget None => new(0, 0f, -1, 0f);

    /// <summary>The target's total share, the factor of lse in the loss and of the softmax in the gradient.</summary>
    public double Mass => (double)LeftShare + RightShare;

    /// <summary>A hard target y of class weight w_y: (1 − ε)·w_y at y (w_y is 0 for an ignored row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowTarget Hard(long y, float classWeight, float smoothing) => new((int)y, (1f - smoothing) * classWeight, -1, 0f);

    /// <summary>
    /// A continuous label l (distribution focal loss) with row weight w: w·(⌊l⌋ + 1 − l) at ⌊l⌋ and w·(l − ⌊l⌋) at ⌊l⌋ + 1, the
    /// second dropped past the last class. The label was checked to lie in [0, C − 1].
    /// </summary>
    public static RowTarget Continuous(float label, float rowWeight, int classes)
    {
        int left = (int)label;
        return new RowTarget(left, rowWeight * (left + 1 - label), left + 1 < classes ? left + 1 : -1, rowWeight * (label - left));
    }

    /// <summary>Σ share·x over the (at most two) classes, given their logits; a zero share adds nothing, even beside an infinite logit.</summary>
    public double Dot(float leftLogit, float rightLogit) =>
        (LeftShare != 0f ? (double)LeftShare * leftLogit : 0d) + (Right >= 0 && RightShare != 0f ? (double)RightShare * rightLogit : 0d);

    /// <summary>Σ share·x over the (at most two) classes, read from a row whose classes are <paramref name="stride"/> apart.</summary>
    public unsafe double Dot(float* x, nint stride) => Dot(x[Left * stride], Right >= 0 ? x[Right * stride] : 0f);

    /// <summary>Subtracts scale·share at the target's classes from the gradient written.</summary>
    public unsafe void Subtract(float* g, nint stride, float scale)
    {
        if (LeftShare != 0f)
            g[Left * stride] -= scale * LeftShare;
        if (Right >= 0 && RightShare != 0f)
            g[Right * stride] -= scale * RightShare;
    }
}

/// <summary>
/// The scalar functions a row loss evaluates once per row (ln Σe, the focal factor): in double. The CPU takes the runtime's; a
/// GPU backend supplies its own (PTX has no double log or exp), so that the row math below is written once for both.
/// </summary>
internal interface IRowFunctions
{
    static abstract double Log(double x);

    static abstract double Exp(double x);

    /// <summary>x^y for x &gt; 0.</summary>
    static abstract double Pow(double x, double y);
}

/// <summary>The runtime's double functions, for the CPU drivers.</summary>
internal readonly struct HostRowFunctions : IRowFunctions
{
    public static double Log(double x) => Math.Log(x);

    public static double Exp(double x) => Math.Exp(x);

    public static double Pow(double x, double y) => Math.Pow(x, y);
}

/// <summary>
/// The math of one cross-entropy row (or position) besides its sweeps, shared by the CPU driver and the GPU kernels: the per-class
/// share a_c, the focal factor, the gradient's two coefficients and the row loss. Every row loss of the family (cross entropy with
/// hard, soft or continuous targets, smoothing, z-loss, softmax focal) is these and the three sweeps.
/// </summary>
internal static class CrossEntropyRowMath
{
    /// <summary>a_c: (ε/C)·w_c for a hard target (its own (1 − ε)·w_y is the <see cref="RowTarget"/>'s), or w_c·((1 − ε)·t_c + ε/C) for soft targets t.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec ClassShare<TVec, TMath>(TVec classWeight, TVec soft, bool weighted, bool hasSoft, TVec share, TVec uniform)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec a = hasSoft ? TMath.MultiplyAdd(soft, share, uniform) : uniform;
        return weighted ? TMath.Multiply(classWeight, a) : a;
    }

    /// <summary>
    /// Softmax focal loss: with p = p_y and m = 1 − p, returns ℓ_r = α·w_y·m^γ·(−ln p) and turns the target's share into
    /// K = α·w_y·m^γ·(1 − γ·p·ln p / m), so that the gradient K·(softmax − [c = y]) is written by the usual sweep.
    /// ln p / m → −1 as m → 0: the gradient's finite limit there (autograd's pow backward gives NaN for γ &lt; 1).
    /// </summary>
    public static double Focus<TFunctions>(ref RowTarget target, double lse, float targetLogit, float alpha, float gamma)
        where TFunctions : struct, IRowFunctions
    {
        double weight = target.LeftShare;
        if (weight == 0d)
        {
            target = new RowTarget(target.Left, 0f, -1, 0f);
            return 0d;
        }

        double logP = targetLogit - lse;
        double p = TFunctions.Exp(logP);
        double m = 1d - p;
        double modulation = m > 0d ? TFunctions.Pow(m, gamma) : gamma == 0d ? 1d : 0d;
        double ratio = m > 0d ? logP / m : -1d;
        double scale = alpha * weight * modulation;
        target = new RowTarget(target.Left, (float)(scale * (1d - gamma * p * ratio)), -1, 0f);
        return -scale * logP;
    }

    /// <summary>
    /// ∂ℓ_r/∂x_c = s·(e_c/Σe)·(m + Σa + 2z·lse) − s·a_c − s·(the target's share of c), with s the row's scale and m the
    /// target's total share (<see cref="RowTarget.Mass"/>): the float s and the factor of e_c.
    /// </summary>
    public static void GradientTerms(double scale, double lse, double sumExp, double mass, double coefficientSum, float lseSquareScale,
        out float rowScale, out float softmaxFactor)
    {
        rowScale = (float)scale;
        softmaxFactor = (float)(scale * (mass + coefficientSum + 2d * lseSquareScale * lse) / sumExp);
    }

    /// <summary>ℓ_r = m·lse − Σ share·x + Σa·lse − Σ a_c·x_c + z·lse², terms with a zero factor skipped (∞·0 would be NaN).</summary>
    public static double RowLoss(double lse, double mass, double targetLogits, double coefficientSum, double weightedLogits, bool perClass, float lseSquareScale)
    {
        double loss = mass != 0d ? mass * lse - targetLogits : 0d;
        if (perClass)
            loss += coefficientSum * lse - weightedLogits;
        if (lseSquareScale != 0f)
            loss += lseSquareScale * lse * lse;
        return loss;
    }
}

/// <summary>
/// The cross-entropy kernel: each row in three sweeps over its logits — max (and the smoothing sum Σ w_c·x_c),
/// e_c = exp(x_c − max) written into the gradient row with their sum, then the gradient from the e_c in place —
/// so a row is read from memory once and every later sweep hits the cache (a row of 32,000 classes is 125 KiB).
/// Rows are split into chunks whose size depends on N and C alone, so the per-row losses are summed in the same
/// order for any thread count. The target at a row is read before any sweep, so the gradient may overwrite the
/// logits in place.
/// </summary>
internal static unsafe class CrossEntropyDriver
{
    /// <summary>Elements per chunk the rows are grouped into (at least one row).</summary>
    private const int ChunkElements = 1 << 16;

    /// <summary>Vectors of neighbouring positions an [N, C, d…] block walks class by class.</summary>
    private const int PositionBlockVectors = 16;

    /// <summary>The most logits of a block of positions (C·vectors·lanes): blocks shrink for many classes.</summary>
    private const int PositionBlockFloats = 8192;

    /// <summary>Rows of at most this many vectors of classes go through the blocked row kernel (longer rows amortize their own reductions).</summary>
    private const int BlockedRowVectors = 4;

    /// <summary>The most rows of one <see cref="Rows{TIndex, TMode}.RowBlock{TVec, TMath}"/> call: the widest vector's lanes.</summary>
    private const int BlockRows = 16;

    /// <summary>Classes per block whose float lane sums of a_c·x_c and a_c are added into the row's double totals.</summary>
    private const int ShareBlockClasses = 1 << 12;

    /// <summary>Runs the pass; returns Σ_r ℓ_r when the mode reduces. Chunks hold whole rows ([N, C]) or runs of positions ([N, C, d…]), sized from the shape alone.</summary>
    public static double Run<TIndex, TMode>(in CrossEntropyArgs<TIndex> args)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TMode : struct, IDriverMode
    {
        int rowsPerChunk = Math.Max(1, ChunkElements / Math.Max(1, args.Classes));
        // Whole blocks of the widest lane count, so that only the call's last rows miss the blocked row kernel.
        if (rowsPerChunk >= BlockRows)
            rowsPerChunk -= rowsPerChunk % BlockRows;
        long elements = (long)args.Rows * args.Classes;
        int parallelThreshold = elements >= ElementwiseDriver.ParallelThreshold ? 0 : int.MaxValue;
        return ChunkedRun.Run(new Rows<TIndex, TMode>(args), args.Rows, parallelThreshold, rowsPerChunk);
    }

    private readonly struct Rows<TIndex, TMode>(CrossEntropyArgs<TIndex> args) : IRangeKernel
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TMode : struct, IDriverMode
    {
        private readonly CrossEntropyArgs<TIndex> args = args;

        public double RunRange(nint start, nint length)
        {
            int classes = args.Classes;
            if (args.Spatial > 1)
            {
                if (Vector512.IsHardwareAccelerated)
                    return RunPositions<Vector512<float>, Width512>(start, length);
                if (Vector256.IsHardwareAccelerated)
                    return RunPositions<Vector256<float>, Width256>(start, length);
                return RunPositions<Vector128<float>, Width128>(start, length);
            }

            if (Vector512.IsHardwareAccelerated && classes >= Vector512<float>.Count)
                return RunRows<Vector512<float>, Width512>(start, length);
            if (Vector256.IsHardwareAccelerated && classes >= Vector256<float>.Count)
                return RunRows<Vector256<float>, Width256>(start, length);
            if (classes >= Vector128<float>.Count)
                return RunRows<Vector128<float>, Width128>(start, length);
            double total = 0d;
            for (nint r = start; r < start + length; r++)
                total += NarrowRow(r);
            return total;
        }

        /// <summary>
        /// Positions [start, start + length) of an [N, C, D] input: blocks of up to <see cref="PositionBlockVectors"/> vectors of
        /// neighbouring positions of one sample (their logits of a class are contiguous, the classes D apart), the rest one by one.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double RunPositions<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int spatial = args.Spatial;
            int count = TMath.Count;
            int blockVectors = Math.Clamp(PositionBlockFloats / (args.Classes * count), 1, PositionBlockVectors);
            double total = 0d;
            nint i = start, end = start + length;
            while (i < end)
            {
                nint sampleEnd = Math.Min(end, (i / spatial + 1) * spatial);
                while (i + count <= sampleEnd)
                {
                    int vectors = (int)Math.Min(blockVectors, (sampleEnd - i) / count);
                    total += Positions<TVec, TMath>(i, vectors);
                    i += vectors * count;
                }

                for (; i < sampleEnd; i++)
                    total += NarrowRow(i);
            }

            return total;
        }

        /// <summary>
        /// <paramref name="vectors"/>·TVec's lane count of positions from <paramref name="i"/>, one per lane: the same three sweeps
        /// as <see cref="Row{TVec, TMath}"/> over the classes, each class's vectors in memory order (the class axis outside, so that
        /// a sweep reads a few long runs rather than C strided vectors per position), with the max, sums, lse and loss per lane
        /// on the stack; each lane's target is read before the sweeps, its logit picked up in the max sweep as its class passes, and
        /// its one-hot term taken out of its class's gradient in the last sweep. The stack rows are written before they are read: not
        /// zeroed first.
        /// </summary>
        [SkipLocalsInit]
        private double Positions<TVec, TMath>(nint i, int vectors)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Classes, spatial = args.Spatial, count = TMath.Count, lanes = vectors * count;
            nint offset = ItemOffset(i);
            float* x = args.Logits + offset;
            float* g = args.Gradient + offset;
            float* w = args.ClassWeight;
            float* t = args.SoftTarget != null ? args.SoftTarget + offset : null;
            float* hardLanes = stackalloc float[lanes];
            float* activeLanes = stackalloc float[lanes];
            float* logitLanes = stackalloc float[lanes];
            float* scaleLanes = stackalloc float[lanes];
            // Each lane's class as a float (exact below 2^24 classes), −1 where no one-hot term is pulled out of the gradient.
            float* targetLanes = stackalloc float[lanes];
            // Per vector: max, Σ a·x, Σ a, Σ e.
            float* max = stackalloc float[lanes];
            float* weighted = stackalloc float[lanes];
            float* shares = stackalloc float[lanes];
            float* sums = stackalloc float[lanes];
            if (t == null && args.ContinuousTarget == null)
                HardTargetLanes(i, lanes, targetLanes, activeLanes, hardLanes);
            else
            {
                for (int lane = 0; lane < lanes; lane++)
                {
                    bool kept = TryTarget(i + lane, out RowTarget target);
                    targetLanes[lane] = kept && t == null ? target.Left : -1f;
                    activeLanes[lane] = kept ? BitConverter.Int32BitsToSingle(-1) : 0f;
                    hardLanes[lane] = kept ? target.LeftShare : 0f;
                }
            }

            TVec callScale = TMath.Create(args.GradientScale);
            for (int v = 0; v < vectors; v++)
                TMath.Store(args.Upstream != null ? TMath.Multiply(callScale, TMath.Load(ref args.Upstream[i + v * count])) : callScale, ref scaleLanes[v * count]);

            bool perClass = t != null || args.Smoothing != 0f;
            float uniform = args.Smoothing / classes;
            TVec share = TMath.Create(1f - args.Smoothing);
            TVec zero = TMath.Create(0f);
            for (int v = 0; v < vectors; v++)
            {
                TMath.Store(TMath.Load(ref x[v * count]), ref max[v * count]);
                TMath.Store(zero, ref logitLanes[v * count]);
                TMath.Store(zero, ref weighted[v * count]);
                TMath.Store(zero, ref shares[v * count]);
                TMath.Store(zero, ref sums[v * count]);
            }

            for (int c = 0; c < classes; c++)
            {
                float* xc = x + (nint)c * spatial;
                TVec classIndex = TMath.Create(c);
                for (int v = 0; v < vectors; v++)
                {
                    // The next block's run of this class: C runs D apart are too many streams for the hardware prefetcher.
                    if (Sse.IsSupported)
                        Sse.Prefetch0(xc + lanes + v * count);

                    TVec value = TMath.Load(ref xc[v * count]);
                    TMath.Store(TMath.Max(TMath.Load(ref max[v * count]), value), ref max[v * count]);
                    // The target's logit, picked up as its class passes (not gathered lane by lane before the run is in the cache).
                    TMath.Store(TMath.Select(TMath.Equal(TMath.Load(ref targetLanes[v * count]), classIndex), value, TMath.Load(ref logitLanes[v * count])),
                        ref logitLanes[v * count]);
                    if (perClass)
                    {
                        TVec a = PositionCoefficient<TVec, TMath>(w, t == null ? null : t + v * count, c, spatial, share, uniform);
                        TMath.Store(TMath.MultiplyAdd(a, value, TMath.Load(ref weighted[v * count])), ref weighted[v * count]);
                        TMath.Store(TMath.Add(TMath.Load(ref shares[v * count]), a), ref shares[v * count]);
                    }
                }
            }

            for (int c = 0; c < classes; c++)
            {
                float* xc = x + (nint)c * spatial, gc = g + (nint)c * spatial;
                for (int v = 0; v < vectors; v++)
                {
                    TVec e = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(TMath.Load(ref xc[v * count]), TMath.Load(ref max[v * count])));
                    TMath.Store(TMath.Add(TMath.Load(ref sums[v * count]), e), ref sums[v * count]);
                    if (TMode.StoreGradient)
                        TMath.Store(e, ref gc[v * count]);
                }
            }

            double total = 0d;
            for (int v = 0; v < vectors; v++)
            {
                TVec sum = TMath.Load(ref sums[v * count]);
                TVec logSum = TMath.Log(sum);
                TVec lse = TMath.Add(TMath.Load(ref max[v * count]), logSum);
                TVec hard = TMath.Load(ref hardLanes[v * count]);
                TVec active = TMath.Load(ref activeLanes[v * count]);
                if (TMode.StoreGradient)
                {
                    // The softmax's factor, kept in the sums row for the gradient sweep below.
                    TVec scale = TMath.Load(ref scaleLanes[v * count]);
                    TVec factor = TMath.Add(TMath.Add(hard, TMath.Load(ref shares[v * count])), TMath.Multiply(TMath.Create(2f * args.LseSquareScale), lse));
                    TMath.Store(TMath.Divide(TMath.Multiply(scale, factor), sum), ref sums[v * count]);
                }

                // lse − x_y as (max − x_y) + ln Σe: no cancellation of two large numbers when the target dominates.
                TVec loss = TMath.Multiply(hard, TMath.Add(TMath.Subtract(TMath.Load(ref max[v * count]), TMath.Load(ref logitLanes[v * count])), logSum));
                if (perClass)
                    loss = TMath.Add(loss, TMath.Subtract(TMath.Multiply(TMath.Load(ref shares[v * count]), lse), TMath.Load(ref weighted[v * count])));
                if (args.LseSquareScale != 0f)
                    loss = TMath.MultiplyAdd(TMath.Create(args.LseSquareScale), TMath.Multiply(lse, lse), loss);
                loss = TMath.And(active, loss);
                if (TMode.StoreLoss)
                    TMath.Store(loss, ref args.Output[i + v * count]);
                total += TMath.Sum(loss);
                // The target's one-hot term s·h, pulled out of its class's gradient in the sweep below.
                if (TMode.StoreGradient)
                    TMath.Store(TMath.Multiply(TMath.Load(ref scaleLanes[v * count]), hard), ref hardLanes[v * count]);
            }

            if (!TMode.StoreGradient)
                return total;
            for (int c = 0; c < classes; c++)
            {
                float* gc = g + (nint)c * spatial;
                TVec classIndex = TMath.Create(c);
                for (int v = 0; v < vectors; v++)
                {
                    TVec gradient = TMath.Multiply(TMath.Load(ref gc[v * count]), TMath.Load(ref sums[v * count]));
                    if (perClass)
                    {
                        TVec a = PositionCoefficient<TVec, TMath>(w, t == null ? null : t + v * count, c, spatial, share, uniform);
                        gradient = TMath.Subtract(gradient, TMath.Multiply(a, TMath.Load(ref scaleLanes[v * count])));
                    }

                    gradient = TMath.And(TMath.Load(ref activeLanes[v * count]), gradient);
                    TVec pulled = TMath.And(TMath.Equal(TMath.Load(ref targetLanes[v * count]), classIndex), TMath.Load(ref hardLanes[v * count]));
                    TMath.Store(TMath.Subtract(gradient, pulled), ref gc[v * count]);
                }
            }

            return total;
        }

        /// <summary>
        /// <see cref="HardTarget"/> for <paramref name="lanes"/> lanes from <paramref name="first"/>: the class as a float (−1 when
        /// ignored), an all-ones mask of the kept lanes, and the target's share (0 when ignored).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void HardTargetLanes(nint first, int lanes, float* classes, float* keptLanes, float* shares)
        {
            for (int lane = 0; lane < lanes; lane++)
            {
                bool kept = HardTarget(first + lane, out RowTarget target);
                classes[lane] = kept ? target.Left : -1f;
                keptLanes[lane] = BitConverter.Int32BitsToSingle(kept ? -1 : 0);
                shares[lane] = target.LeftShare;
            }
        }

        /// <summary>a_c for the lanes' positions: (ε/C)·w_c, or w_c·((1 − ε)·t_c + ε/C) for soft targets, t's classes D apart.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static TVec PositionCoefficient<TVec, TMath>(float* w, float* t, int c, int spatial, TVec share, float uniform)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            return CrossEntropyRowMath.ClassShare<TVec, TMath>(w != null ? TMath.Create(w[c]) : default, t != null ? TMath.Load(ref t[(nint)c * spatial]) : default,
                w != null, t != null, share, TMath.Create(uniform));
        }

        /// <summary>Where position <paramref name="i"/>'s logit of class 0 is: row i·C for [N, C]; n·C·D + s for [N, C, D].</summary>
        private nint ItemOffset(nint i)
        {
            int spatial = args.Spatial;
            if (spatial == 1)
                return i * args.Classes;
            nint sample = i / spatial;
            return sample * args.Classes * spatial + (i - sample * spatial);
        }

        /// <summary>
        /// Rows [start, start + length) at width TVec: whole blocks of a lane count's rows through <see cref="RowBlock{TVec, TMath}"/>
        /// where the rows are short and their target is one or two classes, the rest row by row.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double RunRows<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Classes, count = TMath.Count;
            bool blocked = args.SoftTarget == null && args.Smoothing == 0f && !args.Focal && classes <= BlockedRowVectors * count;
            double total = 0d;
            nint r = start, end = start + length;
            if (blocked && length >= count)
            {
                // The block's classes as columns, then three vectors' worth of lanes for the hard targets, from a 64-byte line.
                float* columns = stackalloc float[(classes + 3) * count + 16];
                columns = (float*)(((nint)columns + 63) & ~(nint)63);
                for (; r + count <= end; r += count)
                    total += RowBlock<TVec, TMath>(r, columns);
            }

            for (; r < end; r++)
                total += Row<TVec, TMath>(r);
            return total;
        }

        /// <summary>
        /// A lane count's rows of few classes (C from the lane count to <see cref="BlockedRowVectors"/> times it) whose target is
        /// one or two classes, one row per lane: the block is transposed into <paramref name="columns"/> (vector c holds class c
        /// of every row), so the max, Σe, lse, loss and gradient are lane-wise vector math with no horizontal reduction, and
        /// the gradient is transposed back. Where C is not a multiple of the lane count, the last square overlaps the one
        /// before it. The same row math as <see cref="Row{TVec, TMath}"/> (without smoothing, soft targets or focus), with
        /// Σe summed in float over at most four vectors' classes. The block's logits are all read before its gradient is
        /// written, so it may overwrite them in place.
        /// </summary>
        // Compiled optimized from the first call: too large to inline into the caller, it ran at tier 0 in short runs (20× slower).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double RowBlock<TVec, TMath>(nint first, float* columns)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Classes, count = TMath.Count;
            float* x0 = args.Logits + first * classes;
            float* g0 = args.Gradient + first * classes;
            for (int from = 0; from < classes; from += count)
            {
                int at = Math.Min(from, classes - count);
                TMath.TransposeSquare(ref x0[at], classes, ref columns[at * count], count);
            }

            // The targets before the max: HardLanes makes a call, and a max live across it was kept on the stack, stored and reloaded
            // in every step of the max's loop (a store-to-load wait per class).
            TVec left, right, leftClass, rightClass, kept;
            if (args.ContinuousTarget != null)
                ContinuousLanes<TVec, TMath>(first, out left, out right, out leftClass, out rightClass, out kept);
            else
                HardLanes<TVec, TMath>(first, columns + classes * count, out left, out right, out leftClass, out rightClass, out kept);

            TVec max = TMath.Load(ref columns[0]);
            for (int c = 1; c < classes; c++)
                max = TMath.MaxOfNumbers(max, TMath.Load(ref columns[c * count]));

            // The target logits picked out lane by lane as each class goes past, the e_c kept in place of the logits.
            TVec zero = TMath.Create(0f), one = TMath.Create(1f);
            TVec sumExp = zero, leftLogit = zero, rightLogit = zero, classIndex = zero;
            for (int c = 0; c < classes; c++, classIndex = TMath.Add(classIndex, one))
            {
                TVec x = TMath.Load(ref columns[c * count]);
                leftLogit = TMath.Select(TMath.Equal(leftClass, classIndex), x, leftLogit);
                rightLogit = TMath.Select(TMath.Equal(rightClass, classIndex), x, rightLogit);
                TVec e = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(x, max));
                sumExp = TMath.Add(sumExp, e);
                if (TMode.StoreGradient)
                    TMath.Store(e, ref columns[c * count]);
            }

            TVec logSum = TMath.Log(sumExp);
            TVec lse = TMath.Add(max, logSum);
            TVec mass = TMath.Add(left, right);
            // Σ share·(lse − x) as Σ share·(max − x) + mass·ln Σe: no cancellation where the target dominates; a zero share adds nothing beside an infinite logit.
            TVec gaps = TMath.Add(
                TMath.Select(TMath.Equal(left, zero), zero, TMath.Multiply(left, TMath.Subtract(max, leftLogit))),
                TMath.Select(TMath.Equal(right, zero), zero, TMath.Multiply(right, TMath.Subtract(max, rightLogit))));
            TVec loss = TMath.Add(gaps, TMath.Select(TMath.Equal(mass, zero), zero, TMath.Multiply(mass, logSum)));
            if (args.LseSquareScale != 0f)
                loss = TMath.MultiplyAdd(TMath.Create(args.LseSquareScale), TMath.Multiply(lse, lse), loss);
            loss = TMath.And(kept, loss);
            if (TMode.StoreLoss)
                TMath.Store(loss, ref args.Output[first]);
            if (!TMode.StoreGradient)
                return TMath.Sum(loss);

            TVec scale = args.Upstream != null ? TMath.Multiply(TMath.Create(args.GradientScale), TMath.Load(ref args.Upstream[first])) : TMath.Create(args.GradientScale);
            TVec factor = TMath.Divide(TMath.Multiply(scale, TMath.MultiplyAdd(TMath.Create(2f * args.LseSquareScale), lse, mass)), sumExp);
            TVec leftStep = TMath.Multiply(scale, left), rightStep = TMath.Multiply(scale, right);
            classIndex = zero;
            // An ignored row's e_c may be NaN (its logits are never checked), and NaN·0 is NaN: its lanes are cleared, not scaled.
            for (int c = 0; c < classes; c++, classIndex = TMath.Add(classIndex, one))
            {
                TVec gradient = TMath.Multiply(TMath.Load(ref columns[c * count]), factor);
                gradient = TMath.Subtract(gradient, TMath.And(TMath.Equal(leftClass, classIndex), leftStep));
                gradient = TMath.Subtract(gradient, TMath.And(TMath.Equal(rightClass, classIndex), rightStep));
                TMath.Store(TMath.And(kept, gradient), ref columns[c * count]);
            }

            for (int from = 0; from < classes; from += count)
            {
                int at = Math.Min(from, classes - count);
                TMath.TransposeSquare(ref columns[at * count], count, ref g0[at], classes);
            }

            return TMath.Sum(loss);
        }

        /// <summary>
        /// A block's distribution focal labels l in lanes (<see cref="RowTarget.Continuous"/> for a vector of rows, the same bits):
        /// ⌊l⌋ and ⌊l⌋ + 1 (−1 past the last class) with shares w·(⌊l⌋ + 1 − l) and w·(l − ⌊l⌋); every row is kept.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void ContinuousLanes<TVec, TMath>(nint first, out TVec left, out TVec right, out TVec leftClass, out TVec rightClass, out TVec kept)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            TVec label = TMath.Load(ref args.ContinuousTarget[first]);
            TVec one = TMath.Create(1f);
            TVec floor = VectorFunctions.FloorOfSmall<TVec, TMath>(label);
            TVec next = TMath.Add(floor, one);
            TVec weight = args.RowWeight != null ? TMath.Load(ref args.RowWeight[first]) : one;
            left = TMath.Multiply(weight, TMath.Subtract(next, label));
            right = TMath.Multiply(weight, TMath.Subtract(label, floor));
            leftClass = floor;
            rightClass = TMath.Select(TMath.LessThan(next, TMath.Create(args.Classes)), next, TMath.Create(-1f));
            kept = TMath.Equal(label, label);
        }

        /// <summary>
        /// A block's hard targets in lanes through <see cref="HardTargetLanes"/>: the class (−1 when ignored) and its share, no second
        /// class; <paramref name="lanes"/> holds three vectors' floats for the lanes on their way into registers.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void HardLanes<TVec, TMath>(nint first, float* lanes, out TVec left, out TVec right, out TVec leftClass, out TVec rightClass, out TVec kept)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            float* shares = lanes, classes = lanes + count, keptLanes = lanes + 2 * count;
            HardTargetLanes(first, count, classes, keptLanes, shares);

            left = TMath.Load(ref shares[0]);
            leftClass = TMath.Load(ref classes[0]);
            kept = TMath.Load(ref keptLanes[0]);
            right = TMath.Create(0f);
            rightClass = TMath.Create(-1f);
        }

        /// <summary>
        /// One row at width TVec (C ≥ its lane count): the tail is an overlapping last vector, loaded before each sweep that
        /// writes. Every class c has a coefficient a_c (the target's share of it): (ε/C)·w_c for a hard target, whose own
        /// (1 − ε)·w_y is added at y alone, and w_c·((1 − ε)·t_c + ε/C) for soft targets t. The row is read from memory
        /// once: the max sweep brings it into the cache, the e_c = exp(x_c − max) are kept in the gradient row, and the
        /// gradient sweep scales them, so exp runs once per logit. (A two-pass form that recomputes exp instead of rereading
        /// was measured slower at every row length from 32,000 to 4,194,304 classes here: see benchmarks/RESULTS.md.)
        /// </summary>
        // Compiled optimized from the first call: too large to inline into the caller, it ran at tier 0 in short runs (20× slower).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double Row<TVec, TMath>(nint r)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Classes;
            int count = TMath.Count;
            float* x = args.Logits + r * classes;
            float* g = args.Gradient + r * classes;
            float* w = args.ClassWeight;
            float* t = args.SoftTarget != null ? args.SoftTarget + r * classes : null;
            if (!TryTarget(r, out RowTarget target))
                return IgnoredRow(r, g);
            double targetLogits = target.Dot(x, 1);
            float targetLogit = x[target.Left];
            int remainder = classes % count;
            int whole = classes - remainder;
            int tail = classes - count;
            bool perClass = t != null || args.Smoothing != 0f;
            TVec share = TMath.Create(1f - args.Smoothing);
            TVec uniform = TMath.Create(args.Smoothing / classes);
            TVec tailLogits = TMath.Load(ref x[tail]);
            TVec tailShares = remainder != 0 && perClass ? TMath.KeepLanes(Coefficient<TVec, TMath>(w, t, tail, share, uniform), count - remainder, count) : TMath.Create(0f);
            // The overlapping lanes kept out of the product, not just the share: 0·(−∞) would be NaN where the row's term is +∞.
            TVec weighted = remainder != 0 && perClass ? TMath.KeepLanes(TMath.Multiply(tailShares, tailLogits), count - remainder, count) : TMath.Create(0f);
            TVec coefficients = tailShares;

            // Σ a_c·x_c and Σ a_c go into double block by block: float lanes would lose digits over a long row.
            double weightedSum = 0d, coefficientTotal = 0d;
            TVec max = tailLogits;
            for (int block = 0; block < whole; block += ShareBlockClasses)
            {
                TVec blockWeighted = TMath.Create(0f), blockCoefficients = TMath.Create(0f);
                max = TMath.Max(max, MaxAndShares<TVec, TMath>(x, w, t, block, Math.Min(whole, block + ShareBlockClasses), perClass, share, uniform, ref blockWeighted, ref blockCoefficients));
                weightedSum += TMath.Sum(blockWeighted);
                coefficientTotal += TMath.Sum(blockCoefficients);
            }

            float rowMax = TMath.MaxAcross(max);
            TVec shift = TMath.Create(rowMax);
            TVec sum = ExpSum<TVec, TMath>(x, TMode.StoreGradient ? g : null, 0, whole, shift, classes);
            if (remainder != 0)
            {
                TVec e = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(tailLogits, shift));
                sum = TMath.Add(sum, TMath.KeepLanes(e, count - remainder, count));
                if (TMode.StoreGradient)
                    TMath.Store(e, ref g[tail]);
            }

            double sumExp = TMath.Sum(sum);
            weightedSum += TMath.Sum(weighted);
            coefficientTotal += TMath.Sum(coefficients);
            double lse = rowMax + HostRowFunctions.Log(sumExp);
            double focalLoss = args.Focal ? CrossEntropyRowMath.Focus<HostRowFunctions>(ref target, lse, targetLogit, args.FocalAlpha, args.FocalGamma) : 0d;
            double coefficientSum = t != null ? coefficientTotal : (double)args.Smoothing / classes * args.ClassWeightSum;
            if (TMode.StoreGradient)
            {
                CrossEntropyRowMath.GradientTerms(RowScale(r), lse, sumExp, target.Mass, coefficientSum, args.LseSquareScale, out float scale, out float softmaxFactor);
                TVec softmaxVector = TMath.Create(softmaxFactor);
                TVec scaleVector = TMath.Create(scale);
                TVec tailExp = TMath.Load(ref g[tail]);
                for (int j = 0; j < whole; j += count)
                {
                    TVec gradient = TMath.Multiply(TMath.Load(ref g[j]), softmaxVector);
                    if (perClass)
                        gradient = TMath.Subtract(gradient, TMath.Multiply(Coefficient<TVec, TMath>(w, t, j, share, uniform), scaleVector));
                    TMath.Store(gradient, ref g[j]);
                }

                if (remainder != 0)
                {
                    TVec gradient = TMath.Multiply(tailExp, softmaxVector);
                    if (perClass)
                        gradient = TMath.Subtract(gradient, TMath.Multiply(Coefficient<TVec, TMath>(w, t, tail, share, uniform), scaleVector));
                    TMath.Store(gradient, ref g[tail]);
                }

                target.Subtract(g, 1, scale);
            }

            return StoreLoss(r, args.Focal ? focalLoss : CrossEntropyRowMath.RowLoss(lse, target.Mass, targetLogits, coefficientSum, weightedSum, perClass, args.LseSquareScale));
        }

        /// <summary>The lane-wise max of the whole vectors of classes [from, to), adding Σ a_c·x_c and Σ a_c per lane when the target spreads over the classes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static TVec MaxAndShares<TVec, TMath>(float* x, float* w, float* t, int from, int to, bool perClass, TVec share, TVec uniform, ref TVec weighted, ref TVec coefficients)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            TVec max = TMath.Load(ref x[from]);
            for (int j = from; j < to; j += TMath.Count)
            {
                TVec v = TMath.Load(ref x[j]);
                max = TMath.Max(max, v);
                if (perClass)
                {
                    TVec a = Coefficient<TVec, TMath>(w, t, j, share, uniform);
                    weighted = TMath.MultiplyAdd(a, v, weighted);
                    coefficients = TMath.Add(coefficients, a);
                }
            }

            return max;
        }

        /// <summary>
        /// Σ exp(x_c − shift) per lane over the whole vectors of classes [from, to), each term also stored into <paramref name="e"/> unless
        /// it is null; the logits <paramref name="next"/> floats on (the next row's) are asked for as it goes.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static TVec ExpSum<TVec, TMath>(float* x, float* e, int from, int to, TVec shift, nint next)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            TVec sum = TMath.Create(0f);
            for (int j = from; j < to; j += TMath.Count)
            {
                // The next row's line, so that its max sweep finds it in the cache: this sweep works from the cache and leaves the memory
                // idle (forward 19.4 -> 16.0 ms at [4096, 32000]; prefetched in the gradient sweep instead, fused was 5% slower).
                if (Sse.IsSupported)
                    Sse.Prefetch0(x + next + j);
                TVec term = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(TMath.Load(ref x[j]), shift));
                sum = TMath.Add(sum, term);
                if (e != null)
                    TMath.Store(term, ref e[j]);
            }

            return sum;
        }

        /// <summary>a_c for the vector of classes at <paramref name="j"/>: (ε/C)·w_c, or w_c·((1 − ε)·t_c + ε/C) for soft targets.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static TVec Coefficient<TVec, TMath>(float* w, float* t, int j, TVec share, TVec uniform)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            return CrossEntropyRowMath.ClassShare<TVec, TMath>(w != null ? TMath.Load(ref w[j]) : default, t != null ? TMath.Load(ref t[j]) : default,
                w != null, t != null, share, uniform);
        }

        /// <summary>
        /// One row (or position) element by element: rows of fewer classes than a Vector128 holds, and the positions of an
        /// [N, C, d…] input left over from whole vectors (their classes <see cref="CrossEntropyArgs{TIndex}.Spatial"/> apart).
        /// </summary>
        private double NarrowRow(nint r)
        {
            int classes = args.Classes;
            nint stride = args.Spatial;
            nint offset = ItemOffset(r);
            float* x = args.Logits + offset;
            float* g = args.Gradient + offset;
            float* w = args.ClassWeight;
            float* t = args.SoftTarget != null ? args.SoftTarget + offset : null;
            if (!TryTarget(r, out RowTarget target))
                return IgnoredRow(r, g);
            double targetLogits = target.Dot(x, stride);
            float targetLogit = x[target.Left * stride];
            float uniform = args.Smoothing / classes;
            float rowMax = x[0];
            double weighted = 0d, coefficients = 0d;
            for (int c = 0; c < classes; c++)
            {
                float v = x[c * stride];
                rowMax = float.IsNaN(v) || v > rowMax ? v : rowMax;
                float coefficient = Coefficient(w, t, c, stride, uniform);
                weighted += coefficient * v;
                coefficients += coefficient;
            }

            // e_c is kept in the gradient row (the logits' own memory when in place, read just before), never in scratch that grows with C.
            double sumExp = 0d;
            for (int c = 0; c < classes; c++)
            {
                float e = MathF.Exp(x[c * stride] - rowMax);
                sumExp += e;
                if (TMode.StoreGradient)
                    g[c * stride] = e;
            }

            double lse = rowMax + HostRowFunctions.Log(sumExp);
            double focalLoss = args.Focal ? CrossEntropyRowMath.Focus<HostRowFunctions>(ref target, lse, targetLogit, args.FocalAlpha, args.FocalGamma) : 0d;
            double coefficientSum = t != null ? coefficients : (double)uniform * args.ClassWeightSum;
            if (TMode.StoreGradient)
            {
                CrossEntropyRowMath.GradientTerms(RowScale(r), lse, sumExp, target.Mass, coefficientSum, args.LseSquareScale, out float scale, out float softmaxFactor);
                for (int c = 0; c < classes; c++)
                    g[c * stride] = g[c * stride] * softmaxFactor - Coefficient(w, t, c, stride, uniform) * scale;
                target.Subtract(g, stride, scale);
            }

            return StoreLoss(r, args.Focal ? focalLoss : CrossEntropyRowMath.RowLoss(lse, target.Mass, targetLogits, coefficientSum, weighted, t != null || args.Smoothing != 0f, args.LseSquareScale));
        }

        /// <summary>a_c of one class at a position whose classes are <paramref name="stride"/> apart (the scalar rows' <see cref="CrossEntropyRowMath.ClassShare{TVec, TMath}"/>).</summary>
        private float Coefficient(float* w, float* t, int c, nint stride, float uniform) =>
            (w != null ? w[c] : 1f) * (t != null ? MathF.FusedMultiplyAdd(t[c * stride], 1f - args.Smoothing, uniform) : uniform);

        /// <summary>
        /// Reads row r's target; false for an ignored row. Soft targets have no index and are never ignored; a continuous label l
        /// splits the row weight as (⌊l⌋ + 1 − l) at ⌊l⌋ and (l − ⌊l⌋) at ⌊l⌋ + 1 (mmdetection's distribution focal loss).
        /// The targets were validated before the call.
        /// </summary>
        private bool TryTarget(nint r, out RowTarget target)
        {
            if (args.SoftTarget != null)
            {
                target = RowTarget.None;
                return true;
            }

            if (args.ContinuousTarget != null)
            {
                target = RowTarget.Continuous(args.ContinuousTarget[r], args.RowWeight != null ? args.RowWeight[r] : 1f, args.Classes);
                return true;
            }

            return HardTarget(r, out target);
        }

        /// <summary>
        /// Row r's class index: false when it is the ignored value, whose target is class 0 with share 0; else the class y with share
        /// (1 − ε)·w_y·(row weight). Branch-free, so that <see cref="HardTargetLanes"/> runs it for a block's lanes.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool HardTarget(nint r, out RowTarget target)
        {
            long value = long.CreateTruncating(args.Target[r]);
            bool kept = value != args.IgnoreIndex;
            int y = kept ? (int)value : 0;
            float weight = args.ClassWeight != null ? args.ClassWeight[y] : 1f;
            if (args.RowWeight != null)
                weight *= args.RowWeight[r];
            target = RowTarget.Hard(y, kept ? weight : 0f, args.Smoothing);
            return kept;
        }

        private double IgnoredRow(nint r, float* g)
        {
            if (TMode.StoreGradient && args.Spatial == 1)
                new Span<float>(g, args.Classes).Clear();
            else if (TMode.StoreGradient)
            {
                for (int c = 0; c < args.Classes; c++)
                    g[(nint)c * args.Spatial] = 0f;
            }

            if (TMode.StoreLoss)
                args.Output[r] = 0f;
            return 0d;
        }

        /// <summary>The row's gradient scale s: the call's scale times the row's upstream.</summary>
        private double RowScale(nint r) => args.GradientScale * (args.Upstream != null ? args.Upstream[r] : 1f);

        private double StoreLoss(nint r, double loss)
        {
            if (TMode.StoreLoss)
                args.Output[r] = (float)loss;
            return loss;
        }
    }
}
