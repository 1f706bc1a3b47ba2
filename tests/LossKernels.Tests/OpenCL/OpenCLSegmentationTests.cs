using LossKernels.OpenCL;
using LossKernels.Segmentation;
using LossKernels.Tests.Reference;
using LossKernels.Tests.Segmentation;

namespace LossKernels.Tests.OpenCL;

/// <summary>
/// The overlap losses on the OpenCL device (<c>segmentation.cl</c>) in both variants (a work-item per pixel and a work-group per
/// block on GPUs, sixteen pixels per work-item on CPU devices): against the float64 reference, in place, and the device-side class check.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenCLSegmentationTests
{
    public static IEnumerable<TestCaseData> LossesModesAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from TestCaseData data in OverlapTests.LossesAndModes()
        select new TestCaseData(data.Arguments[0], data.Arguments[1], variant);

    public static IEnumerable<TestCaseData> LossesAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from string loss in OverlapTests.Losses
        select new TestCaseData(loss, variant);

    [TestCaseSource(nameof(LossesModesAndVariants))]
    public void ShapesAndOptionsMatchTheReference(string loss, string mode, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        int seed = 1;
        foreach (Dictionary<string, object?> options in OverlapTests.Variants(loss))
        {
            // Pixel counts around the work-group (64) and the block (4,096), images and classes past one group.
            foreach ((int n, int c, int s) in new[] { (1, 3, 1), (2, 4, 63), (3, 2, 65), (2, 3, 4097) })
                OverlapTests.AssertMatchesReference(OverlapTests.Problem(loss, mode, options, n, c, s, seed++, weighted: s % 2 == 1, upstream: 0.8f), device);
        }
    }

    /// <summary>
    /// A NaN logit spoils its pixel's softmax on the device as on the CPU (the per-pixel max keeps the NaN that fmax drops), in the
    /// multiclass and binary modes: the loss and every gradient element of the same class as the CPU kernel's.
    /// </summary>
    [Test]
    public void ANaNLogitGivesWhatTheCpuKernelGives([Values(OpenCLReductionVariant.WorkGroupTree, OpenCLReductionVariant.ChunkPerWorkItem)] OpenCLReductionVariant variant,
        [Values("multiclass", "binary")] string mode)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        SegmentationProblem problem = OverlapTests.Problem("dice_loss", mode, new() { ["per_image"] = true }, 2, mode == "binary" ? 1 : 3, 37, 5);
        float[] input = (float[])problem.Input.Clone();
        input[20] = float.NaN;
        var shape = new SegmentationShape(problem.N, problem.C, problem.S);
        var dice = new DiceLoss(new OverlapOptions(mode == "binary" ? SegmentationMode.Binary : SegmentationMode.Multiclass, perImage: true));
        float[] cpuGradient = new float[input.Length];
        float cpu = problem.Labels is null ? dice.ForwardBackward(input, problem.Dense!, cpuGradient, shape) : dice.ForwardBackward(input, problem.Labels, cpuGradient, shape);
        using DeviceBuffer<float> x = device.Upload(input), g = device.Allocate<float>(input.Length);
        float got;
        if (problem.Labels is null)
        {
            using DeviceBuffer<float> t = device.Upload(problem.Dense!);
            got = dice.ForwardBackward(x, t, g, shape);
        }
        else
        {
            using DeviceBuffer<long> t = device.Upload(problem.Labels);
            got = dice.ForwardBackward(x, t, g, shape);
        }

        Numerics.AssertSameClass(got, cpu, 2e-5, $"{mode} loss");
        float[] gradient = g.ToArray();
        for (int i = 0; i < input.Length; i++)
            Numerics.AssertSameClass(gradient[i], cpuGradient[i], 2e-5, $"{mode} gradient {i}");
    }

    [TestCaseSource(nameof(LossesAndVariants))]
    public void InPlaceEqualsOutOfPlaceAndBadClassesThrowWritingNothing(string loss, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
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
