using LossKernels.OpenCL;
using LossKernels.Segmentation;
using LossKernels.Tests.Segmentation;

namespace LossKernels.Tests.OpenCL;

/// <summary>The Lovász losses on the OpenCL device (the radix sort and walk of <c>segmentation.cl</c>): against the float64 reference, in place, and the device-side target checks.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLLovaszTests
{
    [Test]
    public void ShapesAndOptionsMatchTheReference()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        // One chunk, several chunks (1,024 elements each), and images of the group past one chunk.
        foreach (var (what, softmax, hinge, input, labels, target, shape, expected, expectedGradient) in LovaszDeviceCases.Cases([(1, 3, 1), (2, 4, 63), (3, 2, 1500)]))
        {
            using DeviceBuffer<float> x = device.Upload(input), g = device.Upload(Enumerable.Repeat(9f, input.Length).ToArray());
            float value;
            if (softmax is LovaszSoftmaxLoss s)
            {
                using DeviceBuffer<long> t = device.Upload(labels!);
                value = s.ForwardBackward(x, t, g, shape, 0.8f);
                Assert.That(s.Forward(x, t, shape), Is.EqualTo(value), what);
            }
            else
            {
                using DeviceBuffer<float> t = device.Upload(target!);
                value = hinge!.Value.ForwardBackward(x, t, g, shape, 0.8f);
                Assert.That(hinge.Value.Forward(x, t, shape), Is.EqualTo(value), what);
            }

            Assert.That(value, Is.EqualTo(expected).Within(2e-5 + 2e-5 * Math.Abs(expected)), what);
            Numerics.AssertClose(what, g.ToArray(), expectedGradient, 1e-5, 1e-6);
        }
    }

    [Test]
    public void InPlaceEqualsOutOfPlaceAndBadTargetsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        (float[] input, long[] labels) = LovaszTests.SoftmaxProblem(2, 5, 300, 3);
        var shape = new SegmentationShape(2, 5, 300);
        var softmax = new LovaszSoftmaxLoss(perImage: true);
        using DeviceBuffer<float> x = device.Upload(input), g = device.Allocate<float>(input.Length), inPlace = device.Upload(input);
        using DeviceBuffer<long> t = device.Upload(labels);
        float separate = softmax.ForwardBackward(x, t, g, shape);
        Assert.That(softmax.ForwardBackward(inPlace, t, inPlace, shape), Is.EqualTo(separate));
        Assert.That(Numerics.BitEqual(inPlace.ToArray(), g.ToArray()), Is.True, "in place");

        long[] bad = (long[])labels.Clone();
        bad[123] = 5;
        using DeviceBuffer<long> badTarget = device.Upload(bad);
        using DeviceBuffer<float> untouched = device.Upload(Enumerable.Repeat(7f, input.Length).ToArray());
        var thrown = Assert.Throws<ArgumentOutOfRangeException>(() => softmax.ForwardBackward(x, badTarget, untouched, shape))!;
        Assert.That((thrown.ParamName, thrown.Message.Contains("123")), Is.EqualTo(("target", true)));
        float[] notBinary = new float[input.Length];
        notBinary[456] = 0.5f;
        using DeviceBuffer<float> badHinge = device.Upload(notBinary);
        thrown = Assert.Throws<ArgumentOutOfRangeException>(() => new LovaszHingeLoss(mode: SegmentationMode.Multilabel).ForwardBackward(x, badHinge, untouched, shape))!;
        Assert.That((thrown.ParamName, thrown.Message.Contains("456")), Is.EqualTo(("target", true)));
        Assert.That(untouched.ToArray(), Is.All.EqualTo(7f));
        using DeviceBuffer<float> tooShort = device.Allocate<float>(5);
        Assert.Throws<ArgumentException>(() => softmax.ForwardBackward(x, t, tooShort, shape));
        Assert.Throws<ArgumentException>(() => softmax.Forward(x, t, shape with { Spatial = 299 }));
    }
}
