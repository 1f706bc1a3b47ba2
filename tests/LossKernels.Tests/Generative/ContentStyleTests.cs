using LossKernels.Generative;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The content and style loss over several layers against its parts' float64 references: a content-only layer, a style-only layer and a
/// layer both terms read (its gradients summed), with and without the image's total variation; mean and sum; finite differences of the
/// whole objective; in-place content gradients; thread counts, allocations and every bad argument.
/// </summary>
[TestFixture]
public class ContentStyleTests : ThreadCountFixture
{
    /// <summary>A style-transfer call's data: three layers (content only, style only, both) and an image, with their float64 references.</summary>
    public sealed class Problem
    {
        public required float[][] Features { get; init; }
        public required float[][] ContentTargets { get; init; }
        public required float[][] StyleGrams { get; init; }
        public required int[] Channels { get; init; }
        public required int Images { get; init; }
        public required float[] Image { get; init; }
        public required int[] ImageShape { get; init; }

        /// <summary>Layer l's terms: 0 content only, 1 style only, 2 both.</summary>
        public bool HasContent(int l) => l != 1;

        public bool HasStyle(int l) => l != 0;

        public static Problem Create(ContentStyleLoss loss, int images, int seed)
        {
            var random = new Random(seed);
            int[] channels = [3, 5, 4], spatial = [37, 20, 9];
            float[][] features = new float[3][], content = new float[3][], grams = new float[3][];
            for (int l = 0; l < 3; l++)
            {
                (features[l], grams[l]) = GramStyleTests.Sample(loss.Style, images, channels[l], spatial[l], 1, seed + l);
                content[l] = Array.ConvertAll(features[l], v => random.Next(8) == 0 ? v : v + (float)(random.NextDouble() - 0.5));
            }

            int[] shape = [images, 2, 6, 7];
            float[] image = Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(i => random.Next(5) == 0 ? 0.25f : (float)random.NextDouble()).ToArray();
            return new Problem { Features = features, ContentTargets = content, StyleGrams = grams, Channels = channels, Images = images, Image = image, ImageShape = shape };
        }

        public ContentStyleLayer[] Layers(float[][] gradients) =>
        [
            .. Enumerable.Range(0, 3).Select(l => new ContentStyleLayer(Features[l], gradients[l], Images, Channels[l],
                HasContent(l) ? ContentTargets[l] : default, 0.5f + l, HasStyle(l) ? StyleGrams[l] : default, 2f - 0.5f * l)),
        ];

        public ContentStyleImage ImageOf(float[] gradient) => new(Image, gradient, ImageShape[0], ImageShape[1], ImageShape[2], ImageShape[3]);

        /// <summary>L, its parts and every gradient in float64, from the single-layer references.</summary>
        public (double Loss, double Content, double Style, double Tv, double[][] LayerGradients, double[] ImageGradient) Reference(ContentStyleLoss loss,
            Reduction reduction, double upstream, bool withImage)
        {
            double perImage = reduction == Reduction.Mean ? 1d / Images : 1d, content = 0, style = 0;
            var gradients = new double[3][];
            for (int l = 0; l < 3; l++)
            {
                float[] x = Features[l];
                gradients[l] = new double[x.Length];
                double contentWeight = 0.5 + l, styleWeight = 2 - 0.5 * l;
                if (HasContent(l))
                {
                    double scale = perImage * Images / x.Length, sum = 0;
                    for (int i = 0; i < x.Length; i++)
                    {
                        double d = (double)x[i] - ContentTargets[l][i];
                        sum += loss.Content.P == 1 ? Math.Abs(d) : d * d;
                        gradients[l][i] += upstream * loss.ContentWeight * contentWeight * scale * (loss.Content.P == 1 ? Math.Sign(d) : 2 * d);
                    }

                    content += contentWeight * sum * scale;
                }

                if (HasStyle(l))
                {
                    (double[] losses, double[] gradient) = ReferenceGramStyle.Evaluate(loss.Style.Normalization, x, StyleGrams[l], Images, Channels[l],
                        _ => upstream * loss.StyleWeight * styleWeight * perImage);
                    style += styleWeight * losses.Sum() * perImage;
                    for (int i = 0; i < x.Length; i++)
                        gradients[l][i] += gradient[i];
                }
            }

            double tv = 0;
            double[] imageGradient = [];
            if (withImage)
            {
                (double[] values, imageGradient) = ReferenceTotalVariation.Evaluate(loss.TotalVariation, Image, ImageShape[0], ImageShape[1], ImageShape[2],
                    ImageShape[3], _ => upstream * loss.TotalVariationWeight * perImage);
                tv = values.Sum() * perImage;
            }

            return (loss.ContentWeight * content + loss.StyleWeight * style + loss.TotalVariationWeight * tv, content, style, tv, gradients, imageGradient);
        }

        public float[][] NewGradients() => [.. Features.Select(f => new float[f.Length])];
    }

    /// <summary>A call's value, parts and gradients (upstream 0.75) against the float64 references.</summary>
    public static void AssertMatchesReference(string what, ContentStyleLoss loss, Problem problem, Reduction reduction, bool withImage, ContentStyleResult result,
        float[][] gradients, float[] pixelsGrad)
    {
        (double expected, double content, double style, double tv, double[][] layerGradients, double[] imageGradient) = problem.Reference(loss, reduction, 0.75, withImage);
        Numerics.AssertClose($"{what}: loss", result.Loss, expected, 1e-4, 1e-9);
        Numerics.AssertClose($"{what}: content", result.Content, content, 1e-4, 1e-9);
        Numerics.AssertClose($"{what}: style", result.Style, style, 1e-4, 1e-9);
        Numerics.AssertClose($"{what}: tv", result.TotalVariation, tv, 1e-4, 1e-9);
        for (int l = 0; l < 3; l++)
            Numerics.AssertClose($"{what}: layer {l} gradient", gradients[l], layerGradients[l], 1e-3, 1e-6 * layerGradients[l].Select(Math.Abs).DefaultIfEmpty(0).Max());
        if (withImage)
            Numerics.AssertClose($"{what}: image gradient", pixelsGrad, imageGradient, 1e-4, 1e-7);
    }

    public static IEnumerable<TestCaseData> Losses()
    {
        yield return new TestCaseData(new ContentStyleLoss()).SetArgDisplayNames("unit weights");
        yield return new TestCaseData(new ContentStyleLoss(1e2f, 1e3f, 0.5f, new FeatureReconstructionLoss(), new GramStyleLoss(GramNormalization.Gatys),
            new TotalVariationLoss(TotalVariationNorm.Isotropic))).SetArgDisplayNames("gatys isotropic");
        yield return new TestCaseData(new ContentStyleLoss(0.7f, 2f, 1.5f, new FeatureReconstructionLoss(1), default, new TotalVariationLoss(TotalVariationNorm.Beta,
            beta: 1.5f))).SetArgDisplayNames("l1 beta");
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheSumOfItsParts(ContentStyleLoss loss)
    {
        foreach (int images in (int[])[1, 3])
            foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
                foreach (bool withImage in (bool[])[false, true])
                {
                    Problem problem = Problem.Create(loss, images, images * 10 + (int)reduction);
                    string what = $"N={images} {reduction} image={withImage}";
                    float[][] gradients = problem.NewGradients();
                    var pixelsGrad = new float[problem.Image.Length];
                    ContentStyleImage image = withImage ? problem.ImageOf(pixelsGrad) : default;
                    ContentStyleResult result = loss.ForwardBackward(problem.Layers(gradients), image, reduction, 0.75f);
                    AssertMatchesReference(what, loss, problem, reduction, withImage, result, gradients, pixelsGrad);

                    ContentStyleResult forward = loss.Forward(problem.Layers(problem.NewGradients()), image, reduction);
                    Assert.That(forward, Is.EqualTo(result), $"{what}: forward");
                    float[][] backward = problem.NewGradients();
                    var backwardPixels = new float[pixelsGrad.Length];
                    loss.Backward(problem.Layers(backward), withImage ? problem.ImageOf(backwardPixels) : default, 0.75f, reduction);
                    for (int l = 0; l < 3; l++)
                        Assert.That(backward[l], Is.EqualTo(gradients[l]), $"{what}: backward layer {l}");
                    Assert.That(backwardPixels, Is.EqualTo(pixelsGrad), $"{what}: backward image");
                }
    }

    /// <summary>A layer both terms read gets the content's gradient plus the style's: the same as the two single-layer calls' sum, to rounding.</summary>
    [TestCaseSource(nameof(Losses))]
    public void ALayerWithBothTermsGetsTheSumOfTheirGradients(ContentStyleLoss loss)
    {
        Problem problem = Problem.Create(loss, 2, 5);
        float[][] gradients = problem.NewGradients();
        loss.ForwardBackward(problem.Layers(gradients), default, Reduction.Mean, 1.25f);
        float[] x = problem.Features[2];
        float[] content = new float[x.Length], style = new float[x.Length];
        loss.Content.ForwardBackward(x, problem.ContentTargets[2], 2, content, Reduction.Mean, 1.25f * loss.ContentWeight * 2.5f);
        loss.Style.ForwardBackward(x, problem.StyleGrams[2], 2, problem.Channels[2], style, Reduction.Mean, 1.25f * loss.StyleWeight * 1f);
        double[] sum = [.. content.Zip(style, (c, s) => (double)c + s)];
        Numerics.AssertClose("both terms", gradients[2], sum, 1e-5, 1e-7 * sum.Select(Math.Abs).Max());
    }

    /// <summary>The cases without |d|'s kinks in the content term (the L1 variant's differences are checked with the feature reconstruction loss).</summary>
    public static IEnumerable<TestCaseData> SmoothLosses() => Losses().Where(d => ((ContentStyleLoss)d.Arguments[0]!).Content.P != 1);

    /// <summary>Central differences of the whole objective (every layer and the image at once) in float64 against the reference gradients.</summary>
    [TestCaseSource(nameof(SmoothLosses))]
    public void TheReferenceGradientMatchesFiniteDifferences(ContentStyleLoss loss)
    {
        Problem problem = Problem.Create(loss, 2, 9);
        // No equal neighbours in the image: the isotropic and β norms' kinks are where a pixel's differences vanish.
        var random = new Random(9);
        for (int i = 0; i < problem.Image.Length; i++)
            problem.Image[i] = (float)random.NextDouble();
        (_, _, _, _, double[][] layerGradients, double[] imageGradient) = problem.Reference(loss, Reduction.Mean, 1d, withImage: true);
        double Objective() => problem.Reference(loss, Reduction.Mean, 1d, withImage: true).Loss;
        void Check(float[] values, double[] gradient, string what)
        {
            for (int i = 0; i < values.Length; i += 3)
            {
                float saved = values[i];
                float h = 1e-2f * Math.Max(1f, Math.Abs(saved));
                values[i] = saved + h;
                double plus = Objective();
                values[i] = saved - h;
                double minus = Objective();
                values[i] = saved;
                double delta = (double)(saved + h) - (saved - h);
                Assert.That(gradient[i], Is.EqualTo((plus - minus) / delta).Within(2e-3 * Math.Max(1, Math.Abs(gradient[i]))), $"{what}[{i}]");
            }
        }

        for (int l = 0; l < 3; l++)
            Check(problem.Features[l], layerGradients[l], $"layer {l}");
        if (loss.TotalVariation.Norm != TotalVariationNorm.Anisotropic)
            Check(problem.Image, imageGradient, "image");
    }

    /// <summary>A content-only layer's gradient may be its features' memory; no layers and no image give 0.</summary>
    [Test]
    public void InPlaceContentAndEmptyCalls()
    {
        var loss = new ContentStyleLoss(2f, 1f, 1f);
        Problem problem = Problem.Create(loss, 2, 3);
        float[][] gradients = problem.NewGradients();
        ContentStyleResult expected = loss.ForwardBackward(problem.Layers(gradients));
        float[] inPlace = (float[])problem.Features[0].Clone();
        ContentStyleLayer[] layers = problem.Layers(problem.NewGradients());
        layers[0] = layers[0] with { Input = inPlace, InputGrad = inPlace };
        Assert.That(loss.ForwardBackward(layers), Is.EqualTo(expected));
        Assert.That(inPlace, Is.EqualTo(gradients[0]));
        Assert.That(loss.ForwardBackward(ReadOnlySpan<ContentStyleLayer>.Empty), Is.EqualTo(new ContentStyleResult(0f, 0f, 0f, 0f)));
        Assert.That(loss.Forward(ReadOnlySpan<ContentStyleLayer>.Empty, default, Reduction.Sum), Is.EqualTo(new ContentStyleResult(0f, 0f, 0f, 0f)));
    }

    /// <summary>Zero features against a zero style and content (every term 0) and ±1e4 features (finite, the references' values).</summary>
    [Test]
    public void EdgeValues()
    {
        var loss = new ContentStyleLoss(1f, 1f, 1f);
        var zeros = new float[2 * 3 * 8];
        var gradient = new float[zeros.Length];
        var pixels = new float[2 * 1 * 1 * 5];
        var pixelsGrad = new float[pixels.Length];
        ContentStyleResult zero = loss.ForwardBackward([new ContentStyleLayer(zeros, gradient, 2, 3, new float[zeros.Length], 1f, new float[9], 1f)],
            new ContentStyleImage(pixels, pixelsGrad, 2, 1, 1, 5));
        Assert.That(zero, Is.EqualTo(new ContentStyleResult(0f, 0f, 0f, 0f)));
        Assert.That(gradient, Is.All.EqualTo(0f));
        Assert.That(pixelsGrad, Is.All.EqualTo(0f));

        Problem problem = Problem.Create(loss, 1, 4);
        for (int l = 0; l < 3; l++)
            problem.Features[l][0] = l % 2 == 0 ? 1e4f : -1e4f;
        (double expected, _, _, _, double[][] layerGradients, _) = problem.Reference(loss, Reduction.Mean, 1d, withImage: false);
        float[][] gradients = problem.NewGradients();
        ContentStyleResult big = loss.ForwardBackward(problem.Layers(gradients));
        Numerics.AssertClose("±1e4 loss", big.Loss, expected, 1e-4, 0);
        for (int l = 0; l < 3; l++)
            Numerics.AssertClose($"±1e4 layer {l}", gradients[l], layerGradients[l], 1e-3, 1e-6 * layerGradients[l].Select(Math.Abs).Max());
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        var loss = new ContentStyleLoss(1f, 10f, 0.1f);
        float[] x = GramStyleTests.Sample(loss.Style, 2, 70, 1500, 1, 17).Features, gram = GramStyleTests.Sample(loss.Style, 1, 70, 1500, 1, 18).TargetGram;
        float[] target = Array.ConvertAll(x, v => v * 0.9f + 0.05f);
        float[] image = Enumerable.Range(0, 2 * 3 * 300 * 301).Select(i => (float)Math.Sin(i * 0.37)).ToArray();
        AssertSameBits("content and style", () =>
        {
            float[] gradient = new float[x.Length], pixelsGrad = new float[image.Length];
            ContentStyleResult result = loss.ForwardBackward([new ContentStyleLayer(x, gradient, 2, 70, target, 1f, gram, 1f)],
                new ContentStyleImage(image, pixelsGrad, 2, 3, 300, 301), Reduction.Sum);
            return (result.Loss, [gradient, pixelsGrad]);
        });
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        var loss = new ContentStyleLoss();
        Problem problem = Problem.Create(loss, 2, 6);
        ContentStyleLayer[] layers = problem.Layers(problem.NewGradients());
        ContentStyleImage image = problem.ImageOf(new float[problem.Image.Length]);
        DeterminismAndAllocationTests.AssertNoAllocation("content and style", () =>
        {
            loss.ForwardBackward(layers, image);
            loss.Forward(layers, image, Reduction.Sum);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        var loss = new ContentStyleLoss();
        float[] x = new float[24], target = new float[24], gram = new float[4], gradient = new float[24], other = new float[24];
        float[] pixels = new float[2 * 1 * 3 * 4], pixelsGrad = new float[pixels.Length];
        ContentStyleLayer Layer() => new(x, gradient, 2, 2, target, 1f, gram, 1f);
        ContentStyleImage Image() => new(pixels, pixelsGrad, 2, 1, 3, 4);
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("content weight", () => _ = new ContentStyleLoss(float.NaN, 1f, 1f), typeof(ArgumentOutOfRangeException), "contentWeight"),
            ("style weight", () => _ = new ContentStyleLoss(1f, float.PositiveInfinity, 1f), typeof(ArgumentOutOfRangeException), "styleWeight"),
            ("tv weight", () => _ = new ContentStyleLoss(1f, 1f, float.NaN), typeof(ArgumentOutOfRangeException), "totalVariationWeight"),
            ("reduction none", () => loss.ForwardBackward([Layer()], Image(), Reduction.None), typeof(ArgumentException), "reduction"),
            ("layer weight", () => loss.ForwardBackward([Layer() with { StyleWeight = float.NaN }], Image()), typeof(ArgumentOutOfRangeException), "layers"),
            ("images not dividing", () => loss.ForwardBackward([Layer() with { Images = 5 }], Image()), typeof(ArgumentException), "input"),
            ("content target length", () => loss.ForwardBackward([Layer() with { ContentTarget = new float[23] }], Image()), typeof(ArgumentException), "layers"),
            ("style gram length", () => loss.ForwardBackward([Layer() with { StyleGram = new float[5] }], Image()), typeof(ArgumentException), "targetGram"),
            ("no channels", () => loss.ForwardBackward([Layer() with { Channels = 0 }], Image()), typeof(ArgumentOutOfRangeException), "channels"),
            ("gradient short", () => loss.ForwardBackward([Layer() with { InputGrad = new float[23] }], Image()), typeof(ArgumentException), "layers"),
            ("style gradient in place", () => loss.ForwardBackward([Layer() with { Input = gradient }], Image()), typeof(ArgumentException), "layers"),
            ("gradient over a target", () => loss.ForwardBackward([Layer() with { ContentTarget = gradient }], Image()), typeof(ArgumentException), "layers"),
            ("gradient over another layer's features", () => loss.ForwardBackward([Layer(), new ContentStyleLayer(gradient, other, 2, 2, target)], Image()),
                typeof(ArgumentException), "layers"),
            ("gradients shared", () => loss.ForwardBackward([Layer(), new ContentStyleLayer(other, gradient, 2, 2, target)], Image()), typeof(ArgumentException), "layers"),
            ("gradient over the image", () => loss.ForwardBackward([Layer() with { InputGrad = pixels }], Image()), typeof(ArgumentException), "layers"),
            ("image extents", () => loss.ForwardBackward([Layer()], Image() with { Height = 4 }), typeof(ArgumentException), "image"),
            ("image gradient short", () => loss.ForwardBackward([Layer()], Image() with { PixelsGrad = new float[3] }), typeof(ArgumentException), "image"),
            ("image gradient over the image", () => loss.ForwardBackward([Layer()], Image() with { PixelsGrad = pixels }), typeof(ArgumentException), "image"),
            ("image gradient over the features", () => loss.ForwardBackward([Layer() with { InputGrad = other }], Image() with { PixelsGrad = x }),
                typeof(ArgumentException), "image"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            Array.Fill(gradient, -7f);
            Array.Fill(pixelsGrad, -7f);
            Array.Fill(other, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            Assert.That(gradient, Is.All.EqualTo(-7f), name);
            Assert.That(pixelsGrad, Is.All.EqualTo(-7f), name);
            Assert.That(other, Is.All.EqualTo(-7f), name);
        }
    }
}
