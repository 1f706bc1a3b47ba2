using LossKernels.Catalog;
using LossKernels.Embedding;
using LossKernels.OpenCL;
using LossKernels.Tests.Embedding;

namespace LossKernels.Tests.OpenCL;

/// <summary>The embedding losses on the OpenCL device: against the float64 reference through the catalog, the public buffer entry points against the CPU's, and every bad argument.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLEmbeddingTests
{
    private static readonly (int Rows, int Dim)[] Shapes = [(0, 5), (1, 1), (3, 2), (7, 17), (5, 63), (5, 64), (9, 65), (2, 257), (3, 1100), (300, 3), (1031, 1)];

    public static IEnumerable<TestCaseData> LossesReductionsAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from loss in EmbeddingTests.Losses
        from reduction in (string[])["none", "mean", "sum"]
        select new TestCaseData(loss, reduction, variant);

    /// <summary>Both kernels: a work-item per row or run of rows (ChunkPerWorkItem), a work-group per row of 64 elements or more (WorkGroupTree).</summary>
    [TestCaseSource(nameof(LossesReductionsAndVariants))]
    public void MatchesTheReference(string loss, string reduction, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        foreach ((int rows, int dim) in loss == "margin_ranking_loss" ? Shapes.Select(s => (s.Rows * s.Dim, 1)).ToArray() : Shapes)
        {
            foreach (bool longLabels in (bool[])[false, true])
            {
                var parameters = new Dictionary<string, object?> { ["reduction"] = reduction };
                if (loss == "triplet_margin_loss" && longLabels)
                    parameters["swap"] = true;
                Dictionary<string, LossTensor> inputs = EmbeddingTests.Problem(loss, rows, dim, seed: rows + dim, longLabels);
                double[] upstream = reduction == "none" ? Enumerable.Range(0, rows).Select(i => 0.5 - (i % 3)).ToArray() : [1.5];
                EmbeddingTests.AssertMatches($"opencl {variant} {loss} {reduction} {rows}x{dim} long labels {longLabels}", loss, parameters, inputs, upstream, device);
            }
        }
    }

    /// <summary>The buffer overloads give the span overloads' values (the device sums in double per row, the CPU in float vectors: close, not bitwise), in place too.</summary>
    [TestCaseSource(typeof(OpenCLTestDevice), nameof(OpenCLTestDevice.Variants))]
    public void EntryPointsMatchTheCpu(OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        const int Rows = 19, Dim = 23;
        Dictionary<string, LossTensor> t = EmbeddingTests.Problem("triplet_margin_loss", Rows, Dim, seed: 3);
        float[] a = t["anchor"].Floats!, p = t["positive"].Floats!, n = t["negative"].Floats!;
        var triplet = new TripletMarginLoss(0.5f, p: 1, swap: true);
        float[] ga = new float[a.Length], gp = new float[a.Length], gn = new float[a.Length];
        float expected = triplet.ForwardBackward(a, p, n, Dim, ga, gp, gn, Reduction.Sum, 0.5f);
        using DeviceBuffer<float> da = device.Upload(a), dp = device.Upload(p), dn = device.Upload(n);
        float got = triplet.ForwardBackward(da, dp, dn, Dim, da, dp, dn, Reduction.Sum, 0.5f);
        Assert.That(got, Is.EqualTo(expected).Within(1e-5 * Math.Abs(expected)), "triplet loss");
        Numerics.AssertClose("triplet anchor gradient in place", da.ToArray(), Numerics.ToDouble(ga), 1e-5, 1e-6);
        Numerics.AssertClose("triplet positive gradient in place", dp.ToArray(), Numerics.ToDouble(gp), 1e-5, 1e-6);
        Numerics.AssertClose("triplet negative gradient in place", dn.ToArray(), Numerics.ToDouble(gn), 1e-5, 1e-6);

        Dictionary<string, LossTensor> c = EmbeddingTests.Problem("cosine_embedding_loss", Rows, Dim, seed: 4, longLabels: true);
        float[] x1 = c["input1"].Floats!, x2 = c["input2"].Floats!;
        long[] y = c["target"].Integers!;
        var cosine = new CosineEmbeddingLoss(0.2f);
        float[] rows = new float[Rows], g1 = new float[x1.Length], g2 = new float[x1.Length], upstream = Enumerable.Range(0, Rows).Select(i => 1f - i * 0.1f).ToArray();
        cosine.ForwardBackward(x1, x2, y, rows, g1, g2, upstream);
        using DeviceBuffer<float> d1 = device.Upload(x1), d2 = device.Upload(x2), output = device.Allocate<float>(Rows), dg1 = device.Allocate<float>(x1.Length),
            dg2 = device.Allocate<float>(x1.Length), du = device.Upload(upstream);
        using DeviceBuffer<long> dy = device.Upload(y);
        cosine.ForwardBackward(d1, d2, dy, output, dg1, dg2, du);
        Numerics.AssertClose("cosine rows", output.ToArray(), Numerics.ToDouble(rows), 1e-5, 1e-6);
        Numerics.AssertClose("cosine input1 gradient", dg1.ToArray(), Numerics.ToDouble(g1), 1e-5, 1e-6);
        Numerics.AssertClose("cosine input2 gradient", dg2.ToArray(), Numerics.ToDouble(g2), 1e-5, 1e-6);
        float forward = new ContrastiveLoss().ForwardBackward(d1, d2, device.Upload(Array.ConvertAll(y, v => v > 0 ? 1f : 0f)), null, null);
        Assert.That(forward, Is.EqualTo(new ContrastiveLoss().Forward(x1, x2, Array.ConvertAll(y, v => v > 0 ? 1f : 0f))).Within(1e-5 * Math.Abs(forward)), "contrastive forward");
        using DeviceBuffer<float> s1 = device.Upload(x1.AsSpan(0, Rows).ToArray()), s2 = device.Upload(x2.AsSpan(0, Rows).ToArray());
        float ranking = new MarginRankingLoss(0.1f).ForwardBackward(s1, s2, dy, null, null);
        Assert.That(ranking, Is.EqualTo(new MarginRankingLoss(0.1f).Forward(x1.AsSpan(0, Rows), x2.AsSpan(0, Rows), y)).Within(1e-6), "ranking forward");
    }

    /// <summary>Every bad argument throws before a launch, naming the parameter, and leaves the outputs as they were.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> a = device.Upload(new float[12]), p = device.Upload(new float[12]), n = device.Upload(new float[12]), shortInput = device.Upload(new float[11]);
        using DeviceBuffer<float> ga = device.Allocate<float>(12), gp = device.Allocate<float>(12), gn = device.Allocate<float>(12), output = device.Allocate<float>(4);
        using DeviceBuffer<float> foreign = other.Upload(new float[12]), labels = device.Upload([1f, 0f, 1f, 0f]), shortOutput = device.Allocate<float>(3);
        var triplet = new TripletMarginLoss();
        var contrastive = new ContrastiveLoss();
        DeviceBuffer<float>[] written = [ga, gp, gn, output];
        foreach (DeviceBuffer<float> buffer in written)
            buffer.Upload(Enumerable.Repeat(7f, buffer.Length).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("positive on another device", () => triplet.ForwardBackward(a, foreign, n, 3, ga, gp, gn), typeof(ArgumentException), "positive"),
            ("gradient on another device", () => triplet.ForwardBackward(a, p, n, 3, ga, foreign, gn), typeof(ArgumentException), "positiveGrad"),
            ("short negative", () => triplet.ForwardBackward(a, p, shortInput, 3, ga, gp, gn), typeof(ArgumentException), "negative"),
            ("dim does not divide", () => triplet.ForwardBackward(a, p, n, 5, ga, gp, gn), typeof(ArgumentException), "anchor"),
            ("missing positive gradient", () => triplet.ForwardBackward(a, p, n, 3, ga, null, gn), typeof(ArgumentNullException), "positiveGrad"),
            ("two gradients in one buffer", () => triplet.ForwardBackward(a, p, n, 3, ga, ga, gn), typeof(ArgumentException), "positiveGrad"),
            ("output is a gradient", () => triplet.ForwardBackward(a, p, n, 3, ga, ga, gp, gn), typeof(ArgumentException), "output"),
            ("output is an input", () => triplet.ForwardBackward(a, p, n, 3, a, null, null, null), typeof(ArgumentException), "output"),
            ("short output", () => triplet.ForwardBackward(a, p, n, 3, shortOutput, null, null, null), typeof(ArgumentException), "output"),
            ("short upstream", () => triplet.ForwardBackward(a, p, n, 3, output, null, null, null, shortInput), typeof(ArgumentException), "upstream"),
            ("gradient is the labels", () => contrastive.ForwardBackward(labels, labels, labels, labels, null), typeof(ArgumentException), null),
            ("labels on another device", () => contrastive.ForwardBackward(a, p, other.Upload([1f, 0f]), ga, gp), typeof(ArgumentException), "label"),
            ("ranking lengths differ", () => new MarginRankingLoss().ForwardBackward(a, p, labels, ga, gp), typeof(ArgumentException), "input1"),
        ], name =>
        {
            foreach (DeviceBuffer<float> buffer in written)
                Assert.That(buffer.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written");
        });
    }
}
