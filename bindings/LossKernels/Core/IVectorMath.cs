using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace LossKernels;

/// <summary>
/// The float vector arithmetic that loss math is written in, once for every SIMD width: the driver
/// instantiates a loss's <see cref="IElementwiseLoss.Evaluate{TVec, TMath}"/> with
/// <c>Vector512&lt;float&gt;</c>, <c>Vector256&lt;float&gt;</c> and <c>Vector128&lt;float&gt;</c>, and the JIT
/// specializes and inlines each (the runtime's own <c>ISimdVector</c> is internal, hence this one).
/// Comparisons return all-ones/all-zeros lane masks for <see cref="Select"/>.
/// </summary>
/// <typeparam name="TVec">The vector type.</typeparam>
public interface IVectorMath<TVec> where TVec : struct
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }
    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TVec Create(float value);
    /// <summary>Loads <see cref="Count"/> floats from <paramref name="source"/>.</summary>
    static abstract TVec Load(ref float source);
    /// <summary>Stores <see cref="Count"/> floats at <paramref name="destination"/>.</summary>
    static abstract void Store(TVec value, ref float destination);
    /// <summary>Stores at a <see cref="Count"/>·4-byte aligned <paramref name="destination"/>, bypassing the caches (for outputs larger than the caches).</summary>
    static abstract void StoreAlignedNonTemporal(TVec value, ref float destination);
    /// <summary>a + b.</summary>
    static abstract TVec Add(TVec a, TVec b);
    /// <summary>a − b.</summary>
    static abstract TVec Subtract(TVec a, TVec b);
    /// <summary>a · b.</summary>
    static abstract TVec Multiply(TVec a, TVec b);
    /// <summary>a / b.</summary>
    static abstract TVec Divide(TVec a, TVec b);
    /// <summary>|a|.</summary>
    static abstract TVec Abs(TVec a);
    /// <summary>√a.</summary>
    static abstract TVec Sqrt(TVec a);
    /// <summary>a·b + c with one rounding (the FMA instruction where the hardware has it).</summary>
    static abstract TVec MultiplyAdd(TVec a, TVec b, TVec c);
    /// <summary>ln a: <see cref="VectorFunctions.Log{TVec, TMath}"/> (≤ 2 ulp), not the runtime's, which computes in double.</summary>
    static abstract TVec Log(TVec a);
    /// <summary>e^a: <see cref="VectorFunctions.Exp{TVec, TMath}"/> (≤ 2 ulp), not the runtime's, which computes in double.</summary>
    static abstract TVec Exp(TVec a);
    /// <summary>
    /// p·2^k for p in [½, 2] and an integral k in [−151, 128], rounded once (0 or ∞ outside the float range): the
    /// scaling step of <see cref="VectorFunctions.Exp{TVec, TMath}"/>. AVX-512's <c>vscalefps</c> where the width has it,
    /// else <see cref="VectorFunctions.ScaleThroughExponentBits{TVec, TMath}"/>; both give the same bits.
    /// </summary>
    static abstract TVec ScaleByPowerOfTwo(TVec p, TVec k);
    /// <summary>min(a, b); NaN when either is NaN.</summary>
    static abstract TVec Min(TVec a, TVec b);
    /// <summary>max(a, b); NaN when either is NaN.</summary>
    static abstract TVec Max(TVec a, TVec b);
    /// <summary>Lane mask of a = b.</summary>
    static abstract TVec Equal(TVec a, TVec b);
    /// <summary>Lane mask of a &lt; b.</summary>
    static abstract TVec LessThan(TVec a, TVec b);
    /// <summary>Lane mask of a &gt; b.</summary>
    static abstract TVec GreaterThan(TVec a, TVec b);
    /// <summary>Lane mask of a ≥ b (false where either is NaN).</summary>
    static abstract TVec GreaterThanOrEqual(TVec a, TVec b);
    /// <summary>Whether every lane of the lane mask <paramref name="mask"/> is set: a branch around work only some lanes need.</summary>
    static abstract bool AllSet(TVec mask);
    /// <summary>Lane mask of a being NaN.</summary>
    static abstract TVec IsNaN(TVec a);
    /// <summary>Per lane: <paramref name="mask"/> set ? <paramref name="whenTrue"/> : <paramref name="whenFalse"/>.</summary>
    static abstract TVec Select(TVec mask, TVec whenTrue, TVec whenFalse);
    /// <summary>Per lane: <paramref name="mask"/> set ? <paramref name="value"/> : 0 (a bitwise and, so NaN never leaks from unselected lanes).</summary>
    static abstract TVec And(TVec mask, TVec value);
    /// <summary>The bitwise or of the lanes' bit patterns.</summary>
    static abstract TVec Or(TVec a, TVec b);
    /// <summary>The lanes' 32-bit patterns added as integers (wrapping).</summary>
    static abstract TVec AddBits(TVec a, TVec b);
    /// <summary>
    /// The lanes' 32-bit patterns as integer counters, one more where the lane mask <paramref name="mask"/> is set: a masked add where
    /// the width has masks (AVX-512's compare writes a mask register, and turning it into lanes would cost an instruction), a
    /// subtraction of the −1 lanes elsewhere.
    /// </summary>
    static abstract TVec CountWhere(TVec counts, TVec mask);
    /// <summary>
    /// <paramref name="value"/> moved up one lane, <paramref name="carry"/>'s last lane in lane 0: from a row's vector at element j
    /// and the vector before it, the row's elements from j − 1 (one shuffle where a load would split across cache lines).
    /// </summary>
    static abstract TVec ShiftUpOneLane(TVec value, TVec carry);
    /// <summary>Each lane's 32-bit pattern shifted left by <paramref name="count"/> bits.</summary>
    static abstract TVec ShiftLeftBits(TVec a, int count);
    /// <summary>Each lane's 32-bit pattern shifted right by <paramref name="count"/> bits, zeros shifted in.</summary>
    static abstract TVec ShiftRightBits(TVec a, int count);
    /// <summary>Lanes in [<paramref name="from"/>, <paramref name="to"/>) kept, the others zero.</summary>
    static abstract TVec KeepLanes(TVec value, int from, int to);
    /// <summary>The largest lane; NaN when any lane is NaN.</summary>
    static abstract float MaxAcross(TVec value);
    /// <summary>The sum of the lanes, in double, in a fixed order.</summary>
    static abstract double Sum(TVec value);
    /// <summary>
    /// Loads <see cref="Count"/> rows of four floats (boxes stored as <c>[N, 4]</c>) from <paramref name="source"/> and
    /// deinterleaves them in registers: lane k of <paramref name="c0"/>…<paramref name="c3"/> holds row k's columns 0…3.
    /// </summary>
    static abstract void LoadRows(ref float source, out TVec c0, out TVec c1, out TVec c2, out TVec c3);
    /// <summary>The inverse of <see cref="LoadRows"/>: interleaves four column vectors and stores <see cref="Count"/> rows of four floats.</summary>
    static abstract void StoreRows(TVec c0, TVec c1, TVec c2, TVec c3, ref float destination);
    /// <summary>
    /// The lane-wise max where neither lane is NaN, and one of the two where one is: the hardware's max in one instruction, for
    /// a softmax shift, where a NaN logit spoils its row through exp whichever lane the shift takes.
    /// </summary>
    static abstract TVec MaxOfNumbers(TVec a, TVec b);
    /// <summary>
    /// Transposes a square block of <see cref="Count"/> rows of <see cref="Count"/> floats: row k at <paramref name="destination"/>
    /// (rows <paramref name="destinationStride"/> floats apart) receives column k of the rows at <paramref name="source"/>
    /// (<paramref name="sourceStride"/> apart), so that short rows can be worked on one row per lane.
    /// </summary>
    static abstract void TransposeSquare(ref float source, nint sourceStride, ref float destination, nint destinationStride);
}

/// <summary>Shared helpers written once over <see cref="IVectorMath{TVec}"/>.</summary>
public static class VectorMath
{
    /// <summary>sign(a) ∈ {−1, 0, +1}, 0 at ±0; NaN at NaN, where <c>torch.sign</c> gives 0 (NaN propagates here, by policy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Sign<TVec, TMath>(TVec a) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        // copysign(1, a) where |a| > 0, else |a| itself (+0, or NaN): three operations and one compare.
        TVec magnitude = TMath.Abs(a);
        TVec unit = TMath.Or(TMath.And(TMath.Create(-0f), a), TMath.Create(1f));
        return TMath.Select(TMath.GreaterThan(magnitude, TMath.Create(0f)), unit, magnitude);
    }

    /// <summary>
    /// ln(1 + u) accurate for small u, for finite u &gt; −1: <c>ln(w)·u/(w − 1)</c> with w = fl(1 + u) cancels
    /// the rounding of w (Goldberg's identity); u where w rounds to 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Log1P<TVec, TMath>(TVec u) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec w = TMath.Add(TMath.Create(1f), u);
        TVec shift = TMath.Subtract(w, TMath.Create(1f));
        TVec rounded = TMath.GreaterThan(TMath.Abs(shift), TMath.Create(0f));
        return TMath.Select(rounded, TMath.Divide(TMath.Multiply(TMath.Log(w), u), shift), u);
    }
}

/// <summary>Vector functions the runtime does not offer, written once over <see cref="IVectorMath{TVec}"/>.</summary>
public static partial class VectorFunctions
{
    private const float TanPiOver8 = 0.41421356f;
    private const float Tan3PiOver8 = 2.41421356f;
    private const float PiOver2 = 1.57079637f;
    private const float PiOver4 = 0.785398185f;
    private const float PiOver2Remainder = -4.37113883e-08f;
    private const float PiOver4Remainder = -2.18556941e-08f;

    /// <summary>
    /// atan(a) per lane. |a| is reduced to [0, tan(π/8)] by atan(a) = π/2 − atan(1/a) above tan(3π/8) and
    /// π/4 + atan((a − 1)/(a + 1)) above tan(π/8), then atan(r) = r + r·z·P(z), z = r², with a degree-4
    /// polynomial fitted here for relative error (0.01 ulp before rounding); π/2 and π/4 carry their float remainder. Measured against the
    /// double-precision atan over 16,777,216 evenly spaced float bit patterns of ±[1e-30, 1e30]: at most 1.81 ulp
    /// at every vector width (<c>BoxUtilityTests.AtanIsWithinTwoUlpsOfTheDoubleAtan</c> holds it to 2). ±∞ gives ±π/2;
    /// NaN stays NaN. The OpenCL kernels use the device's <c>atan</c> (OpenCL allows it 5 ulp).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Atan<TVec, TMath>(TVec a) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec x = TMath.Abs(a);
        TVec large = TMath.GreaterThan(x, TMath.Create(Tan3PiOver8));
        TVec middle = TMath.GreaterThan(x, TMath.Create(TanPiOver8));
        TVec one = TMath.Create(1f);
        TVec reduced = TMath.Select(large, TMath.Divide(TMath.Create(-1f), x),
            TMath.Select(middle, TMath.Divide(TMath.Subtract(x, one), TMath.Add(x, one)), x));
        // π/2 and π/4 as float plus the float of their remainder: the remainder joins the small terms first.
        TVec offset = TMath.Select(large, TMath.Create(PiOver2), TMath.And(middle, TMath.Create(PiOver4)));
        TVec offsetRemainder = TMath.Select(large, TMath.Create(PiOver2Remainder), TMath.And(middle, TMath.Create(PiOver4Remainder)));
        TVec z = TMath.Multiply(reduced, reduced);
        TVec p = TMath.Add(TMath.Multiply(TMath.Create(-0.0608768649f), z), TMath.Create(0.105979756f));
        p = TMath.Add(TMath.Multiply(p, z), TMath.Create(-0.142441735f));
        p = TMath.Add(TMath.Multiply(p, z), TMath.Create(0.199985117f));
        p = TMath.Add(TMath.Multiply(p, z), TMath.Create(-0.333333164f));
        TVec tail = TMath.Add(TMath.Multiply(TMath.Multiply(reduced, z), p), offsetRemainder);
        TVec magnitude = TMath.Add(offset, TMath.Add(reduced, tail));
        TVec negative = TMath.LessThan(a, TMath.Create(0f));
        return TMath.Select(negative, TMath.Subtract(TMath.Create(0f), magnitude), TMath.Select(TMath.IsNaN(a), a, magnitude));
    }
}

internal readonly struct Width512 : IVectorMath<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Create(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source) => Vector512.LoadUnsafe(ref source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination) => value.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreAlignedNonTemporal(Vector512<float> value, ref float destination) => value.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Abs(Vector512<float> a) => Vector512.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Log(Vector512<float> a) => VectorFunctions.Log<Vector512<float>, Width512>(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> a) => VectorFunctions.Exp<Vector512<float>, Width512>(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ScaleByPowerOfTwo(Vector512<float> p, Vector512<float> k) =>
        Avx512F.IsSupported ? Avx512F.Scale(p, k) : VectorFunctions.ScaleThroughExponentBits<Vector512<float>, Width512>(p, k);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Min(Vector512<float> a, Vector512<float> b) => Vector512.Min(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Equal(Vector512<float> a, Vector512<float> b) => Vector512.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LessThan(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> GreaterThan(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> GreaterThanOrEqual(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllSet(Vector512<float> mask) => Vector512.EqualsAll(mask.AsInt32(), Vector512<int>.AllBitsSet);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> IsNaN(Vector512<float> a) => Vector512.IsNaN(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> whenTrue, Vector512<float> whenFalse) => Vector512.ConditionalSelect(mask, whenTrue, whenFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> And(Vector512<float> mask, Vector512<float> value) => mask & value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Or(Vector512<float> a, Vector512<float> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AddBits(Vector512<float> a, Vector512<float> b) => (a.AsInt32() + b.AsInt32()).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> CountWhere(Vector512<float> counts, Vector512<float> mask) =>
        Vector512.ConditionalSelect(mask.AsInt32(), counts.AsInt32() + Vector512<int>.One, counts.AsInt32()).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftUpOneLane(Vector512<float> value, Vector512<float> carry) =>
        Avx512F.IsSupported
            ? Avx512F.AlignRight32(value.AsUInt32(), carry.AsUInt32(), 15).AsSingle()
            : Vector512.Create(Width256.ShiftUpOneLane(value.GetLower(), carry.GetUpper()), Width256.ShiftUpOneLane(value.GetUpper(), value.GetLower()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftLeftBits(Vector512<float> a, int count) => Vector512.ShiftLeft(a.AsInt32(), count).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftRightBits(Vector512<float> a, int count) => Vector512.ShiftRightLogical(a.AsInt32(), count).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> KeepLanes(Vector512<float> value, int from, int to)
    {
        Vector512<float> lane = Vector512<float>.Indices;
        return (Vector512.GreaterThanOrEqual(lane, Vector512.Create((float)from)) & Vector512.LessThan(lane, Vector512.Create((float)to))) & value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> value) => Width256.MaxAcross(Vector256.Max(value.GetLower(), value.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector512<float> value) => Vector512.Sum(Vector512.WidenLower(value) + Vector512.WidenUpper(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadRows(ref float source, out Vector512<float> c0, out Vector512<float> c1, out Vector512<float> c2, out Vector512<float> c3) => RowTranspose.Load(ref source, out c0, out c1, out c2, out c3);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreRows(Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3, ref float destination) => RowTranspose.Store(c0, c1, c2, c3, ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MaxOfNumbers(Vector512<float> a, Vector512<float> b) => Avx512F.IsSupported ? Avx512F.Max(a, b) : Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void TransposeSquare(ref float source, nint sourceStride, ref float destination, nint destinationStride) =>
        RowTranspose.Square16(ref source, sourceStride, ref destination, destinationStride);
}

internal readonly struct Width256 : IVectorMath<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Create(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source) => Vector256.LoadUnsafe(ref source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination) => value.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreAlignedNonTemporal(Vector256<float> value, ref float destination) => value.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Abs(Vector256<float> a) => Vector256.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log(Vector256<float> a) => VectorFunctions.Log<Vector256<float>, Width256>(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> a) => VectorFunctions.Exp<Vector256<float>, Width256>(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ScaleByPowerOfTwo(Vector256<float> p, Vector256<float> k) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.Scale(p, k) : VectorFunctions.ScaleThroughExponentBits<Vector256<float>, Width256>(p, k);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Min(Vector256<float> a, Vector256<float> b) => Vector256.Min(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Equal(Vector256<float> a, Vector256<float> b) => Vector256.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LessThan(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GreaterThan(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GreaterThanOrEqual(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllSet(Vector256<float> mask) => Vector256.EqualsAll(mask.AsInt32(), Vector256<int>.AllBitsSet);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> IsNaN(Vector256<float> a) => Vector256.IsNaN(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Select(Vector256<float> mask, Vector256<float> whenTrue, Vector256<float> whenFalse) => Vector256.ConditionalSelect(mask, whenTrue, whenFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> And(Vector256<float> mask, Vector256<float> value) => mask & value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Or(Vector256<float> a, Vector256<float> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddBits(Vector256<float> a, Vector256<float> b) => (a.AsInt32() + b.AsInt32()).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> CountWhere(Vector256<float> counts, Vector256<float> mask) => (counts.AsInt32() - mask.AsInt32()).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftUpOneLane(Vector256<float> value, Vector256<float> carry)
    {
        if (!Avx2.IsSupported)
            return Vector256.Create(carry[7], value[0], value[1], value[2], value[3], value[4], value[5], value[6]);
        // [carry's high half, value's low half], then each 128-bit half's bytes 12 on: [carry₇, value₀…₂], [value₃…₆].
        Vector256<byte> straddle = Avx2.Permute2x128(carry, value, 0x21).AsByte();
        return Avx2.AlignRight(value.AsByte(), straddle, 12).AsSingle();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftLeftBits(Vector256<float> a, int count) => Vector256.ShiftLeft(a.AsInt32(), count).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftRightBits(Vector256<float> a, int count) => Vector256.ShiftRightLogical(a.AsInt32(), count).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> KeepLanes(Vector256<float> value, int from, int to)
    {
        Vector256<float> lane = Vector256<float>.Indices;
        return (Vector256.GreaterThanOrEqual(lane, Vector256.Create((float)from)) & Vector256.LessThan(lane, Vector256.Create((float)to))) & value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> value) => Width128.MaxAcross(Vector128.Max(value.GetLower(), value.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector256<float> value) => Vector256.Sum(Vector256.WidenLower(value) + Vector256.WidenUpper(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadRows(ref float source, out Vector256<float> c0, out Vector256<float> c1, out Vector256<float> c2, out Vector256<float> c3) => RowTranspose.Load(ref source, out c0, out c1, out c2, out c3);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreRows(Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3, ref float destination) => RowTranspose.Store(c0, c1, c2, c3, ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaxOfNumbers(Vector256<float> a, Vector256<float> b) => Avx.IsSupported ? Avx.Max(a, b) : Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void TransposeSquare(ref float source, nint sourceStride, ref float destination, nint destinationStride) =>
        RowTranspose.Square8(ref source, sourceStride, ref destination, destinationStride);
}

internal readonly struct Width128 : IVectorMath<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Create(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source) => Vector128.LoadUnsafe(ref source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination) => value.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreAlignedNonTemporal(Vector128<float> value, ref float destination) => value.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Abs(Vector128<float> a) => Vector128.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sqrt(Vector128<float> a) => Vector128.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Log(Vector128<float> a) => VectorFunctions.Log<Vector128<float>, Width128>(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> a) => VectorFunctions.Exp<Vector128<float>, Width128>(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ScaleByPowerOfTwo(Vector128<float> p, Vector128<float> k) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.Scale(p, k) : VectorFunctions.ScaleThroughExponentBits<Vector128<float>, Width128>(p, k);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Min(Vector128<float> a, Vector128<float> b) => Vector128.Min(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Equal(Vector128<float> a, Vector128<float> b) => Vector128.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LessThan(Vector128<float> a, Vector128<float> b) => Vector128.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> GreaterThan(Vector128<float> a, Vector128<float> b) => Vector128.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> GreaterThanOrEqual(Vector128<float> a, Vector128<float> b) => Vector128.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllSet(Vector128<float> mask) => Vector128.EqualsAll(mask.AsInt32(), Vector128<int>.AllBitsSet);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> IsNaN(Vector128<float> a) => Vector128.IsNaN(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Select(Vector128<float> mask, Vector128<float> whenTrue, Vector128<float> whenFalse) => Vector128.ConditionalSelect(mask, whenTrue, whenFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> And(Vector128<float> mask, Vector128<float> value) => mask & value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Or(Vector128<float> a, Vector128<float> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AddBits(Vector128<float> a, Vector128<float> b) => (a.AsInt32() + b.AsInt32()).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> CountWhere(Vector128<float> counts, Vector128<float> mask) => (counts.AsInt32() - mask.AsInt32()).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftUpOneLane(Vector128<float> value, Vector128<float> carry)
    {
        if (Ssse3.IsSupported)
            return Ssse3.AlignRight(value.AsByte(), carry.AsByte(), 12).AsSingle();
        if (AdvSimd.IsSupported)
            return AdvSimd.ExtractVector128(carry, value, 3);
        return Vector128.Create(carry[3], value[0], value[1], value[2]);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftLeftBits(Vector128<float> a, int count) => Vector128.ShiftLeft(a.AsInt32(), count).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftRightBits(Vector128<float> a, int count) => Vector128.ShiftRightLogical(a.AsInt32(), count).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> KeepLanes(Vector128<float> value, int from, int to)
    {
        Vector128<float> lane = Vector128<float>.Indices;
        return (Vector128.GreaterThanOrEqual(lane, Vector128.Create((float)from)) & Vector128.LessThan(lane, Vector128.Create((float)to))) & value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> value)
    {
        Vector128<float> pairs = Vector128.Max(value, Vector128.Shuffle(value, Vector128.Create(2, 3, 0, 1)));
        return Vector128.Max(pairs, Vector128.Shuffle(pairs, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector128<float> value) => Vector128.Sum(Vector128.WidenLower(value) + Vector128.WidenUpper(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadRows(ref float source, out Vector128<float> c0, out Vector128<float> c1, out Vector128<float> c2, out Vector128<float> c3) => RowTranspose.Load(ref source, out c0, out c1, out c2, out c3);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreRows(Vector128<float> c0, Vector128<float> c1, Vector128<float> c2, Vector128<float> c3, ref float destination) => RowTranspose.Store(c0, c1, c2, c3, ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MaxOfNumbers(Vector128<float> a, Vector128<float> b) => Sse.IsSupported ? Sse.Max(a, b) : Vector128.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void TransposeSquare(ref float source, nint sourceStride, ref float destination, nint destinationStride) =>
        RowTranspose.Square4(ref source, sourceStride, ref destination, destinationStride);
}
