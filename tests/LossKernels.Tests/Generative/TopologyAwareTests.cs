using LossKernels.Generative;
using LossKernels.Tests.Core;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The topology-aware loss on the CPU against its float64 formula: the paper's per-image squared norms and their means over C·H·W, mean
/// and sum, several layers; finite differences; ±1e4 logits, exact masks, zero feature distances; in place, thread counts, allocations and
/// bad arguments.
/// </summary>
[TestFixture]
public class TopologyAwareTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> Losses()
    {
        yield return new TestCaseData(new TopologyAwareLoss()).SetArgDisplayNames("paper");
        yield return new TestCaseData(new TopologyAwareLoss(0.05f, featureMean: true)).SetArgDisplayNames("feature mean");
    }

    /// <summary>A delineation step: mask logits and a mask of <paramref name="pixels"/> values, and two layers of ReLU-like features.</summary>
    public sealed class Problem
    {
        public required float[] Logits { get; init; }
        public required float[] Mask { get; init; }
        public required float[][] Features { get; init; }
        public required float[][] Targets { get; init; }
        public required int Images { get; init; }

        public static Problem Create(int images, int pixels, int seed)
        {
            var random = new Random(seed);
            int[] perImage = [3 * 7 * 5, 6 * 3 * 2];
            return new Problem
            {
                Logits = [.. Enumerable.Range(0, images * pixels).Select(_ => (float)(12 * random.NextDouble() - 6))],
                Mask = [.. Enumerable.Range(0, images * pixels).Select(_ => random.Next(5) == 0 ? 1f : 0f)],
                Features = [.. perImage.Select((p, l) => FeatureReconstructionTests.Features(images * p, seed + l).Input)],
                Targets = [.. perImage.Select((p, l) => FeatureReconstructionTests.Features(images * p, seed + l).Target)],
                Images = images,
            };
        }

        public FeatureLayer[] Layers(float[][] gradients) => [.. Features.Select((f, l) => new FeatureLayer(f, Targets[l], gradients[l], Images, 1f + l))];

        public float[][] NewGradients() => [.. Features.Select(f => new float[f.Length])];

        /// <summary>L, its parts and the gradients in float64.</summary>
        public (double Loss, double CrossEntropy, double Topology, double[] LogitsGradient, double[][] LayerGradients) Reference(TopologyAwareLoss loss,
            Reduction reduction, double upstream)
        {
            double scale = reduction == Reduction.Sum ? 1d : 1d / Logits.Length, bce = 0;
            var logitsGradient = new double[Logits.Length];
            for (int i = 0; i < Logits.Length; i++)
            {
                double x = Logits[i];
                bce += Math.Max(x, 0) - x * Mask[i] + Math.Log(1 + Math.Exp(-Math.Abs(x)));
                logitsGradient[i] = upstream * scale * (1 / (1 + Math.Exp(-x)) - Mask[i]);
            }

            double topology = 0, perImage = reduction == Reduction.Sum ? 1d : 1d / Images;
            var layerGradients = new double[Features.Length][];
            for (int l = 0; l < Features.Length; l++)
            {
                double weight = 1d + l, norm = loss.FeatureMean ? (double)Images / Features[l].Length : 1d, sum = 0;
                layerGradients[l] = new double[Features[l].Length];
                for (int i = 0; i < Features[l].Length; i++)
                {
                    double d = (double)Features[l][i] - Targets[l][i];
                    sum += d * d;
                    layerGradients[l][i] = upstream * loss.Mu * weight * norm * perImage * 2 * d;
                }

                topology += weight * norm * perImage * sum;
            }

            return (bce * scale + loss.Mu * topology, bce * scale, topology, logitsGradient, layerGradients);
        }
    }

    /// <summary>A call's value, parts and gradients (upstream 0.75) against the float64 reference.</summary>
    public static void AssertMatchesReference(string what, TopologyAwareLoss loss, Problem problem, Reduction reduction, TopologyAwareResult result, float[] logitsGrad,
        float[][] gradients)
    {
        (double expected, double bce, double topology, double[] logitsGradient, double[][] layerGradients) = problem.Reference(loss, reduction, 0.75);
        Numerics.AssertClose($"{what}: loss", result.Loss, expected, 1e-5, 1e-7);
        Numerics.AssertClose($"{what}: cross entropy", result.CrossEntropy, bce, 1e-5, 1e-7);
        Numerics.AssertClose($"{what}: topology", result.Topology, topology, 1e-5, 1e-7);
        // The BCE's gradient (1 − t) − σ(−x) loses bits to cancellation where σ(x) is small: absolute to 1e-7.
        Numerics.AssertClose($"{what}: logits gradient", logitsGrad, logitsGradient, 1e-5, 1e-7);
        for (int l = 0; l < gradients.Length; l++)
            Numerics.AssertClose($"{what}: layer {l} gradient", gradients[l], layerGradients[l], 1e-5, 1e-9);
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheReference(TopologyAwareLoss loss)
    {
        foreach ((int images, int pixels) in (ValueTuple<int, int>[])[(1, 1), (2, 63), (3, 257)])
            foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
            {
                Problem problem = Problem.Create(images, pixels, images * pixels);
                string what = $"N={images} pixels={pixels} {reduction}";
                var logitsGrad = new float[problem.Logits.Length];
                float[][] gradients = problem.NewGradients();
                TopologyAwareResult result = loss.ForwardBackward(problem.Logits, problem.Mask, logitsGrad, problem.Layers(gradients), reduction, 0.75f);
                AssertMatchesReference(what, loss, problem, reduction, result, logitsGrad, gradients);
                Assert.That(loss.Forward(problem.Logits, problem.Mask, problem.Layers(problem.NewGradients()), reduction), Is.EqualTo(result), $"{what}: forward");
                var backwardLogits = new float[logitsGrad.Length];
                float[][] backward = problem.NewGradients();
                loss.Backward(problem.Logits, problem.Mask, 0.75f, backwardLogits, problem.Layers(backward), reduction);
                Assert.That(backwardLogits, Is.EqualTo(logitsGrad), $"{what}: backward logits");
                for (int l = 0; l < backward.Length; l++)
                    Assert.That(backward[l], Is.EqualTo(gradients[l]), $"{what}: backward layer {l}");
            }
    }

    /// <summary>Central differences of the float64 objective against its gradients, logits and features.</summary>
    [TestCaseSource(nameof(Losses))]
    public void TheReferenceGradientMatchesFiniteDifferences(TopologyAwareLoss loss)
    {
        Problem problem = Problem.Create(2, 9, 3);
        (_, _, _, double[] logitsGradient, double[][] layerGradients) = problem.Reference(loss, Reduction.Mean, 1d);
        void Check(float[] values, double[] gradient, string what)
        {
            for (int i = 0; i < values.Length; i += 2)
            {
                float saved = values[i];
                const float h = 1e-2f;
                values[i] = saved + h;
                double plus = problem.Reference(loss, Reduction.Mean, 1d).Loss;
                values[i] = saved - h;
                double minus = problem.Reference(loss, Reduction.Mean, 1d).Loss;
                values[i] = saved;
                Assert.That(gradient[i], Is.EqualTo((plus - minus) / ((double)(saved + h) - (saved - h))).Within(1e-4 * Math.Max(1, Math.Abs(gradient[i]))), $"{what}[{i}]");
            }
        }

        Check(problem.Logits, logitsGradient, "logits");
        for (int l = 0; l < problem.Features.Length; l++)
            Check(problem.Features[l], layerGradients[l], $"layer {l}");
    }

    /// <summary>±1e4 logits on exact masks (a loss of 0 there), zero feature distances, in-place gradients, no layers.</summary>
    [Test]
    public void EdgeCases()
    {
        var loss = new TopologyAwareLoss(2f);
        float[] logits = [1e4f, -1e4f, 1e4f, -1e4f], mask = [1f, 0f, 0f, 1f], features = [0.5f, 0f, 2f], gradient = new float[3];
        var logitsGrad = new float[4];
        TopologyAwareResult result = loss.ForwardBackward(logits, mask, logitsGrad, [new FeatureLayer(features, (float[])features.Clone(), gradient, 1)]);
        Assert.That(result.CrossEntropy, Is.EqualTo(2e4f / 4).Within(1e-3f));
        Assert.That(result.Topology, Is.Zero);
        Assert.That(logitsGrad, Is.EqualTo(new[] { 0f, 0f, 0.25f, -0.25f }));
        Assert.That(gradient, Is.All.EqualTo(0f));

        Problem problem = Problem.Create(2, 10, 8);
        float[][] expectedGradients = problem.NewGradients();
        var expectedLogits = new float[problem.Logits.Length];
        TopologyAwareResult expected = loss.ForwardBackward(problem.Logits, problem.Mask, expectedLogits, problem.Layers(expectedGradients));
        FeatureLayer[] inPlace = problem.Layers(problem.NewGradients());
        float[] features0 = (float[])problem.Features[0].Clone(), inPlaceLogits = (float[])problem.Logits.Clone();
        inPlace[0] = inPlace[0] with { Input = features0, InputGrad = features0 };
        Assert.That(loss.ForwardBackward(inPlaceLogits, problem.Mask, inPlaceLogits, inPlace), Is.EqualTo(expected));
        Assert.That(inPlaceLogits, Is.EqualTo(expectedLogits));
        Assert.That(features0, Is.EqualTo(expectedGradients[0]));
        Assert.That(loss.Forward(problem.Logits, problem.Mask, []).Topology, Is.Zero);
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        Problem problem = Problem.Create(3, 300_007, 12);
        var loss = new TopologyAwareLoss(0.1f);
        AssertSameBits("topology", () =>
        {
            var logitsGrad = new float[problem.Logits.Length];
            float[][] gradients = problem.NewGradients();
            return (loss.ForwardBackward(problem.Logits, problem.Mask, logitsGrad, problem.Layers(gradients), Reduction.Sum).Loss, [logitsGrad, .. gradients]);
        });
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        Problem problem = Problem.Create(2, 1000, 13);
        var loss = new TopologyAwareLoss();
        var logitsGrad = new float[problem.Logits.Length];
        FeatureLayer[] layers = problem.Layers(problem.NewGradients());
        DeterminismAndAllocationTests.AssertNoAllocation("topology-aware", () =>
        {
            loss.ForwardBackward(problem.Logits, problem.Mask, logitsGrad, layers);
            loss.Forward(problem.Logits, problem.Mask, layers, Reduction.Sum);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        var loss = new TopologyAwareLoss();
        float[] logits = new float[12], mask = new float[12], logitsGrad = new float[12], x = new float[24], t = new float[24], gradient = new float[24];
        FeatureLayer Layer() => new(x, t, gradient, 2);
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("mu", () => _ = new TopologyAwareLoss(-1f), typeof(ArgumentOutOfRangeException), "mu"),
            ("reduction none", () => loss.ForwardBackward(logits, mask, logitsGrad, [Layer()], Reduction.None), typeof(ArgumentException), "reduction"),
            ("mask length", () => loss.ForwardBackward(logits, new float[11], logitsGrad, [Layer()]), typeof(ArgumentException), "mask"),
            ("logits gradient short", () => loss.ForwardBackward(logits, mask, new float[11], [Layer()]), typeof(ArgumentException), "logitsGrad"),
            ("logits gradient over the mask", () => loss.ForwardBackward(logits, mask, mask, [Layer()]), typeof(ArgumentException), "logitsGrad"),
            ("logits gradient shifted", () => loss.ForwardBackward(x.AsSpan(0, 12), mask, x.AsSpan(1, 12), [Layer() with { Input = t, Target = new float[24] }]),
                typeof(ArgumentException), "logitsGrad"),
            ("logits gradient over a layer", () => loss.ForwardBackward(logits, mask, gradient.AsSpan(0, 12), [Layer()]), typeof(ArgumentException), "logitsGrad"),
            ("layer gradient over the logits", () => loss.ForwardBackward(x.AsSpan(0, 12), mask, logitsGrad, [Layer() with { Input = t, Target = new float[24], InputGrad = x }]),
                typeof(ArgumentException), "layers"),
            ("layer images", () => loss.ForwardBackward(logits, mask, logitsGrad, [Layer() with { Images = 5 }]), typeof(ArgumentException), "input"),
            ("layer target", () => loss.ForwardBackward(logits, mask, logitsGrad, [Layer() with { Target = new float[23] }]), typeof(ArgumentException), "layers"),
            ("layer weight", () => loss.ForwardBackward(logits, mask, logitsGrad, [Layer() with { Weight = float.NaN }]), typeof(ArgumentOutOfRangeException), "layers"),
            ("layer gradient short", () => loss.ForwardBackward(logits, mask, logitsGrad, [Layer() with { InputGrad = new float[23] }]), typeof(ArgumentException), "layers"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            Array.Fill(logitsGrad, -7f);
            Array.Fill(gradient, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            Assert.That(logitsGrad, Is.All.EqualTo(-7f), name);
            Assert.That(gradient, Is.All.EqualTo(-7f), name);
        }
    }
}
