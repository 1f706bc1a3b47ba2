using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.OpenCL;

/// <summary>The gradient penalty on the OpenCL device: both penalties against the float64 reference, reduced and per row, in place; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLGradientPenaltyTests
{
    [TestCaseSource(typeof(GradientPenaltyTests), nameof(GradientPenaltyTests.Losses))]
    public void MatchesTheReference(GradientPenaltyLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((int batch, int dim) in (ValueTuple<int, int>[])[(1, 1), (4, 7), (3, 257), (5, 4099), (2, 70_001)])
        {
            float[] g = GradientPenaltyTests.Gradients(batch, dim, batch + dim);
            string what = $"opencl B={batch} D={dim}";
            float[] upstream = Enumerable.Range(0, batch).Select(b => 0.5f + b).ToArray();
            (double[] values, double[] perRow) = ReferenceGradientPenalty.Evaluate(loss, g, batch, b => upstream[b]);
            (_, double[] mean) = ReferenceGradientPenalty.Evaluate(loss, g, batch, _ => 1.5 / batch);
            double atol = 1e-6 * loss.GpWeight;
            using DeviceBuffer<float> input = device.Upload(g), gradient = device.Allocate<float>(g.Length), output = device.Allocate<float>(batch),
                up = device.Upload(upstream);
            loss.ForwardBackward(input, batch, output, gradient, up);
            Numerics.AssertClose($"{what}: values", output.ToArray(), values, 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (none)", gradient.ToArray(), perRow, 1e-5, atol);
            float value = loss.ForwardBackward(input, batch, gradient, Reduction.Mean, 1.5f);
            Numerics.AssertClose($"{what}: mean", value, values.Average(), 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (mean)", gradient.ToArray(), mean, 1e-5, atol);
            Numerics.AssertClose($"{what}: sum", loss.ForwardBackward(input, batch, null, Reduction.Sum), values.Sum(), 1e-5, 1e-5);
            loss.ForwardBackward(input, batch, input, Reduction.Mean, 1.5f);
            Numerics.AssertClose($"{what}: in place", input.ToArray(), mean, 1e-5, atol);
        }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> g = device.Upload(new float[24]), gradient = device.Allocate<float>(24), shortGradient = device.Allocate<float>(23),
            output = device.Allocate<float>(4);
        using DeviceBuffer<float> foreign = other.Allocate<float>(24);
        var loss = new GradientPenaltyLoss();
        gradient.Upload(Enumerable.Repeat(7f, 24).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("gradient on another device", () => loss.ForwardBackward(g, 4, foreign), typeof(ArgumentException), "inputGrad"),
            ("short gradient", () => loss.ForwardBackward(g, 4, shortGradient), typeof(ArgumentException), "inputGrad"),
            ("batch not dividing", () => loss.ForwardBackward(g, 5, gradient), typeof(ArgumentException), "input"),
            ("reduction none", () => loss.ForwardBackward(g, 4, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("output is the gradient", () => loss.ForwardBackward(g, 4, gradient, gradient), typeof(ArgumentException), "output"),
        ], name => Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
