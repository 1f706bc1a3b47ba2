using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.OpenCL;

/// <summary>The GAN loss on the OpenCL device: every type and role against the float64 reference, reduced and per element, in place, and bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLGanTests
{
    [TestCaseSource(typeof(GanTests), nameof(GanTests.Losses))]
    public void MatchesTheReference(GanLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach (int n in (int[])[1, 7, 18, 257, 4099])
        {
            float[] x = GanTests.Logits(n, 40 + n);
            x[0] = n > 1 ? 1e4f : x[0];
            string what = $"opencl n={n}";
            double[] upstream = Enumerable.Range(0, n).Select(i => 0.25 * (i % 7) - 0.5).ToArray();
            (double[] values, double[] perElement) = ReferenceGan.Evaluate(loss, x, Reduction.None, upstream);
            (double[] mean, double[] meanGradient) = ReferenceGan.Evaluate(loss, x, Reduction.Mean, [1.5]);
            (double[] sum, _) = ReferenceGan.Evaluate(loss, x, Reduction.Sum, [1.0]);
            using DeviceBuffer<float> input = device.Upload(x), gradient = device.Allocate<float>(n), output = device.Allocate<float>(n),
                up = device.Upload(Array.ConvertAll(upstream, v => (float)v));
            loss.ForwardBackward(input, output, gradient, up);
            Numerics.AssertClose($"{what}: values", output.ToArray(), values, 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (none)", gradient.ToArray(), perElement, 1e-5, 1e-6);
            loss.Backward(input, up, gradient);
            Numerics.AssertClose($"{what}: backward (none)", gradient.ToArray(), perElement, 1e-5, 1e-6);
            float value = loss.ForwardBackward(input, gradient, Reduction.Mean, 1.5f);
            Numerics.AssertClose($"{what}: mean", value, mean[0], 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (mean)", gradient.ToArray(), meanGradient, 1e-5, 3e-7 / n);
            Numerics.AssertClose($"{what}: forward sum", loss.Forward(input, Reduction.Sum), sum[0], 1e-5, 1e-5);
            loss.Forward(input, output);
            Numerics.AssertClose($"{what}: forward (none)", output.ToArray(), values, 1e-5, 1e-6);
            // In place: the gradient overwrites the logits' buffer.
            loss.Backward(input, 1.5f, input);
            Numerics.AssertClose($"{what}: in place", input.ToArray(), meanGradient, 1e-5, 3e-7 / n);
        }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> x = device.Upload(new float[24]), gradient = device.Allocate<float>(24), shortGradient = device.Allocate<float>(23),
            upstream = device.Upload(new float[23]);
        using DeviceBuffer<float> foreign = other.Allocate<float>(24);
        var loss = new GanLoss(GanType.Hinge, false, true);
        gradient.Upload(Enumerable.Repeat(7f, 24).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("gradient on another device", () => loss.ForwardBackward(x, foreign), typeof(ArgumentException), "inputGrad"),
            ("short gradient", () => loss.ForwardBackward(x, shortGradient), typeof(ArgumentException), "inputGrad"),
            ("reduction none", () => loss.ForwardBackward(x, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("short upstream", () => loss.Backward(x, upstream, gradient), typeof(ArgumentException), "upstream"),
            ("output is the gradient", () => loss.ForwardBackward(x, gradient, gradient), typeof(ArgumentException), "inputGrad"),
        ], name => Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
