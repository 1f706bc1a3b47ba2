using LossKernels.Generative;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The GAN loss on the CPU against BasicSR's branches in float64: every type for the discriminator's real and fake logits and the
/// generator's, every reduction, lengths 0..257 and odd large ones; the reference against its own central differences; ±1e4, the
/// hinge's kinks, NaN, in-place gradients, thread counts, allocations and bad arguments.
/// </summary>
[TestFixture]
public class GanTests : ThreadCountFixture
{
    /// <summary>Every type in every role, with smoothed labels and a generator weight where they act.</summary>
    public static IEnumerable<TestCaseData> Losses()
    {
        foreach (GanType type in Enum.GetValues<GanType>())
            foreach (bool disc in (bool[])[true, false])
                foreach (bool real in (bool[])[true, false])
                {
                    var loss = new GanLoss(type, real, disc, realLabel: 0.9f, fakeLabel: 0.05f, lossWeight: 0.25f);
                    yield return new TestCaseData(loss).SetArgDisplayNames($"{type} {(disc ? "disc" : "gen")} {(real ? "real" : "fake")}");
                }
    }

    internal static GanLoss[] AllLosses => Losses().Select(d => (GanLoss)d.Arguments[0]!).ToArray();

    /// <summary>Logits in [−6, 6], with the hinge's kinks ±1 and 0 among them.</summary>
    public static float[] Logits(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(8) == 0 ? random.Next(-1, 2) : (float)(12 * random.NextDouble() - 6)).ToArray();
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheReference(GanLoss loss)
    {
        foreach (int n in Enumerable.Range(0, 258).Where(n => n < 20 || n % 17 == 0 || n == 257).Concat([1031, 65_537, 300_001]))
            AssertMatches($"n={n}", loss, Logits(n, n));
    }

    internal static void AssertMatches(string what, GanLoss loss, float[] x)
    {
        int n = x.Length;
        double[] upstream = Enumerable.Range(0, n).Select(i => 0.25 * (i % 7) - 0.5).ToArray();
        float[] upstreamFloats = Array.ConvertAll(upstream, v => (float)v);
        (double[] values, double[] perElement) = ReferenceGan.Evaluate(loss, x, Reduction.None, upstream);
        (double[] mean, double[] meanGradient) = ReferenceGan.Evaluate(loss, x, Reduction.Mean, [1.5]);
        (double[] sum, double[] sumGradient) = ReferenceGan.Evaluate(loss, x, Reduction.Sum, [-0.5]);
        var output = new float[n];
        var gradient = new float[n];
        loss.ForwardBackward(x, output, gradient, upstreamFloats);
        Numerics.AssertClose($"{what}: values", output, values, 1e-5, 1e-6);
        Numerics.AssertClose($"{what}: gradient (none)", gradient, perElement, 1e-5, 1e-6);
        float[] unreducedGradient = (float[])gradient.Clone();
        float meanLoss = loss.ForwardBackward(x, gradient, Reduction.Mean, 1.5f);
        Numerics.AssertClose($"{what}: mean", meanLoss, mean[0], 1e-5, 1e-6);
        // σ(x) − y cancels where σ(x) is near the label: float32's absolute error there is about 6e-8 of the slope's scale.
        double meanAtol = 2e-7 * 1.5 / Math.Max(n, 1);
        Numerics.AssertClose($"{what}: gradient (mean)", gradient, meanGradient, 1e-5, meanAtol);
        Assert.That(loss.Forward(x), Is.EqualTo(meanLoss).Or.NaN, $"{what}: forward");
        Numerics.AssertClose($"{what}: sum", loss.ForwardBackward(x, gradient, Reduction.Sum, -0.5f), sum[0], 1e-5, 1e-5);
        Numerics.AssertClose($"{what}: gradient (sum)", gradient, sumGradient, 1e-5, 2e-7 * 0.5);
        var alone = new float[n];
        loss.Forward(x, alone);
        Assert.That(alone, Is.EqualTo(output), $"{what}: forward unreduced");
        var backward = new float[n];
        loss.Backward(x, upstreamFloats, backward);
        Assert.That(backward, Is.EqualTo(unreducedGradient), $"{what}: backward unreduced");
        loss.Backward(x, 1.5f, backward);
        Numerics.AssertClose($"{what}: backward (mean)", backward, meanGradient, 1e-5, meanAtol);
    }

    /// <summary>The reference's slope against its central differences (away from the hinge's kinks).</summary>
    [TestCaseSource(nameof(Losses))]
    public void TheGradientIsTheLossDerivative(GanLoss loss)
    {
        foreach (double x in (double[])[-7.3, -2.1, -0.6, -0.01, 0.37, 0.8, 1.6, 4.9])
        {
            const double h = 1e-5;
            double difference = (ReferenceGan.Element(loss, x + h).Value - ReferenceGan.Element(loss, x - h).Value) / (2 * h);
            Assert.That(ReferenceGan.Element(loss, x).Slope, Is.EqualTo(difference).Within(1e-6 + 1e-6 * Math.Abs(difference)), $"x = {x}");
        }
    }

    [TestCaseSource(nameof(Losses))]
    public void EdgeCases(GanLoss loss)
    {
        // ±1e4 (softplus and the sigmoid at both ends), the hinge's kinks at ±1 and 0.
        AssertMatches("edges", loss, [1e4f, -1e4f, 1f, -1f, 0f, 89f, -89f, 30f, -30f, 1e-6f]);
        // No elements: the mean is NaN (as PyTorch's), the sum 0.
        Assert.That(loss.Forward([]), Is.NaN);
        Assert.That(loss.ForwardBackward([], [], Reduction.Sum), Is.Zero);
        // NaN stays in the value; in place, the gradient overwrites the logits.
        var output = new float[5];
        var gradient = new float[5];
        loss.ForwardBackward([float.NaN, 0.5f, 1f, -2f, 3f], output, gradient);
        Assert.That(output[0], Is.NaN);
        float[] x = Logits(37, 9);
        var expected = new float[37];
        float value = loss.ForwardBackward(x, expected);
        float[] inPlace = (float[])x.Clone();
        Assert.That(loss.ForwardBackward(inPlace, inPlace), Is.EqualTo(value));
        Assert.That(inPlace, Is.EqualTo(expected));
    }

    /// <summary>
    /// With BasicSR's hard labels (1 and 0) the cross-entropy forms' gradient is one sigmoid to float32's relative precision where the
    /// sigmoid saturates (σ(x) − 1 in float32 is 0 at x = 17).
    /// </summary>
    [Test]
    public void HardLabelGradientsKeepEveryBitOfTheSigmoid()
    {
        float[] x = [.. Enumerable.Range(-34, 69).Select(i => i * 0.5f)];
        var gradient = new float[x.Length];
        foreach (GanType type in (GanType[])[GanType.Vanilla, GanType.Minimax])
            foreach (bool disc in (bool[])[true, false])
                foreach (bool real in (bool[])[true, false])
                {
                    var loss = new GanLoss(type, real, disc);
                    loss.ForwardBackward(x, gradient, Reduction.Sum);
                    Numerics.AssertClose($"{type} disc {disc} real {real}", gradient, ReferenceGan.Evaluate(loss, x, Reduction.Sum, [1.0]).Gradient, 1e-6, 0);
                }
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        float[] x = Logits(1_000_003, 5);
        foreach (GanLoss loss in AllLosses)
        {
            AssertSameBits($"{loss.Type}", () =>
            {
                var gradient = new float[x.Length];
                return (loss.ForwardBackward(x, gradient), [gradient]);
            });
        }
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        float[] x = Logits(300_001, 6);
        var gradient = new float[x.Length];
        var output = new float[x.Length];
        DeterminismAndAllocationTests.AssertNoAllocation("gan loss", () =>
        {
            new GanLoss().ForwardBackward(x, gradient);
            new GanLoss(GanType.Hinge, false, true).ForwardBackward(x, output, gradient);
            new GanLoss(GanType.WassersteinSoftplus, true, false).Forward(x, Reduction.Sum);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] x = new float[24], gradient = new float[24], output = new float[24];
        var loss = new GanLoss(GanType.LeastSquares, true, true);
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("type 9", () => _ = new GanLoss((GanType)9, true, true), typeof(ArgumentOutOfRangeException), "type"),
            ("NaN real label", () => _ = new GanLoss(GanType.Vanilla, true, true, realLabel: float.NaN), typeof(ArgumentOutOfRangeException), "realLabel"),
            ("infinite fake label", () => _ = new GanLoss(GanType.Vanilla, true, true, fakeLabel: float.PositiveInfinity), typeof(ArgumentOutOfRangeException), "fakeLabel"),
            ("NaN weight", () => _ = new GanLoss(GanType.Hinge, true, false, lossWeight: float.NaN), typeof(ArgumentOutOfRangeException), "lossWeight"),
            ("gradient short", () => loss.ForwardBackward(x, gradient.AsSpan(0, 23)), typeof(ArgumentException), "inputGrad"),
            ("gradient shifted over the input", () => loss.ForwardBackward(gradient.AsSpan(0, 20), gradient.AsSpan(1)), typeof(ArgumentException), "inputGrad"),
            ("reduction none", () => loss.ForwardBackward(x, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("reduction 7", () => loss.Forward(x, (Reduction)7), typeof(ArgumentOutOfRangeException), "reduction"),
            ("output short", () => loss.ForwardBackward(x, output.AsSpan(0, 23), gradient), typeof(ArgumentException), "output"),
            ("upstream short", () => loss.ForwardBackward(x, output, gradient, new float[23]), typeof(ArgumentException), "upstream"),
            ("output is the gradient", () => loss.ForwardBackward(x, gradient, gradient), typeof(ArgumentException), "inputGrad"),
            ("backward upstream short", () => loss.Backward(x, new float[23], gradient), typeof(ArgumentException), "upstream"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            Array.Fill(gradient, -7f);
            Array.Fill(output, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            Assert.That(gradient, Is.All.EqualTo(-7f), name);
            Assert.That(output, Is.All.EqualTo(-7f), name);
        }
    }
}
