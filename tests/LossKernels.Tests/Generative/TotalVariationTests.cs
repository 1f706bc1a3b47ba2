using LossKernels.Generative;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Generative;

/// <summary>
/// Total variation on the CPU against its float64 reference: every norm and reduction, planes from 1 × 1 to 257 wide and past a band
/// of rows, H or W = 1; the reference against its own central differences; constant images, ±1e4, thread counts, allocations and
/// bad arguments.
/// </summary>
[TestFixture]
public class TotalVariationTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> Norms()
    {
        yield return new TestCaseData(new TotalVariationLoss()).SetArgDisplayNames("anisotropic");
        yield return new TestCaseData(new TotalVariationLoss(TotalVariationNorm.Isotropic)).SetArgDisplayNames("isotropic");
        yield return new TestCaseData(new TotalVariationLoss(TotalVariationNorm.Isotropic, eps: 0.01f)).SetArgDisplayNames("isotropic eps 0.01");
        yield return new TestCaseData(new TotalVariationLoss(TotalVariationNorm.Beta, beta: 2f)).SetArgDisplayNames("beta 2");
        yield return new TestCaseData(new TotalVariationLoss(TotalVariationNorm.Beta, beta: 1.5f)).SetArgDisplayNames("beta 1.5");
    }

    internal static readonly (int N, int C, int H, int W)[] Shapes =
    [
        (1, 1, 1, 1), (1, 1, 1, 7), (2, 1, 9, 1), (1, 3, 2, 2), (2, 3, 5, 17), (1, 2, 7, 33), (3, 1, 13, 64), (1, 1, 66, 129), (2, 2, 3, 257),
    ];

    /// <summary>Values on a grid of 1/16 with a share of equal neighbours (the subgradient's 0) and some far apart.</summary>
    public static float[] Image(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(4) == 0 ? 0.5f : random.Next(-48, 49) / 16f).ToArray();
    }

    [TestCaseSource(nameof(Norms))]
    public void MatchesTheReference(TotalVariationLoss loss)
    {
        int seed = 0;
        foreach ((int n, int c, int h, int w) in Shapes)
        {
            float[] x = Image(n * c * h * w, seed++);
            AssertMatches($"N={n} C={c} H={h} W={w}", loss, x, n, c, h, w);
        }
    }

    internal static void AssertMatches(string what, TotalVariationLoss loss, float[] x, int n, int c, int h, int w, double rtol = 1e-5)
    {
        float[] upstream = Enumerable.Range(0, n).Select(i => 0.5f + i).ToArray();
        (double[] values, double[] perImage) = ReferenceTotalVariation.Evaluate(loss, x, n, c, h, w, i => upstream[i]);
        (_, double[] mean) = ReferenceTotalVariation.Evaluate(loss, x, n, c, h, w, _ => 1.5 / n);
        double largest = Math.Max(values.Select(Math.Abs).DefaultIfEmpty(0).Max(), 1);
        var output = new float[n];
        var gradient = new float[x.Length];
        loss.ForwardBackward(x, n, c, h, w, output, gradient, upstream);
        Numerics.AssertClose($"{what}: values", output, values, rtol, 1e-6 * largest);
        Numerics.AssertClose($"{what}: gradient (none)", gradient, perImage, rtol, 1e-5);
        float meanLoss = loss.ForwardBackward(x, n, c, h, w, gradient, Reduction.Mean, 1.5f);
        Numerics.AssertClose($"{what}: mean", meanLoss, values.Average(), rtol, 1e-6 * largest);
        Numerics.AssertClose($"{what}: gradient (mean)", gradient, mean, rtol, 1e-5);
        Assert.That(loss.Forward(x, n, c, h, w, Reduction.Mean), Is.EqualTo(meanLoss), $"{what}: forward");
        Numerics.AssertClose($"{what}: sum", loss.Forward(x, n, c, h, w, Reduction.Sum), values.Sum(), rtol, 1e-6 * largest * n);
        var alone = new float[n];
        loss.Forward(x, n, c, h, w, alone);
        Assert.That(alone, Is.EqualTo(output), $"{what}: forward unreduced");
        var backward = new float[x.Length];
        loss.Backward(x, n, c, h, w, upstream, backward);
        Numerics.AssertClose($"{what}: backward", backward, perImage, rtol, 1e-5);
    }

    /// <summary>Random (not quantized) images: the reference's gradient against its central differences (away from the kinks).</summary>
    [TestCaseSource(nameof(Norms))]
    public void TheGradientIsTheLossDerivative(TotalVariationLoss loss)
    {
        var random = new Random(3);
        const int n = 2, c = 2, h = 4, w = 5;
        float[] x = Enumerable.Range(0, n * c * h * w).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        (_, double[] expected) = ReferenceTotalVariation.Evaluate(loss, x, n, c, h, w, _ => 1d);
        for (int i = 0; i < x.Length; i++)
        {
            float[] plus = (float[])x.Clone(), minus = (float[])x.Clone();
            plus[i] += 1f / 4096;
            minus[i] -= 1f / 4096;
            double difference = (ReferenceTotalVariation.Evaluate(loss, plus, n, c, h, w, _ => 1d).Values.Sum()
                - ReferenceTotalVariation.Evaluate(loss, minus, n, c, h, w, _ => 1d).Values.Sum()) / (plus[i] - minus[i]);
            Assert.That(expected[i], Is.EqualTo(difference).Within(2e-3 + 2e-3 * Math.Abs(difference)), $"element {i}");
        }
    }

    [TestCaseSource(nameof(Norms))]
    public void EdgeCases(TotalVariationLoss loss)
    {
        // A constant image: no variation, a zero gradient (the isotropic eps leaves √eps per pixel).
        float[] constant = Enumerable.Repeat(0.25f, 2 * 3 * 6 * 5).ToArray();
        AssertMatches("constant", loss, constant, 2, 3, 6, 5);
        // ±1e4 side by side.
        float[] large = Enumerable.Range(0, 3 * 9 * 11).Select(i => (i * 7 % 5 - 2) * 5e3f).ToArray();
        AssertMatches("±1e4", loss, large, 1, 3, 9, 11);
        // No images, no channels, empty planes.
        Assert.That(loss.Forward([], 0, 3, 4, 4, Reduction.Sum), Is.Zero);
        Assert.That(loss.ForwardBackward([], 2, 0, 4, 4, [], Reduction.Sum), Is.Zero);
        Assert.That(loss.Forward([], 2, 3, 0, 4, Reduction.Mean), Is.Zero);
    }

    /// <summary>Past 4M elements the gradient is streamed past the caches, each row from its first vector-aligned element (odd widths shift it).</summary>
    [Test]
    public void AGradientStreamedPastTheCachesMatchesTheReference()
    {
        const int n = 2, c = 1, h = 1025, w = 2049;
        Assert.That((long)n * c * h * w, Is.GreaterThanOrEqualTo(ElementwiseDriver.NonTemporalThreshold));
        AssertMatches("streamed", new TotalVariationLoss(), Image(n * c * h * w, 9), n, c, h, w);
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        float[] x = Image(3 * 2 * 200 * 173, 5);
        foreach (TotalVariationLoss loss in Norms().Select(d => (TotalVariationLoss)d.Arguments[0]!))
        {
            AssertSameBits($"{loss.Norm}", () =>
            {
                var gradient = new float[x.Length];
                return (loss.ForwardBackward(x, 3, 2, 200, 173, gradient, Reduction.Sum), [gradient]);
            });
        }
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        float[] x = Image(2 * 3 * 70 * 90, 6);
        var gradient = new float[x.Length];
        var output = new float[2];
        float[] upstream = [1f, -0.5f];
        DeterminismAndAllocationTests.AssertNoAllocation("total variation", () =>
        {
            new TotalVariationLoss().ForwardBackward(x, 2, 3, 70, 90, gradient);
            new TotalVariationLoss(TotalVariationNorm.Isotropic).ForwardBackward(x, 2, 3, 70, 90, output, gradient, upstream);
            new TotalVariationLoss(TotalVariationNorm.Beta, beta: 1.2f).Forward(x, 2, 3, 70, 90, Reduction.Sum);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] x = new float[24], gradient = new float[24], output = new float[2];
        var loss = new TotalVariationLoss();
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("norm 5", () => _ = new TotalVariationLoss((TotalVariationNorm)5), typeof(ArgumentOutOfRangeException), "norm"),
            ("negative eps", () => _ = new TotalVariationLoss(TotalVariationNorm.Isotropic, eps: -1f), typeof(ArgumentOutOfRangeException), "eps"),
            ("beta 0", () => _ = new TotalVariationLoss(TotalVariationNorm.Beta, beta: 0f), typeof(ArgumentOutOfRangeException), "beta"),
            ("NaN beta", () => _ = new TotalVariationLoss(TotalVariationNorm.Beta, beta: float.NaN), typeof(ArgumentOutOfRangeException), "beta"),
            ("negative images", () => loss.ForwardBackward(x, -2, 3, 2, 2, gradient), typeof(ArgumentOutOfRangeException), "images"),
            ("negative width", () => loss.ForwardBackward(x, 2, 3, 4, -1, gradient), typeof(ArgumentOutOfRangeException), "width"),
            ("shape not the input", () => loss.ForwardBackward(x, 2, 3, 2, 3, gradient), typeof(ArgumentException), "input"),
            ("gradient short", () => loss.ForwardBackward(x, 2, 3, 2, 2, gradient.AsSpan(0, 23)), typeof(ArgumentException), "inputGrad"),
            ("in place", () => loss.ForwardBackward(gradient, 2, 3, 2, 2, gradient), typeof(ArgumentException), "inputGrad"),
            ("reduction none", () => loss.ForwardBackward(x, 2, 3, 2, 2, gradient, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
            ("output short", () => loss.ForwardBackward(x, 2, 3, 2, 2, output.AsSpan(0, 1), gradient, [1f, 1f]), typeof(ArgumentException), "output"),
            ("upstream short", () => loss.ForwardBackward(x, 2, 3, 2, 2, output, gradient, [1f]), typeof(ArgumentException), "upstream"),
            ("output in the gradient", () => loss.ForwardBackward(x, 2, 3, 2, 2, gradient.AsSpan(0, 2), gradient, [1f, 1f]), typeof(ArgumentException), "output"),
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
