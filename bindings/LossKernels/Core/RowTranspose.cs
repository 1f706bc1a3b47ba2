using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels;

/// <summary>
/// Rows of four floats (boxes as <c>[N, 4]</c>) to four column vectors and back, in registers: the loads
/// and stores are full-width and the shuffle happens between them, never through a scratch copy.
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
