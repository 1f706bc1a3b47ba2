using LossKernels.OpenCL;
using LossKernels.Segmentation;
using LossKernels.Tests.Reference;
using LossKernels.Tests.Segmentation;

namespace LossKernels.Tests.OpenCL;

/// <summary>The overlap losses on the OpenCL device (<c>segmentation.cl</c>): against the float64 reference, in place, and the device-side class check.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLSegmentationTests
{
    [TestCaseSource(typeof(OverlapTests), nameof(OverlapTests.LossesAndModes))]
    public void ShapesAndOptionsMatchTheReference(string loss, string mode)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        int seed = 1;
        foreach (Dictionary<string, object?> variant in OverlapTests.Variants(loss))
        {
            // Pixel counts around the work-group (64) and the block (4,096), images and classes past one group.
            foreach ((int n, int c, int s) in new[] { (1, 3, 1), (2, 4, 63), (3, 2, 65), (2, 3, 4097) })
                OverlapTests.AssertMatchesReference(OverlapTests.Problem(loss, mode, variant, n, c, s, seed++, weighted: s % 2 == 1, upstream: 0.8f), device);
        }
    }

    [TestCaseSource(typeof(OverlapTests), nameof(OverlapTests.Losses))]
    public void InPlaceEqualsOutOfPlaceAndBadClassesThrowWritingNothing(string loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        SegmentationProblem problem = OverlapTests.Problem(loss, "multiclass", new() { ["per_image"] = true }, 2, 5, 300, 3);
        var shape = new SegmentationShape(problem.N, problem.C, problem.S);
        var dice = new DiceLoss(new OverlapOptions(perImage: true));
        using DeviceBuffer<float> x = device.Upload(problem.Input), g = device.Allocate<float>(problem.Input.Length), inPlace = device.Upload(problem.Input);
        using DeviceBuffer<long> t = device.Upload(problem.Labels!);
        float separate = dice.ForwardBackward(x, t, g, shape);
        float same = dice.ForwardBackward(inPlace, t, inPlace, shape);
        Assert.That(same, Is.EqualTo(separate));
        Assert.That(Numerics.BitEqual(inPlace.ToArray(), g.ToArray()), Is.True, "in place");

        long[] bad = (long[])problem.Labels!.Clone();
        bad[123] = problem.C;
        using DeviceBuffer<long> badTarget = device.Upload(bad);
        using DeviceBuffer<float> untouched = device.Upload(Enumerable.Repeat(7f, problem.Input.Length).ToArray());
        var thrown = Assert.Throws<ArgumentOutOfRangeException>(() => dice.ForwardBackward(x, badTarget, untouched, shape))!;
        Assert.That(thrown.ParamName, Is.EqualTo("target"));
        Assert.That(thrown.Message, Does.Contain("123"));
        Assert.That(untouched.ToArray(), Is.All.EqualTo(7f));
        using DeviceBuffer<float> tooShort = device.Allocate<float>(5);
        Assert.Throws<ArgumentException>(() => dice.ForwardBackward(x, t, tooShort, shape));
        Assert.Throws<ArgumentException>(() => dice.Forward(x, t, shape with { Spatial = 299 }));
    }
}
