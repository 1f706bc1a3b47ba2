using LossKernels.Catalog;
using LossKernels.Segmentation;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Segmentation;

/// <summary>
/// The overlap losses (Dice, Tversky, focal Tversky, generalized Dice) on the CPU against the float64 reference: every loss ×
/// mode × option at pixel counts 1…257 and past a chunk, finite differences over the input, edge values, every bad argument,
/// the same bits for any thread count, in place, and no allocation after warm-up.
/// </summary>
[TestFixture]
public class OverlapTests : ThreadCountFixture
{
    public static readonly string[] Losses = ["dice_loss", "tversky_loss", "focal_tversky_loss", "generalized_dice_loss"];

    /// <summary>The options each loss is tested with, besides its defaults: its own hyperparameters and the shared ones.</summary>
    public static IEnumerable<Dictionary<string, object?>> Variants(string loss)
    {
        yield return [];
        yield return new() { ["per_image"] = true };
        yield return new() { ["ignore_index"] = 2L };
        yield return new() { ["from_logits"] = false };
        switch (loss)
        {
            case "dice_loss":
                yield return new() { ["smooth"] = 1.0, ["squared"] = true };
                yield return new() { ["log_loss"] = true, ["eps"] = 1e-3 };
                break;
            case "tversky_loss":
                yield return new() { ["alpha"] = 0.2, ["beta"] = 0.9, ["gamma"] = 1.7 };
                yield return new() { ["gamma"] = 0.6, ["smooth"] = 0.5 };
                break;
            case "focal_tversky_loss":
                yield return new() { ["alpha"] = 0.5, ["beta"] = 0.5, ["gamma"] = 2.5 };
                break;
            default:
                yield return new() { ["weight_type"] = "simple", ["smooth_nr"] = 0.0, ["smooth_dr"] = 1e-3 };
                yield return new() { ["weight_type"] = "uniform" };
                break;
        }
    }

    public static IEnumerable<TestCaseData> LossesAndModes() =>
        from loss in Losses from mode in new[] { "multiclass", "multilabel", "binary" } select new TestCaseData(loss, mode);

    /// <summary>A problem with logits in [−4, 4] (or probabilities), class 0 absent from image 0, and for the ignore options some targets ignored.</summary>
    public static SegmentationProblem Problem(string loss, string mode, Dictionary<string, object?> extra, int n, int c, int s, int seed, bool weighted = false,
        float upstream = 1f)
    {
        var random = new Random(seed);
        var parameters = new Dictionary<string, object?>(extra) { ["mode"] = mode };
        bool logits = extra.GetValueOrDefault("from_logits") is not false;
        int classes = mode == "binary" ? 1 : c;
        var input = new float[n * classes * s];
        for (int i = 0; i < input.Length; i++)
            input[i] = (float)(random.NextDouble() * 8 - 4);
        if (!logits)
            ToProbabilities(input, mode, n, classes, s);
        long? ignore = extra.GetValueOrDefault("ignore_index") is long value ? value : null;
        long[]? labels = null;
        float[]? dense = null;
        if (mode == "multiclass")
        {
            labels = new long[n * s];
            for (int i = 0; i < labels.Length; i++)
                labels[i] = ignore is long ignored && random.NextDouble() < 0.2 ? ignored : i < s && classes > 1 ? 1 + random.Next(classes - 1) : random.Next(classes);
        }
        else
        {
            dense = new float[input.Length];
            for (int i = 0; i < dense.Length; i++)
                dense[i] = ignore is long ignored && random.NextDouble() < 0.2 ? ignored : random.NextDouble() < 0.5 ? (float)random.NextDouble() : random.Next(2);
        }

        float[]? weight = weighted && loss != "generalized_dice_loss" ? Enumerable.Range(0, classes).Select(_ => (float)(0.2 + random.NextDouble() * 1.8)).ToArray() : null;
        return new SegmentationProblem(loss, parameters, input, labels, dense, n, classes, s, weight, upstream);
    }

    private static void ToProbabilities(float[] input, string mode, int n, int c, int s)
    {
        for (int image = 0; image < n; image++)
        {
            for (int pixel = 0; pixel < s; pixel++)
            {
                double total = 0d;
                for (int k = 0; k < c; k++)
                    total += mode == "multiclass" ? Math.Exp(input[(image * c + k) * s + pixel]) : 0d;
                for (int k = 0; k < c; k++)
                {
                    int at = (image * c + k) * s + pixel;
                    input[at] = (float)(mode == "multiclass" ? Math.Exp(input[at]) / total : 1d / (1d + Math.Exp(-input[at])));
                }
            }
        }
    }

    public static BoundLoss Bind(SegmentationProblem problem, LossDevice? device = null)
    {
        var inputs = new Dictionary<string, LossTensor>
        {
            ["input"] = LossTensor.FromFloats(problem.Input, problem.N, problem.C, problem.S),
            ["target"] = problem.Labels is long[] labels ? LossTensor.FromIntegers(labels, problem.N, problem.S) : LossTensor.FromFloats(problem.Dense!, problem.N, problem.C, problem.S),
        };
        if (problem.Weight is float[] weight)
            inputs["weight"] = LossTensor.FromFloats(weight, weight.Length);
        LossTensor? upstream = problem.Upstream == 1f ? null : LossTensor.FromFloats([problem.Upstream]);
        return LossCatalog.Get(problem.Loss).Bind(new LossParameters(problem.Parameters), inputs, upstream, device);
    }

    /// <summary>Runs forward, fused and backward and checks each against the reference (gradient atol scaled to a mean over C·S terms).</summary>
    public static void AssertMatchesReference(SegmentationProblem problem, LossDevice? device = null, double rtol = 1e-5)
    {
        (double loss, double[] gradient) = ReferenceSegmentationLosses.Compute(problem);
        double gradientScale = gradient.Length == 0 ? 0d : gradient.Max(Math.Abs);
        using BoundLoss bound = Bind(problem, device);
        foreach (LossMode mode in new[] { LossMode.Forward, LossMode.Fused, LossMode.Backward })
        {
            bound.Poison(float.NaN);
            if (mode == LossMode.Backward)
                bound.Loss[0] = (float)loss;
            bound.Run(mode);
            bound.FetchResults();
            Numerics.AssertClose($"{problem} {mode} loss", bound.Loss[0], loss, rtol, 1e-6);
            if (mode != LossMode.Forward)
                Numerics.AssertClose($"{problem} {mode} gradient", bound.InputGradient, gradient, rtol, 1e-5 * gradientScale + 1e-9);
        }
    }

    [TestCaseSource(nameof(LossesAndModes))]
    public void MatchesTheReferenceAtEveryPixelCount(string loss, string mode)
    {
        int seed = 1;
        foreach (Dictionary<string, object?> variant in Variants(loss))
        {
            foreach (int s in new[] { 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 127, 257 })
                AssertMatchesReference(Problem(loss, mode, variant, s % 3 + 1, 4, s, seed++, weighted: s % 2 == 0, upstream: s % 5 == 0 ? -0.6f : 1f));
        }
    }

    [TestCaseSource(nameof(LossesAndModes))]
    public void MatchesTheReferenceAcrossChunks(string loss, string mode)
    {
        // 16,384 pixels per chunk: two images of 16,411 pixels are four chunks, the last ones partial, on two threads.
        LossKernelsSettings.MaxThreads = 2;
        foreach (Dictionary<string, object?> variant in Variants(loss).Take(3))
            AssertMatchesReference(Problem(loss, mode, variant, 2, 3, 16_411, 7, weighted: true));
    }

    [TestCaseSource(nameof(LossesAndModes))]
    public void GradientMatchesFiniteDifferencesOfTheInput(string loss, string mode)
    {
        foreach (Dictionary<string, object?> variant in Variants(loss))
        {
            SegmentationProblem problem = Problem(loss, mode, variant, 2, 3, 5, 11, weighted: true);
            using BoundLoss bound = Bind(problem);
            bound.Run(LossMode.Fused);
            double[] x = Numerics.ToDouble(problem.Input);
            for (int i = 0; i < x.Length; i++)
            {
                double h = 1e-6, saved = x[i];
                x[i] = saved + h;
                double plus = ReferenceSegmentationLosses.Loss(problem, x);
                x[i] = saved - h;
                double minus = ReferenceSegmentationLosses.Loss(problem, x);
                x[i] = saved;
                Numerics.AssertClose($"{problem} element {i}", bound.InputGradient[i], (plus - minus) / (2 * h), 1e-4, 1e-6);
            }
        }
    }

    [TestCaseSource(nameof(Losses))]
    public void EdgeValuesStayFiniteAndMatchTheReference(string loss)
    {
        // Logits of ±1e4: probabilities exactly 0 and 1.
        SegmentationProblem problem = Problem(loss, "multiclass", [], 2, 3, 19, 5);
        for (int i = 0; i < problem.Input.Length; i++)
            problem.Input[i] = i % 3 == 0 ? problem.Input[i] : i % 2 == 0 ? 1e4f : -1e4f;
        AssertMatchesReference(problem);
        SegmentationProblem binary = Problem(loss, "binary", [], 1, 1, 23, 6);
        for (int i = 0; i < binary.Input.Length; i++)
            binary.Input[i] = i % 2 == 0 ? 1e4f : -1e4f;
        AssertMatchesReference(binary);
    }

    [TestCaseSource(nameof(Losses))]
    public void EmptyMasksAllIgnoredAndEmptyBatches(string loss)
    {
        // No target pixels at all: every class absent.
        SegmentationProblem empty = Problem(loss, "binary", [], 2, 1, 9, 3);
        Array.Clear(empty.Dense!);
        AssertMatchesReference(empty);
        // Every pixel ignored: no sums, a zero gradient.
        SegmentationProblem ignored = Problem(loss, "multiclass", new() { ["ignore_index"] = 9L }, 2, 3, 10, 4);
        Array.Fill(ignored.Labels!, 9L);
        AssertMatchesReference(ignored);
        using (BoundLoss bound = Bind(ignored))
        {
            bound.Run(LossMode.Fused);
            Assert.That(bound.InputGradient, Is.All.EqualTo(0f), "all ignored: gradient");
        }

        // N = 0: the batch sums are zero (absent classes); per image, the mean over no images is NaN, as torch.mean of nothing.
        SegmentationProblem none = Problem(loss, "multiclass", [], 0, 3, 4, 5);
        AssertMatchesReference(none);
        using BoundLoss perImage = Bind(Problem(loss, "multiclass", new() { ["per_image"] = true }, 0, 3, 4, 5));
        perImage.Run(LossMode.Fused);
        Assert.That(perImage.Loss[0], Is.NaN);
        // C = 1 multiclass: the softmax is 1 everywhere.
        AssertMatchesReference(Problem(loss, "multiclass", [], 2, 1, 6, 6));
    }

    [TestCaseSource(nameof(Losses))]
    public void SameBitsForAnyThreadCountAndInPlace(string loss)
    {
        SegmentationProblem problem = Problem(loss, "multiclass", new() { ["per_image"] = true }, 3, 5, 40_000, 8);
        var results = new List<(float Loss, float[] Gradient)>();
        foreach (int threads in new[] { 1, 2, 3 })
        {
            LossKernelsSettings.MaxThreads = threads;
            using BoundLoss bound = Bind(problem);
            bound.Run(LossMode.Fused);
            results.Add((bound.Loss[0], (float[])bound.InputGradient.Clone()));
        }

        foreach ((float value, float[] gradient) in results.Skip(1))
        {
            Assert.That(BitConverter.SingleToInt32Bits(value), Is.EqualTo(BitConverter.SingleToInt32Bits(results[0].Loss)));
            Assert.That(Numerics.BitEqual(gradient, results[0].Gradient), Is.True, "gradient bits differ across thread counts");
        }

        // The gradient written over the input itself equals the one written elsewhere.
        var shape = new SegmentationShape(problem.N, problem.C, problem.S);
        float[] inPlace = (float[])problem.Input.Clone();
        float fused = Create(loss).ForwardBackward(inPlace, problem.Labels!, inPlace, shape);
        Assert.That(BitConverter.SingleToInt32Bits(fused), Is.EqualTo(BitConverter.SingleToInt32Bits(results[0].Loss)));
        Assert.That(Numerics.BitEqual(inPlace, results[0].Gradient), Is.True, "in place");
    }

    [TestCaseSource(nameof(Losses))]
    public void AllocatesNothingAfterWarmUp(string loss)
    {
        SegmentationProblem problem = Problem(loss, "multiclass", new() { ["per_image"] = true }, 2, 4, 70_000, 9);
        using BoundLoss bound = Bind(problem);
        DeterminismAndAllocationTests.AssertNoAllocation(loss, () =>
        {
            bound.Run(LossMode.Fused);
            bound.Run(LossMode.Forward);
        });
    }

    /// <summary>The loss struct with non-default options for the direct API tests (multiclass, per image).</summary>
    private static IOverlapLossCall Create(string loss) => loss switch
    {
        "dice_loss" => new Call<DiceLoss>(new DiceLoss(new OverlapOptions(perImage: true))),
        "tversky_loss" => new Call<TverskyLoss>(new TverskyLoss(new OverlapOptions(perImage: true))),
        "focal_tversky_loss" => new Call<FocalTverskyLoss>(new FocalTverskyLoss(new OverlapOptions(perImage: true))),
        _ => new Call<GeneralizedDiceLoss>(new GeneralizedDiceLoss(new OverlapOptions(perImage: true))),
    };

    private interface IOverlapLossCall
    {
        float ForwardBackward(float[] input, long[] target, float[] gradient, SegmentationShape shape);
    }

    private sealed class Call<TLoss>(TLoss loss) : IOverlapLossCall
        where TLoss : struct, IOverlapLoss
    {
        public float ForwardBackward(float[] input, long[] target, float[] gradient, SegmentationShape shape) => loss.ForwardBackward(input, target, gradient, shape);
    }

    [Test]
    public void ParameterlessConstructorsGiveTheCatalogDefaults()
    {
        SegmentationProblem problem = Problem("dice_loss", "multiclass", [], 2, 4, 50, 12);
        var shape = new SegmentationShape(problem.N, problem.C, problem.S);
        float[] Defaults(string loss) => [loss switch
        {
            "dice_loss" => new DiceLoss().Forward(problem.Input, problem.Labels!, shape),
            "tversky_loss" => new TverskyLoss().Forward(problem.Input, problem.Labels!, shape),
            "focal_tversky_loss" => new FocalTverskyLoss().Forward(problem.Input, problem.Labels!, shape),
            _ => new GeneralizedDiceLoss().Forward(problem.Input, problem.Labels!, shape),
        }];
        Assert.That(default(OverlapOptions).FromLogits, Is.True);
        foreach (string loss in Losses)
        {
            using BoundLoss bound = Bind(problem with { Loss = loss, Parameters = [] });
            bound.Run(LossMode.Forward);
            Assert.That(Defaults(loss), Is.EqualTo(bound.Loss), loss);
        }
    }

    [Test]
    public void BadArgumentsThrowBeforeAnythingIsWritten()
    {
        var shape = new SegmentationShape(2, 3, 4);
        float[] input = new float[24], gradient = new float[24], dense = new float[24];
        long[] labels = new long[8];
        int[] labels32 = new int[8];
        float[] shifted = new float[25];
        var dice = new DiceLoss();
        var multilabel = new DiceLoss(new OverlapOptions(SegmentationMode.Multilabel));
        var binary = new TverskyLoss(new OverlapOptions(SegmentationMode.Binary));
        void Untouched(string name) => Assert.That(gradient, Is.All.EqualTo(7f), name);
        Array.Fill(gradient, 7f);
        OpenCL.OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("input length", () => dice.ForwardBackward(input.AsSpan(1), labels, gradient, shape), typeof(ArgumentException), "input"),
            ("target length", () => dice.ForwardBackward(input, labels.AsSpan(1), gradient, shape), typeof(ArgumentException), "target"),
            ("int target length", () => dice.ForwardBackward(input, labels32.AsSpan(1), gradient, shape), typeof(ArgumentException), "target"),
            ("dense target in multiclass", () => dice.ForwardBackward(input, dense, gradient, shape), typeof(ArgumentException), "target"),
            ("class target in multilabel", () => multilabel.ForwardBackward(input, labels, gradient, shape), typeof(ArgumentException), "target"),
            ("binary with C = 3", () => binary.ForwardBackward(input, dense, gradient, shape), typeof(ArgumentOutOfRangeException), "shape"),
            ("gradient too short", () => dice.ForwardBackward(input, labels, gradient.AsSpan(1), shape), typeof(ArgumentException), "inputGrad"),
            ("gradient shifted over input", () => dice.ForwardBackward(shifted.AsSpan(0, 24), labels, shifted.AsSpan(1, 24), shape), typeof(ArgumentException), "inputGrad"),
            ("class index out of range", () => dice.ForwardBackward(input, [0, 1, 2, 3, 0, 0, 0, 0], gradient, shape), typeof(ArgumentOutOfRangeException), "target"),
            ("negative class index", () => dice.ForwardBackward(input, [0, 1, 2, -1, 0, 0, 0, 0], gradient, shape), typeof(ArgumentOutOfRangeException), "target"),
            ("weight length", () => dice.ForwardBackward(input, labels, gradient, shape, [1f, 2f]), typeof(ArgumentException), "weight"),
            ("weight for generalized Dice", () => new GeneralizedDiceLoss().ForwardBackward(input, labels, gradient, shape, [1f, 2f, 3f]), typeof(ArgumentException), "weight"),
            ("classes 0", () => dice.ForwardBackward(input, labels, gradient, new SegmentationShape(2, 0, 4)), typeof(ArgumentOutOfRangeException), "shape"),
            ("classes past the limit", () => dice.ForwardBackward(input, labels, gradient, new SegmentationShape(2, 513, 4)), typeof(ArgumentOutOfRangeException), "shape"),
            ("spatial 0", () => dice.ForwardBackward(input, labels, gradient, new SegmentationShape(2, 3, 0)), typeof(ArgumentOutOfRangeException), "shape"),
            ("batch negative", () => dice.ForwardBackward(input, labels, gradient, new SegmentationShape(-1, 3, 4)), typeof(ArgumentOutOfRangeException), "shape"),
            ("smooth negative", () => new DiceLoss(smooth: -1f).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "Smooth"),
            ("eps zero", () => new DiceLoss(eps: 0f).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "Eps"),
            ("alpha negative", () => new TverskyLoss(alpha: -0.1f).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "Alpha"),
            ("beta NaN", () => new FocalTverskyLoss(beta: float.NaN).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "Beta"),
            ("gamma zero", () => new TverskyLoss(gamma: 0f).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "Gamma"),
            ("focal gamma negative", () => new FocalTverskyLoss(gamma: -1f).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "Gamma"),
            ("smooth_nr negative", () => new GeneralizedDiceLoss(smoothNumerator: -1f).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "SmoothNumerator"),
            ("weight type undefined", () => new GeneralizedDiceLoss(weightType: (GeneralizedDiceWeight)9).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "WeightType"),
            ("mode undefined", () => new DiceLoss(new OverlapOptions((SegmentationMode)7)).ForwardBackward(input, labels, gradient, shape), typeof(ArgumentOutOfRangeException), "Mode"),
        ], Untouched);
    }
}
