using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.OpenCL;

/// <summary>The relativistic GAN loss on the OpenCL device: every type and role, full and detached means, against the float64 reference; in place; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLRelativisticGanTests
{
    [TestCaseSource(typeof(RelativisticGanTests), nameof(RelativisticGanTests.Losses))]
    public void MatchesTheReference(RelativisticGanLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((int real, int fake) in (ValueTuple<int, int>[])[(1, 7), (257, 18), (4099, 1031)])
        {
            (float[] r, float[] f) = RelativisticGanTests.Logits(real, fake, real * fake);
            string what = $"opencl n_r={real} n_f={fake}";
            (double realHalf, double fakeHalf, double[] realExpected, double[] fakeExpected) = ReferenceRelativisticGan.Evaluate(loss, r, f, 0.75);
            using DeviceBuffer<float> realLogits = device.Upload(r), fakeLogits = device.Upload(f), realGrad = device.Allocate<float>(real),
                fakeGrad = device.Allocate<float>(fake);
            RelativisticGanResult result = loss.ForwardBackward(realLogits, fakeLogits, realGrad, fakeGrad, 0.75f);
            Numerics.AssertClose($"{what}: loss", result.Loss, realHalf + fakeHalf, 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: real gradient", realGrad.ToArray(), realExpected, 1e-4, 2e-6 / real);
            Numerics.AssertClose($"{what}: fake gradient", fakeGrad.ToArray(), fakeExpected, 1e-4, 2e-6 / fake);
            Numerics.AssertClose($"{what}: forward", loss.Forward(realLogits, fakeLogits).Fake, fakeHalf, 1e-5, 1e-6);
            float[] fused = realGrad.ToArray();
            realGrad.Upload(new float[real]);
            loss.Backward(realLogits, fakeLogits, 0.75f, realGrad, fakeGrad);
            Assert.That(realGrad.ToArray(), Is.EqualTo(fused), $"{what}: backward");
            loss.ForwardBackward(realLogits, fakeLogits, realLogits, fakeLogits, 0.75f);
            Numerics.AssertClose($"{what}: in place", fakeLogits.ToArray(), fakeExpected, 1e-4, 2e-6 / fake);
        }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> r = device.Upload(new float[8]), f = device.Upload(new float[6]), realGrad = device.Allocate<float>(8),
            fakeGrad = device.Allocate<float>(6), shortGrad = device.Allocate<float>(7);
        using DeviceBuffer<float> foreign = other.Allocate<float>(6);
        var loss = new RelativisticGanLoss();
        realGrad.Upload(Enumerable.Repeat(7f, 8).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("fake gradient on another device", () => loss.ForwardBackward(r, f, realGrad, foreign), typeof(ArgumentException), "fakeGrad"),
            ("short real gradient", () => loss.ForwardBackward(r, f, shortGrad, fakeGrad), typeof(ArgumentException), "realGrad"),
            ("real gradient is the fake logits", () => loss.ForwardBackward(r, f, f, fakeGrad), typeof(ArgumentException), "realGrad"),
            ("fake gradient is the real gradient", () => loss.ForwardBackward(r, f, realGrad, realGrad), typeof(ArgumentException), "fakeGrad"),
        ], name => Assert.That(realGrad.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
