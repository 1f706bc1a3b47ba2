using System.Runtime.Intrinsics;

namespace LossKernels.Tests.Core;

/// <summary>
/// The library's own float exp and log, measured exhaustively against the double functions: every float
/// of [−104, 89] for exp and every positive normal float for log (about 2^31 each), at the widest
/// width the machine has, and the same on a sample at every other width.
/// </summary>
[TestFixture]
public class VectorFunctionsTests
{
    private const int Block = 1 << 16;

    [Test]
    public void ExpIsWithinTwoUlpsOverEveryFloatFromMinus104To89()
    {
        double worst = Math.Max(WorstUlps(Function.Exp, Bits(0f), Bits(89f), 1), WorstUlps(Function.Exp, Bits(-0f), Bits(-104f), 1));
        TestContext.Out.WriteLine($"exp: max error {worst:F3} ulp");
        Assert.That(worst, Is.LessThanOrEqualTo(2.0));
    }

    [Test]
    public void LogIsWithinTwoUlpsOverEveryPositiveNormalFloat()
    {
        double worst = WorstUlps(Function.Log, Bits(MinNormal), Bits(float.MaxValue), 1);
        TestContext.Out.WriteLine($"log: max error {worst:F3} ulp");
        Assert.That(worst, Is.LessThanOrEqualTo(2.0));
    }

    [Test]
    public void LogIsWithinTwoUlpsOnSubnormals()
    {
        Assert.That(WorstUlps(Function.Log, 1, Bits(MinNormal) - 1, 1), Is.LessThanOrEqualTo(2.0));
    }

    [Test]
    public void Log1POfUnitIntervalIsWithinTwoUlps()
    {
        double worst = WorstUlps(Function.Log1POfUnitInterval, 0, Bits(1f), 1);
        TestContext.Out.WriteLine($"log1p on [0, 1]: max error {worst:F3} ulp");
        Assert.That(worst, Is.LessThanOrEqualTo(2.0));
    }

    /// <summary>
    /// ln(1 + u) for u ≥ 0 (balanced L1) over 16,777,216 evenly spaced float bit patterns of [0, 1e30], and every float of
    /// [1, 2] (where w = 1 + u rounds and the argument must carry what it dropped), then +∞ and NaN.
    /// </summary>
    [Test]
    public void Log1POfNonNegativeIsWithinTwoUlps()
    {
        double worst = Math.Max(WorstUlps(Function.Log1POfNonNegative, 0, Bits(1e30f), Bits(1e30f) / (1 << 24)),
            WorstUlps(Function.Log1POfNonNegative, Bits(1f), Bits(2f), 1));
        TestContext.Out.WriteLine($"log1p on [0, 1e30]: max error {worst:F3} ulp");
        Assert.That(worst, Is.LessThanOrEqualTo(2.0));
        Assert.That(Apply<Vector128<float>, Width128>(Function.Log1POfNonNegative, Vector128.Create(float.PositiveInfinity)).ToScalar(), Is.EqualTo(float.PositiveInfinity));
        Assert.That(float.IsNaN(Apply<Vector128<float>, Width128>(Function.Log1POfNonNegative, Vector128.Create(float.NaN)).ToScalar()));
    }

    /// <summary>Every third float of [−104, 0]: the shortened exp of the sigmoid losses has the same values as the full one.</summary>
    [Test]
    public void ExpOfNonPositiveIsWithinTwoUlps()
    {
        double worst = WorstUlps(Function.ExpOfNonPositive, Bits(-0f), Bits(-104f), 3);
        TestContext.Out.WriteLine($"exp on [-104, 0]: max error {worst:F3} ulp");
        Assert.That(worst, Is.LessThanOrEqualTo(2.0));
    }

    /// <summary>
    /// The scaling that exp falls back to without AVX-512 (this machine may take <c>vscalefps</c> instead): p·2^k rounded
    /// once, subnormal and overflowing results included, at every width.
    /// </summary>
    [Test]
    public void ScaleThroughExponentBitsIsTheRoundedProduct()
    {
        float[] significands = [0.5f, 0.70710677f, 0.99999994f, 1f, 1.00000012f, 1.41421354f, 1.99999988f, 1.23456789f, 1.5f];
        for (int k = -151; k <= 128; k++)
            foreach (float p in significands)
            {
                float expected = (float)Math.ScaleB(p, k);
                Assert.That(VectorFunctions.ScaleThroughExponentBits<Vector128<float>, Width128>(Vector128.Create(p), Vector128.Create((float)k)).ToScalar(), Is.EqualTo(expected), $"{p}·2^{k}, 128");
                Assert.That(VectorFunctions.ScaleThroughExponentBits<Vector256<float>, Width256>(Vector256.Create(p), Vector256.Create((float)k)).ToScalar(), Is.EqualTo(expected), $"{p}·2^{k}, 256");
                Assert.That(VectorFunctions.ScaleThroughExponentBits<Vector512<float>, Width512>(Vector512.Create(p), Vector512.Create((float)k)).ToScalar(), Is.EqualTo(expected), $"{p}·2^{k}, 512");
            }
    }

    /// <summary>Lane k + 1 takes lane k, lane 0 the carry's last lane, at every width (the element-by-element forms included where a width lacks its shuffle).</summary>
    [Test]
    public void LanesShiftUpOneAtEveryWidth()
    {
        ShiftUp<Vector128<float>, Width128>();
        ShiftUp<Vector256<float>, Width256>();
        ShiftUp<Vector512<float>, Width512>();
    }

    private static void ShiftUp<TVec, TMath>()
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        int count = TMath.Count;
        float[] carry = [.. Enumerable.Range(0, count).Select(i => -1f - i)], value = [.. Enumerable.Range(0, count).Select(i => i + 0.5f)];
        float[] shifted = new float[count];
        TMath.Store(TMath.ShiftUpOneLane(TMath.Load(ref value[0]), TMath.Load(ref carry[0])), ref shifted[0]);
        Assert.That(shifted, Is.EqualTo(new[] { carry[^1] }.Concat(value[..^1])), $"width {count}");
    }

    [Test]
    public void EveryWidthIsWithinTwoUlpsOnASample()
    {
        const int Stride = 997;
        foreach (Function function in new[] { Function.Exp, Function.Log, Function.Log1POfUnitInterval })
        {
            (int first, int last) = function switch
            {
                Function.Exp => (Bits(-104f), Bits(89f)),
                Function.Log => (1, Bits(float.MaxValue)),
                _ => (0, Bits(1f)),
            };
            double worst = WorstUlpsAt<Vector128<float>, Width128>(function, first, last, Stride);
            if (Vector256.IsHardwareAccelerated)
                worst = Math.Max(worst, WorstUlpsAt<Vector256<float>, Width256>(function, first, last, Stride));
            Assert.That(worst, Is.LessThanOrEqualTo(2.0), function.ToString());
        }
    }

    [Test]
    public void SpecialValuesAreTheRoundedDoubleResults()
    {
        float[] inputs = [float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0f, -0f, 88.72283f, 88.72284f, -103.97f, -103.98f, -1e30f, 1e30f, -1f, float.Epsilon, 1f];
        foreach (float x in inputs)
        {
            Assert.That(Apply<Vector128<float>, Width128>(Function.Exp, Vector128.Create(x)).ToScalar(), Is.EqualTo((float)Math.Exp(x)), $"exp({x})");
            Assert.That(Apply<Vector128<float>, Width128>(Function.Log, Vector128.Create(x)).ToScalar(), Is.EqualTo((float)Math.Log(x)).Within(1).Ulps, $"log({x})");
        }
    }

    private enum Function
    {
        Exp,
        Log,
        Log1POfUnitInterval,
        ExpOfNonPositive,
        Log1POfNonNegative,
    }

    private const float MinNormal = 1.17549435e-38f;

    private static int Bits(float value) => BitConverter.SingleToInt32Bits(value);

    private static TVec Apply<TVec, TMath>(Function function, TVec x)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        function switch
        {
            Function.Exp => VectorFunctions.Exp<TVec, TMath>(x),
            Function.Log => VectorFunctions.Log<TVec, TMath>(x),
            Function.Log1POfUnitInterval => VectorFunctions.Log1POfUnitInterval<TVec, TMath>(x),
            Function.Log1POfNonNegative => VectorFunctions.Log1POfNonNegative<TVec, TMath>(x),
            _ => VectorFunctions.ExpOfNonPositive<TVec, TMath>(x),
        };

    /// <summary>ln(1 + u) in double, with the rounding of 1 + u cancelled (Goldberg): the runtime has no accurate log1p.</summary>
    private static double Log1P(double u)
    {
        double w = 1 + u;
        return w == 1 ? u : Math.Log(w) * u / (w - 1);
    }

    /// <summary>The widest error over the bit patterns from <paramref name="first"/> to <paramref name="last"/> (either order), at the widest width.</summary>
    private static double WorstUlps(Function function, int first, int last, int stride) =>
        Vector512.IsHardwareAccelerated ? WorstUlpsAt<Vector512<float>, Width512>(function, first, last, stride)
        : Vector256.IsHardwareAccelerated ? WorstUlpsAt<Vector256<float>, Width256>(function, first, last, stride)
        : WorstUlpsAt<Vector128<float>, Width128>(function, first, last, stride);

    private static double WorstUlpsAt<TVec, TMath>(Function function, int first, int last, int stride)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        Func<double, double> exact = function switch
        {
            Function.Log => Math.Log,
            Function.Log1POfUnitInterval or Function.Log1POfNonNegative => Log1P,
            _ => Math.Exp,
        };
        long low = Math.Min((uint)first, (uint)last), high = Math.Max((uint)first, (uint)last);
        long count = (high - low) / stride + 1;
        long blocks = (count + Block - 1) / Block;
        double worst = 0;
        object gate = new();
        Parallel.For(0L, blocks, () => 0d, (block, _, local) =>
        {
            var inputs = new float[Block];
            var results = new float[Block];
            long start = block * Block;
            int length = (int)Math.Min(Block, count - start);
            for (int j = 0; j < Block; j++)
                inputs[j] = BitConverter.Int32BitsToSingle((int)(uint)(low + (start + Math.Min(j, length - 1)) * stride));
            for (int j = 0; j < Block; j += TMath.Count)
                TMath.Store(Apply<TVec, TMath>(function, TMath.Load(ref inputs[j])), ref results[j]);
            for (int j = 0; j < length; j++)
                local = Math.Max(local, Ulps(results[j], exact(inputs[j])));
            return local;
        }, local =>
        {
            lock (gate)
                worst = Math.Max(worst, local);
        });
        return worst;
    }

    /// <summary>|got − exact| in units of the float spacing at <paramref name="exact"/>; an infinity must be the rounded exact value.</summary>
    private static double Ulps(float got, double exact)
    {
        float rounded = (float)exact;
        if (float.IsInfinity(got) || float.IsInfinity(rounded))
            return got == rounded ? 0 : double.PositiveInfinity;
        double magnitude = Math.Abs(exact);
        double ulp = magnitude < MinNormal ? float.Epsilon : Math.ScaleB(1.0, Math.ILogB(magnitude) - 23);
        return Math.Abs(got - exact) / ulp;
    }
}
