using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossKernels;

/// <summary>
/// The Gram matrix G = X·Xᵀ of the rows of X ([rows, dim], row-major) on the CPU: a blocked SIMD SYRK. The columns of G go in
/// panels of two vectors' width (32 columns with AVX-512), each panel's rows of X packed k-major so that one k is two vector
/// loads; a register tile of <see cref="TileRows"/> rows × the panel (twelve vector accumulators) takes one broadcast per row and k.
/// Only the lower triangle is computed (the diagonal tiles spill a little above it). Each element is one fused multiply-add chain
/// over k in index order, whichever tile or thread computes it, so G_ij and G_ji are the same bits, identical rows give identical
/// entries, and every thread count gives the same result.
/// </summary>
internal static unsafe class Gram
{
    /// <summary>Rows of a register tile.</summary>
    internal const int TileRows = 6;

    /// <summary>Below this many multiply-adds the call stays on the caller's thread.</summary>
    private const long ParallelWork = 1L << 21;

    /// <summary>
    /// Writes G_ij = Σ_k x_ik·x_jk for every i ≥ j into <paramref name="gram"/> ([rows, rows], row-major); entries above the diagonal
    /// may be written too (the diagonal tiles'), the rest of the upper triangle is left as it was.
    /// </summary>
    public static void Lower(float* x, int rows, int dim, float* gram)
    {
        if (rows == 0)
            return;
        var kernel = new PanelKernel(x, rows, dim, gram);
        int panels = (rows + kernel.PanelWidth - 1) / kernel.PanelWidth;
        int threshold = (long)rows * rows * dim / 2 < ParallelWork ? int.MaxValue : 0;
        ChunkedRun.Run(kernel, panels, threshold, chunkLength: 1);
    }

    /// <summary>The column panels of G: chunk p packs rows [p·width, (p + 1)·width) of X and runs the tiles of G on and below the diagonal.</summary>
    private readonly struct PanelKernel(float* x, int rows, int dim, float* gram) : IRangeKernel
    {
        /// <summary>Columns of a panel: two vectors of the widest width the hardware runs.</summary>
        public int PanelWidth => 2 * (Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256.IsHardwareAccelerated ? Vector256<float>.Count : Vector128<float>.Count);

        public double RunRange(nint start, nint length)
        {
            for (nint p = start; p < start + length; p++)
            {
                if (Vector512.IsHardwareAccelerated)
                    Panel<Vector512<float>, Width512>((int)p);
                else if (Vector256.IsHardwareAccelerated)
                    Panel<Vector256<float>, Width256>((int)p);
                else
                    Panel<Vector128<float>, Width128>((int)p);
            }

            return 0d;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Panel<TVec, TMath>(int panel)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int width = 2 * TMath.Count, first = panel * width, columns = Math.Min(width, rows - first);
            float[] rented = ArrayPool<float>.Shared.Rent(width * dim);
            try
            {
                fixed (float* packed = rented)
                {
                    // k-major: packed[k·width + c] = x[first + c, k], zeros past the last row.
                    for (int c = 0; c < width; c++)
                    {
                        float* row = x + (nint)(first + Math.Min(c, columns - 1)) * dim;
                        for (int k = 0; k < dim; k++)
                            packed[k * width + c] = c < columns ? row[k] : 0f;
                    }

                    for (int i = first / TileRows * TileRows; i < rows; i += TileRows)
                        Tile<TVec, TMath>(x, dim, packed, gram + (nint)i * rows + first, rows, Math.Min(TileRows, rows - i), columns, i, rows);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }

        /// <summary>Rows [i, i + tileRows) of G against the packed panel, written at <paramref name="destination"/> (row stride <paramref name="stride"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Tile<TVec, TMath>(float* x, int dim, float* packed, float* destination, int stride, int tileRows, int columns, int i, int rows)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count, width = 2 * count;
            // Rows past the last repeat it: their sums are computed and dropped, which keeps the loop branch-free.
            float* r0 = x + (nint)i * dim, r1 = x + (nint)Math.Min(i + 1, rows - 1) * dim, r2 = x + (nint)Math.Min(i + 2, rows - 1) * dim;
            float* r3 = x + (nint)Math.Min(i + 3, rows - 1) * dim, r4 = x + (nint)Math.Min(i + 4, rows - 1) * dim, r5 = x + (nint)Math.Min(i + 5, rows - 1) * dim;
            TVec c00 = TMath.Create(0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
            float* b = packed;
            for (int k = 0; k < dim; k++, b += width)
            {
                TVec b0 = TMath.Load(ref b[0]), b1 = TMath.Load(ref b[count]);
                TVec a = TMath.Create(r0[k]);
                c00 = TMath.MultiplyAdd(a, b0, c00);
                c01 = TMath.MultiplyAdd(a, b1, c01);
                a = TMath.Create(r1[k]);
                c10 = TMath.MultiplyAdd(a, b0, c10);
                c11 = TMath.MultiplyAdd(a, b1, c11);
                a = TMath.Create(r2[k]);
                c20 = TMath.MultiplyAdd(a, b0, c20);
                c21 = TMath.MultiplyAdd(a, b1, c21);
                a = TMath.Create(r3[k]);
                c30 = TMath.MultiplyAdd(a, b0, c30);
                c31 = TMath.MultiplyAdd(a, b1, c31);
                a = TMath.Create(r4[k]);
                c40 = TMath.MultiplyAdd(a, b0, c40);
                c41 = TMath.MultiplyAdd(a, b1, c41);
                a = TMath.Create(r5[k]);
                c50 = TMath.MultiplyAdd(a, b0, c50);
                c51 = TMath.MultiplyAdd(a, b1, c51);
            }

            if (columns == width)
            {
                StoreRow<TVec, TMath>(c00, c01, destination, 0, tileRows, count);
                StoreRow<TVec, TMath>(c10, c11, destination + stride, 1, tileRows, count);
                StoreRow<TVec, TMath>(c20, c21, destination + 2 * (nint)stride, 2, tileRows, count);
                StoreRow<TVec, TMath>(c30, c31, destination + 3 * (nint)stride, 3, tileRows, count);
                StoreRow<TVec, TMath>(c40, c41, destination + 4 * (nint)stride, 4, tileRows, count);
                StoreRow<TVec, TMath>(c50, c51, destination + 5 * (nint)stride, 5, tileRows, count);
                return;
            }

            // The last panel: through a staging tile, its columns past the last row dropped.
            float* staged = stackalloc float[TileRows * 2 * 16];
            TMath.Store(c00, ref staged[0]);
            TMath.Store(c01, ref staged[count]);
            TMath.Store(c10, ref staged[width]);
            TMath.Store(c11, ref staged[width + count]);
            TMath.Store(c20, ref staged[2 * width]);
            TMath.Store(c21, ref staged[2 * width + count]);
            TMath.Store(c30, ref staged[3 * width]);
            TMath.Store(c31, ref staged[3 * width + count]);
            TMath.Store(c40, ref staged[4 * width]);
            TMath.Store(c41, ref staged[4 * width + count]);
            TMath.Store(c50, ref staged[5 * width]);
            TMath.Store(c51, ref staged[5 * width + count]);
            for (int t = 0; t < tileRows; t++)
                for (int c = 0; c < columns; c++)
                    destination[(nint)t * stride + c] = staged[t * width + c];
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreRow<TVec, TMath>(TVec low, TVec high, float* destination, int row, int tileRows, int count)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            if (row >= tileRows)
                return;
            TMath.Store(low, ref destination[0]);
            TMath.Store(high, ref destination[count]);
        }
    }
}
