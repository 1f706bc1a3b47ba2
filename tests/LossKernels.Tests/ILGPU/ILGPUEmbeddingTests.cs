using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Embedding;
using LossKernels.ILGPU;
using LossKernels.Tests.Embedding;

namespace LossKernels.Tests.ILGPU;

/// <summary>The embedding losses on the ILGPU accelerator (small sizes: the CPU accelerator is slow): against the float64 reference, the public view entry points against the CPU's, bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUEmbeddingTests
{
    /// <summary>Rows shorter than a work-group row (a thread per row) and longer (a work-group per row), rows of one element.</summary>
    private static readonly (int Rows, int Dim)[] Shapes = [(0, 4), (1, 1), (3, 7), (4, 64), (2, 129), (33, 1)];

    [TestCaseSource(typeof(EmbeddingTests), nameof(EmbeddingTests.LossesAndReductions))]
    public void MatchesTheReference(string loss, string reduction)
    {
        foreach ((int rows, int dim) in loss == "margin_ranking_loss" ? Shapes.Select(s => (s.Rows * s.Dim, 1)).ToArray() : Shapes)
        {
            var parameters = new Dictionary<string, object?> { ["reduction"] = reduction };
            if (loss == "triplet_margin_loss" && dim % 2 == 1)
                parameters["swap"] = true;
            Dictionary<string, LossTensor> inputs = EmbeddingTests.Problem(loss, rows, dim, seed: rows + dim, longLabels: rows % 2 == 1);
            double[] upstream = reduction == "none" ? Enumerable.Range(0, rows).Select(i => 0.5 - (i % 3)).ToArray() : [1.5];
            EmbeddingTests.AssertMatches($"ilgpu {loss} {reduction} {rows}x{dim}", loss, parameters, inputs, upstream, IlgpuTestAccelerator.Device);
        }
    }

    [Test]
    public void EntryPointsMatchTheCpu()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        const int Rows = 5, Dim = 70;
        Dictionary<string, LossTensor> t = EmbeddingTests.Problem("triplet_margin_loss", Rows, Dim, seed: 3);
        float[] a = t["anchor"].Floats!, p = t["positive"].Floats!, n = t["negative"].Floats!;
        var triplet = new TripletMarginLoss(0.5f, swap: true);
        float[] ga = new float[a.Length], gp = new float[a.Length], gn = new float[a.Length];
        float expected = triplet.ForwardBackward(a, p, n, Dim, ga, gp, gn);
        using var da = accelerator.Upload(a);
        using var dp = accelerator.Upload(p);
        using var dn = accelerator.Upload(n);
        float got = triplet.ForwardBackward(da.View, dp.View, dn.View, Dim, da.View, dp.View, dn.View);
        Assert.That(got, Is.EqualTo(expected).Within(1e-5 * Math.Abs(expected)), "triplet loss");
        Numerics.AssertClose("triplet anchor gradient in place", da.GetAsArray1D(), Numerics.ToDouble(ga), 1e-5, 1e-6);
        Numerics.AssertClose("triplet negative gradient in place", dn.GetAsArray1D(), Numerics.ToDouble(gn), 1e-5, 1e-6);

        Dictionary<string, LossTensor> c = EmbeddingTests.Problem("contrastive_loss", Rows, Dim, seed: 4, longLabels: true);
        float[] x1 = c["input1"].Floats!, x2 = c["input2"].Floats!;
        long[] y = c["label"].Integers!;
        float[] rows = new float[Rows], g1 = new float[x1.Length], g2 = new float[x1.Length];
        new ContrastiveLoss(1.2f).ForwardBackward(x1, x2, y, rows, g1, g2);
        using var d1 = accelerator.Upload(x1);
        using var d2 = accelerator.Upload(x2);
        using var dy = accelerator.Upload(y);
        using var output = accelerator.Allocate1D<float>(Rows);
        using var dg1 = accelerator.Allocate1D<float>(x1.Length);
        using var dg2 = accelerator.Allocate1D<float>(x1.Length);
        new ContrastiveLoss(1.2f).ForwardBackward(d1.View, d2.View, dy.View, output.View, dg1.View, dg2.View);
        Numerics.AssertClose("contrastive rows", output.GetAsArray1D(), Numerics.ToDouble(rows), 1e-5, 1e-6);
        Numerics.AssertClose("contrastive input1 gradient", dg1.GetAsArray1D(), Numerics.ToDouble(g1), 1e-5, 1e-6);
        float cosine = new CosineEmbeddingLoss().ForwardBackward(d1.View, d2.View, accelerator.Upload(Array.ConvertAll(y, v => v > 0 ? 1f : -1f)).View, default, default);
        Assert.That(cosine, Is.EqualTo(new CosineEmbeddingLoss().Forward(x1, x2, Array.ConvertAll(y, v => v > 0 ? 1f : -1f))).Within(1e-5), "cosine forward");
        float ranking = new MarginRankingLoss(0.3f).ForwardBackward(d1.View.SubView(0, Rows), d2.View.SubView(0, Rows), dy.View, default, default);
        Assert.That(ranking, Is.EqualTo(new MarginRankingLoss(0.3f).Forward(x1.AsSpan(0, Rows), x2.AsSpan(0, Rows), y)).Within(1e-6), "ranking forward");
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var a = accelerator.Allocate1D<float>(12);
        using var g = accelerator.Allocate1D<float>(12);
        using var shortBuffer = accelerator.Allocate1D<float>(11);
        var triplet = new TripletMarginLoss();
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent anchor", () => triplet.ForwardBackward(default, a.View, a.View, 3, default, default, default), typeof(ArgumentException), "anchor"),
            ("short positive", () => triplet.ForwardBackward(a.View, shortBuffer.View, a.View, 3, default, default, default), typeof(ArgumentException), "positive"),
            ("dim 0", () => triplet.ForwardBackward(a.View, a.View, a.View, 0, default, default, default), typeof(ArgumentOutOfRangeException), "dim"),
            ("absent positive gradient", () => triplet.ForwardBackward(a.View, a.View, a.View, 3, g.View, default, shortBuffer.View), typeof(ArgumentException), "positiveGrad"),
            ("shifted gradient", () => triplet.ForwardBackward(a.View, a.View, a.View, 2, g.View.SubView(0, 10), g.View.SubView(1, 10), shortBuffer.View.SubView(0, 10)), typeof(ArgumentException), null!),
            ("absent labels", () => new CosineEmbeddingLoss().ForwardBackward(a.View, a.View, default(global::ILGPU.ArrayView<float>), default, default), typeof(ArgumentException), "target"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            if (paramName is not null)
                Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
