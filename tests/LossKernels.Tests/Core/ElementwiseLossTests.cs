using LossKernels.Catalog;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.Core;

/// <summary>Every loss of the regression family against its float64 reference, over lengths, modes, weights and edge values.</summary>
[TestFixture]
public class ElementwiseLossTests
{
    private static readonly int[] OddLargeLengths = [1031, 4099, 65537, 262147, 1_000_003];

    public static IEnumerable<TestCaseData> LossesAndReductions() =>
        from loss in AllLosses
        from reduction in loss == "rmse" ? ["mean"] : new[] { "none", "mean", "sum" }
        select new TestCaseData(loss, reduction);

    [TestCaseSource(nameof(LossesAndReductions))]
    public void Lengths0To257AndOddLarge(string loss, string reduction)
    {
        Dictionary<string, object?> parameters = ParametersFor(loss, reduction);
        foreach (int length in Enumerable.Range(0, 258).Concat(OddLargeLengths))
        {
            (float[] input, float[] target) = Sample(length, seed: length);
            RunAndCompare($"{loss}/{reduction}/n{length}", loss, parameters, input, target);
        }
    }

    public static IEnumerable<TestCaseData> ElementwiseLossesAndReductions() =>
        LossesAndReductions().Where(c => (string)c.Arguments[0]! != "rmse");

    [TestCaseSource(nameof(ElementwiseLossesAndReductions))]
    public void WeightsAndUpstream(string loss, string reduction)
    {
        foreach (int length in new[] { 1, 3, 17, 64, 1031, 300_007 })
        {
            (float[] input, float[] target) = Sample(length, seed: 7 * length);
            float[] weight = Uniform(length, length + 1, 0f, 2f);
            float[] upstream = reduction == "none" ? Uniform(length, length + 2, -1f, 1f) : [0.37f];
            RunAndCompare($"{loss}/{reduction}/n{length} weighted", loss, ParametersFor(loss, reduction), input, target, weight, upstream);
        }
    }

    [TestCaseSource(nameof(ElementwiseLossesSource))]
    public void MeanWithAvgFactorDividesTheWeightedSum(string loss)
    {
        Dictionary<string, object?> parameters = ParametersFor(loss, "mean");
        parameters["avg_factor"] = 41.5;
        (float[] input, float[] target) = Sample(999, seed: 3);
        RunAndCompare($"{loss} avg_factor", loss, parameters, input, target, Uniform(999, 4, 0f, 1f));
    }

    [TestCaseSource(nameof(AllLossesSource))]
    public void GradientMatchesFiniteDifferencesOfTheKernelsOwnForward(string loss)
    {
        Dictionary<string, object?> parameters = ParametersFor(loss, "sum");
        (float[] input, float[] target) = Sample(48, seed: 11);
        BoundLoss bound = Bind(loss, parameters, input, target);
        bound.Run(LossMode.Fused);
        float[] analytic = (float[])bound.InputGradient.Clone();
        for (int i = 0; i < input.Length; i++)
        {
            float x = input[i];
            const float h = 1e-2f;
            input[i] = x + h;
            bound.Run(LossMode.Forward);
            double up = bound.Loss[0];
            input[i] = x - h;
            bound.Run(LossMode.Forward);
            double down = bound.Loss[0];
            input[i] = x;
            double difference = x - target[i];
            if (Kinks(loss, parameters).Any(k => Math.Abs(Math.Abs(difference) - k) < 2 * h))
                continue;
            double numeric = (up - down) / (2 * h);
            Assert.That(analytic[i], Is.EqualTo(numeric).Within(2e-3 * (1 + Math.Abs(numeric))), $"{loss} element {i}, d = {difference}");
        }
    }

    private static IEnumerable<double> Kinks(string loss, Dictionary<string, object?> parameters)
    {
        yield return 0d;
        foreach (string name in new[] { "beta", "delta" })
        {
            if (parameters.TryGetValue(name, out object? value) && value is double threshold)
                yield return threshold;
        }
    }

    [TestCaseSource(nameof(LossesAndReductions))]
    public void LargeAndInfiniteValuesMatchTheReference(string loss, string reduction)
    {
        float[] input = [1e4f, -1e4f, 3e4f, float.PositiveInfinity, float.NegativeInfinity, 0f, 1e-30f];
        float[] target = [-1e4f, 1e4f, 3e4f, 0f, 0f, float.PositiveInfinity, 0f];
        RunAndCompare($"{loss}/{reduction} extremes", loss, ParametersFor(loss, reduction), input, target);
    }

    [TestCaseSource(nameof(AllLossesSource))]
    public void NaNPropagatesToLossAndGradient(string loss)
    {
        float[] input = [0.5f, float.NaN, -3f, 2f, 0.1f];
        float[] target = [0f, 0f, 0f, float.NaN, 0.1f];
        BoundLoss bound = Bind(loss, ParametersFor(loss, "mean"), input, target);
        bound.Run(LossMode.Fused);
        Assert.That(float.IsNaN(bound.Loss[0]), $"{loss}: loss {bound.Loss[0]}");
        if (loss != "rmse")
        {
            Assert.That(float.IsNaN(bound.InputGradient[1]) && float.IsNaN(bound.InputGradient[3]), $"{loss}: NaN elements' gradients");
            Assert.That(bound.InputGradient.Where((_, i) => i is 0 or 2 or 4).All(float.IsFinite), $"{loss}: other gradients stay finite");
        }
    }

    [TestCaseSource(nameof(LossesAndReductions))]
    public void GradientInPlaceOverTheInputEqualsOutOfPlace(string loss, string reduction)
    {
        foreach (int length in new[] { 1, 2, 3, 5, 15, 16, 17, 33, 70, 100_003 })
        {
            (float[] input, float[] target) = Sample(length, seed: length + 5);
            BoundLoss bound = Bind(loss, ParametersFor(loss, reduction), input, target);
            bound.Run(LossMode.Fused);
            float[] expected = (float[])bound.InputGradient.Clone();
            float expectedLoss = bound.Loss[0];

            float[] inPlace = (float[])input.Clone();
            float value = RunInPlace(loss, reduction, inPlace, target);
            Assert.That(inPlace, Is.EqualTo(expected), $"{loss}/{reduction} n{length}");
            if (reduction != "none")
                Assert.That(value, Is.EqualTo(expectedLoss), $"{loss}/{reduction} n{length} loss");
        }
    }

    private static float RunInPlace(string loss, string reduction, float[] inputAndGradient, float[] target)
    {
        Reduction r = reduction switch { "none" => Reduction.None, "sum" => Reduction.Sum, _ => Reduction.Mean };
        return loss switch
        {
            "l1" => InPlace(new LossKernels.Regression.L1Loss(), r, inputAndGradient, target),
            "mse" => InPlace(new LossKernels.Regression.MseLoss(), r, inputAndGradient, target),
            "smooth_l1" => InPlace(new LossKernels.Regression.SmoothL1Loss(0.7f), r, inputAndGradient, target),
            "huber" => InPlace(new LossKernels.Regression.HuberLoss(0.6f), r, inputAndGradient, target),
            "balanced_l1" => InPlace(new LossKernels.Regression.BalancedL1Loss(0.4f, 1.2f, 0.8f), r, inputAndGradient, target),
            _ => new LossKernels.Regression.RmseLoss().ForwardBackward(inputAndGradient, target, inputAndGradient),
        };
    }

    private static float InPlace<TLoss>(TLoss loss, Reduction reduction, float[] inputAndGradient, float[] target)
        where TLoss : struct, IElementwiseLoss
    {
        if (reduction != Reduction.None)
            return loss.ForwardBackward(inputAndGradient, target, inputAndGradient, reduction);
        loss.ForwardBackward(inputAndGradient, target, new float[target.Length], inputAndGradient);
        return 0f;
    }

    [Test]
    public void LargeMisalignedOutputsUseStreamingStoresCorrectly()
    {
        int length = ElementwiseDriver.NonTemporalThreshold + 37;
        (float[] input, float[] target) = Sample(length + 3, seed: 99);
        var loss = new LossKernels.Regression.SmoothL1Loss(0.7f);
        var parameters = ParametersFor("smooth_l1", "none");
        for (int offset = 0; offset < 3; offset++)
        {
            float[] x = input[offset..(offset + length)];
            float[] t = target[offset..(offset + length)];
            var gradientBuffer = new float[length + 3];
            var outputBuffer = new float[length + 3];
            Span<float> gradient = gradientBuffer.AsSpan(offset, length);
            Span<float> output = outputBuffer.AsSpan(2 - offset, length);
            loss.ForwardBackward(x, t, output, gradient);
            var expected = CatalogHarness.Reference("smooth_l1", parameters, x, t);
            Numerics.AssertClose($"offset {offset} output", output, expected.Loss, 1e-5, 1e-6);
            Numerics.AssertClose($"offset {offset} gradient", gradient, expected.InputGradient, 1e-5, 1e-6);
            float sum = loss.ForwardBackward(x, t, gradient, Reduction.Sum);
            Assert.That(sum, Is.EqualTo(expected.Loss.Sum()).Within(1e-4).Percent, $"offset {offset} sum");
        }
    }

    [TestCaseSource(nameof(ElementwiseLossesSource))]
    public void ReducedLossAt16MElementsIsWithin1e6OfTheFloat64Reference(string loss)
    {
        const int length = 16_777_216;
        (float[] input, float[] target) = Sample(length, seed: 2026);
        foreach (string reduction in new[] { "mean", "sum" })
        {
            Dictionary<string, object?> parameters = ParametersFor(loss, reduction);
            BoundLoss bound = Bind(loss, parameters, input, target);
            bound.Run(LossMode.Fused);
            double expected = CatalogHarness.Reference(loss, parameters, input, target).Loss[0];
            Assert.That(Math.Abs(bound.Loss[0] - expected) / Math.Abs(expected), Is.LessThanOrEqualTo(1e-6), $"{loss}/{reduction}");
        }
    }

    public static string[] ElementwiseLossesSource() => ElementwiseLosses;

    public static string[] AllLossesSource() => AllLosses;
}
