using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.Regression;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Core;

/// <summary>
/// The target gradients (<see cref="IElementwiseTargetLoss"/>, <c>TargetBackward</c>, the catalog's <c>target_grad</c>): against central
/// differences of the float64 reference with respect to the target, at lengths 0…257 and past the parallel threshold, every
/// reduction with weights and upstreams, in place over the target, the same bits for any thread count, no allocation, bad arguments.
/// </summary>
[TestFixture]
public class TargetGradientTests : ThreadCountFixture
{
    /// <summary>Every catalog loss that takes <c>target_grad</c>, with a non-default hyperparameter where it has one.</summary>
    public static IEnumerable<TestCaseData> Losses()
    {
        // cross_entropy's sample has class indices, which have no gradient: SoftTargetCrossEntropyMatchesDifferencesOfTheFormula covers it.
        foreach (LossDefinition definition in LossCatalog.All.Where(d => d.Parameters.Contains("target_grad") && d.Name != "cross_entropy"))
        {
            yield return new TestCaseData(definition.Name, new Dictionary<string, object?>()).SetName($"{definition.Name} default");
            Dictionary<string, object?>? extra = definition.Name switch
            {
                "smooth_l1" => new() { ["beta"] = 0.4 },
                "huber" => new() { ["delta"] = 0.6 },
                "binary_cross_entropy_with_logits" => new() { ["pos_weight"] = 3.0 },
                "kl_div" => new() { ["log_target"] = true },
                "hinge_loss" => new() { ["margin"] = 0.5 },
                _ => null,
            };
            if (extra is not null)
                yield return new TestCaseData(definition.Name, extra).SetName($"{definition.Name} {string.Join(",", extra.Keys)}");
        }
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesDifferencesOfTheReferenceAtEveryLength(string name, Dictionary<string, object?> extra)
    {
        LossDefinition definition = LossCatalog.Get(name);
        foreach (int n in new[] { 0, 1, 3, 4, 7, 8, 9, 16, 17, 31, 64, 100, 257, 4099 })
        {
            foreach (string reduction in new[] { "mean", "sum", "none" })
            {
                Dictionary<string, LossTensor> inputs = definition.SampleInputs(n, seed: n + 5);
                var random = new Random(n);
                float[] weight = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() * 2f).ToArray();
                inputs["weight"] = LossTensor.FromFloats(weight, n);
                float[] upstream = reduction == "none" ? Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray() : [0.7f];
                var parameters = new Dictionary<string, object?>(extra) { ["reduction"] = reduction, ["target_grad"] = true };
                using BoundLoss bound = definition.Bind(new LossParameters(parameters), inputs, LossTensor.FromFloats(upstream, upstream.Length));
                bound.Run(LossMode.Fused);
                float[] got = (float[])bound.Gradients["target"].Clone();
                bound.Run(LossMode.Backward);
                Assert.That(Numerics.BitEqual(bound.Gradients["target"], got), Is.True, $"{name} n={n} {reduction}: backward differs from fused");

                double[] x = Array.ConvertAll(inputs["input"].RequireFloats("input"), v => (double)v);
                double[] t = Array.ConvertAll(inputs["target"].RequireFloats("target"), v => (double)v);
                double[] w = Array.ConvertAll(weight, v => (double)v);
                double[] u = Array.ConvertAll(upstream, v => (double)v);
                double Objective(double[] target)
                {
                    double[] losses = ReferenceLosses.Compute(name, parameters, x, target, w, reduction == "none" ? u : null).Loss;
                    return reduction == "none" ? losses.Select((l, i) => l * u[i]).Sum() : losses[0] * u[0];
                }

                // Every element up to 257; past it, every 97th (each difference re-evaluates the whole reference).
                for (int i = 0; i < n; i += n > 257 ? 97 : 1)
                {
                    double h = 1e-6 * Math.Max(1d, Math.Abs(t[i]));
                    double[] plus = (double[])t.Clone(), minus = (double[])t.Clone();
                    plus[i] += h;
                    minus[i] -= h;
                    double expected = (Objective(plus) - Objective(minus)) / (2 * h);
                    if (name == "kl_div" && extra.GetValueOrDefault("log_target") is not true && t[i] == 0d)
                        Assert.That(got[i], Is.NaN, $"{name} n={n} {reduction} element {i}: PyTorch's NaN at t = 0");
                    else
                        Assert.That(got[i], Is.EqualTo(expected).Within(1e-4 + 1e-4 * Math.Abs(expected)), $"{name} n={n} {reduction} element {i}");
                }
            }
        }
    }

    [Test]
    public void InPlaceUnreducedAndThreadCountsGiveTheSameBits()
    {
        int n = 300_001;
        var random = new Random(3);
        float[] x = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 16 - 8)).ToArray();
        float[] t = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray();
        float[] upstream = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray();
        var loss = new BinaryCrossEntropyWithLogitsLoss(2f);
        var results = new List<float[]>();
        foreach (int threads in new[] { 1, 2, 4 })
        {
            LossKernelsSettings.MaxThreads = threads;
            var gradient = new float[n];
            loss.TargetBackward(x, t, 0.5f, gradient);
            results.Add(gradient);
        }

        Assert.That(results.Skip(1).All(r => Numerics.BitEqual(r, results[0])), Is.True, "thread counts");
        float[] inPlace = (float[])t.Clone();
        loss.TargetBackward(x, inPlace, 0.5f, inPlace);
        Assert.That(Numerics.BitEqual(inPlace, results[0]), Is.True, "in place");
        var unreduced = new float[n];
        loss.TargetBackward(x, t, upstream, unreduced);
        for (int i = 0; i < n; i += 9973)
            Assert.That(unreduced[i], Is.EqualTo(results[0][i] * n / 0.5f * upstream[i]).Within(1e-5 * Math.Abs(unreduced[i]) + 1e-12), $"element {i}");
    }

    [Test]
    public void AllocatesNothingAfterWarmUp()
    {
        float[] x = new float[70_000], t = new float[70_000], g = new float[70_000], u = new float[70_000];
        DeterminismAndAllocationTests.AssertNoAllocation("TargetBackward", () =>
        {
            new MseLoss().TargetBackward(x, t, 1f, g);
            new KlDivergenceLoss(true).TargetBackward(x, t, u, g);
        });
    }

    [Test]
    public void BadArgumentsThrowBeforeAnythingIsWritten()
    {
        float[] x = new float[8], t = new float[8], gradient = new float[8], shifted = new float[9];
        var loss = new SmoothL1Loss();
        void Untouched(string name) => Assert.That(gradient, Is.All.EqualTo(7f), name);
        Array.Fill(gradient, 7f);
        OpenCL.OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("target length", () => loss.TargetBackward(x, t.AsSpan(1), 1f, gradient), typeof(ArgumentException), "target"),
            ("gradient too short", () => loss.TargetBackward(x, t, 1f, gradient.AsSpan(1)), typeof(ArgumentException), "targetGrad"),
            ("gradient shifted over the target", () => loss.TargetBackward(x, shifted.AsSpan(0, 8), 1f, shifted.AsSpan(1, 8)), typeof(ArgumentException), "targetGrad"),
            ("weight length", () => loss.TargetBackward(x, t, 1f, gradient, weight: new float[3]), typeof(ArgumentException), "weight"),
            ("upstream length", () => loss.TargetBackward(x, t, new float[3], gradient), typeof(ArgumentException), "upstream"),
            ("avg_factor with sum", () => loss.TargetBackward(x, t, 1f, gradient, Reduction.Sum, avgFactor: 2f), typeof(ArgumentException), "avgFactor"),
            ("beta negative", () => new SmoothL1Loss(-1f).TargetBackward(x, t, 1f, gradient), typeof(ArgumentOutOfRangeException), "beta"),
        ], Untouched);

        var perClass = new PosWeightedBinaryCrossEntropyLoss();
        float[] posWeight = [1f, 2f], pair = new float[10];
        OpenCL.OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("pos_weight not dividing the input", () => perClass.TargetBackward(x, t, [1f, 2f, 3f], 1f, gradient), typeof(ArgumentException), "posWeight"),
            ("pos_weight negative", () => perClass.TargetBackward(x, t, [1f, -2f], 1f, gradient), typeof(ArgumentOutOfRangeException), "posWeight"),
            ("target length", () => perClass.TargetBackward(x, t.AsSpan(2), posWeight, 1f, gradient), typeof(ArgumentException), "target"),
            ("gradient too short", () => perClass.TargetBackward(x, t, posWeight, 1f, gradient.AsSpan(2)), typeof(ArgumentException), "targetGrad"),
            ("gradient shifted over the target", () => perClass.TargetBackward(x, shifted.AsSpan(0, 8), posWeight, 1f, shifted.AsSpan(1, 8)), typeof(ArgumentException), "targetGrad"),
            ("gradient over pos_weight", () => perClass.TargetBackward(x, t, pair.AsSpan(0, 2), 1f, pair.AsSpan(1, 8)), typeof(ArgumentException), "targetGrad"),
            ("weight length", () => perClass.TargetBackward(x, t, posWeight, 1f, gradient, weight: new float[3]), typeof(ArgumentException), "weight"),
            ("upstream length", () => perClass.TargetBackward(x, t, posWeight, new float[3], gradient), typeof(ArgumentException), "upstream"),
            ("reduction none", () => perClass.TargetBackward(x, t, posWeight, 1f, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
        ], Untouched);
    }

    /// <summary>
    /// Cross entropy with probability targets (<see cref="CrossEntropyLoss.TargetBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, int, float, Span{float}, Reduction, ReadOnlySpan{float}, int)"/>):
    /// against central differences of the float64 loss −Σ_c w_c·((1 − ε)·t_c + ε/C)·log_softmax(x)_c + z·lse² per position, on [N, C]
    /// (long rows too) and [N, C, D] (D past one stack chunk of 256), past the parallel threshold, every reduction with class weights and upstreams; in place over
    /// the targets and over the logits; the same bits for any thread count; the catalog's <c>grad.target</c> equal to the span call.
    /// </summary>
    [Test]
    public void SoftTargetCrossEntropyMatchesDifferencesOfTheFormula()
    {
        foreach ((int samples, int classes, int spatial) in new[] { (1, 1, 1), (3, 5, 1), (2, 1031, 1), (2, 3, 7), (1, 4, 300), (300, 1031, 1), (2, 3, 50_000) })
        {
            int positions = samples * spatial, n = positions * classes;
            var random = new Random(n);
            float[] Uniform(int count, double low, double high) => [.. Enumerable.Range(0, count).Select(_ => (float)(low + (high - low) * random.NextDouble()))];
            float[] x = Uniform(n, -6, 6), t = Uniform(n, 0, 1), classWeight = Uniform(classes, 0, 2), upstream = Uniform(positions, -1, 1);
            foreach ((float smoothing, bool weighted) in new[] { (0f, false), (0.2f, true) })
            {
                var loss = new CrossEntropyLoss(ClassTargets.DefaultIgnoreIndex, smoothing, 1e-3f);
                ReadOnlySpan<float> weight = weighted ? classWeight : default;
                foreach (Reduction reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
                {
                    string what = $"[{samples}, {classes}, {spatial}] ε {smoothing} {reduction}";
                    var gradient = new float[n];
                    if (reduction == Reduction.None)
                        loss.TargetBackward(x, t, classes, upstream, gradient, weight, spatial);
                    else
                        loss.TargetBackward(x, t, classes, 0.7f, gradient, reduction, weight, spatial);
                    for (int i = 0; i < n; i += n > 3000 ? 37 : 1)
                    {
                        int sample = i / (classes * spatial), d = i % spatial, position = sample * spatial + d, c = i / spatial % classes;
                        double Position(double ti)
                        {
                            double max = double.NegativeInfinity, sum = 0, value = 0;
                            for (int k = 0; k < classes; k++)
                                max = Math.Max(max, x[(sample * classes + k) * spatial + d]);
                            for (int k = 0; k < classes; k++)
                                sum += Math.Exp(x[(sample * classes + k) * spatial + d] - max);
                            double lse = max + Math.Log(sum);
                            for (int k = 0; k < classes; k++)
                            {
                                double tk = k == c ? ti : t[(sample * classes + k) * spatial + d];
                                value -= (weighted ? classWeight[k] : 1) * ((1 - smoothing) * tk + smoothing / classes) * (x[(sample * classes + k) * spatial + d] - lse);
                            }

                            return value + 1e-3 * lse * lse;
                        }

                        double scale = reduction == Reduction.None ? upstream[position] : reduction == Reduction.Mean ? 0.7 / positions : 0.7;
                        const double h = 1e-6;
                        double expected = scale * (Position(t[i] + h) - Position(t[i] - h)) / (2 * h);
                        Assert.That(gradient[i], Is.EqualTo(expected).Within(1e-4 * (1 + Math.Abs(expected))), $"{what} element {i}");
                    }

                    float[] overTarget = (float[])t.Clone(), overLogits = (float[])x.Clone();
                    if (reduction == Reduction.None)
                    {
                        loss.TargetBackward(x, overTarget, classes, upstream, overTarget, weight, spatial);
                        loss.TargetBackward(overLogits, t, classes, upstream, overLogits, weight, spatial);
                    }
                    else
                    {
                        loss.TargetBackward(x, overTarget, classes, 0.7f, overTarget, reduction, weight, spatial);
                        loss.TargetBackward(overLogits, t, classes, 0.7f, overLogits, reduction, weight, spatial);
                    }

                    Assert.That(Numerics.BitEqual(overTarget, gradient) && Numerics.BitEqual(overLogits, gradient), Is.True, $"{what}: in place");

                    var results = new List<float[]>();
                    foreach (int threads in new[] { 1, 2, 4 })
                    {
                        LossKernelsSettings.MaxThreads = threads;
                        var again = new float[n];
                        if (reduction == Reduction.None)
                            loss.TargetBackward(x, t, classes, upstream, again, weight, spatial);
                        else
                            loss.TargetBackward(x, t, classes, 0.7f, again, reduction, weight, spatial);
                        results.Add(again);
                    }

                    Assert.That(results.All(r => Numerics.BitEqual(r, gradient)), Is.True, $"{what}: thread counts");

                    int[] shape = spatial == 1 ? [samples, classes] : [samples, classes, spatial];
                    var inputs = new Dictionary<string, LossTensor> { ["input"] = LossTensor.FromFloats(x, shape), ["target"] = LossTensor.FromFloats(t, shape) };
                    if (weighted)
                        inputs["weight"] = LossTensor.FromFloats(classWeight, classes);
                    LossTensor catalogUpstream = reduction == Reduction.None
                        ? LossTensor.FromFloats(upstream, spatial == 1 ? [samples] : [samples, spatial])
                        : LossTensor.FromFloats([0.7f]);
                    var parameters = new Dictionary<string, object?>
                    {
                        ["reduction"] = reduction.ToString().ToLowerInvariant(), ["label_smoothing"] = (double)smoothing, ["lse_square_scale"] = 1e-3, ["target_grad"] = true,
                    };
                    using BoundLoss bound = LossCatalog.Get("cross_entropy").Bind(new LossParameters(parameters), inputs, catalogUpstream);
                    bound.Run(LossMode.Backward);
                    Assert.That(Numerics.BitEqual(bound.Gradients["target"], gradient), Is.True, $"{what}: the catalog's grad.target");
                }
            }
        }

        float[] probabilities = new float[12], logits = new float[12], output = new float[12];
        DeterminismAndAllocationTests.AssertNoAllocation("soft cross entropy TargetBackward", () =>
        {
            new CrossEntropyLoss().TargetBackward(logits, probabilities, 3, 1f, output);
            new CrossEntropyLoss().TargetBackward(logits, probabilities, 2, 1f, output, Reduction.Sum, default, 3);
        });
        float[] shifted = new float[13];
        var crossEntropy = new CrossEntropyLoss();
        Array.Fill(output, 7f);
        OpenCL.OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("classes 0", () => crossEntropy.TargetBackward(logits, probabilities, 0, 1f, output), typeof(ArgumentOutOfRangeException), "classes"),
            ("not whole rows", () => crossEntropy.TargetBackward(logits, probabilities, 5, 1f, output), typeof(ArgumentException), "logits"),
            ("target length", () => crossEntropy.TargetBackward(logits, probabilities.AsSpan(1), 3, 1f, output), typeof(ArgumentException), "targetProbabilities"),
            ("gradient too short", () => crossEntropy.TargetBackward(logits, probabilities, 3, 1f, output.AsSpan(1)), typeof(ArgumentException), "targetGrad"),
            ("gradient shifted over the logits", () => crossEntropy.TargetBackward(shifted.AsSpan(0, 12), probabilities, 3, 1f, shifted.AsSpan(1, 12)), typeof(ArgumentException), "targetGrad"),
            ("weight length", () => crossEntropy.TargetBackward(logits, probabilities, 3, 1f, output, Reduction.Mean, new float[2]), typeof(ArgumentException), "weight"),
            ("upstream length", () => crossEntropy.TargetBackward(logits, probabilities, 3, new float[3], output), typeof(ArgumentException), "upstream"),
            ("reduction none", () => crossEntropy.TargetBackward(logits, probabilities, 3, 1f, output, Reduction.None), typeof(ArgumentException), "reduction"),
            ("spatial 0", () => crossEntropy.TargetBackward(logits, probabilities, 3, 1f, output, Reduction.Mean, default, 0), typeof(ArgumentOutOfRangeException), "spatialSize"),
        ], name => Assert.That(output, Is.All.EqualTo(7f), name));
        Assert.That(() => LossCatalog.Get("cross_entropy").Bind(new LossParameters(new Dictionary<string, object?> { ["target_grad"] = true }),
            new Dictionary<string, LossTensor> { ["input"] = LossTensor.FromFloats(new float[6], 2, 3), ["target"] = LossTensor.FromIntegers([0L, 2L], 2) }),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("target_grad"));
    }

    /// <summary>
    /// PyTorch's per-class pos_weight tensor: the target's gradient against central differences of the float64 formula
    /// w·((1 − t)·x + (1 + (w₊ − 1)·t)·softplus(−x)) at shapes [r, C] past the vector widths, every reduction with weights and upstreams;
    /// in place over the target; the catalog's <c>grad.target</c> (pos_weight as a tensor input, <c>target_grad</c>) equal to the span call.
    /// </summary>
    [Test]
    public void PerClassPosWeightMatchesDifferencesOfTheFormula()
    {
        foreach ((int rows, int classes) in new[] { (1, 2), (3, 5), (7, 17), (300, 33) })
        {
            int n = rows * classes;
            var random = new Random(n);
            float[] Uniform(int count, double low, double high) => [.. Enumerable.Range(0, count).Select(_ => (float)(low + (high - low) * random.NextDouble()))];
            float[] x = Uniform(n, -8, 8), t = [.. Uniform(n, 0, 1).Select((v, i) => i % 3 == 0 ? MathF.Round(v) : v)];
            float[] posWeight = Uniform(classes, 0.2, 5), weight = Uniform(n, 0, 2), upstream = Uniform(n, -1, 1);
            foreach (Reduction reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
            {
                var loss = new PosWeightedBinaryCrossEntropyLoss();
                var gradient = new float[n];
                if (reduction == Reduction.None)
                    loss.TargetBackward(x, t, posWeight, upstream, gradient, weight);
                else
                    loss.TargetBackward(x, t, posWeight, 0.7f, gradient, reduction, weight);
                for (int i = 0; i < n; i++)
                {
                    double xi = x[i], p = posWeight[i % classes], softplus = Math.Max(-xi, 0) + Math.Log(1 + Math.Exp(-Math.Abs(xi)));
                    double Element(double ti) => weight[i] * ((1 - ti) * xi + (1 + (p - 1) * ti) * softplus);
                    double scale = reduction == Reduction.None ? upstream[i] : reduction == Reduction.Mean ? 0.7 / n : 0.7;
                    const double h = 1e-6;
                    double expected = scale * (Element(t[i] + h) - Element(t[i] - h)) / (2 * h);
                    Assert.That(gradient[i], Is.EqualTo(expected).Within(1e-4 * (1 + Math.Abs(expected))), $"[{rows}, {classes}] {reduction} element {i}");
                }

                float[] inPlace = (float[])t.Clone();
                if (reduction == Reduction.None)
                    loss.TargetBackward(x, inPlace, posWeight, upstream, inPlace, weight);
                else
                    loss.TargetBackward(x, inPlace, posWeight, 0.7f, inPlace, reduction, weight);
                Assert.That(Numerics.BitEqual(inPlace, gradient), Is.True, $"[{rows}, {classes}] {reduction}: in place");

                string name = reduction.ToString().ToLowerInvariant();
                var inputs = new Dictionary<string, LossTensor>
                {
                    ["input"] = LossTensor.FromFloats(x, rows, classes), ["target"] = LossTensor.FromFloats(t, rows, classes),
                    ["pos_weight"] = LossTensor.FromFloats(posWeight, classes), ["weight"] = LossTensor.FromFloats(weight, rows, classes),
                };
                LossTensor catalogUpstream = reduction == Reduction.None ? LossTensor.FromFloats(upstream, rows, classes) : LossTensor.FromFloats([0.7f]);
                using BoundLoss bound = LossCatalog.Get("binary_cross_entropy_with_logits").Bind(
                    new LossParameters(new Dictionary<string, object?> { ["reduction"] = name, ["target_grad"] = true }), inputs, catalogUpstream);
                bound.Run(LossMode.Fused);
                Assert.That(Numerics.BitEqual(bound.Gradients["target"], gradient), Is.True, $"[{rows}, {classes}] {reduction}: the catalog's grad.target");
            }
        }
    }
}
