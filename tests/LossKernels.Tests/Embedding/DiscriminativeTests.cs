using LossKernels.Embedding;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Embedding;

/// <summary>
/// The discriminative loss on the CPU against its float64 reference: images of 0 to 5,000 pixels (instances over several pieces), 1 to
/// 17 channels, 0 to many instances with ids that are not contiguous, with and without an ignored id, both reductions; the reference
/// against its own central differences; edge cases (identical embeddings, empty masks, one instance, a pixel per instance, ±1e4),
/// in place, threads, allocations and bad arguments.
/// </summary>
[TestFixture]
public class DiscriminativeTests : ThreadCountFixture
{
    /// <summary>Ids that are not contiguous (0 is the default background).</summary>
    private static readonly long[] Ids = [0, 7, 1000, -3, 42, 5, 999_999_999_999, 11];

    /// <summary>
    /// N images of S pixels and E channels: each pixel's id from runs over <paramref name="instances"/> ids of <see cref="Ids"/>, its
    /// embedding the id's centre (in [−1.2, 1.2)) plus noise in [−0.6, 0.6), so that some pixels are inside δv = 0.5 and some outside,
    /// and some means within 2δd = 3 of each other.
    /// </summary>
    public static (float[] X, long[] Labels) Problem(int images, int channels, int pixels, int instances, int seed)
    {
        var random = new Random(seed);
        var centres = new float[Ids.Length, channels];
        for (int c = 0; c < Ids.Length; c++)
            for (int e = 0; e < channels; e++)
                centres[c, e] = (float)(random.NextDouble() * 2.4 - 1.2);
        var labels = new long[images * pixels];
        var x = new float[images * channels * pixels];
        for (int n = 0; n < images; n++)
        {
            int current = random.Next(instances);
            for (int i = 0; i < pixels; i++)
            {
                if (random.Next(16) == 0)
                    current = random.Next(instances);
                labels[n * pixels + i] = Ids[current];
                for (int e = 0; e < channels; e++)
                    x[(n * channels + e) * pixels + i] = centres[current, e] + (float)(random.NextDouble() * 1.2 - 0.6);
            }
        }

        return (x, labels);
    }

    private static readonly (int Images, int Channels, int Pixels, int Instances)[] Shapes =
    [
        (1, 1, 1, 1), (1, 3, 7, 2), (2, 4, 16, 3), (3, 16, 31, 5), (2, 17, 64, 8), (4, 5, 127, 4), (1, 2, 257, 6), (2, 8, 5000, 5), (3, 3, 2049, 1),
    ];

    public static IEnumerable<TestCaseData> Options()
    {
        yield return new TestCaseData(new DiscriminativeLoss(), Reduction.Mean).SetArgDisplayNames("defaults", "mean");
        yield return new TestCaseData(new DiscriminativeLoss(0.3f, 1f, 0.7f, 1.3f, 0.05f, ignoreLabel: null), Reduction.Sum)
            .SetArgDisplayNames("every pixel", "sum");
        yield return new TestCaseData(new DiscriminativeLoss(0f, 0.4f, 2f, 0.5f, 0f, ignoreLabel: 42), Reduction.Mean).SetArgDisplayNames("deltaV 0, ignore 42", "mean");
    }

    [TestCaseSource(nameof(Options))]
    public void MatchesTheReference(DiscriminativeLoss loss, Reduction reduction)
    {
        int seed = 1;
        foreach ((int images, int channels, int pixels, int instances) in Shapes)
        {
            (float[] x, long[] labels) = Problem(images, channels, pixels, instances, seed++);
            AssertMatchesReference($"N={images} E={channels} S={pixels}", loss, x, labels, images, channels, reduction, 1.5f,
                () =>
                {
                    var gradient = new float[x.Length];
                    return (loss.ForwardBackward(x, labels, images, channels, gradient, reduction, 1.5f), gradient);
                },
                () => loss.Forward(x, labels, images, channels, reduction));
        }
    }

    /// <summary>The fused result and gradient against the reference, and the forward alone against the fused loss.</summary>
    public static void AssertMatchesReference(string what, DiscriminativeLoss loss, float[] x, long[] labels, int images, int channels, Reduction reduction,
        float upstream, Func<(DiscriminativeLossResult Result, float[] Gradient)> fused, Func<DiscriminativeLossResult> forward, double rtol = 1e-5)
    {
        var expected = ReferenceDiscriminative.Evaluate(loss, x, labels, images, channels, reduction, upstream);
        (DiscriminativeLossResult result, float[] gradient) = fused();
        Numerics.AssertClose($"{what}: loss", result.Loss, expected.Loss, rtol, 1e-6);
        Numerics.AssertClose($"{what}: variance", result.Variance, expected.Variance, rtol, 1e-6);
        Numerics.AssertClose($"{what}: distance", result.Distance, expected.Distance, rtol, 1e-6);
        Numerics.AssertClose($"{what}: regularizer", result.Regularizer, expected.Regularizer, rtol, 1e-6);
        double largest = expected.Gradient.Length == 0 ? 0 : expected.Gradient.Max(Math.Abs);
        Numerics.AssertClose($"{what}: gradient", gradient, expected.Gradient, 10 * rtol, rtol * Math.Max(1e-3, largest));
        Assert.That(forward(), Is.EqualTo(result), $"{what}: forward");
    }

    [TestCaseSource(nameof(Options))]
    public void TheGradientIsTheLossDerivative(DiscriminativeLoss loss, Reduction reduction)
    {
        (float[] x, long[] labels) = Problem(2, 3, 13, 4, seed: 8);
        var expected = ReferenceDiscriminative.Evaluate(loss, x, labels, 2, 3, reduction);
        for (int i = 0; i < x.Length; i++)
        {
            float[] plus = (float[])x.Clone(), minus = (float[])x.Clone();
            plus[i] += 1f / 1024;
            minus[i] -= 1f / 1024;
            double difference = (ReferenceDiscriminative.Evaluate(loss, plus, labels, 2, 3, reduction).Loss
                - ReferenceDiscriminative.Evaluate(loss, minus, labels, 2, 3, reduction).Loss) / (plus[i] - minus[i]);
            Assert.That(expected.Gradient[i], Is.EqualTo(difference).Within(2e-3 + 2e-3 * Math.Abs(difference)), $"element {i}");
        }

        var gradient = new float[x.Length];
        loss.ForwardBackward(x, labels, 2, 3, gradient, reduction);
        Numerics.AssertClose("kernel", gradient, expected.Gradient, 1e-4, 1e-6);
    }

    [Test]
    public void EdgeCases()
    {
        var loss = new DiscriminativeLoss();
        // Identical embeddings: no pull, every pair of means at distance 0 pushed by (2δd)², whose gradient's choice at 0 is 0.
        float[] same = Enumerable.Repeat(0.5f, 2 * 3 * 10).ToArray();
        long[] ids = [1, 1, 2, 2, 3, 3, 0, 0, 7, 7, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9];
        AssertEdge("identical", loss, same, ids, 2, 3);
        var gradient = new float[same.Length];
        DiscriminativeLossResult result = loss.ForwardBackward(same, ids, 2, 3, gradient);
        Assert.That(result.Variance, Is.Zero);
        Assert.That(result.Distance, Is.EqualTo(9f).Within(1e-5f), "(2δd)² = 9 for every pair of means");

        // Empty masks: every pixel ignored, in one image or all.
        long[] background = new long[20];
        AssertEdge("all ignored", loss, same, background, 2, 3);
        Assert.That(loss.ForwardBackward(same, background, 2, 3, gradient), Is.EqualTo(default(DiscriminativeLossResult)));
        Assert.That(gradient, Is.All.Zero);
        long[] oneEmpty = [.. ids[..10], .. new long[10]];
        AssertEdge("second image empty", loss, Problem(2, 3, 10, 3, 4).X, oneEmpty, 2, 3);

        // One instance: no distance term; a pixel per instance: no pull.
        (float[] x, _) = Problem(1, 4, 50, 1, 5);
        AssertEdge("one instance", loss, x, Enumerable.Repeat(3L, 50).ToArray(), 1, 4);
        AssertEdge("a pixel each", loss, x, Enumerable.Range(1, 50).Select(i => (long)i * 37).ToArray(), 1, 4);
        // Embeddings at ±1e4: large but finite.
        float[] large = x.Select((v, i) => v + (i % 3 == 0 ? 1e4f : -1e4f)).ToArray();
        long[] three = Enumerable.Range(0, 50).Select(i => (long)(i % 3 + 1)).ToArray();
        DiscriminativeLossResult big = loss.ForwardBackward(large, three, 1, 4, new float[large.Length]);
        Assert.That(float.IsFinite(big.Loss), Is.True);
        // Differences of values near 1e4 carry float32's rounding of 1e4 (≈ 5e-4) into distances of about 0.5.
        AssertEdge("±1e4", loss, large, three, 1, 4, rtol: 5e-3);
        // No images, no pixels.
        Assert.That(loss.ForwardBackward([], [], 0, 4, []), Is.EqualTo(default(DiscriminativeLossResult)));
        Assert.That(loss.ForwardBackward([], [], 3, 4, []), Is.EqualTo(default(DiscriminativeLossResult)));
    }

    /// <summary>Thousands of instances per image (the id table grows several times; the push is C² pairs), ids spread over the int64 range.</summary>
    [Test]
    public void ManyInstances()
    {
        var random = new Random(12);
        const int pixels = 3001;
        long[] labels = Enumerable.Range(0, 2 * pixels).Select(i => i % 5 == 0 ? 0L : (long)(random.NextInt64(-1L << 60, 1L << 60) / 4096 * 4096 + i % 1700)).ToArray();
        for (int i = 1; i < labels.Length; i += 7)
            labels[i] = labels[i - 1];
        float[] x = Enumerable.Range(0, 2 * 3 * pixels).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var loss = new DiscriminativeLoss(0.1f, 0.05f);
        AssertEdge("many instances", loss, x, labels, 2, 3);
    }

    private static void AssertEdge(string what, DiscriminativeLoss loss, float[] x, long[] labels, int images, int channels, double rtol = 1e-5) =>
        AssertMatchesReference(what, loss, x, labels, images, channels, Reduction.Mean, 1f,
            () =>
            {
                var gradient = new float[x.Length];
                return (loss.ForwardBackward(x, labels, images, channels, gradient), gradient);
            },
            () => loss.Forward(x, labels, images, channels), rtol);

    [Test]
    public void InPlaceAndThreadCountsGiveTheSameBits()
    {
        (float[] x, long[] labels) = Problem(3, 16, 9000, 8, seed: 9);
        var loss = new DiscriminativeLoss(0.4f, 1.2f, ignoreLabel: null);
        float[]? first = null;
        DiscriminativeLossResult firstResult = default;
        foreach (int threads in (int[])[1, 2, 4])
        {
            LossKernelsSettings.MaxThreads = threads;
            var gradient = new float[x.Length];
            DiscriminativeLossResult result = loss.ForwardBackward(x, labels, 3, 16, gradient);
            if (first is null)
            {
                (first, firstResult) = (gradient, result);
                continue;
            }

            Assert.That(result, Is.EqualTo(firstResult), $"{threads} threads");
            Assert.That(Numerics.BitEqual(gradient, first), $"{threads} threads");
        }

        float[] inPlace = (float[])x.Clone();
        loss.ForwardBackward(inPlace, labels, 3, 16, inPlace);
        Assert.That(Numerics.BitEqual(inPlace, first!), "in place");
        float[] backward = new float[x.Length];
        loss.Backward(x, labels, 3, 16, 1f, backward);
        Assert.That(Numerics.BitEqual(backward, first!), "backward");
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        (float[] x, long[] labels) = Problem(2, 8, 3000, 6, seed: 4);
        var gradient = new float[x.Length];
        DeterminismAndAllocationTests.AssertNoAllocation("discriminative loss", () =>
        {
            new DiscriminativeLoss().ForwardBackward(x, labels, 2, 8, gradient);
            new DiscriminativeLoss(0.2f, ignoreLabel: null).Forward(x, labels, 2, 8, Reduction.Sum);
            new DiscriminativeLoss().Backward(x, labels, 2, 8, 2f, gradient);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] x = new float[12], gradient = new float[12];
        long[] labels = [0, 1, 0, 1];
        var loss = new DiscriminativeLoss();
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("negative deltaV", () => _ = new DiscriminativeLoss(-0.1f), typeof(ArgumentOutOfRangeException), "deltaV"),
            ("NaN deltaD", () => _ = new DiscriminativeLoss(0.5f, float.NaN), typeof(ArgumentOutOfRangeException), "deltaD"),
            ("infinite alpha", () => _ = new DiscriminativeLoss(0.5f, alpha: float.PositiveInfinity), typeof(ArgumentOutOfRangeException), "alpha"),
            ("negative beta", () => _ = new DiscriminativeLoss(0.5f, beta: -1f), typeof(ArgumentOutOfRangeException), "beta"),
            ("negative gamma", () => _ = new DiscriminativeLoss(0.5f, gamma: -1e-3f), typeof(ArgumentOutOfRangeException), "gamma"),
            ("channels 0", () => loss.ForwardBackward(x, labels, 2, 0, gradient), typeof(ArgumentOutOfRangeException), "channels"),
            ("images -1", () => loss.ForwardBackward(x, labels, -1, 3, gradient), typeof(ArgumentOutOfRangeException), "images"),
            ("ragged images", () => loss.ForwardBackward(x, labels, 3, 3, gradient), typeof(ArgumentException), "labels"),
            ("embeddings short", () => loss.ForwardBackward(x.AsSpan(0, 11), labels, 2, 3, gradient), typeof(ArgumentException), "embeddings"),
            ("no images but data", () => loss.ForwardBackward(x, labels, 0, 3, gradient), typeof(ArgumentException), "embeddings"),
            ("reduction none", () => loss.ForwardBackward(x, labels, 2, 3, gradient, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
            ("reduction 9", () => loss.Forward(x, labels, 2, 3, (Reduction)9), typeof(ArgumentOutOfRangeException), "reduction"),
            ("gradient short", () => loss.ForwardBackward(x, labels, 2, 3, gradient.AsSpan(0, 11)), typeof(ArgumentException), "gradient"),
            ("gradient shifted", () => loss.ForwardBackward(x.AsSpan(0, 9), labels[..3], 1, 3, x.AsSpan(1, 9)), typeof(ArgumentException), "gradient"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            Array.Fill(gradient, -7f);
            Array.Fill(x, 0.25f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            Assert.That(gradient, Is.All.EqualTo(-7f), name);
            Assert.That(x, Is.All.EqualTo(0.25f), name);
        }
    }
}
