using LossKernels.Generative;
using LossKernels.Tests.Core;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The feature reconstruction loss on the CPU against its float64 formula: p = 2 and 1, mean and sum over images, shapes from one value to
/// odd large ones; several layers against the sum of single-layer calls; ties, zero features, ±1e4, in place, thread counts,
/// allocations and bad arguments.
/// </summary>
[TestFixture]
public class FeatureReconstructionTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> Losses()
    {
        yield return new TestCaseData(new FeatureReconstructionLoss()).SetArgDisplayNames("p 2");
        yield return new TestCaseData(new FeatureReconstructionLoss(1)).SetArgDisplayNames("p 1");
    }

    /// <summary>ReLU features on a grid of 1/16 (non-negative, a third zero) and the target's near them, with ties.</summary>
    public static (float[] Input, float[] Target) Features(int length, int seed)
    {
        var random = new Random(seed);
        float[] x = Enumerable.Range(0, length).Select(_ => random.Next(3) == 0 ? 0f : random.Next(33) / 16f).ToArray();
        float[] t = Array.ConvertAll(x, v => random.Next(8) == 0 ? v : Math.Max(0f, v + random.Next(-8, 9) / 16f));
        return (x, t);
    }

    /// <summary>L and ∂(upstream·L)/∂input in float64.</summary>
    public static (double Loss, double[] Gradient) Reference(FeatureReconstructionLoss loss, float[] x, float[] t, int images, Reduction reduction, double upstream)
    {
        double scale = (reduction == Reduction.Sum ? images : 1d) / Math.Max(1, x.Length), total = 0;
        var gradient = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double d = (double)x[i] - t[i];
            total += loss.P == 1 ? Math.Abs(d) : d * d;
            gradient[i] = upstream * scale * (loss.P == 1 ? Math.Sign(d) : 2 * d);
        }

        return (x.Length == 0 && reduction == Reduction.Mean ? double.NaN : total * scale, gradient);
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheReference(FeatureReconstructionLoss loss)
    {
        foreach ((int images, int perImage) in (ValueTuple<int, int>[])[(1, 1), (1, 7), (3, 17), (2, 257), (4, 1031), (3, 100_003)])
        {
            (float[] x, float[] t) = Features(images * perImage, perImage);
            foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
            {
                string what = $"N={images} CHW={perImage} {reduction}";
                (double expected, double[] gradient) = Reference(loss, x, t, images, reduction, 0.75);
                var got = new float[x.Length];
                float value = loss.ForwardBackward(x, t, images, got, reduction, 0.75f);
                Numerics.AssertClose($"{what}: loss", value, expected, 1e-5, 1e-7);
                Numerics.AssertClose($"{what}: gradient", got, gradient, 1e-5, 1e-12);
                Assert.That(loss.Forward(x, t, images, reduction), Is.EqualTo(value), $"{what}: forward");
                var backward = new float[x.Length];
                loss.Backward(x, t, images, 0.75f, backward, reduction);
                Assert.That(backward, Is.EqualTo(got), $"{what}: backward");
            }
        }
    }

    /// <summary>Several layers in one call give the weighted sum of single-layer calls, each layer's gradient its weight times its own.</summary>
    [TestCaseSource(nameof(Losses))]
    public void LayersSumSingleLayerCalls(FeatureReconstructionLoss loss)
    {
        (int Images, int PerImage)[] shapes = [(2, 64 * 32 * 32), (2, 128 * 16 * 16), (2, 256 * 8 * 8), (2, 512 * 4 * 4)];
        var layers = new FeatureLayer[shapes.Length];
        float expected = 0;
        var expectedGradients = new float[shapes.Length][];
        for (int l = 0; l < shapes.Length; l++)
        {
            (int images, int perImage) = (shapes[l].Images, shapes[l].PerImage);
            (float[] x, float[] t) = Features(images * perImage, l);
            float weight = 1f / (1 << l);
            layers[l] = new FeatureLayer(x, t, new float[x.Length], images, weight);
            expectedGradients[l] = new float[x.Length];
            expected += weight * loss.ForwardBackward(x, t, images, expectedGradients[l], Reduction.Mean, 0.5f * weight);
        }

        var layerLosses = new float[shapes.Length];
        float value = loss.ForwardBackward(layers, Reduction.Mean, 0.5f, layerLosses);
        Assert.That(value, Is.EqualTo(expected).Within(1e-6 * Math.Abs(expected)));
        for (int l = 0; l < shapes.Length; l++)
        {
            Assert.That(layers[l].InputGrad.ToArray(), Is.EqualTo(expectedGradients[l]), $"layer {l} gradient");
            Assert.That(layerLosses[l], Is.EqualTo(loss.Forward(layers[l].Input.Span, layers[l].Target.Span, layers[l].Images)), $"layer {l} loss");
        }

        Assert.That(loss.Forward(layers), Is.EqualTo(value));
    }

    [TestCaseSource(nameof(Losses))]
    public void EdgeCases(FeatureReconstructionLoss loss)
    {
        // Equal features: 0 and a zero gradient; no elements: the mean is NaN, the sum 0.
        (float[] x, _) = Features(2 * 50, 3);
        var gradient = new float[x.Length];
        Assert.That(loss.ForwardBackward(x, x, 2, gradient), Is.Zero);
        Assert.That(gradient, Is.All.Zero);
        Assert.That(loss.Forward([], [], 0), Is.NaN);
        Assert.That(loss.Forward([], [], 3, Reduction.Sum), Is.Zero);
        // ±1e4.
        (float[] a, float[] b) = Features(3 * 40, 4);
        a = Array.ConvertAll(a, v => v * 1e4f);
        b = Array.ConvertAll(b, v => -v * 1e4f);
        (double expected, double[] expectedGradient) = Reference(loss, a, b, 3, Reduction.Mean, 1);
        var largeGradient = new float[a.Length];
        Numerics.AssertClose("±1e4", loss.ForwardBackward(a, b, 3, largeGradient), expected, 1e-5, 0);
        Numerics.AssertClose("±1e4 gradient", largeGradient, expectedGradient, 1e-5, 1e-9);
        // In place.
        (float[] c, float[] d) = Features(4 * 300, 5);
        var separate = new float[c.Length];
        float value = loss.ForwardBackward(c, d, 4, separate);
        Assert.That(loss.ForwardBackward(c, d, 4, c), Is.EqualTo(value));
        Assert.That(c, Is.EqualTo(separate));
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        (float[] x, float[] t) = Features(4 * 500_001, 6);
        foreach (FeatureReconstructionLoss loss in Losses().Select(d => (FeatureReconstructionLoss)d.Arguments[0]!))
        {
            AssertSameBits($"p {loss.P}", () =>
            {
                var gradient = new float[x.Length];
                return (loss.ForwardBackward(x, t, 4, gradient, Reduction.Sum), [gradient]);
            });
        }
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        (float[] x, float[] t) = Features(2 * 200_000, 7);
        var gradient = new float[x.Length];
        FeatureLayer[] layers = [new(x, t, gradient, 2, 0.5f), new(t, x, new float[x.Length], 2, 0.25f)];
        var layerLosses = new float[2];
        DeterminismAndAllocationTests.AssertNoAllocation("feature reconstruction", () =>
        {
            new FeatureReconstructionLoss().ForwardBackward(x, t, 2, gradient);
            new FeatureReconstructionLoss(1).ForwardBackward(layers, Reduction.Sum, 1f, layerLosses);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] x = new float[24], t = new float[24], gradient = new float[24], other = new float[24];
        var loss = new FeatureReconstructionLoss();
        FeatureLayer[] overlapping = [new(x, t, gradient, 2), new(other, t, gradient.AsMemory(4), 2)];
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("p 3", () => _ = new FeatureReconstructionLoss(3), typeof(ArgumentOutOfRangeException), "p"),
            ("negative images", () => loss.ForwardBackward(x, t, -1, gradient), typeof(ArgumentOutOfRangeException), "images"),
            ("images not dividing", () => loss.ForwardBackward(x, t, 5, gradient), typeof(ArgumentException), "input"),
            ("reduction none", () => loss.ForwardBackward(x, t, 2, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("target length", () => loss.ForwardBackward(x, t.AsSpan(1), 2, gradient), typeof(ArgumentException), "target"),
            ("gradient short", () => loss.ForwardBackward(x, t, 2, gradient.AsSpan(1)), typeof(ArgumentException), "inputGrad"),
            ("gradient shifted over the input", () => loss.ForwardBackward(gradient.AsSpan(0, 20), t.AsSpan(0, 20), 2, gradient.AsSpan(1)), typeof(ArgumentException), "inputGrad"),
            ("layers' gradients overlapping", () => loss.ForwardBackward(overlapping), typeof(ArgumentException), "layers"),
            ("layer gradient over a target", () => loss.ForwardBackward([new FeatureLayer(x, gradient, gradient, 2)]), typeof(ArgumentException), "layers"),
            ("layer losses short", () => loss.ForwardBackward([new FeatureLayer(x, t, gradient, 2), new FeatureLayer(other, t, new float[24], 2)], layerLosses: new float[1]),
                typeof(ArgumentException), "layerLosses"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            Array.Fill(gradient, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            Assert.That(gradient, Is.All.EqualTo(-7f), name);
        }
    }
}
