using ILGPU;
using ILGPU.Runtime;
using LossKernels.Box;
using LossKernels.Catalog;
using LossKernels.ILGPU;
using LossKernels.Regression;
using LossKernels.Tests.Box;
using LossKernels.Tests.Core;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// The elementwise, RMSE, box, pos_weight and GHM-C losses on the ILGPU accelerator: against the float64 references, against the CPU
/// kernels at edge values, in place, run to run, and from several threads. Sizes stay small (ILGPU's CPU accelerator is slow) but
/// cross the chunk boundaries of both a 16-thread (CPU accelerator) and a 256-thread (GPU) work-group.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ILGPUElementwiseTests
{
    /// <summary>Lengths around every chunk edge: 16 items per thread of 16 or 256 threads.</summary>
    public static readonly int[] Lengths = [0, 1, 2, 3, 5, 15, 16, 17, 255, 256, 257, 4095, 4096, 4097, 8209];

    public static IEnumerable<TestCaseData> LossesAndReductions() =>
        from loss in AllLosses.Concat(ClassificationLosses)
        from reduction in new[] { "none", "mean", "sum" }
        where !(loss == "rmse" && reduction != "mean")
        select new TestCaseData(loss, reduction);

    [TestCaseSource(nameof(LossesAndReductions))]
    public void LengthsAcrossChunkEdgesMatchTheReference(string loss, string reduction)
    {
        foreach (int length in Lengths)
        {
            (float[] input, float[] target) = Sample(loss, length, seed: length);
            RunAndCompare($"{loss}/{reduction}/n{length}", loss, ParametersFor(loss, reduction), input, target, device: IlgpuTestAccelerator.Device);
        }
    }

    [TestCaseSource(nameof(LossesAndReductions))]
    public void WeightsUpstreamAndAvgFactor(string loss, string reduction)
    {
        if (loss == "rmse")
            Assert.Pass("rmse takes no weight, upstream per element or avg_factor");
        foreach (int length in new[] { 1, 17, 4099 })
        {
            (float[] input, float[] target) = Sample(loss, length, seed: 7 * length);
            float[] weight = Uniform(length, length + 1, 0f, 2f);
            float[] upstream = reduction == "none" ? Uniform(length, length + 2, -1f, 1f) : [0.37f];
            Dictionary<string, object?> parameters = ParametersFor(loss, reduction);
            RunAndCompare($"{loss}/{reduction}/n{length} weighted", loss, parameters, input, target, weight, upstream, device: IlgpuTestAccelerator.Device);
            if (reduction == "mean" && loss != "kl_div")
            {
                parameters["avg_factor"] = 41.5;
                RunAndCompare($"{loss} avg_factor n{length}", loss, parameters, input, target, weight, device: IlgpuTestAccelerator.Device);
            }
        }
    }

    /// <summary>NaN, ±∞, ±0, ±1e4, subnormal and huge inputs and targets: the same class of value (and within float rounding) as the SIMD kernels.</summary>
    [Test]
    public void EdgeValuesMatchTheCpuKernels()
    {
        float[] specials = [0f, -0f, 1e4f, -1e4f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-30f, 1e-40f, 0.5f, -1f, 1f, 3e38f];
        float[] input = [.. from x in specials from t in specials select x];
        float[] target = [.. from x in specials from t in specials select t];
        foreach (string loss in ElementwiseLosses.Concat(ClassificationLosses))
        {
            Dictionary<string, object?> parameters = ParametersFor(loss, "none");
            using BoundLoss cpu = Bind(loss, parameters, input, target);
            using BoundLoss gpu = Bind(loss, parameters, input, target, device: IlgpuTestAccelerator.Device);
            cpu.Run(LossMode.Fused);
            RunAndFetch(gpu, LossMode.Fused);
            for (int i = 0; i < input.Length; i++)
            {
                string what = $"{loss} x={input[i]} t={target[i]}";
                Numerics.AssertSameClass(gpu.Loss[i], cpu.Loss[i], 2e-6, what + " loss");
                Numerics.AssertSameClass(gpu.InputGradient[i], cpu.InputGradient[i], 2e-6, what + " gradient");
            }
        }
    }

    [Test]
    public void GradientInPlaceOverTheInputView()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] input, float[] target) = Sample(5_003, seed: 21);
        var loss = new SmoothL1Loss(0.3f);
        var expected = new float[input.Length];
        float expectedLoss = loss.ForwardBackward(input, target, expected, Reduction.Sum, upstream: 0.5f);
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(input), t = accelerator.Upload(target);
        float got = loss.ForwardBackward(x.View, t.View, x.View, Reduction.Sum, upstream: 0.5f);
        Assert.That(got, Is.EqualTo(expectedLoss).Within(1e-6 * Math.Abs(expectedLoss)));
        Numerics.AssertClose("in place", x.GetAsArray1D(), Numerics.ToDouble(expected), 1e-6, 0);
    }

    [TestCaseSource(nameof(LossesAndReductions))]
    public void FiveRunsAreBitwiseIdentical(string loss, string reduction)
    {
        const int length = 20_011;
        (float[] input, float[] target) = Sample(loss, length, seed: 9);
        float[]? weight = loss == "rmse" ? null : Uniform(length, 10, 0f, 2f);
        using BoundLoss bound = Bind(loss, ParametersFor(loss, reduction), input, target, weight, device: IlgpuTestAccelerator.Device);
        AssertRunsBitEqual(bound, $"{loss}/{reduction}");
    }

    [Test]
    public void ConcurrentCallersOnOneAcceleratorGetRightAnswers()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        const int threads = 4, length = 3_001;
        Numerics.AssertWorkersSucceed(threads, (worker, fail) =>
        {
            (float[] input, float[] target) = Sample(length, seed: 100 + worker);
            var loss = new HuberLoss(0.5f + worker * 0.25f);
            var expected = new float[length];
            float expectedLoss = loss.ForwardBackward(input, target, expected);
            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(input), t = accelerator.Upload(target), g = accelerator.Allocate1D<float>(length);
            using AcceleratorStream stream = accelerator.CreateStream();
            for (int call = 0; call < 10; call++)
            {
                float got = loss.ForwardBackward(x.View, t.View, g.View, stream: stream);
                stream.Synchronize();
                if (Math.Abs(got - expectedLoss) > 1e-6 * Math.Abs(expectedLoss) || !g.GetAsArray1D().Zip(expected).All(pair => Numerics.IsClose(pair.First, pair.Second, 1e-6, 0)))
                    fail($"thread {worker} call {call}: loss {got} vs {expectedLoss}");
            }
        });
    }

    public static IEnumerable<TestCaseData> BoxCases() => BoxHarness.ConfigurationsAndReductions();

    [TestCaseSource(nameof(BoxCases))]
    public void BoxLossesAcrossChunkEdgesFormatsWeightsAndDegenerateBoxes(string loss, string description, string reduction)
    {
        IlgpuDevice device = IlgpuTestAccelerator.Device;
        Dictionary<string, object?> parameters = BoxHarness.ParametersFor(loss, description, reduction);
        foreach (int n in new[] { 0, 1, 3, 16, 17, 257, 4097 })
        {
            (float[] p, float[] t) = BoxHarness.Boxes(n, seed: n);
            BoxHarness.RunAndCompare($"{loss}({description})/{reduction}/n{n}", loss, parameters, p, t, device: device);
        }

        (float[] prediction, float[] target) = BoxHarness.Boxes(301, seed: 5);
        float[] weight = Uniform(301, 6, 0f, 2f);
        float[] upstream = reduction == "none" ? Uniform(301, 7, -1f, 1f) : [0.75f];
        BoxHarness.RunAndCompare($"{loss}/{reduction} weighted", loss, parameters, prediction, target, weight, upstream, device: device);
        if (reduction == "mean")
            BoxHarness.RunAndCompare($"{loss} avg_factor", loss, new(parameters) { ["avg_factor"] = 97.5 }, prediction, target, weight, upstream, device: device);
        BoxHarness.RunAndCompare($"{loss}/{reduction} cxcywh", loss, new(parameters) { ["format"] = "cxcywh" },
            BoxLossTests.ToCenterSize(prediction), BoxLossTests.ToCenterSize(target), rtol: 1e-4, atol: 1e-5, device: device);
        (float[] dp, float[] dt) = BoxLossTests.DegenerateBoxes();
        BoxHarness.RunAndCompare($"{loss}/{reduction} degenerate", loss, parameters, dp, dt, rtol: 1e-4, atol: 1e-5, device: device);
    }

    [Test]
    public void BoxGradientsInPlaceOverTheirBoxes()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] prediction, float[] target) = BoxHarness.Boxes(1_001, seed: 4);
        var loss = new CompleteIoULoss();
        var expectedPrediction = new float[prediction.Length];
        var expectedTarget = new float[target.Length];
        float expected = loss.ForwardBackward(prediction, target, expectedPrediction, Reduction.Sum, targetGrad: expectedTarget);
        using MemoryBuffer1D<float, Stride1D.Dense> p = accelerator.Upload(prediction), t = accelerator.Upload(target);
        float got = loss.ForwardBackward(p.View, t.View, p.View, Reduction.Sum, targetGrad: t.View);
        Assert.That(got, Is.EqualTo(expected).Within(1e-5 * Math.Abs(expected)));
        Numerics.AssertClose("prediction gradient in place", p.GetAsArray1D(), Numerics.ToDouble(expectedPrediction), 1e-4, 1e-7);
        Numerics.AssertClose("target gradient in place", t.GetAsArray1D(), Numerics.ToDouble(expectedTarget), 1e-4, 1e-7);
    }

    [TestCase(BoxFormat.Xyxy)]
    [TestCase(BoxFormat.Cxcywh)]
    public void BoxUtilitiesMatchTheCpu(BoxFormat format)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] boxes1, float[] boxes2) = BoxHarness.Boxes(37, seed: 8);
        boxes2 = boxes2[..(4 * 23)];
        var expected = new float[37 * 23];
        BoxIou.Pairwise(boxes1, boxes2, expected, format);
        using MemoryBuffer1D<float, Stride1D.Dense> a = accelerator.Upload(boxes1), b = accelerator.Upload(boxes2), iou = accelerator.Allocate1D<float>(37 * 23);
        IlgpuBoxIou.Pairwise(a.View, b.View, iou.View, format);
        Numerics.AssertClose($"box_iou {format}", iou.GetAsArray1D(), Numerics.ToDouble(expected), 1e-6, 1e-7);

        float[] ltrb = Uniform(4 * 301, 3, 0f, 10f);
        ltrb[0] = ltrb[2] = 0f;
        var centerness = new float[301];
        FcosCenterness.Targets(ltrb, centerness);
        using MemoryBuffer1D<float, Stride1D.Dense> d = accelerator.Upload(ltrb), c = accelerator.Allocate1D<float>(301);
        IlgpuFcosCenterness.Targets(d.View, c.View);
        Numerics.AssertClose("centerness targets", c.GetAsArray1D(), Numerics.ToDouble(centerness), 1e-6, 1e-7);
    }
}
