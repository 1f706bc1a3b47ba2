using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
    /// <summary>ln a (the runtime's vector logarithm).</summary>
    static abstract TVec Log(TVec a);
    /// <summary>Lane mask of a &lt; b.</summary>
    static abstract TVec LessThan(TVec a, TVec b);
    /// <summary>Lane mask of a &gt; b.</summary>
    static abstract TVec GreaterThan(TVec a, TVec b);
    /// <summary>Lane mask of a being NaN.</summary>
    static abstract TVec IsNaN(TVec a);
    /// <summary>Per lane: <paramref name="mask"/> set ? <paramref name="whenTrue"/> : <paramref name="whenFalse"/>.</summary>
    static abstract TVec Select(TVec mask, TVec whenTrue, TVec whenFalse);
    /// <summary>Per lane: <paramref name="mask"/> set ? <paramref name="value"/> : 0 (a bitwise and, so NaN never leaks from unselected lanes).</summary>
    static abstract TVec And(TVec mask, TVec value);
    /// <summary>Lanes in [<paramref name="from"/>, <paramref name="to"/>) kept, the others zero.</summary>
    static abstract TVec KeepLanes(TVec value, int from, int to);
    /// <summary>The sum of the lanes, in double, in a fixed order.</summary>
    static abstract double Sum(TVec value);
}

/// <summary>Shared helpers written once over <see cref="IVectorMath{TVec}"/>.</summary>
public static class VectorMath
{
    /// <summary>sign(a) ∈ {−1, 0, +1}, 0 at ±0; NaN at NaN, where <c>torch.sign</c> gives 0 (NaN propagates here, by policy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Sign<TVec, TMath>(TVec a) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec one = TMath.Create(1f);
        TVec zero = TMath.Create(0f);
        TVec sign = TMath.Subtract(TMath.And(TMath.GreaterThan(a, zero), one), TMath.And(TMath.LessThan(a, zero), one));
        return TMath.Select(TMath.IsNaN(a), a, sign);
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

internal readonly struct Width512 : IVectorMath<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    public static Vector512<float> Create(float value) => Vector512.Create(value);
    public static Vector512<float> Load(ref float source) => Vector512.LoadUnsafe(ref source);
    public static void Store(Vector512<float> value, ref float destination) => value.StoreUnsafe(ref destination);
    public static unsafe void StoreAlignedNonTemporal(Vector512<float> value, ref float destination) => value.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination));
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    public static Vector512<float> Abs(Vector512<float> a) => Vector512.Abs(a);
    public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);
    public static Vector512<float> Log(Vector512<float> a) => Vector512.Log(a);
    public static Vector512<float> LessThan(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b);
    public static Vector512<float> GreaterThan(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(a, b);
    public static Vector512<float> IsNaN(Vector512<float> a) => Vector512.IsNaN(a);
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> whenTrue, Vector512<float> whenFalse) => Vector512.ConditionalSelect(mask, whenTrue, whenFalse);
    public static Vector512<float> And(Vector512<float> mask, Vector512<float> value) => mask & value;
    public static Vector512<float> KeepLanes(Vector512<float> value, int from, int to)
    {
        Vector512<float> lane = Vector512<float>.Indices;
        return (Vector512.GreaterThanOrEqual(lane, Vector512.Create((float)from)) & Vector512.LessThan(lane, Vector512.Create((float)to))) & value;
    }

    public static double Sum(Vector512<float> value) => Vector512.Sum(Vector512.WidenLower(value) + Vector512.WidenUpper(value));
}

internal readonly struct Width256 : IVectorMath<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    public static Vector256<float> Create(float value) => Vector256.Create(value);
    public static Vector256<float> Load(ref float source) => Vector256.LoadUnsafe(ref source);
    public static void Store(Vector256<float> value, ref float destination) => value.StoreUnsafe(ref destination);
    public static unsafe void StoreAlignedNonTemporal(Vector256<float> value, ref float destination) => value.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination));
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    public static Vector256<float> Abs(Vector256<float> a) => Vector256.Abs(a);
    public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);
    public static Vector256<float> Log(Vector256<float> a) => Vector256.Log(a);
    public static Vector256<float> LessThan(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b);
    public static Vector256<float> GreaterThan(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(a, b);
    public static Vector256<float> IsNaN(Vector256<float> a) => Vector256.IsNaN(a);
    public static Vector256<float> Select(Vector256<float> mask, Vector256<float> whenTrue, Vector256<float> whenFalse) => Vector256.ConditionalSelect(mask, whenTrue, whenFalse);
    public static Vector256<float> And(Vector256<float> mask, Vector256<float> value) => mask & value;
    public static Vector256<float> KeepLanes(Vector256<float> value, int from, int to)
    {
        Vector256<float> lane = Vector256<float>.Indices;
        return (Vector256.GreaterThanOrEqual(lane, Vector256.Create((float)from)) & Vector256.LessThan(lane, Vector256.Create((float)to))) & value;
    }

    public static double Sum(Vector256<float> value) => Vector256.Sum(Vector256.WidenLower(value) + Vector256.WidenUpper(value));
}

internal readonly struct Width128 : IVectorMath<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    public static Vector128<float> Create(float value) => Vector128.Create(value);
    public static Vector128<float> Load(ref float source) => Vector128.LoadUnsafe(ref source);
    public static void Store(Vector128<float> value, ref float destination) => value.StoreUnsafe(ref destination);
    public static unsafe void StoreAlignedNonTemporal(Vector128<float> value, ref float destination) => value.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref destination));
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
    public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;
    public static Vector128<float> Abs(Vector128<float> a) => Vector128.Abs(a);
    public static Vector128<float> Sqrt(Vector128<float> a) => Vector128.Sqrt(a);
    public static Vector128<float> Log(Vector128<float> a) => Vector128.Log(a);
    public static Vector128<float> LessThan(Vector128<float> a, Vector128<float> b) => Vector128.LessThan(a, b);
    public static Vector128<float> GreaterThan(Vector128<float> a, Vector128<float> b) => Vector128.GreaterThan(a, b);
    public static Vector128<float> IsNaN(Vector128<float> a) => Vector128.IsNaN(a);
    public static Vector128<float> Select(Vector128<float> mask, Vector128<float> whenTrue, Vector128<float> whenFalse) => Vector128.ConditionalSelect(mask, whenTrue, whenFalse);
    public static Vector128<float> And(Vector128<float> mask, Vector128<float> value) => mask & value;
    public static Vector128<float> KeepLanes(Vector128<float> value, int from, int to)
    {
        Vector128<float> lane = Vector128<float>.Indices;
        return (Vector128.GreaterThanOrEqual(lane, Vector128.Create((float)from)) & Vector128.LessThan(lane, Vector128.Create((float)to))) & value;
    }

    public static double Sum(Vector128<float> value) => Vector128.Sum(Vector128.WidenLower(value) + Vector128.WidenUpper(value));
}
