using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.OpenCL;
using LossKernels.Tests.Core;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.OpenCL;

/// <summary>The elementwise classification losses on the OpenCL device, in both reduction variants: against the float64 reference and, at edge values, against the CPU kernels.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLClassificationTests
{
    private static readonly int[] Lengths = [0, 1, 2, 3, 5, 15, 16, 17, 63, 64, 65, 255, 257, 1031, 4099, 65537];

    public static IEnumerable<TestCaseData> LossesReductionsAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from loss in ClassificationLosses
        from reduction in new[] { "none", "mean", "sum" }
        select new TestCaseData(loss, reduction, variant);

    public static IEnumerable<TestCaseData> LossesAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from loss in ClassificationLosses
        select new TestCaseData(loss, variant);

    [TestCaseSource(nameof(LossesReductionsAndVariants))]
    public void LengthsWeightsAndUpstreamMatchTheReference(string loss, string reduction, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        Dictionary<string, object?> parameters = Parameters(loss, reduction);
        foreach (int length in Lengths)
        {
            (float[] input, float[] target) = Sample(loss, length, seed: length);
            RunAndCompare($"{loss}/{reduction}/n{length}/{variant}", loss, parameters, input, target, device: device);
            float[] weight = Uniform(length, length + 1, 0f, 2f);
            float[] upstream = reduction == "none" ? Uniform(length, length + 2, -1f, 1f) : [0.37f];
            RunAndCompare($"{loss}/{reduction}/n{length}/{variant} weighted", loss, parameters, input, target, weight, upstream, device: device);
        }
    }

    /// <summary>Logits at ±1e4 and the exp edges, probabilities 0 and 1, targets 0, ½, 1 and ±1: the device's values are those of the CPU kernels.</summary>
    [TestCaseSource(nameof(LossesAndVariants))]
    public void EdgeValuesMatchTheCpuKernels(string loss, OpenCLReductionVariant variant)
    {
        float[] inputs = [0f, -0f, 1e4f, -1e4f, 88.7f, -88.7f, -103.9f, 1e-30f, 0.5f, 1f, -1f, 0.99999994f, float.NaN];
        float[] targets = [0f, 1f, 0.5f, -1f, 1e-30f];
        float[] input = [.. from x in inputs from t in targets select x];
        float[] target = [.. from x in inputs from t in targets select t];
        Dictionary<string, object?> parameters = Parameters(loss, "none");
        using BoundLoss cpu = Bind(loss, parameters, input, target);
        using BoundLoss gpu = Bind(loss, parameters, input, target, device: OpenCLTestDevice.Get(variant));
        cpu.Run(LossMode.Fused);
        RunAndFetch(gpu, LossMode.Fused);
        for (int i = 0; i < input.Length; i++)
        {
            string what = $"{loss} x={input[i]} t={target[i]}";
            Numerics.AssertSameClass(gpu.Loss[i], cpu.Loss[i], 2e-5, what + " loss");
            Numerics.AssertSameClass(gpu.InputGradient[i], cpu.InputGradient[i], 2e-5, what + " gradient");
        }
    }

    /// <summary>The device's BCE with logits gradient of a hard label is one sigmoid to float32's relative precision, as the CPU's.</summary>
    [Test]
    public void HardLabelGradientsKeepEveryBitOfTheSigmoid()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((float[] logits, float[] targets, double[] expected, float posWeight) in Classification.ClassificationLossTests.SaturatedHardLabels())
        {
            using DeviceBuffer<float> x = device.Upload(logits), t = device.Upload(targets), g = device.Allocate<float>(logits.Length), w = device.Upload(new[] { posWeight });
            new BinaryCrossEntropyWithLogitsLoss(posWeight).ForwardBackward(x, t, g, Reduction.Sum);
            Numerics.AssertClose($"w₊ {posWeight}", g.ToArray(), expected, 1e-6, 0);
            new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(x, t, w, g, Reduction.Sum);
            Numerics.AssertClose($"per-class w₊ {posWeight}", g.ToArray(), expected, 1e-6, 0);
        }
    }

    /// <summary>The device's focal, quality focal, varifocal, GHM-C and FCOS centerness gradients of hard labels keep every bit of the sigmoid, as the CPU's.</summary>
    [TestCase("sigmoid_focal_loss")]
    [TestCase("quality_focal_loss")]
    [TestCase("varifocal_loss")]
    [TestCase("ghm_c")]
    public void HardLabelGradientsOfTheSigmoidLossesKeepEveryBitOfTheSigmoid(string loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        (float[] logits, float[] targets, double[] bceGradient, _) = Classification.ClassificationLossTests.SaturatedHardLabels()[0];
        var parameters = new Dictionary<string, object?> { ["reduction"] = "sum" };
        using BoundLoss bound = Bind(loss, parameters, logits, targets, device: device);
        RunAndFetch(bound, LossMode.Fused);
        Numerics.AssertClose(loss, bound.InputGradient, CatalogHarness.Reference(loss, parameters, logits, targets).InputGradient, 1e-5, 0);

        using DeviceBuffer<float> x = device.Upload(logits), t = device.Upload(targets), g = device.Allocate<float>(logits.Length);
        new LossKernels.Box.FcosCenternessLoss().ForwardBackward(x, t, g, Reduction.Sum);
        Numerics.AssertClose("fcos centerness", g.ToArray(), bceGradient, 1e-6, 0);
    }

    /// <summary>
    /// The class losses on the device take no buffer of another device (the kernel would run on another context's memory), no
    /// output that is the gradient or an input, no gradient that is a buffer the rows read after writing it; a bad or disposed
    /// argument throws with its name and nothing is written, the row losses of nll_loss included.
    /// </summary>
    [Test]
    public void ForeignSameAndDisposedBuffersThrowBeforeAnythingIsWritten()
    {
        const int rows = 4, classes = 5;
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        float[] logits = Uniform(rows * classes, 1, -2f, 2f), binary = [.. Enumerable.Range(0, rows * classes).Select(i => (float)(i % 2))];
        float[] sentinel = [.. Enumerable.Repeat(77f, rows * classes)];
        using DeviceBuffer<float> x = device.Upload(logits), t = device.Upload(binary), probabilities = device.Upload(binary), posWeight = device.Upload(new[] { 1f, 2f, 3f, 4f, 5f });
        using DeviceBuffer<long> labels = device.Upload(new[] { 0L, 4L, 2L, 1L }), badLabels = device.Upload(new[] { 0L, 4L, 9L, 1L }), minLabels = device.Upload(new[] { 0L, long.MinValue, 2L, 1L });
        using DeviceBuffer<float> g = device.Upload(sentinel), o = device.Upload(sentinel[..rows]), same = device.Upload(sentinel);
        using DeviceBuffer<float> foreign = other.Upload(logits), foreignWeight = other.Upload(new[] { 1f, 2f, 3f, 4f, 5f });
        using DeviceBuffer<long> foreignLabels = other.Upload(new[] { 0L, 4L, 2L, 1L });
        DeviceBuffer<float> disposed = device.Upload(sentinel);
        disposed.Dispose();
        var nll = new NllLoss();
        var margin = new MultiMarginLoss();
        var posWeighted = new PosWeightedBinaryCrossEntropyLoss();
        var ghm = new GhmcLoss();
        var crossEntropy = new CrossEntropyLoss();

        (string Name, Action Call, Type Exception, string? ParamName)[] cases =
        [
            ("nll target on another device", () => nll.ForwardBackward(x, foreignLabels, g), typeof(ArgumentException), "target"),
            ("nll gradient on another device", () => nll.ForwardBackward(x, labels, foreign), typeof(ArgumentException), "inputGrad"),
            ("nll output on another device", () => nll.ForwardBackward(x, labels, foreign, g), typeof(ArgumentException), "output"),
            ("nll bad target", () => nll.ForwardBackward(x, badLabels, o, g), typeof(ArgumentOutOfRangeException), "target"),
            ("nll disposed gradient", () => nll.ForwardBackward(x, labels, o, disposed), typeof(ObjectDisposedException), null),
            ("multi_margin target on another device", () => margin.ForwardBackward(x, foreignLabels, g), typeof(ArgumentException), "target"),
            ("multi_margin gradient on another device", () => margin.ForwardBackward(x, labels, foreign), typeof(ArgumentException), "inputGrad"),
            ("multi_margin long.MinValue target", () => margin.ForwardBackward(x, minLabels, o, g), typeof(ArgumentOutOfRangeException), "target"),
            ("pos_weight on another device", () => posWeighted.ForwardBackward(x, t, foreignWeight, g), typeof(ArgumentException), "posWeight"),
            ("pos_weight gradient on another device", () => posWeighted.ForwardBackward(x, t, posWeight, foreign), typeof(ArgumentException), "inputGrad"),
            ("pos_weight output is the gradient", () => posWeighted.ForwardBackward(x, t, posWeight, same, same), typeof(ArgumentException), "output"),
            ("ghm-c target on another device", () => ghm.ForwardBackward(x, foreign, g), typeof(ArgumentException), "target"),
            ("ghm-c gradient on another device", () => ghm.ForwardBackward(x, t, foreign), typeof(ArgumentException), "logitsGrad"),
            ("cross_entropy output is the gradient", () => crossEntropy.ForwardBackward(x, labels, same, same), typeof(ArgumentException), "output"),
            ("cross_entropy gradient is the probabilities", () => crossEntropy.ForwardBackward(x, probabilities, classes, probabilities), typeof(ArgumentException), "logitsGrad"),
        ];
        OpenCLTestDevice.AssertEachThrowsWritingNothing(cases, name =>
        {
            Assert.That(g.ToArray(), Is.EqualTo(sentinel), $"{name}: gradient untouched");
            Assert.That(o.ToArray(), Is.EqualTo(sentinel[..rows]), $"{name}: output untouched");
            Assert.That(same.ToArray(), Is.EqualTo(sentinel), $"{name}: shared buffer untouched");
            Assert.That(probabilities.ToArray(), Is.EqualTo(binary), $"{name}: probabilities untouched");
        });

        // Empty buffers have no memory of their own, so none is "the same" as another: zero rows run and return NaN for the mean.
        using DeviceBuffer<float> noLogits = device.Allocate<float>(0), noOutput = device.Allocate<float>(0), noGradient = device.Allocate<float>(0);
        using DeviceBuffer<long> noLabels = device.Allocate<long>(0);
        Assert.DoesNotThrow(() => crossEntropy.ForwardBackward(noLogits, noLabels, noOutput, noGradient));
        Assert.That(crossEntropy.ForwardBackward(noLogits, noLabels, noGradient), Is.NaN);
    }
}
