using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossKernels.Embedding;

/// <summary>
/// <see cref="TripletMiningLoss"/> on the CPU, in passes over pooled scratch: the rows E (copied, or normalized), the Gram matrix
/// E·Eᵀ (<see cref="Gemm.GramLower"/>), its lower triangle turned into distances and mirrored, the mining of each anchor's row, which
/// overwrites that row with the anchor's coefficients M_aj = ∂L/∂d_aj·slope, then W = M + Mᵀ, and per row the gradient
/// Σ_j W_ij (e_i − e_j) (or −Σ_j W_ij e_j for the cosine) over the nonzero W_ij, chained through the normalization. Every pass
/// writes its own elements, and the loss adds per-chunk partials in order: the same bits for any thread count.
/// </summary>
internal static unsafe class TripletMiningDriver
{
    /// <summary>Anchors per chunk of the mining (the partials' order is fixed by it).</summary>
    private const int AnchorsPerChunk = 16;

    /// <summary>Side of the square tiles of the distance and symmetrizing passes.</summary>
    private const int TileSide = 32;

    /// <summary>F.normalize's eps: rows are divided by max(‖x‖, eps).</summary>
    internal const float NormalizeEps = 1e-12f;

    public static TripletMiningResult Run(in TripletMiningLoss loss, ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int dim, Span<float> gradient,
        Reduction reduction, float upstream, bool gradientWanted)
    {
        int rows = CheckArguments(loss, embeddings.Length, labels.Length, dim, reduction);
        if (gradientWanted)
        {
            ThrowHelper.IfTooShort(embeddings.Length, gradient.Length, nameof(gradient));
            gradient = gradient.Slice(0, embeddings.Length);
            ThrowHelper.IfPartialOverlap(embeddings, gradient, nameof(gradient));
        }

        if (rows == 0)
            return default;

        float[] rowsScratch = ArrayPool<float>.Shared.Rent(embeddings.Length);
        float[] normsScratch = ArrayPool<float>.Shared.Rent(2 * rows);
        float[] matrixScratch = ArrayPool<float>.Shared.Rent(rows * rows);
        long[] countsScratch = ArrayPool<long>.Shared.Rent(rows);
        try
        {
            fixed (float* x = embeddings, e = rowsScratch, norms = normsScratch, matrix = matrixScratch, g = gradient)
            fixed (long* t = labels, counts = countsScratch)
            {
                var pass = new Passes(loss, x, e, norms, norms + rows, matrix, t, counts, rows, dim);
                return pass.Run(gradientWanted ? g : null, reduction, upstream);
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(countsScratch);
            ArrayPool<float>.Shared.Return(matrixScratch);
            ArrayPool<float>.Shared.Return(normsScratch);
            ArrayPool<float>.Shared.Return(rowsScratch);
        }
    }

    /// <summary>Checks the options and the shape; returns B.</summary>
    internal static int CheckArguments(in TripletMiningLoss loss, long length, long labels, int dim, Reduction reduction)
    {
        loss.Validate();
        if (dim <= 0)
            ThrowHelper.OutOfRange(nameof(dim), dim, "> 0");
        if (length % dim != 0)
            ThrowHelper.Argument("embeddings", $"embeddings holds {length} values, not a whole number of rows of {dim}.");
        long rows = length / dim;
        if (rows > TripletMiningLoss.MaxBatch)
            ThrowHelper.Argument("embeddings", $"embeddings holds {rows} rows; at most {TripletMiningLoss.MaxBatch} (B² distances are kept).");
        ThrowHelper.IfLengthDiffers(rows, labels, nameof(labels));
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "Mean or Sum (the mined triplets have no fixed shape)");
        return (int)rows;
    }

    /// <summary>The call's pointers and the passes over them.</summary>
    private readonly struct Passes(TripletMiningLoss loss, float* x, float* e, float* norms, float* squares, float* matrix, long* labels, long* counts, int rows, int dim)
    {
        public TripletMiningResult Run(float* gradient, Reduction reduction, float upstream)
        {
            bool big = (long)rows * dim >= 1 << 16;
            ChunkedRun.Run(new PrepareKernel(loss.Normalized, x, e, norms, dim), rows, big ? 0 : int.MaxValue, chunkLength: 64);
            Gemm.GramLower(e, rows, dim, matrix);
            for (int i = 0; i < rows; i++)
                squares[i] = matrix[(nint)i * rows + i];
            int tiles = (rows + TileSide - 1) / TileSide;
            bool wide = rows >= 4 * TileSide;
            ChunkedRun.Run(new TilePairKernel(matrix, squares, rows, loss.Distance, symmetrize: false), tiles, wide ? 0 : int.MaxValue, chunkLength: 1);
            double total = ChunkedRun.Run(new MineKernel(loss, matrix, labels, counts, rows, gradient != null), rows, wide ? 0 : int.MaxValue, AnchorsPerChunk);
            long count = 0;
            for (int a = 0; a < rows; a++)
                count += counts[a];
            bool mean = reduction == Reduction.Mean;
            float value = count == 0 ? 0f : (float)(mean ? total / count : total);
            if (gradient == null)
                return new TripletMiningResult(value, count);
            if (count == 0)
            {
                new Span<float>(gradient, rows * dim).Clear();
                return new TripletMiningResult(value, count);
            }

            ChunkedRun.Run(new TilePairKernel(matrix, squares, rows, loss.Distance, symmetrize: true), tiles, wide ? 0 : int.MaxValue, chunkLength: 1);
            float scale = (float)(mean ? upstream / (double)count : upstream);
            ChunkedRun.Run(new GradientKernel(loss.Normalized, loss.Distance == TripletDistance.Cosine, e, norms, matrix, gradient, rows, dim, scale), rows,
                big ? 0 : int.MaxValue, chunkLength: 16);
            return new TripletMiningResult(value, count);
        }
    }

    /// <summary>E: the rows copied, or divided by max(‖x‖, eps) with ‖x‖ kept for the chain rule.</summary>
    private readonly struct PrepareKernel(bool normalize, float* x, float* e, float* norms, int dim) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint i = start; i < start + length; i++)
            {
                var source = new ReadOnlySpan<float>(x + i * dim, dim);
                var destination = new Span<float>(e + i * dim, dim);
                if (!normalize)
                {
                    source.CopyTo(destination);
                    continue;
                }

                float norm = TensorPrimitives.Norm(source);
                norms[i] = norm;
                TensorPrimitives.Multiply(source, 1f / MathF.Max(norm, NormalizeEps), destination);
            }

            return 0d;
        }
    }

    /// <summary>
    /// Tile pairs (I, J ≤ I) of the [B, B] matrix, chunk I: either the Gram's lower triangle turned into distances and mirrored, or
    /// the coefficient matrix M made symmetric, W_ij = W_ji = M_ij + M_ji. Each pair of tiles is one chunk's alone.
    /// </summary>
    private readonly struct TilePairKernel(float* matrix, float* squares, int rows, TripletDistance distance, bool symmetrize) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint tile = start; tile < start + length; tile++)
            {
                int i0 = (int)tile * TileSide, i1 = Math.Min(rows, i0 + TileSide);
                for (int j0 = 0; j0 <= i0; j0 += TileSide)
                {
                    for (int i = i0; i < i1; i++)
                    {
                        float* row = matrix + (nint)i * rows;
                        int j1 = Math.Min(j0 + TileSide, i + 1);
                        for (int j = j0; j < j1; j++)
                        {
                            float value = symmetrize ? row[j] + matrix[(nint)j * rows + i] : TripletMiningMath.Distance(squares[i], squares[j], row[j], distance);
                            row[j] = value;
                            matrix[(nint)j * rows + i] = value;
                        }
                    }
                }
            }

            return 0d;
        }
    }

    /// <summary>
    /// The mining, a chunk of anchors at a time: each anchor's loss and triplet count, and with a gradient its coefficients, gathered in
    /// a pooled row and then written over the anchor's row of distances (which no other anchor reads).
    /// </summary>
    private readonly struct MineKernel(TripletMiningLoss loss, float* matrix, long* labels, long* counts, int rows, bool gradient) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            float[] rented = ArrayPool<float>.Shared.Rent(rows);
            try
            {
                fixed (float* scratch = rented)
                {
                    new Span<float>(scratch, rows).Clear();
                    var coefficients = new RowCoefficients(scratch);
                    double total = 0d;
                    for (nint a = start; a < start + length; a++)
                    {
                        float* row = matrix + a * rows;
                        total += TripletMiningMath.Anchor<MiningRow, RowCoefficients, Vector128<float>, Width128>(new MiningRow(row, labels, rows), (int)a, loss.Mining,
                            loss.Margin, loss.SoftMargin, loss.Distance, gradient, ref coefficients, out counts[a]);
                        if (!gradient)
                            continue;
                        var written = new Span<float>(scratch, rows);
                        written.CopyTo(new Span<float>(row, rows));
                        written.Clear();
                    }

                    return total;
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    private readonly struct MiningRow(float* distances, long* labels, int rows) : IMiningRow
    {
        public int Count => rows;

        public float Distance(int j) => distances[j];

        public long Label(int j) => labels[j];
    }

    private readonly struct RowCoefficients(float* row) : IMiningCoefficients
    {
        public void Add(int j, float value) => row[j] += value;
    }

    /// <summary>
    /// Per row i: Σ_j W_ij·e_j over the nonzero W_ij (a row of hard mining has a few), then ∂L/∂e_i = scale·(Σ_j W_ij·e_i − Σ_j W_ij·e_j)
    /// (or −scale·Σ_j W_ij·e_j for the cosine), chained through e = x / max(‖x‖, eps).
    /// </summary>
    private readonly struct GradientKernel(bool normalized, bool cosine, float* e, float* norms, float* matrix, float* gradient, int rows, int dim, float scale)
        : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            float[] rented = ArrayPool<float>.Shared.Rent(dim);
            try
            {
                fixed (float* sum = rented)
                {
                    for (nint i = start; i < start + length; i++)
                        Row(i, sum);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(rented);
            }

            return 0d;
        }

        private void Row(nint i, float* sum)
        {
            var accumulated = new Span<float>(sum, dim);
            accumulated.Clear();
            float* w = matrix + i * rows;
            float weight = 0f;
            for (int j = 0; j < rows; j++)
            {
                if (w[j] == 0f)
                    continue;
                weight += w[j];
                AddScaled(sum, e + (nint)j * dim, w[j], dim);
            }

            var own = new ReadOnlySpan<float>(e + i * dim, dim);
            var destination = new Span<float>(gradient + i * dim, dim);
            // ∂L/∂e_i into the destination, then (normalized rows) the projection onto the tangent plane over ‖x‖.
            TensorPrimitives.Multiply(accumulated, -scale, accumulated);
            if (cosine)
                accumulated.CopyTo(destination);
            else
                TensorPrimitives.MultiplyAdd(own, weight * scale, accumulated, destination);
            if (!normalized)
                return;
            float norm = norms[i];
            if (norm > NormalizeEps)
            {
                float along = TensorPrimitives.Dot(own, destination);
                TensorPrimitives.MultiplyAdd(own, -along, destination, destination);
                TensorPrimitives.Multiply(destination, 1f / norm, destination);
            }
            else
            {
                TensorPrimitives.Multiply(destination, 1f / NormalizeEps, destination);
            }
        }

        /// <summary>sum += w·row, in vectors with a scalar tail (both fused multiply-adds, so each element rounds alike).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void AddScaled(float* sum, float* row, float w, int dim)
        {
            int k = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> weight = Vector512.Create(w);
                for (; k <= dim - Vector512<float>.Count; k += Vector512<float>.Count)
                    Vector512.FusedMultiplyAdd(Vector512.Load(row + k), weight, Vector512.Load(sum + k)).Store(sum + k);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> weight = Vector256.Create(w);
                for (; k <= dim - Vector256<float>.Count; k += Vector256<float>.Count)
                    Vector256.FusedMultiplyAdd(Vector256.Load(row + k), weight, Vector256.Load(sum + k)).Store(sum + k);
            }

            for (; k < dim; k++)
                sum[k] = MathF.FusedMultiplyAdd(row[k], w, sum[k]);
        }
    }
}
