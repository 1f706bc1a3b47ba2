using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.Tests.Core;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.Classification;

/// <summary>Every elementwise classification loss against its float64 reference: lengths, modes, weights, edge values, finite differences, threads, allocation.</summary>
[TestFixture]
public class ClassificationLossTests
{
    private static readonly int[] OddLargeLengths = [1031, 65537, 262147];

    /// <summary>Logits at the float exp edges and far past them.</summary>
    private static readonly float[] EdgeLogits = [1e4f, -1e4f, 88.7f, -88.7f, 88.72f, -103.9f, 103.9f, 30f, -30f, 17f, -17f, 0f, -0f, 1e-30f];

    public static IEnumerable<TestCaseData> LossesAndReductions() =>
        from loss in ClassificationLosses
        from reduction in new[] { "none", "mean", "sum" }
        select new TestCaseData(loss, reduction);

    public static string[] Losses() => ClassificationLosses;

    [TestCaseSource(nameof(LossesAndReductions))]
    public void Lengths0To257AndOddLarge(string loss, string reduction)
    {
        Dictionary<string, object?> parameters = Parameters(loss, reduction);
        foreach (int length in Enumerable.Range(0, 258).Concat(OddLargeLengths))
        {
            (float[] input, float[] target) = Sample(loss, length, seed: length);
            RunAndCompare($"{loss}/{reduction}/n{length}", loss, parameters, input, target);
        }
    }

    [TestCaseSource(nameof(LossesAndReductions))]
    public void WeightsAndUpstream(string loss, string reduction)
    {
        foreach (int length in new[] { 1, 17, 1031, 300_007 })
        {
            (float[] input, float[] target) = Sample(loss, length, seed: 7 * length);
            float[] weight = Uniform(length, length + 1, 0f, 2f);
            float[] upstream = reduction == "none" ? Uniform(length, length + 2, -1f, 1f) : [0.37f];
            RunAndCompare($"{loss}/{reduction}/n{length} weighted", loss, Parameters(loss, reduction), input, target, weight, upstream);
        }
    }

    [TestCaseSource(nameof(Losses))]
    public void DefaultHyperparametersMatchTheReference(string loss)
    {
        (float[] input, float[] target) = Sample(loss, 999, seed: 4);
        RunAndCompare($"{loss} defaults", loss, new Dictionary<string, object?> { ["reduction"] = "sum" }, input, target);
    }

    /// <summary>Logits of ±1e4, ±88.7, −103.9 and friends against targets 0, 1 and ½: finite and equal to the reference wherever it is finite.</summary>
    [TestCaseSource(nameof(Losses))]
    public void EdgeLogitsAndTargetsMatchTheReference(string loss)
    {
        float[] targets = loss switch
        {
            "hinge_loss" or "hinge_embedding_loss" or "zero_one_loss" => [-1f, 1f],
            "kl_div" => [0f, 1f, 0.5f, 1e-30f],
            _ => [0f, 1f, 0.5f],
        };
        float[] inputs = loss switch
        {
            "binary_cross_entropy" => [0f, 1f, 1e-30f, 1e-7f, 0.99999994f, 0.5f, 1e-45f],
            "kl_div" => [0f, -1e4f, -88.7f, -103.9f, -1e-30f],
            _ => EdgeLogits,
        };
        float[] input = [.. from x in inputs from t in targets select x];
        float[] target = [.. from x in inputs from t in targets select t];
        foreach (string reduction in new[] { "none", "sum" })
        {
            Dictionary<string, object?> parameters = Parameters(loss, reduction);
            RunAndCompare($"{loss}/{reduction} edges", loss, parameters, input, target);
            using BoundLoss bound = Bind(loss, parameters, input, target);
            bound.Run(LossMode.Fused);
            Assert.That(bound.Loss.All(float.IsFinite) && bound.InputGradient.All(float.IsFinite), $"{loss}/{reduction}: every value finite");
        }
    }

    [Test]
    public void FocalGradientAtASaturatedCorrectPredictionIsItsFiniteLimitForGammaBelowOne()
    {
        // m = 1 − p_t reaches 0 in float: autograd's pow backward gives γ·0^(γ−1)·0 = NaN there; the limit is 0.
        float[] input = [1e4f, 30f, 88.7f, -1e4f, -30f], target = [1f, 1f, 1f, 0f, 0f];
        foreach (float gamma in new[] { 0f, 0.25f, 0.5f, 0.99f })
        {
            var parameters = new Dictionary<string, object?> { ["gamma"] = (double)gamma, ["reduction"] = "none" };
            RunAndCompare($"gamma {gamma}", "sigmoid_focal_loss", parameters, input, target);
            var gradient = new float[input.Length];
            new SigmoidFocalLoss(0.25f, gamma).ForwardBackward(input, target, new float[input.Length], gradient);
            Assert.That(gradient.All(float.IsFinite), $"gamma {gamma}: {string.Join(", ", gradient)}");
        }
    }

    /// <summary>
    /// Hard labels where the sigmoid saturates: x in [−17, 17] against t = 0 and 1, the gradient per element (sum reduction) σ(x) − t in float64.
    /// </summary>
    public static (float[] Logits, float[] Targets, double[] Gradient, float PosWeight)[] SaturatedHardLabels()
    {
        float[] x = [.. Enumerable.Range(-34, 69).Select(i => i * 0.5f)];
        float[] logits = [.. x, .. x], targets = [.. x.Select(_ => 0f), .. x.Select(_ => 1f)];
        double[] Gradient(double posWeight) =>
            [.. logits.Select((v, i) => (1 - targets[i]) / (1 + Math.Exp(-(double)v)) - posWeight * targets[i] / (1 + Math.Exp(v)))];
        return [(logits, targets, Gradient(1), 1f), (logits, targets, Gradient(2.5), 2.5f)];
    }

    /// <summary>
    /// The BCE with logits gradient of a hard label is one sigmoid to float32's relative precision, with and without a positive weight:
    /// σ(x) − 1 in float32 (PyTorch's form) keeps only σ(−x)'s bits above 2⁻²⁴, a relative error up to 1 as σ(−x) falls.
    /// </summary>
    [Test]
    public void HardLabelGradientsKeepEveryBitOfTheSigmoid()
    {
        foreach ((float[] logits, float[] targets, double[] expected, float posWeight) in SaturatedHardLabels())
        {
            var gradient = new float[logits.Length];
            new BinaryCrossEntropyWithLogitsLoss(posWeight).ForwardBackward(logits, targets, gradient, Reduction.Sum);
            Numerics.AssertClose($"w₊ {posWeight}", gradient, expected, 1e-6, 0);
            new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(logits, targets, [posWeight], gradient, Reduction.Sum);
            Numerics.AssertClose($"per-class w₊ {posWeight}", gradient, expected, 1e-6, 0);
        }
    }

    /// <summary>
    /// The sigmoid losses whose gradients hold σ(x) − t (focal, quality focal, varifocal, GHM-C, FCOS centerness) keep a hard label's
    /// gradient to float32's relative precision where the sigmoid saturates: with σ(x) − 1 in float32 the focal gradient at x = 17
    /// lost a third of its value (σ(x) − 1 = 0 there), and GHM-C's 100%.
    /// </summary>
    [TestCase("sigmoid_focal_loss")]
    [TestCase("quality_focal_loss")]
    [TestCase("varifocal_loss")]
    [TestCase("ghm_c")]
    public void HardLabelGradientsOfTheSigmoidLossesKeepEveryBitOfTheSigmoid(string loss)
    {
        (float[] logits, float[] targets, double[] bceGradient, _) = SaturatedHardLabels()[0];
        var parameters = new Dictionary<string, object?> { ["reduction"] = "sum" };
        using BoundLoss bound = Bind(loss, parameters, logits, targets);
        RunAndFetch(bound, LossMode.Fused);
        Numerics.AssertClose(loss, bound.InputGradient, CatalogHarness.Reference(loss, parameters, logits, targets).InputGradient, 1e-5, 0);

        var centerness = new float[logits.Length];
        new LossKernels.Box.FcosCenternessLoss().ForwardBackward(logits, targets, centerness, Reduction.Sum);
        Numerics.AssertClose("fcos centerness", centerness, bceGradient, 1e-6, 0);
    }

    [Test]
    public void PerClassPosWeightEqualsTheScalarColumnByColumnInPlaceAndAllocatesNothing()
    {
        foreach (int classes in new[] { 1, 3, 4, 17, 80 })
        {
            (float[] input, float[] target) = Sample("binary_cross_entropy_with_logits", 40 * classes, seed: classes);
            float[] posWeight = [.. Enumerable.Range(0, classes).Select(c => 0.5f + c % 4)];
            float[] gradient = (float[])input.Clone();
            float[] output = new float[input.Length];
            float sum = new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(gradient, target, posWeight, gradient, Reduction.Sum);
            new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(input, target, posWeight, output, Span<float>.Empty);
            double expectedSum = 0;
            for (int i = 0; i < input.Length; i++)
            {
                var scalar = new BinaryCrossEntropyWithLogitsLoss(posWeight[i % classes]);
                float[] one = new float[1], oneGrad = new float[1];
                scalar.ForwardBackward([input[i]], [target[i]], one, oneGrad);
                Assert.That(output[i], Is.EqualTo(one[0]).Within(1e-6).Percent, $"C {classes} element {i} loss");
                Assert.That(gradient[i], Is.EqualTo(oneGrad[0]).Within(1e-5).Percent, $"C {classes} element {i} gradient (in place)");
                expectedSum += one[0];
            }

            Assert.That(sum, Is.EqualTo(expectedSum).Within(1e-5).Percent);
        }

        float[] x = new float[800], t = new float[800], g = new float[800], pw = [.. Enumerable.Repeat(2f, 80)];
        DeterminismAndAllocationTests.AssertNoAllocation("pos_weight", () => new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(x, t, pw, g));
        Assert.That(Assert.Throws<ArgumentException>(() => new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(x, t, new float[7], g))!.ParamName, Is.EqualTo("posWeight"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(x, t, [.. pw[..79], -1f], g))!.ParamName, Is.EqualTo("posWeight"));
    }

    /// <summary>
    /// Overlaps that would give silently wrong results throw, naming what is written, before anything is written: the distribution
    /// focal loss's outputs over its labels, weights or upstream; pos_weight BCE with one span for output and gradient, the
    /// gradient shifted over the target, the output shifted over the input, either over the class weights.
    /// </summary>
    [Test]
    public void OverlapsOfWrittenAndReadMemoryThrowBeforeWriting()
    {
        float[] pool = [.. Enumerable.Repeat(0.5f, 200)];
        void Throws(string param, TestDelegate call)
        {
            Assert.That(Assert.Throws<ArgumentException>(call)!.ParamName, Is.EqualTo(param));
            Assert.That(pool, Is.All.EqualTo(0.5f), $"{param}: nothing written");
        }

        Span<float> At(int start, int length) => pool.AsSpan(start, length);
        float[] logits = Uniform(4 * 17, 1, -2f, 2f), label = [0.5f, 3f, 7.25f, 16f];
        var dfl = new DistributionFocalLoss();
        Throws("logitsGrad", () => dfl.ForwardBackward(logits, At(0, 4), At(0, 68)));
        Throws("logitsGrad", () => dfl.ForwardBackward(logits, label, At(0, 68), Reduction.Sum, At(60, 4)));
        Throws("logitsGrad", () => dfl.ForwardBackward(logits, label, At(100, 4), At(0, 68), At(67, 4)));
        Throws("output", () => dfl.ForwardBackward(logits, At(0, 4), At(2, 4), At(100, 68)));
        Throws("output", () => dfl.ForwardBackward(logits, label, At(0, 4), At(100, 68), At(3, 4)));
        Throws("output", () => dfl.ForwardBackward(logits, label, At(0, 4), At(100, 68), default, At(1, 4)));

        var posWeighted = new PosWeightedBinaryCrossEntropyLoss();
        float[] input = Uniform(12, 2, -2f, 2f), target = [.. Enumerable.Range(0, 12).Select(i => (float)(i % 2))], posWeight = [1f, 2f, 3f];
        Throws("inputGrad", () => posWeighted.ForwardBackward(input, target, posWeight, At(0, 12), At(0, 12)));
        Throws("inputGrad", () => posWeighted.ForwardBackward(input, At(0, 12), posWeight, At(1, 12)));
        Throws("inputGrad", () => posWeighted.ForwardBackward(input, target, At(0, 3), At(2, 12)));
        Throws("output", () => posWeighted.ForwardBackward(At(0, 12), target, posWeight, At(1, 12), At(100, 12)));
        Throws("output", () => posWeighted.ForwardBackward(input, target, At(10, 3), At(0, 12), At(100, 12)));
    }

    /// <summary>Constructors name the bad hyperparameter by their own parameter's name, as every other loss does.</summary>
    [Test]
    public void ConstructorsNameTheirOwnParameters()
    {
        (string Name, TestDelegate Call)[] cases =
        [
            ("gamma", () => new SigmoidFocalLoss(0.25f, -1f)),
            ("alpha", () => new SigmoidFocalLoss(2f, 2f)),
            ("gamma", () => new SoftmaxFocalLoss(0.25f, float.NaN)),
            ("alpha", () => new SoftmaxFocalLoss(-1f, 2f)),
            ("alpha", () => new BalancedBinaryCrossEntropyLoss(1.5f)),
            ("margin", () => new HingeEmbeddingLoss(float.PositiveInfinity)),
            ("bins", () => new GhmcLoss(0, 0f)),
            ("p", () => new MultiMarginLoss(3, 1f)),
            ("margin", () => new MultiMarginLoss(1, float.NaN)),
            ("labelSmoothing", () => new CrossEntropyLoss(-100, -0.5f)),
        ];
        foreach ((string name, TestDelegate call) in cases)
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(call)!.ParamName, Is.EqualTo(name));
    }

    /// <summary>multi_margin_loss has no ignore index: every class outside [0, C) is rejected, long.MinValue included, before anything is written.</summary>
    [Test]
    public void MultiMarginRejectsEveryTargetOutsideTheClasses()
    {
        float[] input = Uniform(8, 3, -1f, 1f), gradient = [.. Enumerable.Repeat(2f, 8)];
        foreach (long bad in new[] { long.MinValue, -100L, -1L, 4L, long.MaxValue })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => new MultiMarginLoss().ForwardBackward(input, [0L, bad], gradient))!;
            Assert.That(e.ParamName, Is.EqualTo("target"), $"target {bad}");
        }

        Assert.That(gradient, Is.All.EqualTo(2f), "nothing written");
    }

    [Test]
    public void ProbabilitiesZeroAndOneGivePyTorchsClampedValues()
    {
        float[] gradient = new float[4];
        float[] output = new float[4];
        new BinaryCrossEntropyLoss().ForwardBackward([0f, 1f, 0f, 1f], [1f, 0f, 0f, 1f], output, gradient);
        Assert.That(output, Is.EqualTo(new[] { 100f, 100f, 0f, 0f }));
        Assert.That(gradient, Is.EqualTo(new[] { -1e12f, 1e12f, 0f, 0f }));
    }

    [Test]
    public void AlphaBelowZeroTurnsTheFocalWeightingOff()
    {
        (float[] input, float[] target) = Sample("sigmoid_focal_loss", 500, seed: 2);
        RunAndCompare("alpha -1", "sigmoid_focal_loss", new Dictionary<string, object?> { ["alpha"] = -1.0, ["gamma"] = 2.0, ["reduction"] = "mean" }, input, target);
    }

    [Test]
    public void BalancedBceEqualsFocalWithGammaZeroOnHardTargets()
    {
        (float[] input, _) = Sample("sigmoid_focal_loss", 333, seed: 6);
        float[] target = [.. Enumerable.Range(0, 333).Select(i => (float)(i % 2))];
        float[] balancedGradient = new float[333], focalGradient = new float[333];
        float balanced = new BalancedBinaryCrossEntropyLoss(0.3f).ForwardBackward(input, target, balancedGradient);
        float focal = new SigmoidFocalLoss(0.3f, 0f).ForwardBackward(input, target, focalGradient);
        Assert.That(balanced, Is.EqualTo(focal).Within(1e-6).Percent);
        Numerics.AssertClose("gradient", balancedGradient, Numerics.ToDouble(focalGradient), 1e-6, 1e-9);
    }

    [Test]
    public void KlDivWithLogTargetsAndBatchMean()
    {
        (float[] input, float[] target) = Sample("kl_div", 600, seed: 9);
        RunAndCompare("log_target", "kl_div", new Dictionary<string, object?> { ["log_target"] = true, ["reduction"] = "mean" }, input, target);
        var parameters = new Dictionary<string, object?> { ["reduction"] = "batchmean" };
        var inputs = new Dictionary<string, LossTensor> { ["input"] = LossTensor.FromFloats(input, 20, 30), ["target"] = LossTensor.FromFloats(target, 20, 30) };
        using BoundLoss bound = LossCatalog.Get("kl_div").Bind(new LossParameters(parameters), inputs, LossTensor.FromFloats([2f]));
        bound.Run(LossMode.Fused);
        var sum = CatalogHarness.Reference("kl_div", new Dictionary<string, object?> { ["reduction"] = "sum" }, input, target, upstream: [2f / 20]);
        Assert.That(bound.Loss[0], Is.EqualTo(sum.Loss[0] / 20).Within(1e-5).Percent);
        Numerics.AssertClose("batchmean gradient", bound.InputGradient, sum.InputGradient, 1e-5, 1e-7);
    }

    [TestCaseSource(nameof(Losses))]
    public void GradientMatchesFiniteDifferencesOfTheKernelsOwnForward(string loss)
    {
        if (loss == "zero_one_loss")
            Assert.Pass("not differentiable: its gradient is 0 by definition (checked against the reference)");
        Dictionary<string, object?> parameters = Parameters(loss, "sum");
        (float[] input, float[] target) = Sample(loss, 64, seed: 11);
        if (loss == "binary_cross_entropy")
            input = [.. input.Select(p => Math.Clamp(p, 0.1f, 0.9f))];
        using BoundLoss bound = Bind(loss, parameters, input, target);
        bound.Run(LossMode.Fused);
        float[] analytic = (float[])bound.InputGradient.Clone();
        const float h = 1e-2f;
        for (int i = 0; i < input.Length; i++)
        {
            float x = input[i];
            double margin = loss switch
            {
                "hinge_loss" => 0.8 - target[i] * x,
                "hinge_embedding_loss" => 1.3 - x,
                "quality_focal_loss" or "varifocal_loss" => 1 / (1 + Math.Exp(-x)) - target[i],
                _ => 1,
            };
            if (Math.Abs(margin) < 4 * h)
                continue;
            input[i] = x + h;
            bound.Run(LossMode.Forward);
            double up = bound.Loss[0];
            input[i] = x - h;
            bound.Run(LossMode.Forward);
            double down = bound.Loss[0];
            input[i] = x;
            double numeric = (up - down) / (2 * h);
            Assert.That(analytic[i], Is.EqualTo(numeric).Within(5e-3 * (1 + Math.Abs(numeric))), $"{loss} element {i}: x = {x}, t = {target[i]}");
        }
    }

    [TestCaseSource(nameof(LossesAndReductions))]
    public void ThreadCaps1248GiveBitwiseEqualResults(string loss, string reduction)
    {
        int saved = LossKernelsSettings.MaxThreads;
        try
        {
            const int length = 1_000_003;
            (float[] input, float[] target) = Sample(loss, length, seed: 42);
            float[] weight = Uniform(length, 43, 0f, 2f);
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 4, 8 })
            {
                LossKernelsSettings.MaxThreads = threads;
                using BoundLoss bound = Bind(loss, Parameters(loss, reduction), input, target, weight);
                bound.Run(LossMode.Fused);
                float[] results = [.. bound.Loss, .. bound.InputGradient];
                if (first is null)
                    first = results;
                else
                    Assert.That(Numerics.BitEqual(results, first), $"{loss}/{reduction}: {threads} threads");
            }
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }
    }

    [TestCase(100)]
    [TestCase(1_000_003)]
    public void NoEntryPointAllocates(int length)
    {
        int saved = LossKernelsSettings.MaxThreads;
        LossKernelsSettings.MaxThreads = 2;
        try
        {
            DeterminismAndAllocationTests.AssertNoAllocation(new BinaryCrossEntropyLoss(), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new BinaryCrossEntropyWithLogitsLoss(2f), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new BalancedBinaryCrossEntropyLoss(), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new SigmoidFocalLoss(0.25f, 1.5f), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new QualityFocalLoss(), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new VarifocalLoss(), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new HingeLoss(), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new HingeEmbeddingLoss(), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new KlDivergenceLoss(true), length);
            DeterminismAndAllocationTests.AssertNoAllocation(new ZeroOneLoss(), length);
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }
    }
}
