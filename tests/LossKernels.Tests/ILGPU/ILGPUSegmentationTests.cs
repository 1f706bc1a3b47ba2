using ILGPU;
using ILGPU.Runtime;
using LossKernels.ILGPU;
using LossKernels.Segmentation;
using LossKernels.Tests.Reference;
using LossKernels.Tests.Segmentation;

namespace LossKernels.Tests.ILGPU;

/// <summary>The overlap losses on the ILGPU accelerator (the CPU accelerator here: small shapes): against the float64 reference, in place, and the device-side class check.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUSegmentationTests
{
    [TestCaseSource(typeof(OverlapTests), nameof(OverlapTests.LossesAndModes))]
    public void ShapesAndOptionsMatchTheReference(string loss, string mode)
    {
        int seed = 1;
        foreach (Dictionary<string, object?> variant in OverlapTests.Variants(loss))
        {
            foreach ((int n, int c, int s) in new[] { (1, 3, 1), (2, 4, 37), (2, 2, 4099) })
                OverlapTests.AssertMatchesReference(OverlapTests.Problem(loss, mode, variant, n, c, s, seed++, weighted: s % 2 == 1, upstream: 0.8f), IlgpuTestAccelerator.Device);
        }
    }

    [TestCaseSource(typeof(OverlapTests), nameof(OverlapTests.Losses))]
    public void InPlaceEqualsOutOfPlaceAndBadClassesThrowWritingNothing(string loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        SegmentationProblem problem = OverlapTests.Problem(loss, "multiclass", new() { ["per_image"] = true }, 2, 5, 300, 3);
        var shape = new SegmentationShape(problem.N, problem.C, problem.S);
        var tversky = new TverskyLoss(new OverlapOptions(perImage: true), gamma: 1.5f);
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(problem.Input), g = accelerator.Allocate1D<float>(problem.Input.Length), inPlace = accelerator.Upload(problem.Input);
        using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(problem.Labels!);
        float separate = tversky.ForwardBackward(x.View, t.View, g.View, shape);
        float same = tversky.ForwardBackward(inPlace.View, t.View, inPlace.View, shape);
        Assert.That(same, Is.EqualTo(separate));
        Assert.That(Numerics.BitEqual(inPlace.GetAsArray1D(), g.GetAsArray1D()), Is.True, "in place");

        long[] bad = (long[])problem.Labels!.Clone();
        bad[77] = -3;
        using MemoryBuffer1D<long, Stride1D.Dense> badTarget = accelerator.Upload(bad);
        using MemoryBuffer1D<float, Stride1D.Dense> untouched = accelerator.Upload(Enumerable.Repeat(7f, problem.Input.Length).ToArray());
        var thrown = Assert.Throws<ArgumentOutOfRangeException>(() => tversky.ForwardBackward(x.View, badTarget.View, untouched.View, shape))!;
        Assert.That(thrown.ParamName, Is.EqualTo("target"));
        Assert.That(thrown.Message, Does.Contain("77"));
        Assert.That(untouched.GetAsArray1D(), Is.All.EqualTo(7f));
        Assert.Throws<ArgumentException>(() => tversky.ForwardBackward(x.View, t.View, g.View.SubView(0, 5), shape));
        Assert.Throws<ArgumentException>(() => tversky.Forward(x.View, t.View, shape with { Spatial = 299 }));
    }
}
