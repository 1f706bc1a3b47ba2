using LossKernels.Classification;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Classification;

/// <summary>Cross entropy on [N, C] against PyTorch's composition in float64: shapes, every option, edge values, in place, threads, allocation, bad arguments.</summary>
[TestFixture]
public class CrossEntropyTests
{
    private static readonly (int Rows, int Classes)[] Shapes =
    [
        (0, 5), (1, 1), (1, 2), (2, 3), (3, 4), (5, 7), (4, 15), (3, 16), (3, 17), (7, 31), (2, 33), (9, 64), (5, 100), (17, 257), (3, 1031), (3, 32000), (40, 81),
        // Rows of one to four vectors of classes, a vector of rows at a time (the blocked row kernel) and the rows left over.
        (21, 4), (19, 7), (37, 8), (35, 17), (50, 33), (33, 48), (20, 64), (19, 65),
        // Vocabulary-sized rows, where float lane sums would drift: whole blocks of classes, and a partial block with a tail.
        (2, 65536), (3, 69997),
    ];

    public static IEnumerable<TestCaseData> Options() =>
        from smoothing in new[] { 0.0, 0.1 }
        from z in new[] { 0.0, 1e-4 }
        from weighted in new[] { false, true }
        from ignored in new[] { false, true }
        select new TestCaseData(smoothing, z, weighted, ignored);

    /// <summary>Label smoothing, the z-loss and class weights: the option matrix the device backends run.</summary>
    public static IEnumerable<TestCaseData> DeviceOptions() =>
        from smoothing in new[] { 0.0, 0.1 }
        from z in new[] { 0.0, 1e-4 }
        from weighted in new[] { false, true }
        select new TestCaseData(smoothing, z, weighted);

    [TestCaseSource(nameof(Options))]
    public void ShapesAndOptionsMatchPyTorchsComposition(double smoothing, double z, bool weighted, bool ignored)
    {
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, long[] target) = Sample(rows, classes, seed: rows * 100 + classes, ignored ? 3 : 0);
            float[]? weight = weighted ? CatalogHarness.Uniform(classes, classes, 0f, 2f) : null;
            foreach (string reduction in new[] { "none", "mean", "sum" })
                Compare($"{rows}x{classes} {reduction} eps {smoothing} z {z} w {weighted} ignore {ignored}", logits, target, weight, (float)smoothing, (float)z, reduction);
        }
    }

    [TestCaseSource(nameof(Options))]
    public void SoftTargetsMatchPyTorchsComposition(double smoothing, double z, bool weighted, bool inPlace)
    {
        foreach ((int rows, int classes) in Shapes.Where(s => s.Classes > 0))
        {
            (float[] logits, _) = Sample(rows, classes, seed: rows + 7 * classes, ignoreEvery: 0);
            float[] target = SoftTargets(rows, classes, seed: classes);
            float[]? weight = weighted ? CatalogHarness.Uniform(classes, classes + 1, 0f, 2f) : null;
            var loss = new CrossEntropyLoss(-100, (float)smoothing, (float)z);
            string what = $"soft {rows}x{classes} eps {smoothing} z {z} w {weighted} in place {inPlace}";
            foreach (string reduction in new[] { "none", "mean", "sum" })
            {
                float[] upstream = reduction == "none" ? CatalogHarness.Uniform(rows, rows + 3, -1f, 1f) : [0.7f];
                ReferenceResult expected = ReferenceCrossEntropy.ComputeSoft(Numerics.ToDouble(logits), Numerics.ToDouble(target), classes,
                    weight is null ? null : Numerics.ToDouble(weight), smoothing, z, reduction, Numerics.ToDouble(upstream));
                float[] gradient = inPlace ? (float[])logits.Clone() : new float[logits.Length];
                float[] input = inPlace ? gradient : logits;
                if (reduction == "none")
                {
                    float[] output = new float[rows];
                    loss.ForwardBackward(input, target, classes, output, gradient, upstream, weight);
                    Numerics.AssertClose(what + " losses", output, expected.Loss, 1e-5, 1e-5);
                }
                else
                {
                    Reduction r = reduction == "sum" ? Reduction.Sum : Reduction.Mean;
                    Numerics.AssertClose(what + " forward", [loss.Forward(logits, target, classes, r, weight)], expected.Loss, 1e-5, 1e-6);
                    float value = loss.ForwardBackward(input, target, classes, gradient, r, weight, upstream[0]);
                    Numerics.AssertClose(what + " loss", [value], expected.Loss, 1e-5, 1e-6);
                }

                Numerics.AssertClose(what + " gradient", gradient, expected.InputGradient, 1e-5, 1e-6);
            }
        }
    }

    /// <summary>Rows of probabilities summing to 1, some exactly 0 (and one-hot rows every fourth).</summary>
    internal static float[] SoftTargets(int rows, int classes, int seed)
    {
        var random = new Random(seed);
        var target = new float[rows * classes];
        for (int r = 0; r < rows; r++)
        {
            double total = 0;
            for (int c = 0; c < classes; c++)
            {
                double p = r % 4 == 3 ? (c == r % classes ? 1 : 0) : random.NextDouble() < 0.2 ? 0 : random.NextDouble();
                target[r * classes + c] = (float)p;
                total += p;
            }

            for (int c = 0; c < classes && total > 0; c++)
                target[r * classes + c] = (float)(target[r * classes + c] / total);
        }

        return target;
    }

    /// <summary>
    /// Found by the catalog fuzzer: an infinite score, and one that swamps the margin. Smoothing gives a −∞ logit the term
    /// (ε/C)·(lse + ∞) = +∞ (PyTorch too), where the overlapping last vector once made it 0·(−∞) = NaN; multi_margin_loss's target
    /// term once was taken out as the constant margin, so a target score of 1e8 (or +∞) gave a negative loss.
    /// </summary>
    [Test]
    public void InfiniteAndHugeScoresFoundByTheFuzzer()
    {
        foreach (int classes in new[] { 5, 9, 37 })
        {
            float[] logits = Enumerable.Range(0, 2 * classes).Select(i => (float)Math.Sin(i)).ToArray();
            logits[1] = float.NegativeInfinity;
            logits[classes + classes - 1] = float.NegativeInfinity;
            long[] target = [0, 0];
            Assert.That(new CrossEntropyLoss(ClassTargets.DefaultIgnoreIndex, 0.1f).Forward(logits, target), Is.EqualTo(float.PositiveInfinity), $"C = {classes}");

            var gradient = new float[logits.Length];
            foreach (float targetScore in new[] { 1e8f, float.PositiveInfinity })
            {
                float[] scores = Enumerable.Range(0, 2 * classes).Select(i => (float)Math.Cos(i)).ToArray();
                scores[0] = targetScore;
                float loss = new MultiMarginLoss().ForwardBackward(scores, target, gradient, Reduction.Sum);
                // Row 0's terms are all max(0, 1 − x_y + x_c) = 0; row 1's are the plain ones.
                double expected = 0d;
                for (int c = 1; c < classes; c++)
                    expected += Math.Max(0d, 1d - scores[classes] + scores[classes + c]) / classes;
                Assert.That(loss, Is.EqualTo(expected).Within(1e-5), $"C = {classes}, x_y = {targetScore}");
                Assert.That(gradient[..classes], Is.All.EqualTo(0f), $"C = {classes}, x_y = {targetScore}: row 0's gradient");
            }
        }
    }

    [Test]
    public void NllLossInPlaceWeightedAndItsBadArguments()
    {
        (float[] input, long[] target) = Sample(9, 13, seed: 8, ignoreEvery: 4);
        float[] weight = CatalogHarness.Uniform(13, 3, 0.5f, 2f);
        var nll = new NllLoss();
        ReferenceResult expected = ReferenceCrossEntropy.ComputeNll(Numerics.ToDouble(input), target, Numerics.ToDouble(weight), -100, "mean", [0.5]);
        float[] inPlace = (float[])input.Clone();
        float value = nll.ForwardBackward(inPlace, target, inPlace, Reduction.Mean, weight, 0.5f);
        Numerics.AssertClose("nll loss", [value], expected.Loss, 1e-6, 1e-7);
        Numerics.AssertClose("nll gradient in place", inPlace, expected.InputGradient, 1e-6, 1e-7);
        float[] gradient = [.. Enumerable.Repeat(3f, input.Length)];
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => nll.ForwardBackward(input, [.. target[..8], 13L], gradient))!.ParamName, Is.EqualTo("target"));
        Assert.That(Assert.Throws<ArgumentException>(() => nll.ForwardBackward(input, target, gradient, weight: [1f]))!.ParamName, Is.EqualTo("weight"));
        Assert.That(gradient.All(g => g == 3f), "nothing written");
        DeterminismAndAllocationTests.AssertNoAllocation("nll_loss", () => nll.ForwardBackward(input, target, gradient, Reduction.Sum, weight));
    }

    private static readonly (int Samples, int Classes, int Spatial)[] SpatialShapes =
        [(1, 1, 3), (2, 3, 5), (1, 4, 16), (2, 2, 17), (3, 21, 37), (2, 5, 100), (1, 2, 1031)];

    /// <summary>[N, C, d…] with the class axis D apart (segmentation): against the [N·D, C] reference on the transposed data.</summary>
    [TestCaseSource(nameof(Options))]
    public void SpatialInputsMatchTheTransposedRows(double smoothing, double z, bool weighted, bool soft)
    {
        foreach ((int samples, int classes, int spatial) in SpatialShapes)
        {
            int positions = samples * spatial;
            (float[] rowLogits, long[] target) = Sample(positions, classes, seed: positions + classes, ignoreEvery: soft ? 0 : 3);
            float[] rowSoft = SoftTargets(positions, classes, seed: classes);
            float[] logits = ToSpatial(rowLogits, samples, classes, spatial);
            float[] softTarget = ToSpatial(rowSoft, samples, classes, spatial);
            float[]? weight = weighted ? CatalogHarness.Uniform(classes, 2, 0f, 2f) : null;
            var loss = new CrossEntropyLoss(-100, (float)smoothing, (float)z);
            foreach (string reduction in new[] { "none", "mean", "sum" })
            {
                string what = $"{samples}x{classes}x{spatial} {reduction} eps {smoothing} z {z} w {weighted} soft {soft}";
                float[] upstream = reduction == "none" ? CatalogHarness.Uniform(positions, 4, -1f, 1f) : [0.7f];
                ReferenceResult expected = soft
                    ? ReferenceCrossEntropy.ComputeSoft(Numerics.ToDouble(rowLogits), Numerics.ToDouble(rowSoft), classes, weight is null ? null : Numerics.ToDouble(weight), smoothing, z, reduction, Numerics.ToDouble(upstream))
                    : ReferenceCrossEntropy.Compute(Numerics.ToDouble(rowLogits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z, reduction, Numerics.ToDouble(upstream));
                float[] gradient = (float[])logits.Clone();
                if (reduction == "none")
                {
                    float[] output = new float[positions];
                    if (soft)
                        loss.ForwardBackward(gradient, softTarget, classes, output, gradient, upstream, weight, spatial);
                    else
                        loss.ForwardBackward(gradient, target, output, gradient, upstream, weight, spatial);
                    Numerics.AssertClose(what + " losses", output, expected.Loss, 1e-5, 1e-5);
                }
                else
                {
                    Reduction r = reduction == "sum" ? Reduction.Sum : Reduction.Mean;
                    float value = soft
                        ? loss.ForwardBackward(gradient, softTarget, classes, gradient, r, weight, upstream[0], spatial)
                        : loss.ForwardBackward(gradient, target, gradient, r, weight, upstream[0], spatial);
                    Numerics.AssertClose(what + " loss", [value], expected.Loss, 1e-5, 1e-6);
                }

                Numerics.AssertClose(what + " gradient (in place)", FromSpatial(gradient, samples, classes, spatial), expected.InputGradient, 1e-5, 1e-6);
            }
        }
    }

    /// <summary>
    /// An [1, C, 3] input leaves its three positions outside whole vectors, each a row of C classes read element by element; that
    /// row's scratch must not grow with C on the stack. On a thread with a 1 MiB stack, weighted, label-smoothed, with class
    /// indices and with probabilities, the results match the float64 reference.
    /// </summary>
    [TestCase(140_000)]
    [TestCase(1_100_000)]
    public void WideLeftoverPositionsNeedNoStackThatGrowsWithTheClasses(int classes)
    {
        const int spatial = 3;
        (float[] rowLogits, long[] target) = Sample(spatial, classes, seed: 3, ignoreEvery: 0);
        float[] rowSoft = SoftTargets(spatial, classes, seed: 5);
        float[] logits = ToSpatial(rowLogits, 1, classes, spatial), soft = ToSpatial(rowSoft, 1, classes, spatial);
        float[] weight = CatalogHarness.Uniform(classes, 4, 0f, 2f);
        var loss = new CrossEntropyLoss(-100, 0.1f, 0f);
        float[] gradient = new float[logits.Length], softGradient = new float[logits.Length];
        float value = 0f, softValue = 0f;
        Numerics.OnThreadWithStack(1 << 20, () =>
        {
            value = loss.ForwardBackward(logits, target, gradient, Reduction.Mean, weight, 1f, spatial);
            softValue = loss.ForwardBackward(logits, soft, classes, softGradient, Reduction.Sum, weight, 1f, spatial);
        });

        double[] weights = Numerics.ToDouble(weight);
        ReferenceResult expected = ReferenceCrossEntropy.Compute(Numerics.ToDouble(rowLogits), target, weights, -100, 0.1, 0, "mean", [1.0]);
        ReferenceResult expectedSoft = ReferenceCrossEntropy.ComputeSoft(Numerics.ToDouble(rowLogits), Numerics.ToDouble(rowSoft), classes, weights, 0.1, 0, "sum", [1.0]);
        Numerics.AssertClose($"C {classes} loss", [value], expected.Loss, 1e-5, 0);
        Numerics.AssertClose($"C {classes} soft loss", [softValue], expectedSoft.Loss, 1e-5, 0);
        Numerics.AssertClose($"C {classes} gradient", FromSpatial(gradient, 1, classes, spatial), expected.InputGradient, 1e-4, 1e-10);
        Numerics.AssertClose($"C {classes} soft gradient", FromSpatial(softGradient, 1, classes, spatial), expectedSoft.InputGradient, 1e-4, 1e-10);
    }

    /// <summary>
    /// Every memory a call reads after it has begun writing must be disjoint from what it writes: the gradient over the
    /// probabilities (even exactly), over the class weights or the upstream; the row losses over any input. Each throws,
    /// naming what is written, and writes nothing.
    /// </summary>
    [Test]
    public void WrittenMemoryOverReadMemoryThrowsBeforeWriting()
    {
        const int rows = 3, classes = 5;
        (float[] logits, long[] target) = Sample(rows, classes, seed: 2, ignoreEvery: 0);
        var loss = new CrossEntropyLoss();
        float[] pool = [.. Enumerable.Repeat(9f, 64)];
        void Throws(string param, TestDelegate call)
        {
            Assert.That(Assert.Throws<ArgumentException>(call)!.ParamName, Is.EqualTo(param));
            Assert.That(pool, Is.All.EqualTo(9f), $"{param}: nothing written");
        }

        Span<float> At(int start, int length) => pool.AsSpan(start, length);
        Throws("logitsGrad", () => loss.ForwardBackward(logits, At(0, 15), classes, At(0, 15)));
        Throws("logitsGrad", () => loss.ForwardBackward(logits, At(0, 15), classes, At(2, 15)));
        Throws("logitsGrad", () => loss.ForwardBackward(logits, target, At(0, 15), Reduction.Mean, At(10, 5)));
        Throws("logitsGrad", () => loss.ForwardBackward(logits, target, At(20, 3), At(0, 15), At(14, 3)));
        Throws("output", () => loss.ForwardBackward(logits, target, At(0, 3), At(20, 15), At(1, 3)));
        Throws("output", () => loss.ForwardBackward(logits, target, At(0, 3), At(20, 15), default, At(2, 5)));
        Throws("output", () => loss.ForwardBackward(logits, At(0, 15), classes, At(14, 3), At(20, 15)));
        Throws("output", () => loss.ForwardBackward(logits, target, At(0, 3), At(2, 15)));
    }

    /// <summary>[N·D, C] rows to the [N, C, D] layout.</summary>
    private static float[] ToSpatial(float[] rows, int samples, int classes, int spatial)
    {
        var result = new float[rows.Length];
        for (int n = 0; n < samples; n++)
            for (int c = 0; c < classes; c++)
                for (int d = 0; d < spatial; d++)
                    result[(n * classes + c) * spatial + d] = rows[(n * spatial + d) * classes + c];
        return result;
    }

    private static float[] FromSpatial(float[] values, int samples, int classes, int spatial)
    {
        var result = new float[values.Length];
        for (int n = 0; n < samples; n++)
            for (int c = 0; c < classes; c++)
                for (int d = 0; d < spatial; d++)
                    result[(n * spatial + d) * classes + c] = values[(n * classes + c) * spatial + d];
        return result;
    }

    [Test]
    public void DistributionFocalLossInPlaceWeightedAndBadLabels()
    {
        (float[] logits, _) = Sample(40, 17, seed: 12, ignoreEvery: 0);
        float[] label = [.. Enumerable.Range(0, 40).Select(r => r % 9 == 8 ? 16f : r % 5 == 4 ? r % 17 : (float)((r * 0.37) % 16))];
        float[] weight = CatalogHarness.Uniform(40, 2, 0f, 2f);
        var dfl = new DistributionFocalLoss();
        ReferenceResult expected = ReferenceCrossEntropy.ComputeDistribution(Numerics.ToDouble(logits), Numerics.ToDouble(label), Numerics.ToDouble(weight), "mean", 4.0, [0.5]);
        float[] inPlace = (float[])logits.Clone();
        float value = dfl.ForwardBackward(inPlace, label, inPlace, Reduction.Mean, weight, 4f, 0.5f);
        Numerics.AssertClose("dfl loss", [value], expected.Loss, 1e-5, 1e-6);
        Numerics.AssertClose("dfl gradient in place", inPlace, expected.InputGradient, 1e-5, 1e-6);
        float[] gradient = [.. Enumerable.Repeat(5f, logits.Length)];
        foreach (float bad in new[] { -0.5f, 16.01f, float.NaN })
        {
            float[] labels = (float[])label.Clone();
            labels[7] = bad;
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => dfl.ForwardBackward(logits, labels, gradient))!;
            Assert.That(e.ParamName, Is.EqualTo("label"));
            Assert.That(e.Message, Does.Contain("position 7"));
        }

        Assert.That(gradient.All(g => g == 5f), "nothing written");
        DeterminismAndAllocationTests.AssertNoAllocation("distribution_focal_loss", () => dfl.ForwardBackward(logits, label, gradient, Reduction.Sum, weight));
    }

    /// <summary>
    /// Short rows run a vector of rows at a time, each row's statistics in a lane: a NaN logit spoils its own row only, an
    /// ignored row's NaN and infinite logits reach neither the loss nor the gradient, and ±1e4 logits stay finite, at row
    /// lengths from one vector to four and past them.
    /// </summary>
    [Test]
    public void RowsOfFewClassesKeepEachRowToItself([Values(4, 5, 8, 15, 16, 17, 31, 48, 64, 65)] int classes)
    {
        const int rows = 53;
        (float[] logits, long[] target) = Sample(rows, classes, seed: classes, ignoreEvery: 6);
        for (int c = 0; c < classes; c++)
            logits[classes + c] = (c % 3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
        logits[20 * classes + classes / 2] = float.NaN;
        logits[21 * classes] = 1e4f;
        logits[21 * classes + classes - 1] = -1e4f;
        logits[22 * classes + 2] = -1e4f;
        target[22] = 2;
        float[] weight = CatalogHarness.Uniform(classes, classes, 0f, 2f);
        float[] upstream = CatalogHarness.Uniform(rows, 5, -1f, 1f);
        ReferenceResult expected = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, Numerics.ToDouble(weight), -100, 0, 1e-4, "none", Numerics.ToDouble(upstream));
        var loss = new CrossEntropyLoss(-100, 0f, 1e-4f);
        float[] output = new float[rows], gradient = [.. Enumerable.Repeat(float.NaN, logits.Length)];
        loss.ForwardBackward(logits, target, output, gradient, upstream, weight);
        Numerics.AssertClose($"C {classes} losses", output, expected.Loss, 1e-5, 1e-5);
        Numerics.AssertClose($"C {classes} gradient", gradient, expected.InputGradient, 1e-5, 1e-6);
        Assert.That(output[1], Is.EqualTo(0f), "ignored row");
        Assert.That(float.IsNaN(output[20]) && float.IsFinite(output[19]) && float.IsFinite(output[21]), "a NaN stays in its row");
    }

    /// <summary>Distribution focal labels in lanes (⌊l⌋ vectorized, the last class alone at l = C − 1) against the reference, with row weights and upstreams, in place.</summary>
    [Test]
    public void DistributionFocalRowsOfEveryLengthMatchTheReference([Values(4, 7, 8, 16, 17, 33, 64, 65)] int classes)
    {
        const int rows = 71;
        (float[] logits, _) = Sample(rows, classes, seed: 31 + classes, ignoreEvery: 0);
        var random = new Random(classes);
        float[] label = [.. Enumerable.Range(0, rows).Select(r => r % 7 == 3 ? classes - 1 : r % 7 == 5 ? r % classes : r % 7 == 6 ? 0f : (float)(random.NextDouble() * (classes - 1)))];
        label[9] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(classes - 1f) - 1);
        float[] weight = CatalogHarness.Uniform(rows, 3, 0f, 2f), upstream = CatalogHarness.Uniform(rows, 4, -1f, 1f);
        ReferenceResult expected = ReferenceCrossEntropy.ComputeDistribution(Numerics.ToDouble(logits), Numerics.ToDouble(label), Numerics.ToDouble(weight), "none", null, Numerics.ToDouble(upstream));
        var dfl = new DistributionFocalLoss();
        float[] output = new float[rows], inPlace = (float[])logits.Clone();
        dfl.ForwardBackward(inPlace, label, output, inPlace, upstream, weight);
        Numerics.AssertClose($"C {classes} losses", output, expected.Loss, 1e-5, 1e-5);
        Numerics.AssertClose($"C {classes} gradient in place", inPlace, expected.InputGradient, 1e-5, 1e-6);
        float[] forward = new float[rows];
        dfl.Forward(logits, label, forward, weight);
        Numerics.AssertClose($"C {classes} forward", forward, expected.Loss, 1e-5, 1e-5);
    }

    [Test]
    public void SoftmaxFocalLossMatchesTheReferenceWithItsLimitAtSaturatedRows([Values(0.0, 0.5, 2.0)] double gamma, [Values] bool weighted)
    {
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, long[] target) = Sample(rows, classes, seed: rows * 3 + classes, ignoreEvery: 4);
            if (rows > 2 && classes > 1)
            {
                // A saturated, correct row: p rounds to 1 in float, where autograd's pow backward gives NaN for γ < 1.
                for (int c = 0; c < classes; c++)
                    logits[2 * classes + c] = c == (int)target[2] ? 1e4f : -1e4f;
            }

            float[]? weight = weighted ? CatalogHarness.Uniform(classes, 1, 0f, 2f) : null;
            var focal = new SoftmaxFocalLoss(0.3f, (float)gamma);
            foreach (string reduction in new[] { "none", "mean", "sum" })
            {
                string what = $"softmax focal {rows}x{classes} gamma {gamma} {reduction}";
                float[] upstream = reduction == "none" ? CatalogHarness.Uniform(rows, 5, -1f, 1f) : [0.7f];
                ReferenceResult expected = ReferenceCrossEntropy.ComputeSoftmaxFocal(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight),
                    -100, 0.3, gamma, reduction, Numerics.ToDouble(upstream));
                float[] gradient = new float[logits.Length];
                if (reduction == "none")
                {
                    float[] output = new float[rows];
                    focal.ForwardBackward(logits, target, output, gradient, upstream, weight);
                    Numerics.AssertClose(what + " losses", output, expected.Loss, 1e-5, 1e-6);
                }
                else
                {
                    float value = focal.ForwardBackward(logits, target, gradient, reduction == "sum" ? Reduction.Sum : Reduction.Mean, weight, upstream[0]);
                    Numerics.AssertClose(what + " loss", [value], expected.Loss, 1e-5, 1e-6);
                }

                Assert.That(gradient.All(float.IsFinite), what + ": finite gradient");
                Numerics.AssertClose(what + " gradient", gradient, expected.InputGradient, 1e-5, 1e-6);
            }
        }
    }

    [Test]
    public void MultiMarginLossInPlaceAcrossWidthsAndItsBadArguments([Values(1, 2)] int p)
    {
        var loss = new MultiMarginLoss(p, 0.7f);
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] input, long[] target) = Sample(rows, classes, seed: 6, ignoreEvery: 0);
            input = [.. input.Select(v => v / 4)];
            float[] weight = CatalogHarness.Uniform(classes, 3, 0.5f, 2f);
            ReferenceResult expected = ReferenceCrossEntropy.ComputeMultiMargin(Numerics.ToDouble(input), target, Numerics.ToDouble(weight), p, 0.7, "sum", [0.5]);
            float[] inPlace = (float[])input.Clone();
            float value = loss.ForwardBackward(inPlace, target, inPlace, Reduction.Sum, weight, 0.5f);
            Numerics.AssertClose($"multi_margin p{p} {rows}x{classes}", [value], expected.Loss, 1e-5, 1e-6);
            Numerics.AssertClose($"multi_margin p{p} {rows}x{classes} gradient in place", inPlace, expected.InputGradient, 1e-5, 1e-6);
        }

        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new MultiMarginLoss(3, 1f))!.ParamName, Is.EqualTo("p"));
        float[] scores = new float[6], gradient = [.. Enumerable.Repeat(4f, 6)];
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => loss.ForwardBackward(scores, [0L, 3L], gradient))!.ParamName, Is.EqualTo("target"));
        Assert.That(gradient.All(g => g == 4f), "nothing written");
        DeterminismAndAllocationTests.AssertNoAllocation("multi_margin_loss", () => loss.ForwardBackward(scores, [0L, 2L], gradient));
    }

    [Test]
    public void Int32TargetsEqualInt64Targets()
    {
        (float[] logits, long[] target) = Sample(50, 37, seed: 5, ignoreEvery: 4);
        int[] narrow = [.. target.Select(t => (int)t)];
        var loss = new CrossEntropyLoss(-100, 0.2f, 1e-3f);
        float[] wide = new float[logits.Length], small = new float[logits.Length];
        float a = loss.ForwardBackward(logits, target, wide);
        float b = loss.ForwardBackward(logits, narrow, small);
        Assert.That(b, Is.EqualTo(a));
        Assert.That(small, Is.EqualTo(wide));
    }

    [Test]
    public void GradientInPlaceOverTheLogitsEqualsOutOfPlace()
    {
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, long[] target) = Sample(rows, classes, seed: 3, ignoreEvery: 5);
            var loss = new CrossEntropyLoss(-100, 0.1f, 1e-4f);
            float[] expected = new float[logits.Length];
            float expectedLoss = loss.ForwardBackward(logits, target, expected, Reduction.Sum);
            float[] inPlace = (float[])logits.Clone();
            float got = loss.ForwardBackward(inPlace, target, inPlace, Reduction.Sum);
            Assert.That(got, Is.EqualTo(expectedLoss), $"{rows}x{classes}");
            Assert.That(inPlace, Is.EqualTo(expected), $"{rows}x{classes}");
        }
    }

    [Test]
    public void EdgeLogitsStayFiniteAndMatch()
    {
        float[] row = [1e4f, -1e4f, 88.7f, -88.7f, -103.9f, 0f, 30f, -30f, 88.72f, 1e-30f, -1e4f, 17f, 3f, -3f, 5e3f, -5e3f, 1f];
        int classes = row.Length;
        float[] logits = [.. Enumerable.Range(0, classes).SelectMany(_ => row)];
        long[] target = [.. Enumerable.Range(0, classes).Select(c => (long)c)];
        float[] weight = [.. Enumerable.Range(0, classes).Select(c => c == 3 ? 0f : 1f + c % 3)];
        foreach (string reduction in new[] { "none", "mean", "sum" })
        {
            Compare($"edges {reduction}", logits, target, null, 0.1f, 1e-4f, reduction);
            Compare($"edges weighted (one class weight 0) {reduction}", logits, target, weight, 0.1f, 0f, reduction);
        }
    }

    [Test]
    public void AllTargetsIgnoredGiveNaNForTheMeanAsPyTorchAndZeroGradient()
    {
        (float[] logits, _) = Sample(6, 9, seed: 1, ignoreEvery: 0);
        long[] target = [.. Enumerable.Repeat(-100L, 6)];
        float[] gradient = new float[logits.Length];
        var loss = new CrossEntropyLoss();
        Assert.That(float.IsNaN(loss.ForwardBackward(logits, target, gradient)), "mean over no rows");
        Assert.That(gradient.All(g => g == 0f));
        Assert.That(loss.ForwardBackward(logits, target, gradient, Reduction.Sum), Is.EqualTo(0f));
    }

    /// <summary>Long rows with smoothing, and short rows without (a vector of rows at a time) in chunks that do not end on a block.</summary>
    [TestCase(700, 1031, 0.1f)]
    [TestCase(20011, 17, 0f)]
    public void ThreadCapsGiveBitwiseEqualResults(int rows, int classes, float smoothing)
    {
        int saved = LossKernelsSettings.MaxThreads;
        try
        {
            (float[] logits, long[] target) = Sample(rows, classes, seed: 9, ignoreEvery: 7);
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 4, 8 })
            {
                LossKernelsSettings.MaxThreads = threads;
                float[] gradient = new float[logits.Length];
                float value = new CrossEntropyLoss(-100, smoothing, 1e-4f).ForwardBackward(logits, target, gradient);
                float[] results = [value, .. gradient];
                if (first is null)
                    first = results;
                else
                    Assert.That(Numerics.BitEqual(results, first), $"{threads} threads");
            }
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }
    }

    [Test]
    public void NoEntryPointAllocates()
    {
        (float[] logits, long[] target) = Sample(600, 1000, seed: 2, ignoreEvery: 9);
        int[] narrow = [.. target.Select(t => (int)t)];
        float[] weight = CatalogHarness.Uniform(1000, 1, 0.5f, 1f), upstream = CatalogHarness.Uniform(600, 2, -1f, 1f);
        float[] gradient = new float[logits.Length], output = new float[600];
        var loss = new CrossEntropyLoss(-100, 0.1f, 1e-4f);
        DeterminismAndAllocationTests.AssertNoAllocation("cross_entropy", () =>
        {
            loss.Forward(logits, target);
            loss.Forward(logits, narrow, output, weight);
            loss.ForwardBackward(logits, target, gradient, Reduction.Sum, weight, 2f);
            loss.ForwardBackward(logits, narrow, output, gradient, upstream, weight);
            loss.Backward(logits, target, 0.5f, gradient);
        });
    }

    [Test]
    public void BadArgumentsThrowBeforeAnythingIsWritten()
    {
        (float[] logits, long[] target) = Sample(4, 5, seed: 1, ignoreEvery: 0);
        float[] gradient = [.. Enumerable.Repeat(7f, 20)];
        var loss = new CrossEntropyLoss();
        void Throws<T>(string param, TestDelegate call) where T : ArgumentException
        {
            Assert.That(Assert.Throws<T>(call)!.ParamName, Is.EqualTo(param));
            Assert.That(gradient.All(g => g == 7f), $"{param}: gradient untouched");
        }

        Throws<ArgumentOutOfRangeException>("target", () => loss.ForwardBackward(logits, [0L, 1L, 5L, -1L], gradient));
        Throws<ArgumentOutOfRangeException>("target", () => loss.ForwardBackward(logits, [0, 1, 2, -3], gradient));
        Throws<ArgumentException>("logits", () => loss.ForwardBackward(logits, [0L, 1L, 2L], gradient));
        Throws<ArgumentException>("weight", () => loss.ForwardBackward(logits, target, gradient, weight: [1f, 2f]));
        Throws<ArgumentException>("logitsGrad", () => loss.ForwardBackward(logits, target, gradient.AsSpan(0, 19)));
        Throws<ArgumentException>("logitsGrad", () => loss.ForwardBackward(gradient, target, gradient.AsSpan(1)));
        Throws<ArgumentException>("reduction", () => loss.ForwardBackward(logits, target, gradient, Reduction.None));
        Throws<ArgumentException>("output", () => loss.ForwardBackward(logits, target, new float[3], gradient));
        Throws<ArgumentException>("upstream", () => loss.ForwardBackward(logits, target, new float[4], gradient, new float[3]));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(-100, 1.5f))!.ParamName, Is.EqualTo("labelSmoothing"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(-100, 0f, -1f))!.ParamName, Is.EqualTo("lseSquareScale"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => loss.ForwardBackward(logits, [0L, 1L, 7L, 0L], gradient))!.Message, Does.Contain("2"));
    }

    /// <summary>
    /// The target check runs whole vectors of indices: a bad index at any position of a vector or of the tail is the one named, the
    /// ignored targets are counted, and an int target never equals an ignore index outside int's range.
    /// </summary>
    [Test]
    public void TargetCheckNamesTheFirstBadPositionAndCountsTheIgnored([Values(0, 1, 7, 8, 9, 16, 17, 33, 70)] int length)
    {
        var random = new Random(length);
        long[] target = [.. Enumerable.Range(0, length).Select(i => i % 5 == 3 ? -100L : random.Next(4))];
        int[] narrow = [.. target.Select(t => (int)t)];
        long ignored = target.Count(t => t == -100);
        Assert.That(ClassTargets.CountIgnored<long>(target, 4, -100), Is.EqualTo(ignored));
        Assert.That(ClassTargets.CountIgnored<int>(narrow, 4, -100), Is.EqualTo(ignored));
        if (ignored == 0)
            Assert.That(ClassTargets.CountIgnored<long>(target, 4, null), Is.EqualTo(0));
        else
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ClassTargets.CountIgnored<long>(target, 4, null))!.Message,
                Does.Contain("index 3 is -100"), "no ignore index: -100 is a bad class");
        for (int bad = 0; bad < length; bad++)
        {
            foreach (long value in new[] { 4L, -1L, long.MinValue, (1L << 32) + 1 })
            {
                long[] wrong = [.. target];
                wrong[bad] = value;
                if (bad + 1 < length)
                    wrong[^1] = 9;
                var e = Assert.Throws<ArgumentOutOfRangeException>(() => ClassTargets.CountIgnored<long>(wrong, 4, -100))!;
                Assert.That(e.Message, Does.Contain($"index {bad} is {value}"), $"length {length}, bad at {bad}");
                int[] wrongNarrow = [.. wrong.Select(t => (int)t)];
                if ((int)value is < 0 or >= 4 && (int)value != -100)
                    Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ClassTargets.CountIgnored<int>(wrongNarrow, 4, -100))!.Message,
                        Does.Contain($"index {bad} is {(int)value}"));
            }
        }

        // An ignore index that no int equals: int targets of its truncated value are out of range, not ignored.
        int[] truncated = [.. Enumerable.Repeat(0, length)];
        if (length > 0)
        {
            truncated[length / 2] = unchecked((int)((1L << 32) - 100));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ClassTargets.CountIgnored<int>(truncated, 4, (1L << 32) - 100))!.Message,
                Does.Contain($"index {length / 2} is -100"));
        }
    }

    [Test]
    public void GradientMatchesFiniteDifferences()
    {
        (float[] logits, long[] target) = Sample(3, 11, seed: 4, ignoreEvery: 0);
        float[] weight = CatalogHarness.Uniform(11, 2, 0.5f, 2f);
        var loss = new CrossEntropyLoss(-100, 0.15f, 0.01f);
        float[] gradient = new float[logits.Length];
        loss.ForwardBackward(logits, target, gradient, Reduction.Sum, weight);
        const float h = 1e-2f;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            logits[i] = x + h;
            double up = loss.Forward(logits, target, Reduction.Sum, weight);
            logits[i] = x - h;
            double down = loss.Forward(logits, target, Reduction.Sum, weight);
            logits[i] = x;
            Assert.That(gradient[i], Is.EqualTo((up - down) / (2 * h)).Within(3e-3), $"element {i}");
        }
    }

    private static void Compare(string what, float[] logits, long[] target, float[]? weight, float smoothing, float z, string reduction)
    {
        var loss = new CrossEntropyLoss(-100, smoothing, z);
        int rows = target.Length;
        float[] upstream = reduction == "none" ? CatalogHarness.Uniform(rows, rows + 3, -1f, 1f) : [0.7f];
        ReferenceResult expected = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z,
            reduction, Numerics.ToDouble(upstream));
        float[] gradient = [.. Enumerable.Repeat(float.NaN, logits.Length)];
        if (reduction == "none")
        {
            float[] output = new float[rows];
            loss.ForwardBackward(logits, target, output, gradient, upstream, weight);
            Numerics.AssertClose(what + " losses", output, expected.Loss, 1e-5, 1e-5);
            float[] forward = new float[rows];
            loss.Forward(logits, target, forward, weight);
            Numerics.AssertClose(what + " forward", forward, expected.Loss, 1e-5, 1e-5);
        }
        else
        {
            Reduction r = reduction == "sum" ? Reduction.Sum : Reduction.Mean;
            float value = loss.ForwardBackward(logits, target, gradient, r, weight, upstream[0]);
            Numerics.AssertClose(what + " loss", [value], expected.Loss, 1e-5, 1e-6);
            Numerics.AssertClose(what + " forward", [loss.Forward(logits, target, r, weight)], [expected.Loss[0]], 1e-5, 1e-6);
            float[] backward = new float[logits.Length];
            loss.Backward(logits, target, upstream[0], backward, r, weight);
            Numerics.AssertClose(what + " backward", backward, expected.InputGradient, 1e-5, 1e-6);
        }

        Numerics.AssertClose(what + " gradient", gradient, expected.InputGradient, 1e-5, 1e-6);
    }

    /// <summary>Logits in [−6, 6); targets uniform over the classes, every <paramref name="ignoreEvery"/>-th row −100 (0: none).</summary>
    internal static (float[] Logits, long[] Target) Sample(int rows, int classes, int seed, int ignoreEvery)
    {
        var random = new Random(seed);
        float[] logits = [.. Enumerable.Range(0, rows * classes).Select(_ => (float)(random.NextDouble() * 12 - 6))];
        long[] target = [.. Enumerable.Range(0, rows).Select(r => ignoreEvery > 0 && r % ignoreEvery == 1 ? -100L : random.Next(classes))];
        return (logits, target);
    }
}
