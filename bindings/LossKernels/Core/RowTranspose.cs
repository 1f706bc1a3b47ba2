using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels;

/// <summary>
/// Rows of four floats (boxes as <c>[N, 4]</c>) to four column vectors and back, in registers: the loads
/// and stores are full-width and the shuffle happens between them, never through a scratch copy. And square blocks of a
/// lane count's rows and columns (short rows of classes, one row per lane), transposed between two strided places.
/// </summary>
internal static class RowTranspose
{
    // Two-source permutes for 16 rows: the first gathers columns 0 and 1 (or 2 and 3) of eight rows,
    // the second joins two such halves; the store indices undo them.
    private static readonly Vector512<int> EvenColumns = Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    private static readonly Vector512<int> OddColumns = Vector512.Create(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    private static readonly Vector512<int> LowHalves = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    private static readonly Vector512<int> HighHalves = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    private static readonly Vector512<int> FirstRows = Vector512.Create(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    private static readonly Vector512<int> LastRows = Vector512.Create(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(ref float source, out Vector512<float> c0, out Vector512<float> c1, out Vector512<float> c2, out Vector512<float> c3)
    {
        Vector512<float> v0 = Vector512.LoadUnsafe(ref source);
        Vector512<float> v1 = Vector512.LoadUnsafe(ref source, 16);
        Vector512<float> v2 = Vector512.LoadUnsafe(ref source, 32);
        Vector512<float> v3 = Vector512.LoadUnsafe(ref source, 48);
        Vector512<float> front01 = Avx512F.PermuteVar16x32x2(v0, EvenColumns, v1);
        Vector512<float> back01 = Avx512F.PermuteVar16x32x2(v0, OddColumns, v1);
        Vector512<float> front23 = Avx512F.PermuteVar16x32x2(v2, EvenColumns, v3);
        Vector512<float> back23 = Avx512F.PermuteVar16x32x2(v2, OddColumns, v3);
        c0 = Avx512F.PermuteVar16x32x2(front01, LowHalves, front23);
        c1 = Avx512F.PermuteVar16x32x2(front01, HighHalves, front23);
        c2 = Avx512F.PermuteVar16x32x2(back01, LowHalves, back23);
        c3 = Avx512F.PermuteVar16x32x2(back01, HighHalves, back23);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3, ref float destination)
    {
        Vector512<float> front01 = Avx512F.PermuteVar16x32x2(c0, LowHalves, c1);
        Vector512<float> front23 = Avx512F.PermuteVar16x32x2(c0, HighHalves, c1);
        Vector512<float> back01 = Avx512F.PermuteVar16x32x2(c2, LowHalves, c3);
        Vector512<float> back23 = Avx512F.PermuteVar16x32x2(c2, HighHalves, c3);
        Avx512F.PermuteVar16x32x2(front01, FirstRows, back01).StoreUnsafe(ref destination);
        Avx512F.PermuteVar16x32x2(front01, LastRows, back01).StoreUnsafe(ref destination, 16);
        Avx512F.PermuteVar16x32x2(front23, FirstRows, back23).StoreUnsafe(ref destination, 32);
        Avx512F.PermuteVar16x32x2(front23, LastRows, back23).StoreUnsafe(ref destination, 48);
    }

    /// <summary>Eight rows: rows k and k + 4 share a register, so that the in-lane 4×4 transpose yields rows in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(ref float source, out Vector256<float> c0, out Vector256<float> c1, out Vector256<float> c2, out Vector256<float> c3)
    {
        Vector256<float> r04 = Vector256.Create(Vector128.LoadUnsafe(ref source), Vector128.LoadUnsafe(ref source, 16));
        Vector256<float> r15 = Vector256.Create(Vector128.LoadUnsafe(ref source, 4), Vector128.LoadUnsafe(ref source, 20));
        Vector256<float> r26 = Vector256.Create(Vector128.LoadUnsafe(ref source, 8), Vector128.LoadUnsafe(ref source, 24));
        Vector256<float> r37 = Vector256.Create(Vector128.LoadUnsafe(ref source, 12), Vector128.LoadUnsafe(ref source, 28));
        Transpose(r04, r15, r26, r37, out c0, out c1, out c2, out c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3, ref float destination)
    {
        Transpose(c0, c1, c2, c3, out Vector256<float> r04, out Vector256<float> r15, out Vector256<float> r26, out Vector256<float> r37);
        r04.GetLower().StoreUnsafe(ref destination);
        r15.GetLower().StoreUnsafe(ref destination, 4);
        r26.GetLower().StoreUnsafe(ref destination, 8);
        r37.GetLower().StoreUnsafe(ref destination, 12);
        r04.GetUpper().StoreUnsafe(ref destination, 16);
        r15.GetUpper().StoreUnsafe(ref destination, 20);
        r26.GetUpper().StoreUnsafe(ref destination, 24);
        r37.GetUpper().StoreUnsafe(ref destination, 28);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(ref float source, out Vector128<float> c0, out Vector128<float> c1, out Vector128<float> c2, out Vector128<float> c3) =>
        Transpose(Vector128.LoadUnsafe(ref source), Vector128.LoadUnsafe(ref source, 4), Vector128.LoadUnsafe(ref source, 8), Vector128.LoadUnsafe(ref source, 12),
            out c0, out c1, out c2, out c3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> c0, Vector128<float> c1, Vector128<float> c2, Vector128<float> c3, ref float destination)
    {
        Transpose(c0, c1, c2, c3, out Vector128<float> r0, out Vector128<float> r1, out Vector128<float> r2, out Vector128<float> r3);
        r0.StoreUnsafe(ref destination);
        r1.StoreUnsafe(ref destination, 4);
        r2.StoreUnsafe(ref destination, 8);
        r3.StoreUnsafe(ref destination, 12);
    }

    /// <summary>
    /// Row k of the 16×16 block at <paramref name="destination"/> (rows <paramref name="destinationStride"/> floats apart) is
    /// column k of the block at <paramref name="source"/>: 4×4 transposes within each 128-bit lane, then two rounds of
    /// 128-bit lane shuffles gather each column's four quarters. Called once per block of rows, not inlined: compiled optimized from
    /// the first call (at tier 0 the blocked row kernel ran 3–4× slower in short runs), as are the other squares.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Square16(ref float source, nint sourceStride, ref float destination, nint destinationStride)
    {
        if (!Avx512F.IsSupported)
        {
            SquareElementwise(16, ref source, sourceStride, ref destination, destinationStride);
            return;
        }

        // q_m of rows 4i…4i + 3 holds, in 128-bit lane l, column 4l + m of those rows.
        Quarters(ref source, 0, sourceStride, out Vector512<float> a0, out Vector512<float> a1, out Vector512<float> a2, out Vector512<float> a3);
        Quarters(ref source, 4, sourceStride, out Vector512<float> b0, out Vector512<float> b1, out Vector512<float> b2, out Vector512<float> b3);
        Quarters(ref source, 8, sourceStride, out Vector512<float> c0, out Vector512<float> c1, out Vector512<float> c2, out Vector512<float> c3);
        Quarters(ref source, 12, sourceStride, out Vector512<float> d0, out Vector512<float> d1, out Vector512<float> d2, out Vector512<float> d3);
        Columns(a0, b0, c0, d0, ref destination, 0, destinationStride);
        Columns(a1, b1, c1, d1, ref destination, 1, destinationStride);
        Columns(a2, b2, c2, d2, ref destination, 2, destinationStride);
        Columns(a3, b3, c3, d3, ref destination, 3, destinationStride);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Quarters(ref float source, nint row, nint stride, out Vector512<float> q0, out Vector512<float> q1, out Vector512<float> q2, out Vector512<float> q3)
        {
            Vector512<float> r0 = Load512(ref source, row * stride), r1 = Load512(ref source, (row + 1) * stride);
            Vector512<float> r2 = Load512(ref source, (row + 2) * stride), r3 = Load512(ref source, (row + 3) * stride);
            Vector512<float> r01Low = Avx512F.UnpackLow(r0, r1), r01High = Avx512F.UnpackHigh(r0, r1);
            Vector512<float> r23Low = Avx512F.UnpackLow(r2, r3), r23High = Avx512F.UnpackHigh(r2, r3);
            q0 = Avx512F.Shuffle(r01Low, r23Low, 0x44);
            q1 = Avx512F.Shuffle(r01Low, r23Low, 0xEE);
            q2 = Avx512F.Shuffle(r01High, r23High, 0x44);
            q3 = Avx512F.Shuffle(r01High, r23High, 0xEE);
        }

        // Columns m, 4 + m, 8 + m and 12 + m from the q_m of the four row quarters: 128-bit lanes [0, 2] and [1, 3] of each pair, then again.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Columns(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, ref float destination, nint m, nint stride)
        {
            Vector512<float> abEven = Avx512F.Shuffle4x128(a, b, 0x88), abOdd = Avx512F.Shuffle4x128(a, b, 0xDD);
            Vector512<float> cdEven = Avx512F.Shuffle4x128(c, d, 0x88), cdOdd = Avx512F.Shuffle4x128(c, d, 0xDD);
            Avx512F.Shuffle4x128(abEven, cdEven, 0x88).StoreUnsafe(ref destination, (nuint)(m * stride));
            Avx512F.Shuffle4x128(abOdd, cdOdd, 0x88).StoreUnsafe(ref destination, (nuint)((m + 4) * stride));
            Avx512F.Shuffle4x128(abEven, cdEven, 0xDD).StoreUnsafe(ref destination, (nuint)((m + 8) * stride));
            Avx512F.Shuffle4x128(abOdd, cdOdd, 0xDD).StoreUnsafe(ref destination, (nuint)((m + 12) * stride));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> Load512(ref float source, nint offset) => Vector512.LoadUnsafe(ref source, (nuint)offset);
    }

    /// <summary>The 8×8 form of <see cref="Square16"/>: the in-lane 4×4 transposes, then each column's two halves joined.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Square8(ref float source, nint sourceStride, ref float destination, nint destinationStride)
    {
        if (!Avx.IsSupported)
        {
            SquareElementwise(8, ref source, sourceStride, ref destination, destinationStride);
            return;
        }

        Transpose(Load256(ref source, 0), Load256(ref source, sourceStride), Load256(ref source, 2 * sourceStride), Load256(ref source, 3 * sourceStride),
            out Vector256<float> a0, out Vector256<float> a1, out Vector256<float> a2, out Vector256<float> a3);
        Transpose(Load256(ref source, 4 * sourceStride), Load256(ref source, 5 * sourceStride), Load256(ref source, 6 * sourceStride), Load256(ref source, 7 * sourceStride),
            out Vector256<float> b0, out Vector256<float> b1, out Vector256<float> b2, out Vector256<float> b3);
        Columns(a0, b0, ref destination, 0, destinationStride);
        Columns(a1, b1, ref destination, 1, destinationStride);
        Columns(a2, b2, ref destination, 2, destinationStride);
        Columns(a3, b3, ref destination, 3, destinationStride);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Columns(Vector256<float> a, Vector256<float> b, ref float destination, nint m, nint stride)
        {
            Avx.Permute2x128(a, b, 0x20).StoreUnsafe(ref destination, (nuint)(m * stride));
            Avx.Permute2x128(a, b, 0x31).StoreUnsafe(ref destination, (nuint)((m + 4) * stride));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector256<float> Load256(ref float source, nint offset) => Vector256.LoadUnsafe(ref source, (nuint)offset);
    }

    /// <summary>The 4×4 form of <see cref="Square16"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Square4(ref float source, nint sourceStride, ref float destination, nint destinationStride)
    {
        Transpose(Vector128.LoadUnsafe(ref source), Vector128.LoadUnsafe(ref source, (nuint)sourceStride),
            Vector128.LoadUnsafe(ref source, (nuint)(2 * sourceStride)), Vector128.LoadUnsafe(ref source, (nuint)(3 * sourceStride)),
            out Vector128<float> c0, out Vector128<float> c1, out Vector128<float> c2, out Vector128<float> c3);
        c0.StoreUnsafe(ref destination);
        c1.StoreUnsafe(ref destination, (nuint)destinationStride);
        c2.StoreUnsafe(ref destination, (nuint)(2 * destinationStride));
        c3.StoreUnsafe(ref destination, (nuint)(3 * destinationStride));
    }

    /// <summary>The square transpose one element at a time, where the shuffles are missing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SquareElementwise(int size, ref float source, nint sourceStride, ref float destination, nint destinationStride)
    {
        for (nint row = 0; row < size; row++)
        {
            for (nint column = 0; column < size; column++)
                Unsafe.Add(ref destination, column * destinationStride + row) = Unsafe.Add(ref source, row * sourceStride + column);
        }
    }

    /// <summary>The 4×4 transpose within each 128-bit lane (its own inverse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d,
        out Vector256<float> c0, out Vector256<float> c1, out Vector256<float> c2, out Vector256<float> c3)
    {
        Vector256<float> ab01 = Avx.UnpackLow(a, b);
        Vector256<float> ab23 = Avx.UnpackHigh(a, b);
        Vector256<float> cd01 = Avx.UnpackLow(c, d);
        Vector256<float> cd23 = Avx.UnpackHigh(c, d);
        c0 = Avx.Shuffle(ab01, cd01, 0x44);
        c1 = Avx.Shuffle(ab01, cd01, 0xEE);
        c2 = Avx.Shuffle(ab23, cd23, 0x44);
        c3 = Avx.Shuffle(ab23, cd23, 0xEE);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d,
        out Vector128<float> c0, out Vector128<float> c1, out Vector128<float> c2, out Vector128<float> c3)
    {
        if (Sse.IsSupported)
        {
            Vector128<float> ab01 = Sse.UnpackLow(a, b);
            Vector128<float> ab23 = Sse.UnpackHigh(a, b);
            Vector128<float> cd01 = Sse.UnpackLow(c, d);
            Vector128<float> cd23 = Sse.UnpackHigh(c, d);
            c0 = Sse.MoveLowToHigh(ab01, cd01);
            c1 = Sse.MoveHighToLow(cd01, ab01);
            c2 = Sse.MoveLowToHigh(ab23, cd23);
            c3 = Sse.MoveHighToLow(cd23, ab23);
            return;
        }

        c0 = Vector128.Create(a[0], b[0], c[0], d[0]);
        c1 = Vector128.Create(a[1], b[1], c[1], d[1]);
        c2 = Vector128.Create(a[2], b[2], c[2], d[2]);
        c3 = Vector128.Create(a[3], b[3], c[3], d[3]);
    }
}
