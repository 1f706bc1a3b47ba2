using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossKernels.Embedding;

/// <summary>One call of an <see cref="IEmbeddingLoss"/> on the CPU: B rows of D floats per input, and where each result goes (null: not written).</summary>
internal unsafe struct EmbeddingRows
{
    public float* X0, X1, X2;
    public float* G0, G1, G2;
    public float* Labels;
    public long* LongLabels;
    public float* Output;
    public float* Upstream;

    /// <summary>∂objective/∂ℓ_row before the per-row upstream: the reduced call's upstream over its divisor, else 1.</summary>
    public float Scale;
    public int Rows, Dim;

    public readonly bool Gradient => G0 != null;

    public readonly float Label(nint r) => Labels != null ? Labels[r] : LongLabels != null ? LongLabels[r] : 0f;

    public readonly float RowScale(nint r) => Upstream != null ? Scale * Upstream[r] : Scale;
}

/// <summary>
/// The CPU driver of every <see cref="IEmbeddingLoss"/>: rows in fixed chunks (so many rows per chunk, a function of D alone) on the
/// library's threads, row losses added in row order, so every thread count gives the same bits. A row is two sweeps over its D
/// elements in SIMD vectors (the sums, then the gradients from the row's coefficients) with an overlapping last vector, its tail
/// loaded before the gradient sweep so that a gradient may be its input; rows of one element go a vector of rows at a time.
/// </summary>
internal static unsafe class EmbeddingDriver
{
    /// <summary>Elements a chunk holds about (rows of D: this many over D rows).</summary>
    private const int ChunkElements = 16384;

    /// <summary>Vectors of a row whose terms are added in float before they go into the row's double sums.</summary>
    private const int FlushVectors = 64;

    /// <summary>Runs every row; returns Σ ℓ_row.</summary>
    public static double Run<TLoss>(in TLoss loss, in EmbeddingRows data)
        where TLoss : struct, IEmbeddingLoss
    {
        EmbeddingRows rows = data;
        if (rows.X1 == null)
            rows.X1 = rows.X0;
        if (rows.X2 == null)
            rows.X2 = rows.X0;
        nint chunkRows = rows.Dim <= 1 ? ChunkElements : Math.Max(1, ChunkElements / rows.Dim);
        return ChunkedRun.Run(new RowsKernel<TLoss>(loss, rows), rows.Rows, parallelThreshold: (int)Math.Min(int.MaxValue, 4 * chunkRows), chunkRows);
    }

    private readonly struct RowsKernel<TLoss>(TLoss loss, EmbeddingRows data) : IRangeKernel
        where TLoss : struct, IEmbeddingLoss
    {
        private readonly TLoss loss = loss;
        private readonly EmbeddingRows data = data;

        public double RunRange(nint start, nint length)
        {
            int dim = data.Dim;
            if (dim == 1)
            {
                return Vector512.IsHardwareAccelerated && length >= Vector512<float>.Count ? Columns<Vector512<float>, Width512>(start, length)
                    : Vector256.IsHardwareAccelerated && length >= Vector256<float>.Count ? Columns<Vector256<float>, Width256>(start, length)
                    : length >= Vector128<float>.Count ? Columns<Vector128<float>, Width128>(start, length)
                    : Padded(start, length);
            }

            return Vector512.IsHardwareAccelerated && dim >= Vector512<float>.Count ? Rows<Vector512<float>, Width512>(start, length)
                : Vector256.IsHardwareAccelerated && dim >= Vector256<float>.Count ? Rows<Vector256<float>, Width256>(start, length)
                : dim >= Vector128<float>.Count ? Rows<Vector128<float>, Width128>(start, length)
                : Padded(start, length);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double Rows<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int dim = data.Dim, count = TMath.Count, remainder = dim % count, tail = dim - count;
            TLoss localLoss = loss;
            float* g0 = data.G0, g1 = localLoss.Inputs >= 2 ? data.G1 : null, g2 = localLoss.Inputs == 3 ? data.G2 : null;
            double total = 0d;
            for (nint r = start; r < start + length; r++)
            {
                nint offset = r * dim;
                float* a = data.X0 + offset, b = data.X1 + offset, c = data.X2 + offset;
                TVec sum0 = TMath.Create(0f), sum1 = sum0, sum2 = sum0;
                double total0 = 0d, total1 = 0d, total2 = 0d;
                for (int j = 0, pending = 0; j <= dim - count; j += count)
                {
                    loss.Terms<TVec, TMath>(TMath.Load(ref a[j]), TMath.Load(ref b[j]), TMath.Load(ref c[j]), out TVec s0, out TVec s1, out TVec s2);
                    sum0 = TMath.Add(sum0, s0);
                    sum1 = TMath.Add(sum1, s1);
                    sum2 = TMath.Add(sum2, s2);
                    // Long rows go into double every FlushVectors vectors, so a float sum never runs over more than 64 terms a lane.
                    if (++pending == FlushVectors)
                    {
                        Flush<TVec, TMath>(ref sum0, ref total0);
                        Flush<TVec, TMath>(ref sum1, ref total1);
                        Flush<TVec, TMath>(ref sum2, ref total2);
                        pending = 0;
                    }
                }

                TVec tailA = TMath.Load(ref a[tail]), tailB = TMath.Load(ref b[tail]), tailC = TMath.Load(ref c[tail]);
                if (remainder != 0)
                {
                    loss.Terms<TVec, TMath>(tailA, tailB, tailC, out TVec s0, out TVec s1, out TVec s2);
                    sum0 = TMath.Add(sum0, TMath.KeepLanes(s0, count - remainder, count));
                    sum1 = TMath.Add(sum1, TMath.KeepLanes(s1, count - remainder, count));
                    sum2 = TMath.Add(sum2, TMath.KeepLanes(s2, count - remainder, count));
                }

                float rowLoss = RowOf(r, total0 + TMath.Sum(sum0), total1 + TMath.Sum(sum1), total2 + TMath.Sum(sum2), out float c0, out float c1, out float c2);
                total += rowLoss;
                if (!data.Gradient)
                    continue;
                TVec k0 = TMath.Create(c0), k1 = TMath.Create(c1), k2 = TMath.Create(c2);
                for (int j = 0; j <= dim - count; j += count)
                    StoreGradient<TVec, TMath>(localLoss, g0, g1, g2, TMath.Load(ref a[j]), TMath.Load(ref b[j]), TMath.Load(ref c[j]), k0, k1, k2, offset + j);
                if (remainder != 0)
                    StoreGradient<TVec, TMath>(localLoss, g0, g1, g2, tailA, tailB, tailC, k0, k1, k2, offset + tail);
            }

            return total;
        }

        /// <summary>Rows of one element, a vector of rows at a time: the sums are the terms themselves, and <see cref="IEmbeddingLoss.Row{TVec, TMath}"/> runs across lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double Columns<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            int remainder = (int)(length % count);
            nint tail = start + length - count;
            EmbeddingRows rows = data;
            // The tail's inputs are read before the sweep writes: a gradient may be its input.
            TVec tailA = TMath.Load(ref rows.X0[tail]), tailB = TMath.Load(ref rows.X1[tail]), tailC = TMath.Load(ref rows.X2[tail]);
            float* converted = stackalloc float[count];
            double total = 0d;
            for (nint r = start; r <= start + length - count; r += count)
                total += Column<TVec, TMath>(loss, rows, TMath.Load(ref rows.X0[r]), TMath.Load(ref rows.X1[r]), TMath.Load(ref rows.X2[r]), r, 0, converted);
            if (remainder != 0)
                total += Column<TVec, TMath>(loss, rows, tailA, tailB, tailC, tail, count - remainder, converted);
            return total;
        }

        /// <summary>
        /// Rows [r, r + Count) of one element; their losses from lane <paramref name="from"/> on are returned (the earlier lanes were
        /// counted already). Static over copies, as <see cref="StoreGradient{TVec, TMath}"/>; int64 labels are converted through
        /// <paramref name="converted"/>.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static double Column<TVec, TMath>(TLoss loss, EmbeddingRows rows, TVec a, TVec b, TVec c, nint r, int from, float* converted)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            TVec label;
            if (rows.Labels != null)
            {
                label = TMath.Load(ref rows.Labels[r]);
            }
            else
            {
                for (int lane = 0; lane < count; lane++)
                    converted[lane] = rows.Label(r + lane);
                label = TMath.Load(ref converted[0]);
            }

            TVec scale = rows.Upstream != null ? TMath.Multiply(TMath.Load(ref rows.Upstream[r]), TMath.Create(rows.Scale)) : TMath.Create(rows.Scale);
            loss.Terms<TVec, TMath>(a, b, c, out TVec s0, out TVec s1, out TVec s2);
            TVec rowLoss = loss.Row<TVec, TMath>(s0, s1, s2, label, scale, out TVec c0, out TVec c1, out TVec c2);
            if (rows.Output != null)
                TMath.Store(rowLoss, ref rows.Output[r]);
            if (rows.Gradient)
                StoreGradient<TVec, TMath>(loss, rows.G0, loss.Inputs >= 2 ? rows.G1 : null, loss.Inputs == 3 ? rows.G2 : null, a, b, c, c0, c1, c2, r);
            return TMath.Sum(TMath.KeepLanes(rowLoss, from, count));
        }

        /// <summary>Fewer elements per row (or fewer rows of one element) than a Vector128 holds: each row padded with zeros on the stack, the padding's terms dropped.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private double Padded(nint start, nint length)
        {
            int dim = data.Dim;
            float* a = stackalloc float[4], b = stackalloc float[4], c = stackalloc float[4];
            double total = 0d;
            for (nint r = start; r < start + length; r++)
            {
                nint offset = r * dim;
                for (int j = 0; j < 4; j++)
                {
                    a[j] = j < dim ? data.X0[offset + j] : 0f;
                    b[j] = j < dim ? data.X1[offset + j] : 0f;
                    c[j] = j < dim ? data.X2[offset + j] : 0f;
                }

                loss.Terms<Vector128<float>, Width128>(Vector128.Load(a), Vector128.Load(b), Vector128.Load(c), out Vector128<float> s0, out Vector128<float> s1, out Vector128<float> s2);
                float rowLoss = RowOf(r, Width128.Sum(Width128.KeepLanes(s0, 0, dim)), Width128.Sum(Width128.KeepLanes(s1, 0, dim)),
                    Width128.Sum(Width128.KeepLanes(s2, 0, dim)), out float c0, out float c1, out float c2);
                total += rowLoss;
                if (!data.Gradient)
                    continue;
                loss.Gradient<Vector128<float>, Width128>(Vector128.Load(a), Vector128.Load(b), Vector128.Load(c), Vector128.Create(c0), Vector128.Create(c1),
                    Vector128.Create(c2), out Vector128<float> g0, out Vector128<float> g1, out Vector128<float> g2);
                for (int j = 0; j < dim; j++)
                {
                    data.G0[offset + j] = g0[j];
                    if (loss.Inputs >= 2)
                        data.G1[offset + j] = g1[j];
                    if (loss.Inputs == 3)
                        data.G2[offset + j] = g2[j];
                }
            }

            return total;
        }

        /// <summary>Row <paramref name="r"/>'s loss (written to the output when there is one) and coefficients from its sums, through the lanes' math on one lane.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private float RowOf(nint r, double sum0, double sum1, double sum2, out float c0, out float c1, out float c2)
        {
            Vector128<float> rowLoss = loss.Row<Vector128<float>, Width128>(Vector128.Create((float)sum0), Vector128.Create((float)sum1), Vector128.Create((float)sum2),
                Vector128.Create(data.Label(r)), Vector128.Create(data.RowScale(r)), out Vector128<float> k0, out Vector128<float> k1, out Vector128<float> k2);
            c0 = k0.ToScalar();
            c1 = k1.ToScalar();
            c2 = k2.ToScalar();
            float value = rowLoss.ToScalar();
            if (data.Output != null)
                data.Output[r] = value;
            return value;
        }

        /// <summary>
        /// The gradients at <paramref name="offset"/>. Static, over copies in locals: stores through the gradient pointers could
        /// alias this struct's fields, which the JIT would then reload after every store.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreGradient<TVec, TMath>(in TLoss loss, float* g0, float* g1, float* g2, TVec a, TVec b, TVec c, TVec k0, TVec k1, TVec k2, nint offset)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            loss.Gradient<TVec, TMath>(a, b, c, k0, k1, k2, out TVec d0, out TVec d1, out TVec d2);
            TMath.Store(d0, ref g0[offset]);
            if (g1 != null)
                TMath.Store(d1, ref g1[offset]);
            if (g2 != null)
                TMath.Store(d2, ref g2[offset]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Flush<TVec, TMath>(ref TVec sum, ref double total)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            total += TMath.Sum(sum);
            sum = TMath.Create(0f);
        }
    }
}
