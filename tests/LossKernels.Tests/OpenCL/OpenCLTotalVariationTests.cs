using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.OpenCL;

/// <summary>
/// Total variation on the OpenCL device in both variants (a work-item per pixel; a row per work-item in float16 vectors on CPU
/// devices): every norm against the float64 reference, reduced and per image, NaN, ±∞ and ±1e30 against the CPU kernel, and every
/// bad argument.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenCLTotalVariationTests
{
    public static IEnumerable<TestCaseData> NormsAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from TestCaseData norm in TotalVariationTests.Norms()
        select new TestCaseData(norm.Arguments[0], variant).SetArgDisplayNames($"{norm.TestName ?? norm.Arguments[0]}", variant.ToString());

    [TestCaseSource(nameof(NormsAndVariants))]
    public void MatchesTheReference(TotalVariationLoss loss, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
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

    /// <summary>
    /// Planes of 3 × 41 and 4 × 16 with NaN, ±∞, ±1e30 and runs of equal values among ordinary ones (the row kernel's vectors and its
    /// columns taken one at a time both meet them), and of 2 × 18 with one NaN inside the first vector (the image's value NaN from the
    /// vectors alone): values and gradients of the same class as the CPU kernel's, within 2e-5.
    /// </summary>
    [TestCaseSource(nameof(NormsAndVariants))]
    public void EdgeValuesMatchTheCpuKernel(TotalVariationLoss loss, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e30f, -1e30f, 0.5f, 0.5f, 0.5f];
        foreach ((int h, int w) in new[] { (3, 41), (4, 16), (2, 18) })
        {
            float[] x = TotalVariationTests.Image(2 * h * w, h + w);
            if (w == 18)
                x[5] = float.NaN;
            else
                for (int i = 0; i < x.Length; i += 5)
                    x[i] = specials[i / 5 % specials.Length];
            float[] upstream = [1f, 0.25f];
            float[] values = new float[2], gradient = new float[x.Length];
            loss.ForwardBackward(x, 2, 1, h, w, values, gradient, upstream);
            using DeviceBuffer<float> input = device.Upload(x), deviceGradient = device.Allocate<float>(x.Length), output = device.Allocate<float>(2),
                up = device.Upload(upstream);
            loss.Unreduced(input, 2, 1, h, w, output, deviceGradient, up);
            float[] gotValues = output.ToArray(), gotGradient = deviceGradient.ToArray();
            for (int n = 0; n < 2; n++)
                Numerics.AssertSameClass(gotValues[n], values[n], 2e-5, $"{h}x{w} image {n} value");
            for (int i = 0; i < x.Length; i++)
                Numerics.AssertSameClass(gotGradient[i], gradient[i], 2e-5, $"{h}x{w} gradient {i}");
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
