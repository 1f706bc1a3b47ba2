using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.OpenCL;

/// <summary>The feature reconstruction loss on the OpenCL device: p = 2 and 1, mean and sum, against the float64 formula; in place; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLFeatureReconstructionTests
{
    [TestCaseSource(typeof(FeatureReconstructionTests), nameof(FeatureReconstructionTests.Losses))]
    public void MatchesTheReference(FeatureReconstructionLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((int images, int perImage) in (ValueTuple<int, int>[])[(1, 1), (3, 17), (2, 4099)])
            foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
            {
                (float[] x, float[] t) = FeatureReconstructionTests.Features(images * perImage, perImage);
                string what = $"opencl N={images} CHW={perImage} {reduction}";
                (double expected, double[] gradient) = FeatureReconstructionTests.Reference(loss, x, t, images, reduction, 0.75);
                using DeviceBuffer<float> input = device.Upload(x), target = device.Upload(t), grad = device.Allocate<float>(x.Length);
                Numerics.AssertClose($"{what}: loss", loss.ForwardBackward(input, target, images, grad, reduction, 0.75f), expected, 1e-5, 1e-7);
                Numerics.AssertClose($"{what}: gradient", grad.ToArray(), gradient, 1e-5, 1e-12);
                Numerics.AssertClose($"{what}: forward", loss.Forward(input, target, images, reduction), expected, 1e-5, 1e-7);
                float[] fused = grad.ToArray();
                grad.Upload(new float[x.Length]);
                loss.Backward(input, target, images, 0.75f, grad, reduction);
                Assert.That(grad.ToArray(), Is.EqualTo(fused), $"{what}: backward");
                loss.ForwardBackward(input, target, images, input, reduction, 0.75f);
                Numerics.AssertClose($"{what}: in place", input.ToArray(), gradient, 1e-5, 1e-12);
            }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> x = device.Upload(new float[24]), t = device.Upload(new float[24]), gradient = device.Allocate<float>(24),
            shortTarget = device.Allocate<float>(23);
        var loss = new FeatureReconstructionLoss(1);
        gradient.Upload(Enumerable.Repeat(7f, 24).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("images not dividing", () => loss.ForwardBackward(x, t, 5, gradient), typeof(ArgumentException), "input"),
            ("reduction none", () => loss.ForwardBackward(x, t, 2, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("target length", () => loss.ForwardBackward(x, shortTarget, 2, gradient), typeof(ArgumentException), "target"),
        ], name => Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
