using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels;

/// <summary>
/// The CPU's blocked SIMD matrix product C = A·B (SGEMM) and its symmetric case G = X·Xᵀ (SYRK, lower triangle), written once for
/// every Gram-shaped piece of work (triplet mining's distances, the Gram style loss's Gram matrices and their backward).
/// </summary>
/// <remarks>
/// <para>The blocking follows Goto and van de Geijn: the columns of C go in chunks (the unit of work a thread takes); for each block of
/// <see cref="DepthBlock"/> k's, a chunk packs its columns of B into panels of two vectors' width (32 columns with AVX-512), k-major, and
/// the rows of A it needs into slivers of <see cref="TileRows"/> rows (row copies), so that the micro-kernel reads both contiguously: a B
/// panel (32 KB) stays in L1 while the A slivers stream from L2. The micro-kernel keeps a <see cref="TileRows"/> × panel register tile
/// (twelve vector accumulators) and takes two vector loads and six broadcasts per k. Under the triangle (G = X·Xᵀ) B's columns are rows of
/// X: each panel is transposed, 4×4 in SSE registers, from the A slivers the chunk packed already, so X is read from memory once.</para>
/// <para>Each element of C is one fused multiply-add chain over k in index order (a later depth block starts from the tile the previous
/// one left), whichever chunk or thread computes it: the same bits for any thread count, G_ij and G_ji alike, identical rows giving
/// identical entries.</para>
/// </remarks>
internal static unsafe class Gemm
{
    /// <summary>Rows of a register tile.</summary>
    internal const int TileRows = 6;

    /// <summary>k's per packed block: a B panel of 256 × 32 floats fills 32 KB of L1.</summary>
    internal const int DepthBlock = 256;

    /// <summary>Below this many multiply-adds the call stays on the caller's thread.</summary>
    private const long ParallelWork = 1L << 21;

    /// <summary>Columns of a panel: two vectors of the widest width the hardware runs.</summary>
    internal static int PanelWidth => 2 * (Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256.IsHardwareAccelerated ? Vector256<float>.Count : Vector128<float>.Count);

    /// <summary>
    /// Writes G_ij = Σ_k x_ik·x_jk for every i ≥ j into <paramref name="gram"/> ([rows, rows], row-major, stride <paramref name="rows"/>);
    /// entries just above the diagonal may be written too (the diagonal tiles'), the rest of the upper triangle is left as it was.
    /// </summary>
    public static void GramLower(float* x, int rows, int dim, float* gram) =>
        Run(new Operands(x, dim, x, dim, gram, rows, rows, rows, dim, lowerOnly: true, accumulate: false));

    /// <summary>
    /// Writes C = A·B ([m, n], row stride <paramref name="ldc"/>) for A [m, depth] (row stride <paramref name="lda"/>) and B [depth, n] (row
    /// stride <paramref name="ldb"/>); with <paramref name="accumulate"/>, C += A·B, each element's chain starting from C's value.
    /// </summary>
    public static void Multiply(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int n, int depth, bool accumulate = false) =>
        Run(new Operands(a, lda, b, ldb, c, ldc, m, n, depth, lowerOnly: false, accumulate));

    private static void Run(in Operands operands)
    {
        if (operands.M == 0 || operands.N == 0)
            return;
        int panels = (operands.N + PanelWidth - 1) / PanelWidth;
        long work = (long)operands.M * operands.N * operands.Depth / (operands.LowerOnly ? 2 : 1);
        int threads = work < ParallelWork ? 1 : LossKernelsSettings.MaxThreads;
        // A chunk packs the rows of A it needs once per depth block, so chunks are few: four per thread, of at most 16 panels, for a
        // product; one per thread under the lower triangle, whose rows are nearly all of A's, the panels dealt round so that the
        // triangle's long and short columns share out evenly.
        int chunks = operands.LowerOnly ? Math.Min(threads, panels) : Math.Max((panels + 15) / 16, Math.Min(panels, 4 * threads));
        if (threads == 1)
            chunks = operands.LowerOnly ? 1 : chunks;
        ChunkedRun.Run(new ChunkKernel(operands, chunks, panels), chunks, threads > 1 ? 0 : int.MaxValue, chunkLength: 1);
    }

    /// <summary>
    /// The product's operands: C [M, N] = A [M, Depth] · B, B [Depth, N]; or, <see cref="LowerOnly"/>, the lower triangle of A·Aᵀ (B is A,
    /// whose rows are B's columns); <see cref="Accumulate"/>: added to C's values.
    /// </summary>
    private readonly struct Operands(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int n, int depth, bool lowerOnly, bool accumulate)
    {
        public readonly float* A = a, B = b, C = c;
        public readonly int Lda = lda, Ldb = ldb, Ldc = ldc, M = m, N = n, Depth = depth;
        public readonly bool LowerOnly = lowerOnly, Accumulate = accumulate;
    }

    /// <summary>
    /// Chunk q of <paramref name="chunks"/>: under the lower triangle the panels q, q + chunks, q + 2·chunks, …; else a run of consecutive
    /// panels.
    /// </summary>
    private readonly struct ChunkKernel(Operands operands, int chunks, int panels) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint q = start; q < start + length; q++)
            {
                if (Vector512.IsHardwareAccelerated)
                    Chunk<Vector512<float>, Width512>((int)q);
                else if (Vector256.IsHardwareAccelerated)
                    Chunk<Vector256<float>, Width256>((int)q);
                else
                    Chunk<Vector128<float>, Width128>((int)q);
            }

            return 0d;
        }

        /// <summary>The chunk's first panel, its panel count and the step between its panels.</summary>
        private (int First, int Count, int Step) Panels(int chunk)
        {
            if (operands.LowerOnly)
                return (chunk, (panels - chunk + chunks - 1) / chunks, chunks);
            int first = (int)((long)panels * chunk / chunks);
            return (first, (int)((long)panels * (chunk + 1) / chunks) - first, 1);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Chunk<TVec, TMath>(int chunk)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int width = 2 * TMath.Count;
            (int firstPanel, int count, int step) = Panels(chunk);
            // Under the lower triangle only rows from the chunk's first column on have tiles; start at a tile boundary.
            int firstRow = operands.LowerOnly ? firstPanel * width / TileRows * TileRows : 0;
            int rows = operands.M - firstRow, slivers = (rows + TileRows - 1) / TileRows;
            int depthBlock = Math.Min(DepthBlock, operands.Depth);
            float[] packedB = ArrayPool<float>.Shared.Rent(Math.Max(1, count * width * depthBlock));
            float[] packedA = ArrayPool<float>.Shared.Rent(Math.Max(1, slivers * TileRows * depthBlock));
            try
            {
                fixed (float* pb = packedB, pa = packedA)
                {
                    // Depth 0 still writes C (zeros, or C unchanged when accumulating): the first block runs with no k's.
                    for (int k0 = 0; k0 == 0 || k0 < operands.Depth; k0 += DepthBlock)
                    {
                        int depth = Math.Min(DepthBlock, operands.Depth - k0);
                        PackA(pa, k0, depth, firstRow, rows, slivers);
                        for (int i = 0; i < count; i++)
                        {
                            int panelColumn = (firstPanel + i * step) * width, panelColumns = Math.Min(width, operands.N - panelColumn);
                            float* panel = pb + (nint)i * width * depth;
                            // G = X·Xᵀ's B columns are rows of X that the A slivers hold already: transposed from there (in L2), X is read
                            // from memory once.
                            if (operands.LowerOnly)
                                PackTransposed(pa + (nint)(panelColumn - firstRow) * depth, depth, panel, depth, panelColumns, width);
                            else
                                PackB(panel, k0, depth, panelColumn, panelColumns, width);
                            for (int s = 0; s < slivers; s++)
                            {
                                int row = firstRow + s * TileRows;
                                if (operands.LowerOnly && row + TileRows <= panelColumn)
                                    continue;
                                Tile<TVec, TMath>(pa + (nint)s * TileRows * depth, panel, depth, operands.C + (nint)row * operands.Ldc + panelColumn, operands.Ldc,
                                    Math.Min(TileRows, operands.M - row), panelColumns, accumulate: k0 > 0 || operands.Accumulate);
                            }
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(packedA);
                ArrayPool<float>.Shared.Return(packedB);
            }
        }

        /// <summary>The panel of B's k's [k0, k0 + depth) and columns from <paramref name="firstColumn"/>, k-major (panel[k·width + c]), zeros past the last column.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackB(float* panel, int k0, int depth, int firstColumn, int columns, int width)
        {
            for (int k = 0; k < depth; k++)
            {
                var destination = new Span<float>(panel + (nint)k * width, width);
                new ReadOnlySpan<float>(operands.B + (nint)(k0 + k) * operands.Ldb + firstColumn, columns).CopyTo(destination);
                destination.Slice(columns).Clear();
            }
        }

        /// <summary>
        /// panel[k·width + c] = rows[c·stride + k] for the <paramref name="columns"/> rows given (B's columns), zeros past them: four rows at a
        /// time, four k's read from each and transposed in registers (a scalar copy that writes each float to another cache line costs a
        /// fifth of the SYRK); the rest one by one.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void PackTransposed(float* rows, int stride, float* panel, int depth, int columns, int width)
        {
            int c = 0;
            if (Sse.IsSupported)
            {
                for (; c + 4 <= columns; c += 4)
                    Transpose4(rows + (nint)c * stride, stride, panel + c, width, depth);
            }

            for (; c < width; c++)
            {
                float* source = rows + (nint)Math.Min(c, columns - 1) * stride;
                float keep = c < columns ? 1f : 0f;
                for (int k = 0; k < depth; k++)
                    panel[k * width + c] = keep * source[k];
            }
        }

        /// <summary>panel[k·width + t] = rows[t·stride + k] for t &lt; 4 and k &lt; depth: 4×4 blocks through SSE's unpacks.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Transpose4(float* rows, int stride, float* panel, int width, int depth)
        {
            float* r0 = rows, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
            int k = 0;
            for (; k + 4 <= depth; k += 4)
            {
                Vector128<float> a = Sse.LoadVector128(r0 + k), b = Sse.LoadVector128(r1 + k), c = Sse.LoadVector128(r2 + k), d = Sse.LoadVector128(r3 + k);
                Vector128<float> abLow = Sse.UnpackLow(a, b), cdLow = Sse.UnpackLow(c, d), abHigh = Sse.UnpackHigh(a, b), cdHigh = Sse.UnpackHigh(c, d);
                float* to = panel + (nint)k * width;
                Sse.Store(to, Sse.MoveLowToHigh(abLow, cdLow));
                Sse.Store(to + width, Sse.MoveHighToLow(cdLow, abLow));
                Sse.Store(to + 2 * width, Sse.MoveLowToHigh(abHigh, cdHigh));
                Sse.Store(to + 3 * width, Sse.MoveHighToLow(cdHigh, abHigh));
            }

            for (; k < depth; k++)
            {
                float* to = panel + (nint)k * width;
                to[0] = r0[k];
                to[1] = r1[k];
                to[2] = r2[k];
                to[3] = r3[k];
            }
        }

        /// <summary>
        /// Slivers of <see cref="TileRows"/> rows of A from <paramref name="firstRow"/>, each row's k's contiguous (packed[t·depth + k]: row copies,
        /// and six short streams for the micro-kernel's broadcasts), rows past the last repeating it.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackA(float* packed, int k0, int depth, int firstRow, int rows, int slivers)
        {
            for (int r = 0; r < slivers * TileRows; r++)
            {
                float* source = operands.A + (nint)(firstRow + Math.Min(r, rows - 1)) * operands.Lda + k0;
                new ReadOnlySpan<float>(source, depth).CopyTo(new Span<float>(packed + (nint)r * depth, depth));
            }
        }

        /// <summary>
        /// A register tile: rows of the sliver <paramref name="a"/> against the panel <paramref name="b"/> over <paramref name="depth"/> k's,
        /// continuing the sums already in C when <paramref name="accumulate"/>; <paramref name="tileRows"/> × <paramref name="columns"/> of it written.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Tile<TVec, TMath>(float* a, float* b, int depth, float* c, int ldc, int tileRows, int columns, bool accumulate)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count, width = 2 * count;
            bool full = tileRows == TileRows && columns == width;
            float* staged = stackalloc float[TileRows * 2 * 16];
            TVec c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
            if (!accumulate)
            {
                c00 = TMath.Create(0f);
                c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c00;
            }
            else
            {
                // The sums so far, from C (through the staging tile at the edges, so nothing past them is read).
                float* from = c;
                int stride = ldc;
                if (!full)
                {
                    for (int t = 0; t < TileRows; t++)
                        for (int j = 0; j < width; j++)
                            staged[t * width + j] = t < tileRows && j < columns ? c[(nint)t * ldc + j] : 0f;
                    from = staged;
                    stride = width;
                }

                c00 = TMath.Load(ref from[0]);
                c01 = TMath.Load(ref from[count]);
                c10 = TMath.Load(ref from[stride]);
                c11 = TMath.Load(ref from[stride + count]);
                c20 = TMath.Load(ref from[2 * (nint)stride]);
                c21 = TMath.Load(ref from[2 * (nint)stride + count]);
                c30 = TMath.Load(ref from[3 * (nint)stride]);
                c31 = TMath.Load(ref from[3 * (nint)stride + count]);
                c40 = TMath.Load(ref from[4 * (nint)stride]);
                c41 = TMath.Load(ref from[4 * (nint)stride + count]);
                c50 = TMath.Load(ref from[5 * (nint)stride]);
                c51 = TMath.Load(ref from[5 * (nint)stride + count]);
            }

            float* a1 = a + depth, a2 = a1 + depth, a3 = a2 + depth, a4 = a3 + depth, a5 = a4 + depth;
            for (int k = 0; k < depth; k++, b += width)
            {
                TVec b0 = TMath.Load(ref b[0]), b1 = TMath.Load(ref b[count]);
                TVec x = TMath.Create(a[k]);
                c00 = TMath.MultiplyAdd(x, b0, c00);
                c01 = TMath.MultiplyAdd(x, b1, c01);
                x = TMath.Create(a1[k]);
                c10 = TMath.MultiplyAdd(x, b0, c10);
                c11 = TMath.MultiplyAdd(x, b1, c11);
                x = TMath.Create(a2[k]);
                c20 = TMath.MultiplyAdd(x, b0, c20);
                c21 = TMath.MultiplyAdd(x, b1, c21);
                x = TMath.Create(a3[k]);
                c30 = TMath.MultiplyAdd(x, b0, c30);
                c31 = TMath.MultiplyAdd(x, b1, c31);
                x = TMath.Create(a4[k]);
                c40 = TMath.MultiplyAdd(x, b0, c40);
                c41 = TMath.MultiplyAdd(x, b1, c41);
                x = TMath.Create(a5[k]);
                c50 = TMath.MultiplyAdd(x, b0, c50);
                c51 = TMath.MultiplyAdd(x, b1, c51);
            }

            float* to = full ? c : staged;
            int toStride = full ? ldc : width;
            TMath.Store(c00, ref to[0]);
            TMath.Store(c01, ref to[count]);
            TMath.Store(c10, ref to[toStride]);
            TMath.Store(c11, ref to[toStride + count]);
            TMath.Store(c20, ref to[2 * (nint)toStride]);
            TMath.Store(c21, ref to[2 * (nint)toStride + count]);
            TMath.Store(c30, ref to[3 * (nint)toStride]);
            TMath.Store(c31, ref to[3 * (nint)toStride + count]);
            TMath.Store(c40, ref to[4 * (nint)toStride]);
            TMath.Store(c41, ref to[4 * (nint)toStride + count]);
            TMath.Store(c50, ref to[5 * (nint)toStride]);
            TMath.Store(c51, ref to[5 * (nint)toStride + count]);
            if (full)
                return;
            for (int t = 0; t < tileRows; t++)
                for (int j = 0; j < columns; j++)
                    c[(nint)t * ldc + j] = staged[t * width + j];
        }
    }
}
