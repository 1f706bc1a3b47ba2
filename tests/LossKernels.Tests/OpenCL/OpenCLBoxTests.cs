using LossKernels.Box;
using LossKernels.Catalog;
using LossKernels.OpenCL;
using LossKernels.Tests.Box;
using LossKernels.Tests.Core;
using static LossKernels.Tests.Box.BoxHarness;

namespace LossKernels.Tests.OpenCL;

/// <summary>The box losses and utilities on the OpenCL device, in both reduction variants: against the float64 reference and run to run.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLBoxTests
{
    public static IEnumerable<TestCaseData> CasesAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from TestCaseData c in ConfigurationsAndReductions()
        select new TestCaseData(c.Arguments[0], c.Arguments[1], c.Arguments[2], variant);

    [TestCaseSource(nameof(CasesAndVariants))]
    public void Lengths0To257AndOddLarge(string loss, string description, string reduction, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
        foreach (int n in Enumerable.Range(0, 258).Concat([4097, 40_009]))
        {
            (float[] prediction, float[] target) = Boxes(n, seed: n);
            RunAndCompare($"{loss}({description})/{reduction}/n{n}/{variant}", loss, parameters, prediction, target, device: device);
        }
    }

    [TestCaseSource(nameof(CasesAndVariants))]
    public void WeightsUpstreamFormatAndDegenerateBoxes(string loss, string description, string reduction, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
        (float[] prediction, float[] target) = Boxes(301, seed: 5);
        float[] weight = CatalogHarness.Uniform(301, 6, 0f, 2f);
        float[] upstream = reduction == "none" ? CatalogHarness.Uniform(301, 7, -1f, 1f) : [0.75f];
        RunAndCompare($"{loss}/{reduction} weighted", loss, parameters, prediction, target, weight, upstream, device: device);
        if (reduction == "mean")
            RunAndCompare($"{loss} avg_factor", loss, new(parameters) { ["avg_factor"] = 97.5 }, prediction, target, weight, upstream, device: device);
        RunAndCompare($"{loss}/{reduction} cxcywh", loss, new(parameters) { ["format"] = "cxcywh" },
            BoxLossTests.ToCenterSize(prediction), BoxLossTests.ToCenterSize(target), rtol: 1e-4, atol: 1e-5, device: device);
        (float[] p, float[] t) = BoxLossTests.DegenerateBoxes();
        RunAndCompare($"{loss}/{reduction} degenerate", loss, parameters, p, t, rtol: 1e-4, atol: 1e-5, device: device);
    }

    [TestCaseSource(nameof(CasesAndVariants))]
    public void RunsAreBitwiseEqual(string loss, string description, string reduction, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        (float[] prediction, float[] target) = Boxes(100_003, seed: 2);
        using BoundLoss bound = Bind(loss, ParametersFor(loss, description, reduction), prediction, target, device: device);
        float[]? first = null;
        for (int run = 0; run < 3; run++)
        {
            bound.Run(LossMode.Fused);
            bound.FetchResults();
            float[] all = [.. bound.Loss, .. bound.InputGradient, .. bound.Gradients.Values.Last()];
            if (first is null)
                first = all;
            else
                Assert.That(Numerics.BitEqual(all, first), $"{loss}/{reduction}: run {run}");
        }
    }

    [TestCase(OpenCLReductionVariant.ChunkPerWorkItem)]
    [TestCase(OpenCLReductionVariant.WorkGroupTree)]
    public void CenternessLossMatchesTheReference(OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        foreach (int n in new[] { 0, 1, 5, 257, 4099 })
        {
            foreach (string reduction in new[] { "none", "mean", "sum" })
            {
                float[] logits = CatalogHarness.Uniform(n, n, -6f, 6f);
                float[] ltrb = BoxUtilityTests.CatalogHarnessLtrb(n);
                var parameters = new Dictionary<string, object?> { ["reduction"] = reduction };
                CatalogHarness.RunAndCompare($"centerness/{reduction}/n{n}", "fcos_centerness_loss", parameters, logits, ltrb, device: device);
            }
        }
    }

    [Test]
    public void CenternessTargetsAndPairwiseIouOnTheDevice()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach (int n in new[] { 1, 63, 64, 65, 4099 })
        {
            float[] ltrb = BoxUtilityTests.CatalogHarnessLtrb(n);
            using DeviceBuffer<float> source = device.Upload(ltrb);
            using DeviceBuffer<float> centerness = device.Allocate<float>(n);
            FcosCenterness.Targets(source, centerness);
            Numerics.AssertClose($"centerness n{n}", centerness.ToArray(), BoxUtilityTests.ReferenceCenterness(ltrb), 1e-6, 1e-7);
        }

        foreach ((int n, int m) in new[] { (1, 1), (3, 70), (65, 129) })
        {
            (float[] a, _) = Boxes(n, seed: n);
            (_, float[] b) = Boxes(m, seed: m + 1);
            foreach (BoxFormat format in new[] { BoxFormat.Xyxy, BoxFormat.Cxcywh })
            {
                using DeviceBuffer<float> first = device.Upload(format == BoxFormat.Xyxy ? a : BoxLossTests.ToCenterSize(a));
                using DeviceBuffer<float> second = device.Upload(format == BoxFormat.Xyxy ? b : BoxLossTests.ToCenterSize(b));
                using DeviceBuffer<float> iou = device.Allocate<float>(n * m);
                BoxIou.Pairwise(first, second, iou, format);
                Numerics.AssertClose($"box_iou {n}x{m} {format}", iou.ToArray(), BoxUtilityTests.ReferenceIou(a, b), 1e-4, 1e-6);
            }
        }
    }

    [Test]
    public void BadDeviceArgumentsThrowBeforeLaunch()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        (float[] prediction, float[] target) = Boxes(8, seed: 1);
        using DeviceBuffer<float> p = device.Upload(prediction), t = device.Upload(target), g = device.Allocate<float>(32), tg = device.Upload(new float[32]);
        using DeviceBuffer<float> odd = device.Allocate<float>(31), shortGradient = device.Allocate<float>(28), output = device.Allocate<float>(8);
        var loss = new GeneralizedIoULoss();
        Assert.That(() => loss.ForwardBackward(odd, odd, g), Throws.ArgumentException.With.Property("ParamName").EqualTo("prediction"));
        Assert.That(() => loss.ForwardBackward(p, t, shortGradient), Throws.ArgumentException.With.Property("ParamName").EqualTo("predictionGrad"));
        Assert.That(() => loss.ForwardBackward(p, t, g, targetGrad: g), Throws.ArgumentException.With.Property("ParamName").EqualTo("targetGrad"));
        Assert.That(() => loss.ForwardBackward(p, t, output, output), Throws.ArgumentException.With.Property("ParamName").EqualTo("predictionGrad"));
        Assert.That(() => loss.Forward(p, t, format: (BoxFormat)7), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("format"));
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> elsewhere = other.Upload(target);
        Assert.That(() => loss.Forward(p, elsewhere), Throws.ArgumentException.With.Property("ParamName").EqualTo("target"));
        Assert.That(tg.ToArray(), Is.All.Zero, "nothing written");
    }
}
