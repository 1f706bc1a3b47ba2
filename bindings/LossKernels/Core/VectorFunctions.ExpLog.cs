using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels;

public static partial class VectorFunctions
{
    private const float Log2E = 1.44269502f;

    // ln 2 split so that k·Ln2High is exact for |k| < 2^8 (its low 8 significand bits are zero).
    private const float Ln2High = 0.693145752f;
    private const float Ln2Low = 1.42860677e-06f;

    // 1.5·2^23: adding it rounds a float of magnitude < 2^22 to an integer, to nearest even.
    private const float RoundingShift = 12582912f;
    private const float TwoPow23 = 8388608f;
    private const float TwoPowMinus64 = 5.42101086e-20f;
    private const float TwoPowMinus32 = 2.32830644e-10f;
    private const float MinNormal = 1.17549435e-38f;
    private const int SqrtHalfBits = 0x3F3504F3;
    private const int OneMinusSqrtHalfBits = 0x3F800000 - SqrtHalfBits;

    /// <summary>
    /// e^x per lane, in float arithmetic (the runtime's <c>Vector512.Exp(float)</c> widens to double).
    /// x = k·ln 2 + r with k = round(x·log₂e) and |r| ≤ ln 2 / 2 (ln 2 split in two for an exact
    /// k·ln2_hi); e^r = 1 + r + r²·Q(r) with a degree-4 Q fitted here for relative error; then the scaling by 2^k
    /// (<see cref="IVectorMath{TVec}.ScaleByPowerOfTwo"/>), so that results in the subnormal range are rounded once. Measured over every
    /// float in [−104, 89] against the double exp: at most
    /// 1.06 ulp, the worst in the subnormal results (<c>VectorFunctionsTests.ExpIsWithinTwoUlpsOverEveryFloatFromMinus104To89</c> holds it to 2).
    /// Above ln(float.MaxValue) ≈ 88.72 the result is +∞; below −103.97 it is 0; NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Exp<TVec, TMath>(TVec x) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec p = ExpSignificand<TVec, TMath>(x, out TVec k);
        TVec result = TMath.ScaleByPowerOfTwo(p, k);
        // Outside [−104.5, 88.8] (where k leaves [−151, 128] and the exponent arithmetic wraps) the result is 0 or +∞.
        result = TMath.Select(TMath.GreaterThan(x, TMath.Create(88.8f)), TMath.Create(float.PositiveInfinity), result);
        result = TMath.Select(TMath.LessThan(x, TMath.Create(-104.5f)), TMath.Create(0f), result);
        return TMath.Select(TMath.IsNaN(x), x, result);
    }

    /// <summary>
    /// <see cref="Exp{TVec, TMath}"/> for x ≤ 0 (or NaN), where it cannot overflow: the same values with fewer
    /// operations, for the sigmoid losses' e^−|x|.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec ExpOfNonPositive<TVec, TMath>(TVec x) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec p = ExpSignificand<TVec, TMath>(x, out TVec k);
        TVec result = TMath.ScaleByPowerOfTwo(p, k);
        return TMath.Select(TMath.LessThan(x, TMath.Create(-104.5f)), TMath.Create(0f), result);
    }

    /// <summary>e^r for x = k·ln 2 + r, |r| ≤ ln 2 / 2, with k = round(x·log₂e) returned in <paramref name="k"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec ExpSignificand<TVec, TMath>(TVec x, out TVec k) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        k = TMath.Subtract(TMath.MultiplyAdd(x, TMath.Create(Log2E), TMath.Create(RoundingShift)), TMath.Create(RoundingShift));
        TVec r = TMath.MultiplyAdd(k, TMath.Create(-Ln2High), x);
        r = TMath.MultiplyAdd(k, TMath.Create(-Ln2Low), r);
        // Estrin's scheme: Horner's polynomial in half the dependent steps, so that more of a loop's iterations overlap.
        TVec square = TMath.Multiply(r, r);
        TVec low = TMath.MultiplyAdd(TMath.Create(0.166665435f), r, TMath.Create(0.5f));
        TVec high = TMath.MultiplyAdd(TMath.Create(0.00836624671f), r, TMath.Create(0.0416669324f));
        high = TMath.MultiplyAdd(TMath.Create(0.00138919358f), square, high);
        TVec q = TMath.MultiplyAdd(high, square, low);
        return TMath.Add(TMath.MultiplyAdd(square, q, r), TMath.Create(1f));
    }

    /// <summary>
    /// p·2^k for k in [−151, 128] without AVX-512: 2^k = 2^(k − j)·2^j with j = 1 for k &gt; 0 and −64 otherwise, both
    /// factors normal floats built from their exponent bits, so only the last product rounds (into the subnormals) or
    /// overflows. Outside that range of k the exponent arithmetic wraps; the callers select 0 or ∞ there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec ScaleThroughExponentBits<TVec, TMath>(TVec p, TVec k) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec positive = TMath.GreaterThan(k, TMath.Create(0f));
        TVec scale = TMath.ShiftLeftBits(TMath.Add(k, TMath.Select(positive, TMath.Create(TwoPow23 + 126f), TMath.Create(TwoPow23 + 191f))), 23);
        return TMath.Multiply(TMath.Multiply(p, scale), TMath.Select(positive, TMath.Create(2f), TMath.Create(TwoPowMinus64)));
    }

    /// <summary>
    /// ln x per lane, in float arithmetic. x = m·2^e with m in [√½, √2); with f = m − 1 (exact),
    /// ln(1 + f) = f − f²/2 + f³·P(f), P a degree-8 polynomial fitted here for relative error (no division);
    /// then e·ln 2 in two parts. Subnormal x are scaled by 2^23 first. Measured over
    /// every positive normal float against the double log: at most 1.19 ulp
    /// (<c>VectorFunctionsTests.LogIsWithinTwoUlpsOverEveryPositiveNormalFloat</c> holds it to 2).
    /// ln 0 = −∞, ln(x &lt; 0) = NaN, ln ∞ = ∞; NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Log<TVec, TMath>(TVec x) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec one = TMath.Create(1f);
        TVec subnormal = TMath.LessThan(x, TMath.Create(MinNormal));
        TVec scaled = TMath.Select(subnormal, TMath.Multiply(x, TMath.Create(TwoPow23)), x);
        TVec exponentBias = TMath.Select(subnormal, TMath.Create(150f), TMath.Create(127f));
        // Adding 1 − √½'s mantissa offset to the bits carries into the exponent exactly when m ≥ √2, so one
        // integer add gives both e + 127 (the shifted-out top bits) and the low bits of m ∈ [√½, √2).
        TVec shifted = TMath.AddBits(scaled, TMath.Create(BitConverter.Int32BitsToSingle(OneMinusSqrtHalfBits)));
        TVec exponent = TMath.Subtract(TMath.Or(TMath.ShiftRightBits(shifted, 23), TMath.Create(TwoPow23)), TMath.Add(TMath.Create(TwoPow23), exponentBias));
        TVec mantissa = TMath.AddBits(TMath.And(TMath.Create(BitConverter.Int32BitsToSingle(0x007FFFFF)), shifted), TMath.Create(BitConverter.Int32BitsToSingle(SqrtHalfBits)));
        TVec log1p = Log1PPolynomial<TVec, TMath>(TMath.Subtract(mantissa, one));
        TVec result = TMath.MultiplyAdd(exponent, TMath.Create(Ln2High), TMath.MultiplyAdd(exponent, TMath.Create(Ln2Low), log1p));

        TVec finitePositive = TMath.And(TMath.GreaterThan(x, TMath.Create(0f)), TMath.LessThan(x, TMath.Create(float.PositiveInfinity)));
        TVec special = TMath.Select(TMath.Equal(x, TMath.Create(0f)), TMath.Create(float.NegativeInfinity),
            TMath.Select(TMath.LessThan(x, TMath.Create(0f)), TMath.Create(float.NaN), x));
        return TMath.Select(finitePositive, result, special);
    }

    /// <summary>
    /// ⌊x⌋ for |x| &lt; 2²²: x + 1.5·2²³ keeps no fraction bits, so adding and subtracting it rounds to the nearest integer
    /// (as exp's reduction does), then one is taken off where that rounded up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec FloorOfSmall<TVec, TMath>(TVec x) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec nearest = TMath.Subtract(TMath.Add(x, TMath.Create(RoundingShift)), TMath.Create(RoundingShift));
        return TMath.Subtract(nearest, TMath.And(TMath.GreaterThan(nearest, x), TMath.Create(1f)));
    }

    /// <summary>
    /// ln(1 + u) for u ≥ 0 (balanced L1's ln(b·a/β + 1)) through <see cref="Log1POfUnitInterval{TVec, TMath}"/> and no general
    /// log: below 1 directly; from 1 up, w = 1 + u = 2^k·m with m in [1, 2), and ln(1 + u) = k·ln 2 + ln(1 + r) with
    /// r = m − 1 + c·2^−k, where c = u − (w − 1) is the rounding of w (exact for u ≥ 1), so that the argument keeps what w
    /// dropped. One division, no subnormal or special-value paths beyond +∞ (→ +∞); NaN stays NaN. Measured over 16,777,216
    /// evenly spaced float bit patterns of [0, 1e30] and every float of [1, 2]: at most 1.92 ulp from the double ln(1 + u)
    /// (<c>VectorFunctionsTests.Log1POfNonNegativeIsWithinTwoUlps</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Log1POfNonNegative<TVec, TMath>(TVec u) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec one = TMath.Create(1f);
        TVec w = TMath.Add(one, u);
        TVec rounding = TMath.Subtract(u, TMath.Subtract(w, one));
        // The biased exponent shifted into a float's low bits above 2²³ reads as 2²³ + k + 127.
        TVec exponent = TMath.Subtract(TMath.Or(TMath.ShiftRightBits(w, 23), TMath.Create(TwoPow23)), TMath.Create(TwoPow23 + 127f));
        TVec mantissa = TMath.Or(TMath.And(TMath.Create(BitConverter.Int32BitsToSingle(0x007FFFFF)), w), one);
        TVec reduced = TMath.Add(TMath.Subtract(mantissa, one), TMath.ScaleByPowerOfTwo(rounding, TMath.Subtract(TMath.Create(0f), exponent)));
        TVec small = TMath.LessThan(u, one);
        TVec log = Log1POfUnitInterval<TVec, TMath>(TMath.Select(small, u, reduced));
        TVec large = TMath.MultiplyAdd(exponent, TMath.Create(Ln2High), TMath.MultiplyAdd(exponent, TMath.Create(Ln2Low), log));
        return TMath.Select(small, log, TMath.Select(TMath.Equal(u, TMath.Create(float.PositiveInfinity)), u, large));
    }

    /// <summary>
    /// ln(1 + u) for u in [0, 1] (the sigmoid losses' ln(1 + e^−|x|)), without the general <see cref="Log{TVec, TMath}"/>'s
    /// bit manipulation: ln(1 + u) = 2·atanh(u/(2 + u)), and with y = u/(1 + u/2) in [0, ⅔] (twice the atanh argument,
    /// so that no doubling is left to do) 2·atanh(y/2) = y + y³·P(y²), P of degree 3 fitted here for relative error
    /// (0.09·2^−24): one division buys a polynomial of a third the degree. Measured over every float of [0, 1]: at most
    /// 1.97 ulp, from the division and the rounding of 1 + u/2 (<c>VectorFunctionsTests.Log1POfUnitIntervalIsWithinTwoUlps</c>);
    /// the division-free degree-8 form before it reached 1.21 ulp, and the BCE-with-logits loop took a fifth longer
    /// with it. NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Log1POfUnitInterval<TVec, TMath>(TVec u) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec y = TMath.Divide(u, TMath.MultiplyAdd(u, TMath.Create(0.5f), TMath.Create(1f)));
        // y² from y ≥ 2^−32 and the product y·(y²·P) inside the FMA: for y < 2^−42 (|x| > 29 in e^−|x|) y³ is subnormal, and a
        // subnormal result costs a microcode assist per lane (the loss with a few logits of ±30 took 60% longer). Below 2^−32 the
        // term is under 2^−67·y, so the clamp leaves every result as it was. The hardware's max (one instruction; the NaN-propagating
        // max was three, taken twice): a NaN y is added back below, so the result is NaN whichever lane the max returns.
        TVec clamped = TMath.MaxOfNumbers(y, TMath.Create(TwoPowMinus32));
        TVec square = TMath.Multiply(clamped, clamped);
        TVec polynomial = TMath.MultiplyAdd(TMath.Create(0.00054710783f), square, TMath.Create(0.0021876423f));
        polynomial = TMath.MultiplyAdd(polynomial, square, TMath.Create(0.012506727f));
        polynomial = TMath.MultiplyAdd(polynomial, square, TMath.Create(0.08333302f));
        return TMath.MultiplyAdd(y, TMath.Multiply(square, polynomial), y);
    }

    /// <summary>ln(1 + f) = f − f²/2 + f³·P(f) for f in [√½ − 1, ½], P of degree 8 fitted here for relative error (0.11·2^−24).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Log1PPolynomial<TVec, TMath>(TVec f) where TVec : struct where TMath : struct, IVectorMath<TVec>
    {
        TVec square = TMath.Multiply(f, f);
        TVec polynomial = TMath.MultiplyAdd(TMath.Create(0.0503886715f), f, TMath.Create(-0.106243305f));
        polynomial = TMath.MultiplyAdd(polynomial, f, TMath.Create(0.120895691f));
        polynomial = TMath.MultiplyAdd(polynomial, f, TMath.Create(-0.125940576f));
        polynomial = TMath.MultiplyAdd(polynomial, f, TMath.Create(0.142171055f));
        polynomial = TMath.MultiplyAdd(polynomial, f, TMath.Create(-0.166574404f));
        polynomial = TMath.MultiplyAdd(polynomial, f, TMath.Create(0.200018272f));
        polynomial = TMath.MultiplyAdd(polynomial, f, TMath.Create(-0.250001848f));
        polynomial = TMath.MultiplyAdd(polynomial, f, TMath.Create(0.333333194f));
        return TMath.MultiplyAdd(TMath.Multiply(square, f), polynomial, TMath.MultiplyAdd(TMath.Create(-0.5f), square, f));
    }
}
