using ILGPU;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// The double-precision ln, exp and pow the row losses evaluate once per row (ln Σe, the focal factor), for GPU kernels: PTX
/// has no double transcendental instructions, and ILGPU's own need its Algorithms library in the engine's context. Plain
/// double arithmetic, the same on every backend: ln by the exponent's split and 2·atanh((m − 1)/(m + 1)) to degree 21, exp by
/// k·ln 2 + r and a degree-13 Taylor polynomial; both within a few ulp of the runtime's (tested against it), far below the
/// float rounding of the results they feed.
/// </summary>
internal readonly struct DeviceRowFunctions : IRowFunctions
{
    private const double Ln2High = 0.6931471803691238;
    private const double Ln2Low = 1.9082149292705877e-10;
    private const double Log2E = 1.4426950408889634;
    private const double Sqrt2 = 1.4142135623730951;

    // 1.5·2^52: adding it rounds a double of magnitude < 2^51 to an integer, to nearest even.
    private const double RoundingShift = 6755399441055744.0;
    private const ulong ExponentMask = 0x7FF0000000000000UL;
    private const ulong MantissaMask = 0x000FFFFFFFFFFFFFUL;
    private const ulong OneBits = 0x3FF0000000000000UL;

    /// <summary>ln x: NaN below 0 and for NaN, −∞ at 0, ∞ at ∞.</summary>
    public static double Log(double x)
    {
        if (!(x > 0d) || double.IsPositiveInfinity(x))
            return x == 0d ? double.NegativeInfinity : x > 0d ? x : double.NaN;
        int exponentBias = 1023;
        if (x < 2.2250738585072014e-308)
        {
            x *= 18014398509481984d; // 2^54: subnormals become normal
            exponentBias += 54;
        }

        ulong bits = Interop.FloatAsInt(x);
        int exponent = (int)((bits & ExponentMask) >> 52) - exponentBias;
        double m = Interop.IntAsFloat((bits & MantissaMask) | OneBits);
        if (m > Sqrt2)
        {
            m *= 0.5d;
            exponent++;
        }

        // m ∈ (√½, √2]: s = (m − 1)/(m + 1), |s| ≤ 0.172, ln m = 2s·(1 + s²/3 + s⁴/5 + …).
        double s = (m - 1d) / (m + 1d);
        double s2 = s * s;
        double series = 1d / 21d;
        for (int k = 19; k >= 1; k -= 2)
            series = series * s2 + 1d / k;
        return exponent * Ln2High + (2d * s * series + exponent * Ln2Low);
    }

    /// <summary>e^x: ∞ above ln(double.MaxValue), 0 far below, NaN for NaN.</summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x))
            return x;
        if (x > 709.782712893384)
            return double.PositiveInfinity;
        if (x < -745.2)
            return 0d;
        double k = x * Log2E + RoundingShift - RoundingShift;
        double r = x - k * Ln2High - k * Ln2Low;
        double term = 1d, sum = 1d;
        for (int n = 1; n <= 13; n++)
        {
            term *= r / n;
            sum += term;
        }

        // 2^k in two factors, each a normal double, so that k down to −1074 scales into the subnormals.
        int half = (int)k / 2;
        return sum * PowerOfTwo(half) * PowerOfTwo((int)k - half);
    }

    /// <summary>x^y for x &gt; 0, as e^(y·ln x).</summary>
    public static double Pow(double x, double y) => Exp(y * Log(x));

    private static double PowerOfTwo(int k) => Interop.IntAsFloat((ulong)(k + 1023) << 52);
}
