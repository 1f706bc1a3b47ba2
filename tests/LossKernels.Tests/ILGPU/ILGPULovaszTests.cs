using ILGPU;
using ILGPU.Runtime;
using LossKernels.ILGPU;
using LossKernels.Segmentation;
using LossKernels.Tests.Segmentation;

namespace LossKernels.Tests.ILGPU;

/// <summary>The Lovász losses on the ILGPU accelerator (the CPU accelerator here: small shapes): against the float64 reference, in place, and the device-side target checks.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPULovaszTests
{
    [Test]
    public void ShapesAndOptionsMatchTheReference()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        foreach (var (what, softmax, hinge, input, labels, target, shape, expected, expectedGradient) in LovaszDeviceCases.Cases([(1, 3, 1), (2, 2, 700)]))
        {
            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(input), g = accelerator.Upload(Enumerable.Repeat(9f, input.Length).ToArray());
            float value;
            if (softmax is LovaszSoftmaxLoss s)
            {
                using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(labels!);
                value = s.ForwardBackward(x.View, t.View, g.View, shape, 0.8f);
                Assert.That(s.Forward(x.View, t.View, shape), Is.EqualTo(value), what);
            }
            else
            {
                using MemoryBuffer1D<float, Stride1D.Dense> t = accelerator.Upload(target!);
                value = hinge!.Value.ForwardBackward(x.View, t.View, g.View, shape, 0.8f);
                Assert.That(hinge.Value.Forward(x.View, t.View, shape), Is.EqualTo(value), what);
            }

            Assert.That(value, Is.EqualTo(expected).Within(2e-5 + 2e-5 * Math.Abs(expected)), what);
            Numerics.AssertClose(what, g.GetAsArray1D(), expectedGradient, 1e-5, 1e-6);
        }
    }

    [Test]
    public void InPlaceEqualsOutOfPlaceAndBadTargetsThrowWritingNothing()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] input, long[] labels) = LovaszTests.SoftmaxProblem(2, 5, 300, 3);
        var shape = new SegmentationShape(2, 5, 300);
        var softmax = new LovaszSoftmaxLoss(perImage: true);
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(input), g = accelerator.Allocate1D<float>(input.Length), inPlace = accelerator.Upload(input);
        using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(labels);
        float separate = softmax.ForwardBackward(x.View, t.View, g.View, shape);
        Assert.That(softmax.ForwardBackward(inPlace.View, t.View, inPlace.View, shape), Is.EqualTo(separate));
        Assert.That(Numerics.BitEqual(inPlace.GetAsArray1D(), g.GetAsArray1D()), Is.True, "in place");

        long[] bad = (long[])labels.Clone();
        bad[77] = -3;
        using MemoryBuffer1D<long, Stride1D.Dense> badTarget = accelerator.Upload(bad);
        using MemoryBuffer1D<float, Stride1D.Dense> untouched = accelerator.Upload(Enumerable.Repeat(7f, input.Length).ToArray());
        var thrown = Assert.Throws<ArgumentOutOfRangeException>(() => softmax.ForwardBackward(x.View, badTarget.View, untouched.View, shape))!;
        Assert.That((thrown.ParamName, thrown.Message.Contains("77")), Is.EqualTo(("target", true)));
        float[] notBinary = new float[input.Length];
        notBinary[456] = 2f;
        using MemoryBuffer1D<float, Stride1D.Dense> badHinge = accelerator.Upload(notBinary);
        thrown = Assert.Throws<ArgumentOutOfRangeException>(() => new LovaszHingeLoss(mode: SegmentationMode.Multilabel).ForwardBackward(x.View, badHinge.View, untouched.View, shape))!;
        Assert.That((thrown.ParamName, thrown.Message.Contains("456")), Is.EqualTo(("target", true)));
        Assert.That(untouched.GetAsArray1D(), Is.All.EqualTo(7f));
        Assert.Throws<ArgumentException>(() => softmax.ForwardBackward(x.View, t.View, g.View.SubView(0, 5), shape));
        Assert.Throws<ArgumentException>(() => softmax.Forward(x.View, t.View, shape with { Spatial = 299 }));
    }
}
