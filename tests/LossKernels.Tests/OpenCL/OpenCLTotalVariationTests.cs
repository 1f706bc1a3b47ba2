using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.OpenCL;

/// <summary>Total variation on the OpenCL device: every norm against the float64 reference, reduced and per image, and every bad argument.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLTotalVariationTests
{
    [TestCaseSource(typeof(TotalVariationTests), nameof(TotalVariationTests.Norms))]
    public void MatchesTheReference(TotalVariationLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        int seed = 30;
        foreach ((int n, int c, int h, int w) in TotalVariationTests.Shapes)
        {
            float[] x = TotalVariationTests.Image(n * c * h * w, seed++);
            string what = $"opencl N={n} C={c} H={h} W={w}";
            float[] upstream = Enumerable.Range(0, n).Select(i => 0.5f + i).ToArray();
            (double[] values, double[] perImage) = ReferenceTotalVariation.Evaluate(loss, x, n, c, h, w, i => upstream[i]);
            (_, double[] mean) = ReferenceTotalVariation.Evaluate(loss, x, n, c, h, w, _ => 1.5 / n);
            using DeviceBuffer<float> input = device.Upload(x), gradient = device.Allocate<float>(x.Length), output = device.Allocate<float>(n),
                up = device.Upload(upstream);
            loss.Unreduced(input, n, c, h, w, output, gradient, up);
            Numerics.AssertClose($"{what}: values", output.ToArray(), values, 1e-5, 1e-5);
            Numerics.AssertClose($"{what}: gradient (none)", gradient.ToArray(), perImage, 1e-5, 1e-5);
            float value = loss.ForwardBackward(input, n, c, h, w, gradient, Reduction.Mean, 1.5f);
            Numerics.AssertClose($"{what}: mean", value, values.Average(), 1e-5, 1e-5);
            Numerics.AssertClose($"{what}: gradient (mean)", gradient.ToArray(), mean, 1e-5, 1e-5);
            Numerics.AssertClose($"{what}: forward sum", loss.Forward(input, n, c, h, w, Reduction.Sum), values.Sum(), 1e-5, 1e-5);
        }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> x = device.Upload(new float[24]), gradient = device.Allocate<float>(24), shortGradient = device.Allocate<float>(23),
            output = device.Allocate<float>(2), upstream = device.Upload(new[] { 1f, 1f });
        using DeviceBuffer<float> foreign = other.Allocate<float>(24);
        var loss = new TotalVariationLoss();
        gradient.Upload(Enumerable.Repeat(7f, 24).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("gradient on another device", () => loss.ForwardBackward(x, 2, 3, 2, 2, foreign), typeof(ArgumentException), "inputGrad"),
            ("short gradient", () => loss.ForwardBackward(x, 2, 3, 2, 2, shortGradient), typeof(ArgumentException), "inputGrad"),
            ("in place", () => loss.ForwardBackward(gradient, 2, 3, 2, 2, gradient), typeof(ArgumentException), "inputGrad"),
            ("shape not the input", () => loss.ForwardBackward(x, 2, 3, 2, 3, gradient), typeof(ArgumentException), "input"),
            ("reduction none", () => loss.ForwardBackward(x, 2, 3, 2, 2, gradient, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
            ("missing upstream", () => loss.Unreduced(x, 2, 3, 2, 2, output, gradient, null), typeof(ArgumentNullException), "upstream"),
            ("output is the gradient", () => loss.Unreduced(x, 2, 3, 2, 2, gradient, gradient, upstream), typeof(ArgumentException), "output"),
        ], name => Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
