using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
    public readonly float* ClassWeight;
    public readonly float* Upstream;
    public readonly float* Output;
    public readonly float* Gradient;
    public readonly int Rows;
    public readonly int Classes;
    public readonly long IgnoreIndex;
    public readonly float Smoothing;
    public readonly float LseSquareScale;
    public readonly float GradientScale;

    /// <summary>Σ_c w_c over every class (C without weights): the smoothing term's total weight.</summary>
    public readonly float ClassWeightSum;

    public CrossEntropyArgs(float* logits, TIndex* target, float* classWeight, float* upstream, float* output, float* gradient, int rows, int classes,
        long ignoreIndex, float smoothing, float lseSquareScale, float gradientScale, float classWeightSum)
    {
        Logits = logits;
        Target = target;
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

    /// <summary>Runs the pass; returns Σ_r ℓ_r when the mode reduces.</summary>
    public static double Run<TIndex, TMode>(in CrossEntropyArgs<TIndex> args)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TMode : struct, IDriverMode
    {
        int rowsPerChunk = Math.Max(Math.Max(1, ChunkElements / Math.Max(1, args.Classes)), (args.Rows + ChunkedRun.MaxChunks - 1) / ChunkedRun.MaxChunks);
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

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double RunRows<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            double total = 0d;
            for (nint r = start; r < start + length; r++)
                total += Row<TVec, TMath>(r);
            return total;
        }

        /// <summary>One row at width TVec (C ≥ its lane count): the tail is an overlapping last vector, loaded before each sweep that writes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private double Row<TVec, TMath>(nint r)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Classes;
            int count = TMath.Count;
            float* x = args.Logits + r * classes;
            float* g = args.Gradient + r * classes;
            float* w = args.ClassWeight;
            if (!TryTarget(r, out int y, out float targetWeight))
                return IgnoredRow(r, g);
            float targetLogit = x[y];
            int remainder = classes % count;
            int tail = classes - count;
            bool smoothing = args.Smoothing != 0f;

            TVec max = TMath.Load(ref x[0]);
            TVec weighted = TMath.Create(0f);
            int j = 0;
            for (; j <= classes - count; j += count)
            {
                TVec v = TMath.Load(ref x[j]);
                max = TMath.Max(max, v);
                if (smoothing)
                    weighted = TMath.Add(weighted, w != null ? TMath.Multiply(TMath.Load(ref w[j]), v) : v);
            }

            TVec tailLogits = TMath.Load(ref x[tail]);
            if (remainder != 0)
            {
                max = TMath.Max(max, tailLogits);
                if (smoothing)
                    weighted = TMath.Add(weighted, TMath.KeepLanes(w != null ? TMath.Multiply(TMath.Load(ref w[tail]), tailLogits) : tailLogits, count - remainder, count));
            }

            float rowMax = TMath.MaxAcross(max);
            TVec shift = TMath.Create(rowMax);
            TVec sum = TMath.Create(0f);
            for (j = 0; j <= classes - count; j += count)
            {
                TVec e = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(TMath.Load(ref x[j]), shift));
                sum = TMath.Add(sum, e);
                if (TMode.StoreGradient)
                    TMath.Store(e, ref g[j]);
            }

            if (remainder != 0)
            {
                TVec e = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(tailLogits, shift));
                sum = TMath.Add(sum, TMath.KeepLanes(e, count - remainder, count));
                if (TMode.StoreGradient)
                    TMath.Store(e, ref g[tail]);
            }

            double sumExp = TMath.Sum(sum);
            double lse = rowMax + Math.Log(sumExp);
            if (TMode.StoreGradient)
            {
                (float coefficient, float offset, float targetTerm) = GradientTerms(r, lse, sumExp, targetWeight);
                TVec scaleVector = TMath.Create(coefficient);
                TVec offsetVector = TMath.Create(offset);
                TVec tailExp = TMath.Load(ref g[tail]);
                for (j = 0; j <= classes - count; j += count)
                {
                    TVec shiftTerm = w != null ? TMath.Multiply(TMath.Load(ref w[j]), offsetVector) : offsetVector;
                    TMath.Store(TMath.Subtract(TMath.Multiply(TMath.Load(ref g[j]), scaleVector), shiftTerm), ref g[j]);
                }

                if (remainder != 0)
                {
                    TVec shiftTerm = w != null ? TMath.Multiply(TMath.Load(ref w[tail]), offsetVector) : offsetVector;
                    TMath.Store(TMath.Subtract(TMath.Multiply(tailExp, scaleVector), shiftTerm), ref g[tail]);
                }

                g[y] -= targetTerm;
            }

            return RowLoss(r, lse, targetLogit, targetWeight, smoothing ? TMath.Sum(weighted) : 0d);
        }

        /// <summary>Rows of fewer classes than a Vector128 holds: the same sweeps, one element at a time.</summary>
        private double NarrowRow(nint r)
        {
            int classes = args.Classes;
            float* x = args.Logits + r * classes;
            float* g = args.Gradient + r * classes;
            float* w = args.ClassWeight;
            if (!TryTarget(r, out int y, out float targetWeight))
                return IgnoredRow(r, g);
            float targetLogit = x[y];
            float rowMax = x[0];
            double weighted = 0d;
            for (int c = 0; c < classes; c++)
            {
                rowMax = float.IsNaN(x[c]) || x[c] > rowMax ? x[c] : rowMax;
                weighted += (w != null ? w[c] : 1f) * x[c];
            }

            double sumExp = 0d;
            Span<float> e = stackalloc float[classes];
            for (int c = 0; c < classes; c++)
            {
                e[c] = MathF.Exp(x[c] - rowMax);
                sumExp += e[c];
            }

            double lse = rowMax + Math.Log(sumExp);
            if (TMode.StoreGradient)
            {
                (float coefficient, float offset, float targetTerm) = GradientTerms(r, lse, sumExp, targetWeight);
                for (int c = 0; c < classes; c++)
                    g[c] = e[c] * coefficient - (w != null ? w[c] : 1f) * offset;
                g[y] -= targetTerm;
            }

            return RowLoss(r, lse, targetLogit, targetWeight, args.Smoothing != 0f ? weighted : 0d);
        }

        /// <summary>Reads row r's target; false for an ignored row. The targets were validated before the call.</summary>
        private bool TryTarget(nint r, out int target, out float targetWeight)
        {
            long value = long.CreateTruncating(args.Target[r]);
            target = (int)value;
            targetWeight = value == args.IgnoreIndex ? 0f : args.ClassWeight != null ? args.ClassWeight[value] : 1f;
            return value != args.IgnoreIndex;
        }

        private double IgnoredRow(nint r, float* g)
        {
            if (TMode.StoreGradient)
                new Span<float>(g, args.Classes).Clear();
            if (TMode.StoreLoss)
                args.Output[r] = 0f;
            return 0d;
        }

        /// <summary>
        /// ∂ℓ_r/∂x_c = s·(e_c/Σe)·((1 − ε)·w_y + (ε/C)·Σw + 2z·lse) − s·(ε/C)·w_c − [c = y]·s·(1 − ε)·w_y, with s the row's scale:
        /// returns the factor of e_c, the factor of w_c, and the target's term.
        /// </summary>
        private (float Coefficient, float Offset, float TargetTerm) GradientTerms(nint r, double lse, double sumExp, float targetWeight)
        {
            double scale = args.GradientScale * (args.Upstream != null ? args.Upstream[r] : 1f);
            double smoothing = (double)args.Smoothing / args.Classes;
            double hard = (1d - args.Smoothing) * targetWeight;
            double softmaxFactor = hard + smoothing * args.ClassWeightSum + 2d * args.LseSquareScale * lse;
            return ((float)(scale * softmaxFactor / sumExp), (float)(scale * smoothing), (float)(scale * hard));
        }

        /// <summary>ℓ_r = (1 − ε)·w_y·(lse − x_y) + (ε/C)·(Σw·lse − Σ w_c·x_c) + z·lse²; stored for 'none'.</summary>
        private double RowLoss(nint r, double lse, float targetLogit, float targetWeight, double weightedLogits)
        {
            double loss = (1d - args.Smoothing) * targetWeight * (lse - targetLogit);
            if (args.Smoothing != 0f)
                loss += (double)args.Smoothing / args.Classes * (args.ClassWeightSum * lse - weightedLogits);
            if (args.LseSquareScale != 0f)
                loss += args.LseSquareScale * lse * lse;
            if (TMode.StoreLoss)
                args.Output[r] = (float)loss;
            return loss;
        }
    }
}
