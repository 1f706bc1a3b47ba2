using LossKernels.Box;
using LossKernels.Catalog;
using LossKernels.Tests.Core;
using static LossKernels.Tests.Box.BoxHarness;

namespace LossKernels.Tests.Box;

/// <summary>Every box loss against its float64 reference: lengths, weights, formats, degenerate boxes, finite differences, threads, allocations.</summary>
[TestFixture]
public class BoxLossTests
{
    public static IEnumerable<TestCaseData> Cases() => ConfigurationsAndReductions();

    /// <summary>0..257 boxes (every tail of every width, and the padded path) and odd large counts across chunks and threads.</summary>
    [TestCaseSource(nameof(Cases))]
    public void Lengths0To257AndOddLarge(string loss, string description, string reduction)
    {
        Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
        for (int n = 0; n <= 257; n++)
        {
            (float[] prediction, float[] target) = Boxes(n, seed: n);
            RunAndCompare($"{loss}({description})/{reduction}/n{n}", loss, parameters, prediction, target);
        }

        foreach (int n in new[] { 1031, 40_009 })
        {
            (float[] prediction, float[] target) = Boxes(n, seed: n);
            RunAndCompare($"{loss}({description})/{reduction}/n{n}", loss, parameters, prediction, target);
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void WeightsUpstreamAndAvgFactor(string loss, string description, string reduction)
    {
        const int n = 301;
        Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
        (float[] prediction, float[] target) = Boxes(n, seed: 5);
        float[] weight = CatalogHarness.Uniform(n, 6, 0f, 2f);
        float[] upstream = reduction == "none" ? CatalogHarness.Uniform(n, 7, -1f, 1f) : [0.75f];
        RunAndCompare($"{loss}/{reduction} weighted", loss, parameters, prediction, target, weight, upstream);
        if (reduction == "mean")
        {
            parameters["avg_factor"] = 97.5;
            RunAndCompare($"{loss}/{reduction} avg_factor", loss, parameters, prediction, target, weight, upstream);
        }
    }

    /// <summary>The same boxes as (cx, cy, w, h): the loss equals the xyxy loss, and the gradients follow the conversion.</summary>
    [TestCaseSource(nameof(Cases))]
    public void CenterSizeFormat(string loss, string description, string reduction)
    {
        const int n = 77;
        Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
        parameters["format"] = "cxcywh";
        (float[] prediction, float[] target) = Boxes(n, seed: 11);
        RunAndCompare($"{loss}/{reduction} cxcywh", loss, parameters, ToCenterSize(prediction), ToCenterSize(target), rtol: 1e-4, atol: 1e-5);
    }

    /// <summary>Zero width, height and area, identical, touching, apart, far apart, nested, coordinates around 1e4: finite and equal to the reference.</summary>
    [TestCaseSource(nameof(Cases))]
    public void DegenerateBoxesAreFiniteAndMatchTheReference(string loss, string description, string reduction)
    {
        (float[] prediction, float[] target) = DegenerateBoxes();
        Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
        // Around 1e4 the float32 coordinates carry rounding of ~1e-3 in every sum and product.
        RunAndCompare($"{loss}/{reduction} degenerate", loss, parameters, prediction, target, rtol: 1e-4, atol: 1e-5);
        using BoundLoss bound = Bind(loss, parameters, prediction, target);
        bound.Run(LossMode.Fused);
        Assert.That(bound.Loss.All(float.IsFinite), $"{loss}: every loss finite");
        Assert.That(bound.Gradients.Values.SelectMany(g => g).All(float.IsFinite), $"{loss}: every gradient finite");
    }

    /// <summary>SIoU with eps = 0 and identical centers (σ = 0, mmdetection's 0/0) is finite and matches the reference. (Identical zero-width boxes, ω_w's 0/0, are among the degenerate boxes.)</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void ScyllaIoUWithoutEpsIsFiniteWhereMmdetectionDividesZeroByZero(bool negGamma)
    {
        Dictionary<string, object?> parameters = new() { ["eps"] = 0.0, ["neg_gamma"] = negGamma, ["reduction"] = "none" };
        float[] prediction = [0, 0, 2, 2, 0, 0, 4, 2, 1, 0, 3, 2, 0, 0, 4, 4];
        float[] target = [0, 0, 2, 2, 1, 0, 3, 2, 0, 0, 4, 2, 1, 1, 3, 3];
        RunAndCompare("scylla_iou_loss eps 0", "scylla_iou_loss", parameters, prediction, target, rtol: 1e-4, atol: 1e-5);
        using BoundLoss bound = Bind("scylla_iou_loss", parameters, prediction, target);
        bound.Run(LossMode.Fused);
        Assert.That(bound.Loss.All(float.IsFinite), "every loss finite");
        Assert.That(bound.Gradients.Values.SelectMany(g => g).All(float.IsFinite), "every gradient finite");
    }

    /// <summary>Sum only: the other reductions scale the same gradient.</summary>
    public static IEnumerable<TestCaseData> SumCases() => Cases().Where(c => (string)c.Arguments[2]! == "sum");

    /// <summary>The gradient matches central differences of the kernel's own forward pass (boxes away from ties and kinks).</summary>
    [TestCaseSource(nameof(SumCases))]
    public void GradientMatchesFiniteDifferences(string loss, string description, string reduction)
    {
        Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
        (float[] prediction, float[] target) = Boxes(24, seed: 3);
        using BoundLoss bound = Bind(loss, parameters, prediction, target);
        bound.Run(LossMode.Fused);
        float[][] analytic = [(float[])bound.InputGradient.Clone(), (float[])bound.Gradients[LossCatalog.Get(loss).Inputs[1]].Clone()];
        float[][] inputs = [prediction, target];
        // Bounded IoU detaches the target (mmdetection's torch.no_grad): its target gradient is 0, not the derivative.
        bool targetDetached = loss == "bounded_iou_loss";
        if (targetDetached)
            Assert.That(analytic[1], Is.All.Zero, "bounded_iou_loss: target gradient");
        for (int which = 0; which < (targetDetached ? 1 : 2); which++)
        {
            for (int i = 0; i < inputs[which].Length; i++)
            {
                float saved = inputs[which][i];
                const float step = 1e-2f;
                inputs[which][i] = saved + step;
                bound.Run(LossMode.Forward);
                double plus = bound.Loss[0];
                inputs[which][i] = saved - step;
                bound.Run(LossMode.Forward);
                double minus = bound.Loss[0];
                inputs[which][i] = saved;
                double numeric = (plus - minus) / (2 * (double)step);
                Assert.That(analytic[which][i], Is.EqualTo(numeric).Within(2e-3 + 2e-2 * Math.Abs(numeric)), $"{loss}: ∂/∂{(which == 0 ? "prediction" : "target")}[{i}]");
            }
        }
    }

    [TestCase("none")]
    [TestCase("mean")]
    [TestCase("sum")]
    public void CenternessLossMatchesTheReference(string reduction)
    {
        var parameters = new Dictionary<string, object?> { ["reduction"] = reduction };
        foreach (int n in Enumerable.Range(0, 70).Concat([257, 4099, 300_007]))
        {
            float[] logits = CatalogHarness.Uniform(n, n, -6f, 6f);
            float[] ltrb = BoxUtilityTests.CatalogHarnessLtrb(n);
            CatalogHarness.RunAndCompare($"centerness/{reduction}/n{n}", "fcos_centerness_loss", parameters, logits, ltrb);
            float[] weight = CatalogHarness.Uniform(n, n + 1, 0f, 2f);
            CatalogHarness.RunAndCompare($"centerness/{reduction}/n{n} weighted", "fcos_centerness_loss", parameters, logits, ltrb, weight);
        }
    }

    /// <summary>Logits of ±1e4 and at the float exp edges, targets 0 and 1: finite, and equal to the reference.</summary>
    [Test]
    public void CenternessLossAtExtremeLogits()
    {
        float[] logits = [1e4f, -1e4f, 88.7f, -88.7f, -103.9f, 103.9f, 0f, 20f];
        float[] ltrb = [1, 1, 1, 1, 1, 2, 3, 4, 5, 1, 5, 1, 1e-3f, 1, 1, 1e-3f, 2, 2, 2, 2, 1, 1, 1, 1, 1, 9, 1, 9, 3, 3, 3, 3];
        var parameters = new Dictionary<string, object?> { ["reduction"] = "none" };
        CatalogHarness.RunAndCompare("centerness extremes", "fcos_centerness_loss", parameters, logits, ltrb);
    }

    [Test]
    public void InPlaceGradientsEqualSeparateOnes()
    {
        (float[] prediction, float[] target) = Boxes(1003, seed: 9);
        var loss = new CompleteIoULoss();
        float[] predictionGrad = new float[prediction.Length], targetGrad = new float[target.Length];
        float expected = loss.ForwardBackward(prediction, target, predictionGrad, Reduction.Sum, targetGrad: targetGrad);
        float[] p = (float[])prediction.Clone(), t = (float[])target.Clone();
        float inPlace = loss.ForwardBackward(p, t, p, Reduction.Sum, targetGrad: t);
        Assert.That(inPlace, Is.EqualTo(expected));
        Assert.That(Numerics.BitEqual(p, predictionGrad) && Numerics.BitEqual(t, targetGrad), "gradients written over their boxes");
    }

    [Test]
    public void MeanOfNoBoxesIsZeroAsTorchvision()
    {
        Assert.That(new GeneralizedIoULoss().Forward([], []), Is.Zero);
        Assert.That(new GeneralizedIoULoss().ForwardBackward([], [], [], Reduction.Mean), Is.Zero);
    }

    [TestCaseSource(nameof(Cases))]
    public void ThreadCaps1248GiveBitwiseEqualResults(string loss, string description, string reduction)
    {
        int saved = LossKernelsSettings.MaxThreads;
        try
        {
            Dictionary<string, object?> parameters = ParametersFor(loss, description, reduction);
            (float[] prediction, float[] target) = Boxes(200_003, seed: 4);
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 4, 8 })
            {
                LossKernelsSettings.MaxThreads = threads;
                using BoundLoss bound = Bind(loss, parameters, prediction, target);
                bound.Run(LossMode.Fused);
                float[] all = [.. bound.Loss, .. bound.InputGradient, .. bound.Gradients.Values.Last()];
                if (first is null)
                    first = all;
                else
                    Assert.That(Numerics.BitEqual(all, first), $"{loss}/{reduction}: {threads} threads");
            }
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }
    }

    [TestCase(100)]
    [TestCase(200_003)]
    [NonParallelizable]
    public void NoEntryPointOfAnyBoxLossAllocates(int n)
    {
        int saved = LossKernelsSettings.MaxThreads;
        LossKernelsSettings.MaxThreads = 2;
        try
        {
            AssertNoAllocation(new IoULoss(), n);
            AssertNoAllocation(new GeneralizedIoULoss(), n);
            AssertNoAllocation(new DistanceIoULoss(), n);
            AssertNoAllocation(new CompleteIoULoss(), n);
            AssertNoAllocation(new EfficientIoULoss(), n);
            AssertNoAllocation(new ExtendedIoULoss(), n);
            AssertNoAllocation(new ScyllaIoULoss(), n);
            AssertNoAllocation(new BoundedIoULoss(), n);
            (float[] prediction, float[] target) = Boxes(n, seed: 1);
            float[] centerness = new float[n], iou = new float[n * 3];
            DeterminismAndAllocationTests.AssertNoAllocation("centerness and box_iou", () =>
            {
                FcosCenterness.Targets(target, centerness);
                BoxIou.Pairwise(prediction, target.AsSpan(0, 12), iou);
            });
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }
    }

    private static void AssertNoAllocation<TLoss>(TLoss loss, int n)
        where TLoss : struct, IBoxLoss
    {
        (float[] prediction, float[] target) = Boxes(n, seed: 1);
        float[] weight = CatalogHarness.Uniform(n, 2, 0f, 1f), upstream = CatalogHarness.Uniform(n, 3, -1f, 1f);
        float[] output = new float[n], predictionGrad = new float[4 * n], targetGrad = new float[4 * n];
        DeterminismAndAllocationTests.AssertNoAllocation(typeof(TLoss).Name, () =>
        {
            loss.Forward(prediction, target);
            loss.Forward(prediction, target, output, weight, BoxFormat.Cxcywh);
            loss.ForwardBackward(prediction, target, predictionGrad, Reduction.Mean, weight, 10f, 2f, targetGrad: targetGrad);
            loss.ForwardBackward(prediction, target, output, predictionGrad, upstream, weight);
            loss.Backward(prediction, target, 1f, predictionGrad);
            loss.Backward(prediction, target, upstream, predictionGrad, weight, BoxFormat.Xyxy, targetGrad);
        });
    }

    internal static float[] ToCenterSize(float[] boxes)
    {
        var converted = new float[boxes.Length];
        for (int i = 0; i < boxes.Length; i += 4)
        {
            converted[i] = (boxes[i] + boxes[i + 2]) / 2;
            converted[i + 1] = (boxes[i + 1] + boxes[i + 3]) / 2;
            converted[i + 2] = boxes[i + 2] - boxes[i];
            converted[i + 3] = boxes[i + 3] - boxes[i + 1];
        }

        return converted;
    }

    /// <summary>The degenerate pairs of the golden cases, each also swapped, 1e4 pairs, and identical zero-width boxes and points.</summary>
    internal static (float[] Prediction, float[] Target) DegenerateBoxes()
    {
        float[][] pairs =
        [
            [0, 0, 0, 2, 0, 0, 1, 2],
            [0, 0, 2, 0, 0, 0, 2, 1],
            [1, 1, 1, 1, 0, 0, 2, 2],
            [0, 0, 2, 3, 0, 0, 2, 3],
            [0, 0, 1, 1, 1, 0, 2, 1],
            [0, 0, 1, 1, 3, 4, 5, 6],
            [0, 0, 1, 1, 900, 800, 901, 801],
            [1, 1, 2, 2, 0, 0, 4, 4],
            [10000, 10000, 10010, 10020, 10002, 10001, 10012, 10019],
            [0.5f, 0.5f, 2.5f, 1.5f, 0, 0, 3, 2],
            [0, 0, 2, 2, 1, 1, 3, 3],
            [-1e4f, -1e4f, -9990, -9980, -9995, -9999, -9985, -9979],
            [1, 1, 1, 3, 1, 1, 1, 3],
            [2, 2, 2, 2, 2, 2, 2, 2],
        ];
        var prediction = new List<float>();
        var target = new List<float>();
        foreach (float[] pair in pairs)
        {
            prediction.AddRange(pair[..4]);
            target.AddRange(pair[4..]);
            prediction.AddRange(pair[4..]);
            target.AddRange(pair[..4]);
        }

        return ([.. prediction], [.. target]);
    }
}
