using LossKernels.Generative;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The Gram style loss on the CPU against its float64 formula: Johnson's and Gatys's normalizations, mean and sum, a target Gram per
/// image or one for all, a target that is not symmetric; finite differences; shapes from one channel and one position to panel, tile and
/// depth-block remainders; zero features, ±1e4, thread counts, allocations and bad arguments.
/// </summary>
[TestFixture]
public class GramStyleTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> Losses()
    {
        yield return new TestCaseData(new GramStyleLoss()).SetArgDisplayNames("johnson");
        yield return new TestCaseData(new GramStyleLoss(GramNormalization.Gatys)).SetArgDisplayNames("gatys");
    }

    /// <summary>ReLU-like features [N, C, M] (non-negative, a third zero) and a style's Gram of other such features ([1 or N, C, C]).</summary>
    public static (float[] Features, float[] TargetGram) Sample(GramStyleLoss loss, int images, int channels, int spatial, int targetImages, int seed)
    {
        var random = new Random(seed);
        float[] Features(int count) => Enumerable.Range(0, count).Select(_ => random.Next(3) == 0 ? 0f : (float)(2 * random.NextDouble())).ToArray();
        float[] x = Features(images * channels * spatial), style = Features(targetImages * channels * (spatial + 3));
        var gram = new float[targetImages * channels * channels];
        loss.ComputeGram(style, targetImages, channels, gram);
        return (x, gram);
    }

    /// <summary>L and ∂(upstream·L)/∂input in float64.</summary>
    public static (double Loss, double[] Gradient) Reference(GramStyleLoss loss, float[] x, float[] targetGram, int images, int channels, Reduction reduction,
        double upstream)
    {
        double scale = reduction == Reduction.Mean ? 1d / images : 1d;
        (double[] losses, double[] gradient) = ReferenceGramStyle.Evaluate(loss.Normalization, x, targetGram, images, channels, _ => upstream * scale);
        return (images == 0 && reduction == Reduction.Mean ? double.NaN : losses.Sum() * scale, gradient);
    }

    private static readonly (int Images, int Channels, int Spatial, int TargetImages)[] Shapes =
        [(1, 1, 1, 1), (1, 1, 7, 1), (2, 3, 17, 1), (3, 5, 4, 3), (1, 7, 257, 1), (2, 33, 31, 2), (1, 40, 600, 1), (2, 64, 100, 1)];

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheReference(GramStyleLoss loss)
    {
        foreach ((int images, int channels, int spatial, int targetImages) in Shapes)
        {
            (float[] x, float[] a) = Sample(loss, images, channels, spatial, targetImages, channels * spatial);
            foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
            {
                string what = $"N={images} C={channels} M={spatial} A of {targetImages} {reduction}";
                (double expected, double[] gradient) = Reference(loss, x, a, images, channels, reduction, 0.75);
                var got = new float[x.Length];
                float value = loss.ForwardBackward(x, a, images, channels, got, reduction, 0.75f);
                // The Gram's float32 sums over M differ from float64's by about √M ulps, which G − A magnifies where the two are close.
                Numerics.AssertClose($"{what}: loss", value, expected, 1e-4, 1e-9);
                Numerics.AssertClose($"{what}: gradient", got, gradient, 1e-3, 1e-6 * gradient.Select(Math.Abs).DefaultIfEmpty(0).Max());
                Assert.That(loss.Forward(x, a, images, channels, reduction), Is.EqualTo(value), $"{what}: forward");
                var backward = new float[x.Length];
                loss.Backward(x, a, images, channels, 0.75f, backward, reduction);
                Assert.That(backward, Is.EqualTo(got), $"{what}: backward");
            }
        }
    }

    /// <summary>The Gram the loss computes is the float64 Gram, and G_ij and G_ji are the same bits.</summary>
    [TestCaseSource(nameof(Losses))]
    public void TheGramIsSymmetricAndMatchesTheReference(GramStyleLoss loss)
    {
        (int images, int channels, int spatial) = (2, 37, 300);
        (float[] x, _) = Sample(loss, images, channels, spatial, 1, 11);
        var gram = new float[images * channels * channels];
        loss.ComputeGram(x, images, channels, gram);
        Numerics.AssertClose("gram", gram, ReferenceGramStyle.Gram(loss.Normalization, x, images, channels), 1e-5, 0);
        for (int n = 0; n < images; n++)
            for (int i = 0; i < channels; i++)
                for (int j = 0; j < i; j++)
                    Assert.That(gram[(n * channels + i) * channels + j], Is.EqualTo(gram[(n * channels + j) * channels + i]), $"G[{n},{i},{j}]");
    }

    /// <summary>A target Gram that is not symmetric: the gradient is 2·w·s·(E + Eᵀ)·F, not 4·w·s·E·F.</summary>
    [TestCaseSource(nameof(Losses))]
    public void AnAsymmetricTargetGetsTheSymmetricPartOfE(GramStyleLoss loss)
    {
        (int images, int channels, int spatial) = (2, 6, 11);
        (float[] x, float[] a) = Sample(loss, images, channels, spatial, images, 12);
        var random = new Random(13);
        a = Array.ConvertAll(a, v => v * (float)(0.5 + random.NextDouble()));
        (double expected, double[] gradient) = Reference(loss, x, a, images, channels, Reduction.Sum, 1);
        var got = new float[x.Length];
        Numerics.AssertClose("loss", loss.ForwardBackward(x, a, images, channels, got, Reduction.Sum), expected, 1e-4, 1e-9);
        Numerics.AssertClose("gradient", got, gradient, 1e-3, 1e-6 * gradient.Select(Math.Abs).Max());
    }

    /// <summary>The float64 reference's gradient against central differences of its loss.</summary>
    [TestCaseSource(nameof(Losses))]
    public void TheReferenceGradientMatchesFiniteDifferences(GramStyleLoss loss)
    {
        (int images, int channels, int spatial) = (2, 4, 5);
        (float[] x, float[] a) = Sample(loss, images, channels, spatial, 1, 14);
        (_, double[] gradient) = Reference(loss, x, a, images, channels, Reduction.Mean, 1);
        for (int i = 0; i < x.Length; i++)
        {
            float[] plus = (float[])x.Clone(), minus = (float[])x.Clone();
            plus[i] += 1f / 256;
            minus[i] -= 1f / 256;
            double difference = (Reference(loss, plus, a, images, channels, Reduction.Mean, 1).Loss - Reference(loss, minus, a, images, channels, Reduction.Mean, 1).Loss)
                / (plus[i] - minus[i]);
            Assert.That(gradient[i], Is.EqualTo(difference).Within(1e-6 + 1e-4 * Math.Abs(difference)), $"element {i}");
        }
    }

    [TestCaseSource(nameof(Losses))]
    public void EdgeCases(GramStyleLoss loss)
    {
        // Zero features against a zero Gram: 0 and a zero gradient; against another Gram: ‖A‖² and still a zero gradient (G·0).
        var zeros = new float[2 * 3 * 8];
        var gradient = new float[zeros.Length];
        Assert.That(loss.ForwardBackward(zeros, new float[9], 2, 3, gradient), Is.Zero);
        Assert.That(gradient, Is.All.Zero);
        float[] ones = Enumerable.Repeat(1f, 9).ToArray();
        double weight = GramStyleMath.LossWeight(loss.Normalization, 3, 8);
        Assert.That(loss.ForwardBackward(zeros, ones, 2, 3, gradient), Is.EqualTo(9 * weight).Within(1e-6 * 9 * weight));
        Assert.That(gradient, Is.All.Zero);
        // Features against their own Gram: 0 and a zero gradient.
        (float[] x, _) = Sample(loss, 1, 5, 9, 1, 15);
        var own = new float[25];
        loss.ComputeGram(x, 1, 5, own);
        Assert.That(loss.ForwardBackward(x, own, 1, 5, new float[x.Length]), Is.Zero);
        // A Gram of one channel: ‖f‖² scaled.
        float[] single = [1f, 2f, 3f];
        var g = new float[1];
        loss.ComputeGram(single, 1, 1, g);
        Assert.That(g[0], Is.EqualTo(loss.Normalization == GramNormalization.Gatys ? 14d : 14d / 3).Within(1e-6));
        // No images: the mean is NaN, the sum 0.
        Assert.That(loss.Forward([], new float[4], 0, 2), Is.NaN);
        Assert.That(loss.Forward([], new float[4], 0, 2, Reduction.Sum), Is.Zero);
        // ±1e4 features.
        (float[] big, float[] a) = Sample(loss, 2, 4, 6, 1, 16);
        big = Array.ConvertAll(big, v => (v - 1) * 1e4f);
        (double expected, double[] expectedGradient) = Reference(loss, big, a, 2, 4, Reduction.Mean, 1);
        var bigGradient = new float[big.Length];
        Numerics.AssertClose("±1e4", loss.ForwardBackward(big, a, 2, 4, bigGradient), expected, 1e-4, 0);
        Numerics.AssertClose("±1e4 gradient", bigGradient, expectedGradient, 1e-3, 1e-6 * expectedGradient.Select(Math.Abs).Max());
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        foreach (GramStyleLoss loss in Losses().Select(d => (GramStyleLoss)d.Arguments[0]!))
        {
            (float[] x, float[] a) = Sample(loss, 2, 70, 1500, 1, 17);
            AssertSameBits($"{loss.Normalization}", () =>
            {
                var gradient = new float[x.Length];
                return (loss.ForwardBackward(x, a, 2, 70, gradient, Reduction.Sum), [gradient]);
            });
        }
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        var loss = new GramStyleLoss();
        (float[] x, float[] a) = Sample(loss, 2, 64, 2000, 1, 18);
        var gradient = new float[x.Length];
        var gram = new float[2 * 64 * 64];
        DeterminismAndAllocationTests.AssertNoAllocation("gram style", () =>
        {
            loss.ComputeGram(x, 2, 64, gram);
            loss.ForwardBackward(x, a, 2, 64, gradient);
            new GramStyleLoss(GramNormalization.Gatys).Forward(x, gram, 2, 64, Reduction.Sum);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] x = new float[24], a = new float[4], gradient = new float[24], gram = new float[8];
        var loss = new GramStyleLoss();
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("normalization", () => _ = new GramStyleLoss((GramNormalization)7), typeof(ArgumentOutOfRangeException), "normalization"),
            ("negative images", () => loss.ForwardBackward(x, a, -1, 2, gradient), typeof(ArgumentOutOfRangeException), "images"),
            ("no channels", () => loss.ForwardBackward(x, a, 2, 0, gradient), typeof(ArgumentOutOfRangeException), "channels"),
            ("images not dividing", () => loss.ForwardBackward(x, a, 5, 2, gradient), typeof(ArgumentException), "input"),
            ("channels not dividing", () => loss.ForwardBackward(x, new float[25], 2, 5, gradient), typeof(ArgumentException), "input"),
            ("values for no images", () => loss.ForwardBackward(x, a, 0, 2, gradient), typeof(ArgumentException), "input"),
            ("target length", () => loss.ForwardBackward(x, new float[5], 2, 2, gradient), typeof(ArgumentException), "targetGram"),
            ("reduction none", () => loss.ForwardBackward(x, a, 2, 2, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("gradient short", () => loss.ForwardBackward(x, a, 2, 2, gradient.AsSpan(1)), typeof(ArgumentException), "inputGrad"),
            ("gradient over the input", () => loss.ForwardBackward(gradient, a, 2, 2, gradient), typeof(ArgumentException), "inputGrad"),
            ("gradient over the target", () => loss.ForwardBackward(x, gradient.AsSpan(0, 4), 2, 2, gradient), typeof(ArgumentException), "inputGrad"),
            ("gram short", () => loss.ComputeGram(x, 2, 2, gram.AsSpan(1)), typeof(ArgumentException), "gram"),
            ("gram over the features", () => loss.ComputeGram(gradient.AsSpan(0, 8), 2, 2, gradient.AsSpan(4, 8)), typeof(ArgumentException), "gram"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            Array.Fill(gradient, -7f);
            Array.Fill(gram, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            Assert.That(gradient, Is.All.EqualTo(-7f), name);
            Assert.That(gram, Is.All.EqualTo(-7f), name);
        }
    }
}
