using LossKernels.Classification;
using LossKernels.OpenCL;
using LossKernels.Tests.Classification;
using LossKernels.Tests.Core;

namespace LossKernels.Tests.OpenCL;

/// <summary>Softmax, log-softmax and one-hot on the OpenCL device against the float64 row references, in place.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLSoftmaxTests
{
    [Test]
    public void ForwardAndBackwardInPlaceMatchTheReference([Values] bool logarithm)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        foreach ((int rows, int classes) in new[] { (1, 1), (3, 3), (5, 7), (4, 17), (3, 257), (2, 32000), (300, 129) })
        {
            float[] x = CatalogHarness.Uniform(rows * classes, classes, -20f, 20f);
            float[] g = CatalogHarness.Uniform(rows * classes, classes + 1, -1f, 1f);
            (double[] y, double[] dx) = SoftmaxTests.Reference(x, g, classes, logarithm);
            using DeviceBuffer<float> output = device.Upload(x), gradient = device.Upload(g);
            if (logarithm)
            {
                LogSoftmax.Forward(output, classes, output);
                LogSoftmax.Backward(output, gradient, classes, gradient);
            }
            else
            {
                Softmax.Forward(output, classes, output);
                Softmax.Backward(output, gradient, classes, gradient);
            }

            Numerics.AssertClose($"{rows}x{classes} forward", output.ToArray(), y, 1e-5, 1e-7);
            Numerics.AssertClose($"{rows}x{classes} backward", gradient.ToArray(), dx, 1e-5, 1e-6);
        }
    }

    [Test]
    public void OneHotOnTheDevice()
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        using DeviceBuffer<long> target = device.Upload([2L, -100L, 0L]), bad = device.Upload([2L, 7L, 0L]);
        using DeviceBuffer<float> output = device.Allocate<float>(12);
        OneHot.Encode(target, 4, output);
        Assert.That(output.ToArray(), Is.EqualTo(new[] { 0f, 0f, 1f, 0f, 0f, 0f, 0f, 0f, 1f, 0f, 0f, 0f }));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => OneHot.Encode(bad, 4, output))!.Message, Does.Contain("index 1"));
    }
}
