using LossKernels.Catalog;
using LossKernels.Embedding;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Embedding;

/// <summary>
/// The embedding losses on the CPU against their float64 reference: rows of 1…257 elements and odd large batches, every
/// reduction, labels as float and int64, finite differences, edge values (identical embeddings, zero distances, ties, ±1e4, zero
/// vectors), the public entry points against each other and in place, thread counts, allocations and every bad argument.
/// </summary>
[TestFixture]
public class EmbeddingTests : ThreadCountFixture
{
    public static readonly string[] Losses = ["triplet_margin_loss", "contrastive_loss", "cosine_embedding_loss", "margin_ranking_loss"];

    private static readonly int[] Dims = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257];

    /// <summary>
    /// B rows of D (margin ranking: B·D scores) for <paramref name="loss"/>: first inputs in [−1, 1), the others at a spread of
    /// distances from them so that rows fall on both sides of every hinge; labels 1/0 (contrastive) or ±1 (the others).
    /// </summary>
    public static Dictionary<string, LossTensor> Problem(string loss, int rows, int dim, int seed, bool longLabels = false, float scale = 1f)
    {
        var random = new Random(seed);
        bool ranking = loss == "margin_ranking_loss";
        int[] shape = ranking ? [rows * dim] : [rows, dim];
        int count = rows * dim;
        float[] Near(float[] from, double spread)
        {
            var other = new float[count];
            for (int r = 0; r < rows; r++)
            {
                double rowSpread = spread * random.NextDouble();
                for (int j = 0; j < dim; j++)
                    other[r * dim + j] = from[r * dim + j] + scale * (float)(rowSpread * (random.NextDouble() * 2 - 1));
            }

            return other;
        }

        var first = new float[count];
        for (int i = 0; i < count; i++)
            first[i] = scale * (float)(random.NextDouble() * 2 - 1);
        double spread = ranking ? 2 : 3.0 / Math.Sqrt(dim);
        if (loss == "triplet_margin_loss")
            return new() { ["anchor"] = LossTensor.FromFloats(first, shape), ["positive"] = LossTensor.FromFloats(Near(first, spread), shape), ["negative"] = LossTensor.FromFloats(Near(first, 1.5 * spread), shape) };
        int labels = ranking ? count : rows;
        var values = new long[labels];
        for (int r = 0; r < labels; r++)
            values[r] = loss == "contrastive_loss" ? random.Next(2) : random.Next(2) * 2 - 1;
        LossTensor label = longLabels ? LossTensor.FromIntegers(values, labels) : LossTensor.FromFloats(Array.ConvertAll(values, v => (float)v), labels);
        return new() { ["input1"] = LossTensor.FromFloats(first, shape), ["input2"] = LossTensor.FromFloats(Near(first, spread), shape), [loss == "contrastive_loss" ? "label" : "target"] = label };
    }

    public static IEnumerable<TestCaseData> LossesAndReductions() =>
        from loss in Losses from reduction in (string[])["none", "mean", "sum"] select new TestCaseData(loss, reduction);

    private static readonly Dictionary<string, Dictionary<string, object?>[]> Variants = new()
    {
        ["triplet_margin_loss"] = [[], new() { ["p"] = 1L }, new() { ["swap"] = true }, new() { ["margin"] = 0.3, ["eps"] = 0.0, ["swap"] = true, ["p"] = 1L }],
        ["contrastive_loss"] = [[], new() { ["margin"] = 2.0, ["eps"] = 0.0 }],
        ["cosine_embedding_loss"] = [[], new() { ["margin"] = 0.5 }, new() { ["margin"] = -0.3 }],
        ["margin_ranking_loss"] = [[], new() { ["margin"] = 0.25 }],
    };

    /// <summary>Every shape, variant and reduction against the reference; large odd batches run on several threads.</summary>
    [TestCaseSource(nameof(LossesAndReductions))]
    public void MatchesTheReference(string loss, string reduction)
    {
        var shapes = new List<(int Rows, int Dim)>();
        foreach (int dim in Dims)
            shapes.AddRange([(0, dim), (1, dim), (3, dim), (7, dim)]);
        shapes.AddRange([(1001, 129), (4099, 3), (257, 1)]);
        if (loss == "margin_ranking_loss")
            shapes = [.. Enumerable.Range(0, 258).Select(n => (n, 1)), (100_003, 1)];
        foreach (Dictionary<string, object?> variant in Variants[loss])
        {
            foreach ((int rows, int dim) in shapes)
            {
                var parameters = new Dictionary<string, object?>(variant) { ["reduction"] = reduction };
                Dictionary<string, LossTensor> inputs = Problem(loss, rows, dim, seed: rows * 31 + dim, longLabels: dim % 2 == 1);
                double[]? upstream = reduction == "none" ? Enumerable.Range(0, rows * (loss == "margin_ranking_loss" ? dim : 1)).Select(i => (double)(i % 5) - 1.5).ToArray() : [0.75];
                AssertMatches($"{loss} {Describe(variant)} {reduction} {rows}x{dim}", loss, parameters, inputs, upstream);
            }
        }
    }

    private static string Describe(Dictionary<string, object?> variant) => string.Join(",", variant.Select(p => $"{p.Key}={p.Value}"));

    internal static void AssertMatches(string what, string loss, Dictionary<string, object?> parameters, Dictionary<string, LossTensor> inputs, double[]? upstream,
        LossDevice? device = null)
    {
        LossTensor? upstreamTensor = upstream is null ? null : LossTensor.FromFloats(Array.ConvertAll(upstream, v => (float)v), upstream.Length == 1 && (string?)parameters["reduction"] != "none" ? [] : [upstream.Length]);
        using BoundLoss bound = LossCatalog.Get(loss).Bind(new LossParameters(parameters), inputs, upstreamTensor, device);
        ReferenceEmbeddingResult expected = ReferenceEmbeddingLosses.Compute(loss, parameters, inputs, upstream);
        bound.Poison(float.NaN);
        bound.Run(LossMode.Fused);
        bound.FetchResults();
        AssertClose($"{what} loss", bound.Loss, expected.Loss, expected.LossScale);
        string[] names = [.. bound.Gradients.Keys];
        Assert.That(names, Has.Length.EqualTo(expected.Gradients.Length), what);
        for (int k = 0; k < names.Length; k++)
            AssertClose($"{what} grad.{names[k]}", bound.Gradients[names[k]], expected.Gradients[k], expected.GradientScales[k]);
    }

    /// <summary>
    /// |got − expected| ≤ 1e-6 + 1e-5·max(|expected|, scale): rtol 1e-5 of the larger of the value and the sum of the magnitudes of the
    /// terms it is the difference of (<see cref="ReferenceEmbeddingResult"/>). The hinges are differences of distances, and the
    /// cosine's gradient a difference of two terms of size |x|/den: float32 inputs and arithmetic leave an error relative to those
    /// terms (2e-6 on a triplet hinge of 0.07 between distances of 8; 1e-6 on a cosine gradient of 1e-9 between terms of 10), as
    /// PyTorch's float32 kernels do.
    /// </summary>
    private static void AssertClose(string what, ReadOnlySpan<float> got, double[] expected, double[] scale)
    {
        Assert.That(got.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < got.Length; i++)
        {
            if (!Numerics.IsClose(got[i], expected[i], 1e-5, 1e-6 + 1e-5 * scale[i]))
                Assert.Fail($"{what}[{i}]: got {got[i]:R}, expected {expected[i]:R} (terms of size {scale[i]:G3})");
        }
    }

    /// <summary>The gradient matches central differences of the kernel's own forward pass, away from the kinks.</summary>
    [TestCaseSource(nameof(Losses))]
    public void GradientMatchesFiniteDifferences(string loss)
    {
        Dictionary<string, LossTensor> inputs = Problem(loss, loss == "margin_ranking_loss" ? 9 : 4, loss == "margin_ranking_loss" ? 1 : 6, seed: 5);
        using BoundLoss bound = LossCatalog.Get(loss).Bind(new LossParameters(new Dictionary<string, object?> { ["reduction"] = "sum" }), inputs);
        bound.Run(LossMode.Fused);
        foreach ((string name, float[] gradient) in bound.Gradients.Select(g => (g.Key, (float[])g.Value.Clone())).ToList())
        {
            float[] values = inputs[name].Floats!;
            for (int i = 0; i < values.Length; i++)
            {
                float saved = values[i];
                const float Step = 1e-3f;
                values[i] = saved + Step;
                bound.Run(LossMode.Forward);
                double plus = bound.Loss[0];
                values[i] = saved - Step;
                bound.Run(LossMode.Forward);
                double minus = bound.Loss[0];
                values[i] = saved;
                double numeric = (plus - minus) / (2 * (double)Step);
                Assert.That(gradient[i], Is.EqualTo(numeric).Within(3e-3 + 2e-2 * Math.Abs(numeric)), $"{loss}: ∂/∂{name}[{i}]");
            }
        }
    }

    /// <summary>Identical embeddings, zero distances, swap's ties, the hinges exactly at 0, ±1e4 scales, zero vectors: finite, and as the reference says.</summary>
    [Test]
    public void EdgeValues()
    {
        float[] same = [0.5f, -0.25f, 1f, 0f, 2f, -1f, 0.125f, 3f, -2f];
        foreach (Dictionary<string, object?> variant in (Dictionary<string, object?>[])[[], new() { ["eps"] = 0.0 }, new() { ["margin"] = 0.0, ["swap"] = true },
            new() { ["margin"] = 0.0, ["eps"] = 0.0, ["swap"] = true }, new() { ["p"] = 1L, ["eps"] = 0.0, ["margin"] = 0.0 }])
        {
            var inputs = new Dictionary<string, LossTensor>
            {
                ["anchor"] = LossTensor.FromFloats((float[])same.Clone(), 3, 3), ["positive"] = LossTensor.FromFloats((float[])same.Clone(), 3, 3),
                ["negative"] = LossTensor.FromFloats((float[])same.Clone(), 3, 3),
            };
            var parameters = new Dictionary<string, object?>(variant) { ["reduction"] = "none" };
            AssertMatches($"triplet identical {Describe(variant)}", "triplet_margin_loss", parameters, inputs, null);
        }

        var pair = new Dictionary<string, LossTensor>
        {
            ["input1"] = LossTensor.FromFloats((float[])same.Clone(), 3, 3), ["input2"] = LossTensor.FromFloats((float[])same.Clone(), 3, 3),
            ["label"] = LossTensor.FromIntegers([1, 0, 1], 3),
        };
        AssertMatches("contrastive identical eps 0", "contrastive_loss", new() { ["eps"] = 0.0, ["reduction"] = "none" }, pair, null);
        var cosine = new Dictionary<string, LossTensor>
        {
            ["input1"] = LossTensor.FromFloats([0f, 0f, 0f, 1f, 2f, 3f, 1e4f, -1e4f, 5e3f, 1f, 1f, 1f], 4, 3),
            ["input2"] = LossTensor.FromFloats([0f, 0f, 0f, 1f, 2f, 3f, -1e4f, 1e4f, -5e3f, 0f, 0f, 0f], 4, 3),
            ["target"] = LossTensor.FromFloats([-1f, 1f, -1f, 0f], 4),
        };
        AssertMatches("cosine zero vectors, identical, opposite, target 0", "cosine_embedding_loss", new() { ["reduction"] = "none" }, cosine, null);
        var ranking = new Dictionary<string, LossTensor>
        {
            ["input1"] = LossTensor.FromFloats([0.5f, -0.25f, 1e4f, -1e4f, 3f, 0f], 6), ["input2"] = LossTensor.FromFloats([0.5f, -0.25f, -1e4f, 1e4f, 1f, 0f], 6),
            ["target"] = LossTensor.FromIntegers([1, -1, 1, 1, -1, 1], 6),
        };
        AssertMatches("margin ranking ties and ±1e4", "margin_ranking_loss", new() { ["reduction"] = "none" }, ranking, null);
        foreach (string loss in Losses)
        {
            Dictionary<string, LossTensor> large = Problem(loss, 5, 13, seed: 2, scale: 1e4f);
            AssertMatches($"{loss} ±1e4", loss, new() { ["reduction"] = "mean" }, large, null);
        }
    }

    /// <summary>int64 labels give the same bits as the same labels in float.</summary>
    [TestCaseSource(nameof(Losses))]
    public void LongLabelsMatchFloatLabels(string loss)
    {
        if (loss == "triplet_margin_loss")
            return;
        float[] Run(bool longLabels)
        {
            using BoundLoss bound = LossCatalog.Get(loss).Bind(new LossParameters(new Dictionary<string, object?> { ["reduction"] = "none" }),
                Problem(loss, 37, loss == "margin_ranking_loss" ? 1 : 19, seed: 4, longLabels));
            bound.Run(LossMode.Fused);
            return [.. bound.Loss, .. bound.Gradients.Values.SelectMany(g => g)];
        }

        Assert.That(Numerics.BitEqual(Run(true), Run(false)), loss);
    }

    /// <summary>The public span entry points agree with each other: forward and fused losses, backward and fused gradients, in place, unreduced sums.</summary>
    [Test]
    public void EntryPointsAgree()
    {
        const int Rows = 33, Dim = 21;
        Dictionary<string, LossTensor> t = Problem("triplet_margin_loss", Rows, Dim, seed: 8);
        float[] a = t["anchor"].Floats!, p = t["positive"].Floats!, n = t["negative"].Floats!;
        var triplet = new TripletMarginLoss(0.7f, swap: true);
        float[] ga = new float[a.Length], gp = new float[a.Length], gn = new float[a.Length];
        float fused = triplet.ForwardBackward(a, p, n, Dim, ga, gp, gn, Reduction.Mean, 2f);
        Assert.That(triplet.Forward(a, p, n, Dim), Is.EqualTo(fused), "triplet forward");
        float[] ba = new float[a.Length], bp = new float[a.Length], bn = new float[a.Length];
        triplet.Backward(a, p, n, Dim, 2f, ba, bp, bn);
        Assert.That(Numerics.BitEqual(ba, ga) && Numerics.BitEqual(bp, gp) && Numerics.BitEqual(bn, gn), "triplet backward");
        float[] ia = (float[])a.Clone(), ip = (float[])p.Clone(), @in = (float[])n.Clone();
        triplet.ForwardBackward(ia, ip, @in, Dim, ia, ip, @in, Reduction.Mean, 2f);
        Assert.That(Numerics.BitEqual(ia, ga) && Numerics.BitEqual(ip, gp) && Numerics.BitEqual(@in, gn), "triplet in place");
        var rows = new float[Rows];
        triplet.ForwardBackward(a, p, n, Dim, rows, ba, bp, bn, Enumerable.Repeat(2f / Rows, Rows).ToArray());
        Assert.That(rows.Sum() / Rows, Is.EqualTo(fused).Within(1e-6 * Math.Abs(fused) + 1e-7), "triplet unreduced mean");
        Numerics.AssertClose("triplet unreduced gradient", ba, Numerics.ToDouble(ga), 1e-6, 1e-9);

        Dictionary<string, LossTensor> c = Problem("cosine_embedding_loss", Rows, Dim, seed: 9, longLabels: true);
        float[] x1 = c["input1"].Floats!, x2 = c["input2"].Floats!;
        long[] y = c["target"].Integers!;
        float[] floatY = Array.ConvertAll(y, v => (float)v);
        var cosine = new CosineEmbeddingLoss(0.1f);
        float[] g1 = new float[x1.Length], g2 = new float[x1.Length], h1 = new float[x1.Length], h2 = new float[x1.Length];
        float value = cosine.ForwardBackward(x1, x2, y, g1, g2, Reduction.Sum);
        Assert.That(cosine.Forward(x1, x2, floatY, Reduction.Sum), Is.EqualTo(value), "cosine forward with float targets");
        cosine.Backward(x1, x2, floatY, 1f, h1, h2, Reduction.Sum);
        Assert.That(Numerics.BitEqual(g1, h1) && Numerics.BitEqual(g2, h2), "cosine backward");
        float[] i1 = (float[])x1.Clone(), i2 = (float[])x2.Clone();
        cosine.ForwardBackward(i1, i2, y, i1, i2, Reduction.Sum);
        Assert.That(Numerics.BitEqual(i1, g1) && Numerics.BitEqual(i2, g2), "cosine in place");
        var contrastive = new ContrastiveLoss(1.5f);
        var losses = new float[Rows];
        contrastive.ForwardBackward(x1, x2, y.Select(v => Math.Max(v, 0)).ToArray(), output: losses, input1Grad: default, input2Grad: default);
        Assert.That(losses.Sum(), Is.EqualTo(contrastive.Forward(x1, x2, y.Select(v => Math.Max(v, 0)).ToArray(), Reduction.Sum)).Within(1e-5), "contrastive unreduced, forward alone");
        var ranking = new MarginRankingLoss(0.2f);
        float[] r1 = new float[Rows], r2 = new float[Rows];
        float rankingValue = ranking.ForwardBackward(x1.AsSpan(0, Rows), x2.AsSpan(0, Rows), floatY, r1, r2);
        Assert.That(ranking.Forward(x1.AsSpan(0, Rows), x2.AsSpan(0, Rows), y), Is.EqualTo(rankingValue), "ranking forward");
    }

    /// <summary>The same bits for any thread count, rows of every path (many short rows, long rows, rows of one element).</summary>
    [TestCaseSource(nameof(Losses))]
    public void ThreadCountDoesNotChangeTheBits(string loss)
    {
        (int Rows, int Dim)[] shapes = loss == "margin_ranking_loss" ? [(300_007, 1)] : [(20_011, 3), (3001, 67), (200_003, 1)];
        foreach ((int rows, int dim) in shapes)
        {
            Dictionary<string, LossTensor> inputs = Problem(loss, rows, dim, seed: 6);
            float[]? reference = null;
            foreach (int threads in (int[])[1, 2, 3, 8])
            {
                LossKernelsSettings.MaxThreads = threads;
                using BoundLoss bound = LossCatalog.Get(loss).Bind(new LossParameters(new Dictionary<string, object?> { ["reduction"] = "mean" }), inputs);
                bound.Run(LossMode.Fused);
                float[] result = [.. bound.Loss, .. bound.Gradients.Values.SelectMany(g => g)];
                reference ??= result;
                Assert.That(Numerics.BitEqual(result, reference), $"{loss} {rows}x{dim} on {threads} threads");
            }
        }
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        Dictionary<string, LossTensor> t = Problem("triplet_margin_loss", 300, 70, seed: 1);
        float[] a = t["anchor"].Floats!, p = t["positive"].Floats!, n = t["negative"].Floats!;
        float[] ga = new float[a.Length], gp = new float[a.Length], gn = new float[a.Length], rows = new float[300], upstream = new float[300];
        var triplet = new TripletMarginLoss(1f, swap: true);
        Dictionary<string, LossTensor> c = Problem("contrastive_loss", 300, 70, seed: 1, longLabels: true);
        float[] x1 = c["input1"].Floats!, x2 = c["input2"].Floats!;
        long[] y = c["label"].Integers!;
        float[] fy = Array.ConvertAll(y, v => (float)v);
        float[] g1 = new float[x1.Length], g2 = new float[x1.Length], s1 = new float[300], s2 = new float[300], sg1 = new float[300], sg2 = new float[300];
        DeterminismAndAllocationTests.AssertNoAllocation("embedding losses", () =>
        {
            triplet.ForwardBackward(a, p, n, 70, ga, gp, gn);
            triplet.Forward(a, p, n, 70, Reduction.Sum);
            triplet.ForwardBackward(a, p, n, 70, rows, ga, gp, gn, upstream);
            new ContrastiveLoss().ForwardBackward(x1, x2, y, g1, g2);
            new CosineEmbeddingLoss(0.2f).Backward(x1, x2, fy, 0.5f, g1, g2);
            new MarginRankingLoss(0.1f).ForwardBackward(s1, s2, fy, rows, sg1, sg2, upstream);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] a = new float[12], p = new float[12], n = new float[12], shortInput = new float[11], wide = new float[13];
        float[] ga = new float[12], gp = new float[12], gn = new float[12], output = new float[4], upstream = new float[4];
        float[] labels = [1f, 0f, 1f, 0f];
        var triplet = new TripletMarginLoss();
        var contrastive = new ContrastiveLoss();
        var cases = new (string Name, Action Call, Type Exception, string? ParamName)[]
        {
            ("p = 3", () => _ = new TripletMarginLoss(1f, p: 3), typeof(ArgumentOutOfRangeException), "p"),
            ("NaN margin", () => _ = new TripletMarginLoss(float.NaN), typeof(ArgumentOutOfRangeException), "margin"),
            ("infinite eps", () => _ = new ContrastiveLoss(1f, float.PositiveInfinity), typeof(ArgumentOutOfRangeException), "eps"),
            ("cosine NaN margin", () => _ = new CosineEmbeddingLoss(float.NaN), typeof(ArgumentOutOfRangeException), "margin"),
            ("ranking infinite margin", () => _ = new MarginRankingLoss(float.NegativeInfinity), typeof(ArgumentOutOfRangeException), "margin"),
            ("default triplet", () => default(TripletMarginLoss).Forward(a, p, n, 3), typeof(ArgumentOutOfRangeException), "P"),
            ("dim 0", () => triplet.ForwardBackward(a, p, n, 0, ga, gp, gn), typeof(ArgumentOutOfRangeException), "dim"),
            ("dim does not divide", () => triplet.ForwardBackward(a, p, n, 5, ga, gp, gn), typeof(ArgumentException), "anchor"),
            ("short positive", () => triplet.ForwardBackward(a, shortInput, n, 3, ga, gp, gn), typeof(ArgumentException), "positive"),
            ("short negative", () => triplet.ForwardBackward(a, p, shortInput, 3, ga, gp, gn), typeof(ArgumentException), "negative"),
            ("short anchorGrad", () => triplet.ForwardBackward(a, p, n, 3, shortInput, gp, gn), typeof(ArgumentException), "anchorGrad"),
            ("short negativeGrad", () => triplet.ForwardBackward(a, p, n, 3, ga, gp, shortInput), typeof(ArgumentException), "negativeGrad"),
            ("shifted anchorGrad", () => triplet.ForwardBackward(wide.AsSpan(0, 12), p, n, 3, wide.AsSpan(1, 12), gp, gn), typeof(ArgumentException), "anchorGrad"),
            ("gradients overlap", () => triplet.ForwardBackward(a, p, n, 3, ga, ga, gn), typeof(ArgumentException), "positiveGrad"),
            ("short output", () => triplet.ForwardBackward(a, p, n, 3, output.AsSpan(0, 3), ga, gp, gn), typeof(ArgumentException), "output"),
            ("output over a gradient", () => triplet.ForwardBackward(a, p, n, 3, ga.AsSpan(0, 4), ga, gp, gn), typeof(ArgumentException), null),
            ("short upstream", () => triplet.ForwardBackward(a, p, n, 3, output, ga, gp, gn, upstream.AsSpan(0, 3)), typeof(ArgumentException), "upstream"),
            ("bad reduction", () => triplet.ForwardBackward(a, p, n, 3, ga, gp, gn, (Reduction)7), typeof(ArgumentException), "reduction"),
            ("labels that do not divide the rows", () => contrastive.ForwardBackward(a, p, [1f, 0f, 1f, 0f, 1f], ga, gp), typeof(ArgumentException), "input1"),
            ("input2 of another length", () => contrastive.ForwardBackward(a, shortInput, labels, ga, gp), typeof(ArgumentException), "input2"),
            ("input1Grad short", () => contrastive.ForwardBackward(a, p, labels, shortInput, gp), typeof(ArgumentException), "input1Grad"),
            ("ranking lengths differ", () => new MarginRankingLoss().ForwardBackward(a, p, labels, ga, gp), typeof(ArgumentException), "input1"),
        };
        float[][] written = [ga, gp, gn, output];
        foreach ((string name, Action call, Type exception, string? paramName) in cases)
        {
            foreach (float[] buffer in written)
                Array.Fill(buffer, 7f);
            Exception thrown = Assert.Catch(() => call(), name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            if (paramName is not null)
                Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
            Assert.That(written.All(buffer => buffer.All(v => v == 7f)), $"{name}: nothing written");
        }
    }

    /// <summary>Zero rows: the mean is NaN (as PyTorch's), the sum 0, nothing written.</summary>
    [TestCaseSource(nameof(Losses))]
    public void EmptyBatches(string loss)
    {
        Dictionary<string, LossTensor> inputs = Problem(loss, 0, loss == "margin_ranking_loss" ? 1 : 5, seed: 1);
        using BoundLoss mean = LossCatalog.Get(loss).Bind(new LossParameters(new Dictionary<string, object?> { ["reduction"] = "mean" }), inputs);
        mean.Run(LossMode.Fused);
        Assert.That(mean.Loss[0], Is.NaN, loss);
        using BoundLoss sum = LossCatalog.Get(loss).Bind(new LossParameters(new Dictionary<string, object?> { ["reduction"] = "sum" }), inputs);
        sum.Run(LossMode.Fused);
        Assert.That(sum.Loss[0], Is.Zero, loss);
    }
}
