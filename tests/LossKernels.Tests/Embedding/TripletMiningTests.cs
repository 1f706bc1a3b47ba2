using LossKernels.Embedding;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Embedding;

/// <summary>
/// Triplet mining on the CPU against its float64 brute-force reference: every mining, distance, soft margin and normalization, batches
/// of 1 to 300 with D from 1 to 257, labels that are not contiguous; the Gram kernel against a plain double product; edge cases (one
/// class, singletons, identical embeddings, D = 1), entry points, in place, threads, allocations and bad arguments.
/// </summary>
[TestFixture]
public class TripletMiningTests : ThreadCountFixture
{
    /// <summary>Ids that are not contiguous, so nothing may index by label.</summary>
    private static readonly long[] Ids = [0, 7, 1000, -3, 42, 5, 999_999_999_999, 11];

    /// <summary>
    /// B rows of D and labels of <paramref name="classes"/> classes (ids built from <see cref="Ids"/>). Unless
    /// <paramref name="continuous"/>, the values are multiples of 1/8, so that float sums of products are exact and float and double
    /// mine alike; normalized rows are not exact anyway, and there a grid's exact ties would fall either way, so they take values
    /// drawn from [−1.5, 1.5).
    /// </summary>
    public static (float[] X, long[] Labels) Problem(int rows, int dim, int classes, int seed, bool continuous = false)
    {
        var random = new Random(seed);
        var x = new float[rows * dim];
        for (int i = 0; i < x.Length; i++)
            x[i] = continuous ? (float)(random.NextDouble() * 3 - 1.5) : random.Next(-12, 13) / 8f;
        var labels = new long[rows];
        for (int i = 0; i < rows; i++)
        {
            int c = random.Next(classes);
            labels[i] = Ids[c % Ids.Length] + 1_000_003L * (c / Ids.Length);
        }

        return (x, labels);
    }

    public static IEnumerable<TestCaseData> Options()
    {
        foreach (TripletMining mining in Enum.GetValues<TripletMining>())
            foreach (TripletDistance distance in Enum.GetValues<TripletDistance>())
            {
                yield return new TestCaseData(mining, distance, false, false);
                yield return new TestCaseData(mining, distance, true, false);
                if (distance != TripletDistance.Cosine)
                    yield return new TestCaseData(mining, distance, false, true);
            }
    }

    private static readonly (int Rows, int Dim, int Classes)[] Shapes =
        [(1, 3, 1), (2, 1, 1), (2, 5, 2), (3, 2, 2), (5, 1, 2), (8, 16, 3), (17, 7, 4), (33, 17, 5), (40, 33, 8), (64, 64, 6), (70, 257, 3), (131, 9, 8)];

    [TestCaseSource(nameof(Options))]
    public void MatchesTheReference(TripletMining mining, TripletDistance distance, bool soft, bool normalize)
    {
        var loss = new TripletMiningLoss(mining, margin: 0.3f, distance, soft, normalize);
        foreach ((int rows, int dim, int classes) in Shapes)
        {
            (float[] x, long[] labels) = ConditionedProblem(loss, rows, dim, classes);
            foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
            {
                float upstream = reduction == Reduction.Sum ? 0.75f : 1f;
                var gradient = new float[x.Length];
                TripletMiningResult result = AssertMatchesReference($"B={rows} D={dim} {reduction}", loss, x, labels, dim, reduction, upstream,
                    () => (loss.ForwardBackward(x, labels, dim, gradient, reduction, upstream), gradient), () => loss.Forward(x, labels, dim, reduction));
                var backward = new float[x.Length];
                loss.Backward(x, labels, dim, upstream, backward, reduction);
                Assert.That(Numerics.BitEqual(backward, gradient), $"B={rows} D={dim} {reduction}: backward");
            }
        }
    }

    /// <summary>
    /// A <see cref="Problem"/> for <paramref name="loss"/>: continuous values where rows are normalized, and for the hinge over every
    /// triplet the first seed whose triplets all stay clear of the hinge's kink (where float and double could count differently).
    /// </summary>
    public static (float[] X, long[] Labels) ConditionedProblem(TripletMiningLoss loss, int rows, int dim, int classes)
    {
        bool continuous = loss.Normalize || loss.Distance == TripletDistance.Cosine;
        int seed = rows * 31 + dim;
        (float[] x, long[] labels) = Problem(rows, dim, classes, seed, continuous);
        while (continuous && loss.Mining == TripletMining.All && !loss.SoftMargin && ReferenceTripletMining.SmallestHinge(loss, x, labels, dim) < 1e-5)
            (x, labels) = Problem(rows, dim, classes, ++seed, continuous);
        return (x, labels);
    }

    /// <summary>
    /// Runs a backend's fused call and forward call and compares them with the reference: the same triplet count, the loss within 1e-5,
    /// the gradient within 1e-4 (scaled by its largest element), the forward's result the fused call's.
    /// </summary>
    public static TripletMiningResult AssertMatchesReference(string what, TripletMiningLoss loss, float[] x, long[] labels, int dim, Reduction reduction,
        float upstream, Func<(TripletMiningResult Result, float[] Gradient)> fused, Func<TripletMiningResult> forward)
    {
        var expected = ReferenceTripletMining.Evaluate(loss, x, labels, dim, reduction, upstream);
        (TripletMiningResult result, float[] gradient) = fused();
        Assert.That(result.Triplets, Is.EqualTo(expected.Count), $"{what}: triplets");
        Numerics.AssertClose($"{what}: loss", result.Loss, expected.Loss, 1e-5, 1e-6);
        // The gradient's scale is set by its largest element: rows far apart sum differences of many triplets.
        double largest = expected.Gradient.Length == 0 ? 0 : expected.Gradient.Max(Math.Abs);
        Numerics.AssertClose($"{what}: gradient", gradient, expected.Gradient, 1e-4, 1e-5 * Math.Max(1, largest));
        TripletMiningResult alone = forward();
        Assert.That(alone.Triplets, Is.EqualTo(result.Triplets), $"{what}: forward's triplets");
        Assert.That(alone.Loss, Is.EqualTo(result.Loss), $"{what}: forward's loss");
        return result;
    }

    /// <summary>Random (not quantized) rows: the reference's gradient against its own central differences, and the kernel against it.</summary>
    [TestCase(TripletMining.Hard, TripletDistance.Euclidean, false, false)]
    [TestCase(TripletMining.SemiHard, TripletDistance.Squared, true, false)]
    [TestCase(TripletMining.All, TripletDistance.Euclidean, false, true)]
    [TestCase(TripletMining.All, TripletDistance.Cosine, true, false)]
    public void TheGradientIsTheLossDerivative(TripletMining mining, TripletDistance distance, bool soft, bool normalize)
    {
        var loss = new TripletMiningLoss(mining, 0.5f, distance, soft, normalize);
        var random = new Random(5);
        int rows = 12, dim = 6;
        float[] x = Enumerable.Range(0, rows * dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        long[] labels = Enumerable.Range(0, rows).Select(i => (long)(i % 3)).ToArray();
        var expected = ReferenceTripletMining.Evaluate(loss, x, labels, dim);
        for (int i = 0; i < x.Length; i++)
        {
            // A float step, so that the perturbed rows are what the reference reads.
            float[] plus = (float[])x.Clone(), minus = (float[])x.Clone();
            plus[i] += 1f / 1024;
            minus[i] -= 1f / 1024;
            double difference = (ReferenceTripletMining.Evaluate(loss, plus, labels, dim).Loss - ReferenceTripletMining.Evaluate(loss, minus, labels, dim).Loss)
                / (plus[i] - minus[i]);
            Assert.That(expected.Gradient[i], Is.EqualTo(difference).Within(2e-3 + 2e-3 * Math.Abs(difference)), $"element {i}");
        }

        var gradient = new float[x.Length];
        loss.ForwardBackward(x, labels, dim, gradient);
        Numerics.AssertClose("kernel", gradient, expected.Gradient, 1e-4, 1e-5);
    }

    [Test]
    public void EdgeCases()
    {
        var hard = new TripletMiningLoss();
        // Identical embeddings: every distance 0, so ℓ = margin per anchor and the euclidean gradient's choice at 0 makes it 0.
        float[] same = Enumerable.Repeat(0.5f, 6 * 4).ToArray();
        long[] twoClasses = [1, 1, 1, 2, 2, 2];
        var gradient = new float[same.Length];
        TripletMiningResult result = hard.ForwardBackward(same, twoClasses, 4, gradient);
        Assert.That(result, Is.EqualTo(new TripletMiningResult(0.2f, 6)));
        Assert.That(gradient, Is.All.EqualTo(0f));
        foreach (TripletMining mining in Enum.GetValues<TripletMining>())
            foreach (TripletDistance distance in Enum.GetValues<TripletDistance>())
            {
                var loss = new TripletMiningLoss(mining, 0.2f, distance);
                var expected = ReferenceTripletMining.Evaluate(loss, same, twoClasses, 4);
                result = loss.ForwardBackward(same, twoClasses, 4, gradient);
                Assert.That(result.Triplets, Is.EqualTo(expected.Count), $"{mining} {distance}");
                Numerics.AssertClose($"{mining} {distance} identical", gradient, expected.Gradient, 1e-5, 1e-6);
            }

        // One class (no negatives), singletons (no positives): nothing mined, L = 0, the gradient zeroed.
        (float[] x, _) = Problem(6, 3, 1, seed: 1);
        foreach (long[] labels in (long[][])[[4, 4, 4, 4, 4, 4], [0, 1, 2, 3, 4, 5]])
        {
            Array.Fill(gradient, float.NaN, 0, x.Length);
            result = new TripletMiningLoss(TripletMining.All).ForwardBackward(x, labels, 3, gradient);
            Assert.That(result, Is.EqualTo(new TripletMiningResult(0f, 0)));
            Assert.That(gradient.Take(x.Length), Is.All.EqualTo(0f));
        }

        // Zero rows normalized: e = 0, so every distance is 0; the gradient divides by eps as F.normalize's does.
        var zeros = new float[4 * 2];
        long[] pairs = [0, 0, 1, 1];
        var normalized = new TripletMiningLoss(TripletMining.Hard, 0.2f, TripletDistance.Squared, normalize: true);
        var zeroGradient = new float[zeros.Length];
        Assert.That(normalized.ForwardBackward(zeros, pairs, 2, zeroGradient).Loss, Is.EqualTo(0.2f));
        Assert.That(zeroGradient, Is.All.EqualTo(0f));

        // Empty batch.
        Assert.That(hard.ForwardBackward([], [], 5, []), Is.EqualTo(default(TripletMiningResult)));
        // NaN propagates into the loss.
        float[] withNaN = (float[])same.Clone();
        withNaN[0] = float.NaN;
        Assert.That(float.IsNaN(new TripletMiningLoss(TripletMining.All, 0.2f, TripletDistance.Squared, softMargin: true).Forward(withNaN, twoClasses, 4).Loss));
    }

    /// <summary>Ties go to the lowest index: rows 1 and 2 are the same point, as are 3 and 4.</summary>
    [Test]
    public void TiesGoToTheLowestIndex()
    {
        float[] x = [0f, 0f, 1f, 0f, 1f, 0f, 2f, 0f, 2f, 0f];
        long[] labels = [0, 0, 0, 1, 1];
        var expected = ReferenceTripletMining.Evaluate(new TripletMiningLoss(), x, labels, 2);
        Assert.That(expected.Triplets[0], Is.EqualTo(new ReferenceTripletMining.Triplet(0, 1, 3)));
        var gradient = new float[x.Length];
        new TripletMiningLoss().ForwardBackward(x, labels, 2, gradient);
        Numerics.AssertClose("ties", gradient, expected.Gradient, 1e-6, 1e-7);
    }

    [Test]
    public void InPlaceAndThreadCountsGiveTheSameBits()
    {
        (float[] x, long[] labels) = Problem(300, 65, 20, seed: 9);
        var random = new Random(2);
        for (int i = 0; i < x.Length; i++)
            x[i] += (float)random.NextDouble() / 64;
        foreach (TripletMining mining in Enum.GetValues<TripletMining>())
        {
            var loss = new TripletMiningLoss(mining, 0.2f, TripletDistance.Euclidean, normalize: mining == TripletMining.All);
            float[]? first = null;
            TripletMiningResult firstResult = default;
            foreach (int threads in (int[])[1, 2, 4])
            {
                LossKernelsSettings.MaxThreads = threads;
                var gradient = new float[x.Length];
                TripletMiningResult result = loss.ForwardBackward(x, labels, 65, gradient);
                if (first is null)
                {
                    (first, firstResult) = (gradient, result);
                    continue;
                }

                Assert.That(result, Is.EqualTo(firstResult), $"{mining} {threads} threads");
                Assert.That(Numerics.BitEqual(gradient, first), $"{mining} {threads} threads");
            }

            float[] inPlace = (float[])x.Clone();
            loss.ForwardBackward(inPlace, labels, 65, inPlace);
            Assert.That(Numerics.BitEqual(inPlace, first!), $"{mining} in place");
        }
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        (float[] x, long[] labels) = Problem(200, 40, 10, seed: 4);
        var gradient = new float[x.Length];
        DeterminismAndAllocationTests.AssertNoAllocation("triplet mining", () =>
        {
            new TripletMiningLoss().ForwardBackward(x, labels, 40, gradient);
            new TripletMiningLoss(TripletMining.SemiHard, 0.1f, TripletDistance.Cosine, softMargin: true).Forward(x, labels, 40, Reduction.Sum);
            new TripletMiningLoss(TripletMining.All, 0.1f, TripletDistance.Squared, normalize: true).Backward(x, labels, 40, 2f, gradient);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] x = new float[12], gradient = new float[12];
        long[] labels = [0, 1, 0, 1];
        var loss = new TripletMiningLoss();
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("negative margin", () => _ = new TripletMiningLoss(TripletMining.Hard, -0.1f), typeof(ArgumentOutOfRangeException), "margin"),
            ("NaN margin", () => _ = new TripletMiningLoss(TripletMining.Hard, float.NaN), typeof(ArgumentOutOfRangeException), "margin"),
            ("infinite margin", () => _ = new TripletMiningLoss(TripletMining.Hard, float.PositiveInfinity), typeof(ArgumentOutOfRangeException), "margin"),
            ("mining 7", () => _ = new TripletMiningLoss((TripletMining)7), typeof(ArgumentOutOfRangeException), "mining"),
            ("distance -1", () => _ = new TripletMiningLoss(TripletMining.Hard, 0.2f, (TripletDistance)(-1)), typeof(ArgumentOutOfRangeException), "distance"),
            ("dim 0", () => loss.ForwardBackward(x, labels, 0, gradient), typeof(ArgumentOutOfRangeException), "dim"),
            ("ragged rows", () => loss.ForwardBackward(x, labels, 5, gradient), typeof(ArgumentException), "embeddings"),
            ("labels short", () => loss.ForwardBackward(x, labels[..3], 3, gradient), typeof(ArgumentException), "labels"),
            ("reduction none", () => loss.ForwardBackward(x, labels, 3, gradient, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
            ("reduction 9", () => loss.Forward(x, labels, 3, (Reduction)9), typeof(ArgumentOutOfRangeException), "reduction"),
            ("gradient short", () => loss.ForwardBackward(x, labels, 3, gradient.AsSpan(0, 11)), typeof(ArgumentException), "gradient"),
            ("gradient shifted", () => loss.ForwardBackward(x.AsSpan(0, 9), labels[..3], 3, x.AsSpan(1, 9)), typeof(ArgumentException), "gradient"),
            ("batch too large", () => loss.Forward(new float[TripletMiningLoss.MaxBatch + 1], new long[TripletMiningLoss.MaxBatch + 1], 1), typeof(ArgumentException), "embeddings"),
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
