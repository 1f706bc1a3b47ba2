using LossKernels.Segmentation;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Segmentation;

/// <summary>
/// The Lovász losses on the CPU against the float64 reference (smp's formulas with a stable sort): every option at pixel
/// counts 1…257 and past the parallel threshold, quantized inputs full of ties, finite differences, edge values, every bad
/// argument, the same bits for any thread count, in place, and no allocation after warm-up.
/// </summary>
[TestFixture]
public class LovaszTests : ThreadCountFixture
{
    public static readonly int[] PixelCounts = [1, 2, 3, 7, 8, 9, 16, 17, 31, 64, 100, 257];

    /// <summary>A softmax problem: logits in [−4, 4] (or softmax probabilities), class 0 absent from image 0, some pixels ignored when asked.</summary>
    public static (float[] Input, long[] Labels) SoftmaxProblem(int n, int c, int s, int seed, bool fromLogits = true, long? ignore = null, bool quantized = false)
    {
        var random = new Random(seed);
        var input = new float[n * c * s];
        for (int i = 0; i < input.Length; i++)
            input[i] = quantized ? random.Next(-256, 257) / 64f : (float)(random.NextDouble() * 8 - 4);
        if (!fromLogits)
        {
            for (int i = 0; i < input.Length; i++)
                input[i] = quantized ? random.Next(0, 65) / 64f : (float)random.NextDouble();
        }

        var labels = new long[n * s];
        for (int i = 0; i < labels.Length; i++)
            labels[i] = ignore is long ignored && random.NextDouble() < 0.2 ? ignored : i < s && c > 1 ? 1 + random.Next(c - 1) : random.Next(c);
        return (input, labels);
    }

    /// <summary>A hinge problem: logits in [−4, 4] (quantized: multiples of 1/64, so errors tie), targets 0/1 (30 % ones), some ignored when asked.</summary>
    public static (float[] Input, float[] Target) HingeProblem(int length, int seed, long? ignore = null, bool quantized = false)
    {
        var random = new Random(seed);
        var input = new float[length];
        var target = new float[length];
        for (int i = 0; i < length; i++)
        {
            input[i] = quantized ? random.Next(-256, 257) / 64f : (float)(random.NextDouble() * 8 - 4);
            target[i] = ignore is long ignored && random.NextDouble() < 0.2 ? ignored : random.NextDouble() < 0.3 ? 1f : 0f;
        }

        return (input, target);
    }

    public static IEnumerable<TestCaseData> SoftmaxOptions()
    {
        foreach (bool fromLogits in new[] { true, false })
        {
            foreach (bool perImage in new[] { false, true })
            {
                yield return new TestCaseData(fromLogits, perImage, null);
                yield return new TestCaseData(fromLogits, perImage, (long?)2L);
            }
        }
    }

    [TestCaseSource(nameof(SoftmaxOptions))]
    public void SoftmaxMatchesTheReferenceAtEveryPixelCount(bool fromLogits, bool perImage, long? ignore)
    {
        var loss = new LovaszSoftmaxLoss(fromLogits, perImage, ignore);
        foreach (int s in PixelCounts)
        {
            foreach (bool quantized in new[] { false, true })
            {
                (float[] input, long[] labels) = SoftmaxProblem(2, 3, s, 100 + s, fromLogits, ignore, quantized);
                var shape = new SegmentationShape(2, 3, s);
                (double expected, double[] expectedGradient) = ReferenceLovasz.Softmax(input, labels, 2, 3, s, fromLogits, perImage, ignore, 0.37);
                var gradient = new float[input.Length];
                float value = loss.ForwardBackward(input, labels, gradient, shape, 0.37f);
                string what = $"S={s} quantized={quantized}";
                Assert.That(value, Is.EqualTo(expected).Within(1e-5 + 1e-5 * Math.Abs(expected)), what);
                Numerics.AssertClose(what, gradient, expectedGradient, 1e-5, 1e-6);
                Assert.That(loss.Forward(input, labels, shape), Is.EqualTo(value), what);
                Assert.That(loss.Forward(input, Array.ConvertAll(labels, l => (int)l), shape), Is.EqualTo(value), what + " int32");
                var backward = new float[input.Length];
                loss.Backward(input, labels, 0.37f, backward, shape);
                Assert.That(Numerics.BitEqual(backward, gradient), Is.True, what + " backward");
            }
        }
    }

    public static IEnumerable<TestCaseData> HingeOptions()
    {
        foreach (string mode in new[] { "binary", "multilabel" })
        {
            foreach (bool perImage in new[] { false, true })
            {
                yield return new TestCaseData(mode, perImage, null);
                yield return new TestCaseData(mode, perImage, (long?)-1L);
            }
        }
    }

    [TestCaseSource(nameof(HingeOptions))]
    public void HingeMatchesTheReferenceAtEveryPixelCount(string mode, bool perImage, long? ignore)
    {
        int c = mode == "binary" ? 1 : 3;
        var loss = new LovaszHingeLoss(perImage, ignore, mode == "binary" ? SegmentationMode.Binary : SegmentationMode.Multilabel);
        foreach (int s in PixelCounts)
        {
            foreach (bool quantized in new[] { false, true })
            {
                (float[] input, float[] target) = HingeProblem(2 * c * s, 200 + s, ignore, quantized);
                var shape = new SegmentationShape(2, c, s);
                (double expected, double[] expectedGradient) = ReferenceLovasz.Hinge(input, target, 2, c, s, perImage, ignore, -1.5);
                var gradient = new float[input.Length];
                float value = loss.ForwardBackward(input, target, gradient, shape, -1.5f);
                string what = $"S={s} quantized={quantized}";
                Assert.That(value, Is.EqualTo(expected).Within(1e-5 + 1e-5 * Math.Abs(expected)), what);
                Numerics.AssertClose(what, gradient, expectedGradient, 1e-5, 1e-6);
                Assert.That(loss.Forward(input, target, shape), Is.EqualTo(value), what);
            }
        }
    }

    [Test]
    public void MatchesTheReferencePastTheParallelThresholdWithTies()
    {
        LossKernelsSettings.MaxThreads = 2;
        (float[] input, long[] labels) = SoftmaxProblem(3, 5, 20_011, 7, fromLogits: false, ignore: 9, quantized: true);
        (double expected, double[] expectedGradient) = ReferenceLovasz.Softmax(input, labels, 3, 5, 20_011, false, false, 9);
        var gradient = new float[input.Length];
        float value = new LovaszSoftmaxLoss(fromLogits: false, ignoreIndex: 9).ForwardBackward(input, labels, gradient, new SegmentationShape(3, 5, 20_011));
        Assert.That(value, Is.EqualTo(expected).Within(1e-5 * Math.Abs(expected)));
        Numerics.AssertClose("softmax", gradient, expectedGradient, 1e-4, 1e-8);

        foreach (bool perImage in new[] { true, false })
        {
            // Per image: two sorts on one thread each; over the batch: one sort of 300,002 elements in chunks across the threads.
            (float[] logits, float[] target) = HingeProblem(2 * 150_001, 8, ignore: perImage ? null : -1, quantized: true);
            (expected, expectedGradient) = ReferenceLovasz.Hinge(logits, target, 2, 1, 150_001, perImage, perImage ? null : -1);
            gradient = new float[logits.Length];
            value = new LovaszHingeLoss(perImage, perImage ? null : -1).ForwardBackward(logits, target, gradient, new SegmentationShape(2, 1, 150_001));
            Assert.That(value, Is.EqualTo(expected).Within(1e-5 * Math.Abs(expected)), $"hinge per_image={perImage}");
            Numerics.AssertClose($"hinge per_image={perImage}", gradient, expectedGradient, 1e-4, 1e-9);
        }

        // Two classes of 300,000 pixels: each sorted in chunks across the threads, from logits through the chain sweep.
        (input, labels) = SoftmaxProblem(1, 2, 300_000, 9, ignore: 5);
        (expected, expectedGradient) = ReferenceLovasz.Softmax(input, labels, 1, 2, 300_000, true, false, 5);
        gradient = new float[input.Length];
        value = new LovaszSoftmaxLoss(ignoreIndex: 5).ForwardBackward(input, labels, gradient, new SegmentationShape(1, 2, 300_000));
        Assert.That(value, Is.EqualTo(expected).Within(1e-5 * Math.Abs(expected)), "softmax in chunks");
        Numerics.AssertClose("softmax in chunks", gradient, expectedGradient, 1e-3, 1e-9);
    }

    [Test]
    public void GradientMatchesFiniteDifferencesOfTheInput()
    {
        // The loss is piecewise linear in the errors: central differences are exact while no two errors cross.
        (float[] input, long[] labels) = SoftmaxProblem(2, 3, 5, 31);
        var shape = new SegmentationShape(2, 3, 5);
        var softmax = new LovaszSoftmaxLoss();
        var gradient = new float[input.Length];
        softmax.ForwardBackward(input, labels, gradient, shape);
        AssertFiniteDifferences(input, gradient, x => ReferenceLovasz.Softmax(x, labels, 2, 3, 5, true, false, null).Loss, "softmax");
        (float[] logits, float[] target) = HingeProblem(24, 32);
        gradient = new float[logits.Length];
        new LovaszHingeLoss().ForwardBackward(logits, target, gradient, new SegmentationShape(2, 1, 12));
        AssertFiniteDifferences(logits, gradient, x => ReferenceLovasz.Hinge(x, target, 2, 1, 12, false, null).Loss, "hinge");
    }

    private static void AssertFiniteDifferences(float[] input, float[] gradient, Func<float[], double> loss, string what)
    {
        const float h = 1e-3f;
        for (int i = 0; i < input.Length; i++)
        {
            float[] plus = (float[])input.Clone(), minus = (float[])input.Clone();
            plus[i] += h;
            minus[i] -= h;
            double difference = (loss(plus) - loss(minus)) / (plus[i] - minus[i]);
            Assert.That(gradient[i], Is.EqualTo(difference).Within(2e-4 + 1e-3 * Math.Abs(difference)), $"{what} element {i}");
        }
    }

    [Test]
    public void EdgeValuesEmptyMasksAllIgnoredAndEmptyBatches()
    {
        // Logits of ±1e4: probabilities exactly 0 and 1, errors 0 and 1 in long ties.
        (float[] input, long[] labels) = SoftmaxProblem(2, 3, 15, 41);
        for (int i = 0; i < input.Length; i++)
            input[i] = input[i] > 0 ? 1e4f : -1e4f;
        var shape = new SegmentationShape(2, 3, 15);
        var gradient = new float[input.Length];
        float value = new LovaszSoftmaxLoss().ForwardBackward(input, labels, gradient, shape);
        (double expected, double[] expectedGradient) = ReferenceLovasz.Softmax(input, labels, 2, 3, 15, true, false, null);
        Assert.That(value, Is.EqualTo(expected).Within(1e-6));
        Numerics.AssertClose("±1e4 softmax", gradient, expectedGradient, 1e-5, 1e-6);
        float[] hinge = Array.ConvertAll(input, x => x), target = Array.ConvertAll(input, x => x > 0 ? 1f : 0f);
        value = new LovaszHingeLoss(mode: SegmentationMode.Multilabel).ForwardBackward(hinge, target, gradient, shape);
        Assert.That(float.IsFinite(value) && gradient.All(float.IsFinite), Is.True, "±1e4 hinge");
        Assert.That(value, Is.EqualTo(ReferenceLovasz.Hinge(hinge, target, 2, 3, 15, false, null).Loss).Within(1e-6));

        // An empty mask (no foreground): the largest error's relu; a full mask; every element ignored: 0 and a zero gradient.
        (float[] logits, _) = HingeProblem(16, 42);
        foreach (float fill in new[] { 0f, 1f })
        {
            float[] mask = Enumerable.Repeat(fill, 16).ToArray();
            gradient = new float[16];
            value = new LovaszHingeLoss().ForwardBackward(logits, mask, gradient, new SegmentationShape(1, 1, 16));
            (expected, expectedGradient) = ReferenceLovasz.Hinge(logits, mask, 1, 1, 16, false, null);
            Assert.That(value, Is.EqualTo(expected).Within(1e-5), $"mask of {fill}");
            Numerics.AssertClose($"mask of {fill}", gradient, expectedGradient, 1e-5, 1e-6);
        }

        gradient = Enumerable.Repeat(5f, 16).ToArray();
        Assert.That(new LovaszHingeLoss(ignoreIndex: 7).ForwardBackward(logits, Enumerable.Repeat(7f, 16).ToArray(), gradient, new SegmentationShape(1, 1, 16)), Is.Zero);
        Assert.That(gradient, Is.All.Zero);
        gradient = Enumerable.Repeat(5f, input.Length).ToArray();
        Assert.That(new LovaszSoftmaxLoss(ignoreIndex: 7).ForwardBackward(input, Enumerable.Repeat(7L, labels.Length).ToArray(), gradient, shape), Is.Zero);
        Assert.That(gradient, Is.All.Zero);
        Assert.That(new LovaszSoftmaxLoss(perImage: true).ForwardBackward([], Array.Empty<long>(), [], new SegmentationShape(0, 3, 15)), Is.Zero);
        Assert.That(new LovaszHingeLoss().ForwardBackward([], Array.Empty<float>(), [], new SegmentationShape(0, 1, 15)), Is.Zero);
    }

    [Test]
    public void SameBitsForAnyThreadCountAndInPlace()
    {
        (float[] input, long[] labels) = SoftmaxProblem(2, 4, 40_000, 51);
        (float[] logits, float[] target) = HingeProblem(3 * 100_000, 52);
        var shape = new SegmentationShape(2, 4, 40_000);
        // One sort of 300,000 elements: in chunks across the threads.
        var hingeShape = new SegmentationShape(3, 1, 100_000);
        var results = new List<(float Softmax, float[] SoftmaxGradient, float Hinge, float[] HingeGradient)>();
        foreach (int threads in new[] { 1, 2, 4 })
        {
            LossKernelsSettings.MaxThreads = threads;
            float[] softmaxGradient = new float[input.Length], hingeGradient = new float[logits.Length];
            float softmax = new LovaszSoftmaxLoss(perImage: true).ForwardBackward(input, labels, softmaxGradient, shape);
            float hinge = new LovaszHingeLoss().ForwardBackward(logits, target, hingeGradient, hingeShape);
            results.Add((softmax, softmaxGradient, hinge, hingeGradient));
        }

        foreach (var result in results.Skip(1))
        {
            Assert.That(BitConverter.SingleToInt32Bits(result.Softmax), Is.EqualTo(BitConverter.SingleToInt32Bits(results[0].Softmax)));
            Assert.That(BitConverter.SingleToInt32Bits(result.Hinge), Is.EqualTo(BitConverter.SingleToInt32Bits(results[0].Hinge)));
            Assert.That(Numerics.BitEqual(result.SoftmaxGradient, results[0].SoftmaxGradient), Is.True, "softmax gradient bits differ across thread counts");
            Assert.That(Numerics.BitEqual(result.HingeGradient, results[0].HingeGradient), Is.True, "hinge gradient bits differ across thread counts");
        }

        float[] inPlace = (float[])input.Clone();
        Assert.That(new LovaszSoftmaxLoss(perImage: true).ForwardBackward(inPlace, labels, inPlace, shape), Is.EqualTo(results[0].Softmax));
        Assert.That(Numerics.BitEqual(inPlace, results[0].SoftmaxGradient), Is.True, "softmax in place");
        inPlace = (float[])logits.Clone();
        Assert.That(new LovaszHingeLoss().ForwardBackward(inPlace, target, inPlace, hingeShape), Is.EqualTo(results[0].Hinge));
        Assert.That(Numerics.BitEqual(inPlace, results[0].HingeGradient), Is.True, "hinge in place");
    }

    [Test]
    public void AllocatesNothingAfterWarmUp()
    {
        (float[] input, long[] labels) = SoftmaxProblem(2, 4, 70_000, 61);
        (float[] logits, float[] target) = HingeProblem(2 * 70_000, 62);
        (float[] bigLogits, float[] bigTarget) = HingeProblem(300_000, 63);
        float[] gradient = new float[input.Length], hingeGradient = new float[logits.Length], bigGradient = new float[bigLogits.Length];
        var shape = new SegmentationShape(2, 4, 70_000);
        DeterminismAndAllocationTests.AssertNoAllocation("lovasz", () =>
        {
            new LovaszSoftmaxLoss().ForwardBackward(input, labels, gradient, shape);
            new LovaszSoftmaxLoss(fromLogits: false, perImage: true).Forward(input, labels, shape);
            new LovaszHingeLoss(perImage: true).ForwardBackward(logits, target, hingeGradient, new SegmentationShape(2, 1, 70_000));
            new LovaszHingeLoss().ForwardBackward(bigLogits, bigTarget, bigGradient, new SegmentationShape(1, 1, bigLogits.Length));
        });
    }

    [Test]
    public void BadArgumentsThrowBeforeAnythingIsWritten()
    {
        var shape = new SegmentationShape(2, 3, 4);
        float[] input = new float[24], gradient = new float[24], dense = new float[24];
        long[] labels = new long[8];
        float[] shifted = new float[25];
        var softmax = new LovaszSoftmaxLoss();
        var multilabel = new LovaszHingeLoss(mode: SegmentationMode.Multilabel);
        void Untouched(string name) => Assert.That(gradient, Is.All.EqualTo(7f), name);
        Array.Fill(gradient, 7f);
        float[] half = new float[24];
        half[5] = 0.5f;
        OpenCL.OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("input length", () => softmax.ForwardBackward(input.AsSpan(1), labels, gradient, shape), typeof(ArgumentException), "input"),
            ("target length", () => softmax.ForwardBackward(input, labels.AsSpan(1), gradient, shape), typeof(ArgumentException), "target"),
            ("hinge target length", () => multilabel.ForwardBackward(input, dense.AsSpan(1), gradient, shape), typeof(ArgumentException), "target"),
            ("hinge binary with C = 3", () => new LovaszHingeLoss().ForwardBackward(input, dense, gradient, shape), typeof(ArgumentOutOfRangeException), "shape"),
            ("hinge in the multiclass mode", () => new LovaszHingeLoss(mode: SegmentationMode.Multiclass).ForwardBackward(input, dense, gradient, shape), typeof(ArgumentException), "Mode"),
            ("default hinge struct", () => default(LovaszHingeLoss).ForwardBackward(input, dense, gradient, shape), typeof(ArgumentException), "Mode"),
            ("hinge target 0.5", () => multilabel.ForwardBackward(input, half, gradient, shape), typeof(ArgumentOutOfRangeException), "target"),
            ("gradient too short", () => softmax.ForwardBackward(input, labels, gradient.AsSpan(1), shape), typeof(ArgumentException), "inputGrad"),
            ("gradient shifted over input", () => softmax.ForwardBackward(shifted.AsSpan(0, 24), labels, shifted.AsSpan(1, 24), shape), typeof(ArgumentException), "inputGrad"),
            ("gradient over the hinge target", () => multilabel.ForwardBackward(input, gradient, gradient, shape), typeof(ArgumentException), "inputGrad"),
            ("class index out of range", () => softmax.ForwardBackward(input, [0, 1, 2, 3, 0, 0, 0, 0], gradient, shape), typeof(ArgumentOutOfRangeException), "target"),
            ("negative class index", () => softmax.ForwardBackward(input, [0, 1, 2, -1, 0, 0, 0, 0], gradient, shape), typeof(ArgumentOutOfRangeException), "target"),
            ("classes 0", () => softmax.ForwardBackward(input, labels, gradient, new SegmentationShape(2, 0, 4)), typeof(ArgumentOutOfRangeException), "shape"),
            ("spatial 0", () => softmax.ForwardBackward(input, labels, gradient, new SegmentationShape(2, 3, 0)), typeof(ArgumentOutOfRangeException), "shape"),
            ("batch negative", () => softmax.ForwardBackward(input, labels, gradient, new SegmentationShape(-1, 3, 4)), typeof(ArgumentOutOfRangeException), "shape"),
        ], Untouched);
        Assert.That(() => new LovaszHingeLoss().Forward([], Array.Empty<float>(), new SegmentationShape(1, 1, (1 << 30) + 1)),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("shape"), "a group over 2^30 elements");
    }
}

/// <summary>The Lovász cases the device tests run: a loss, its options and a problem, checked against <see cref="ReferenceLovasz"/>.</summary>
public static class LovaszDeviceCases
{
    /// <summary>Every option of both losses at the given shapes, quantized (ties) on odd seeds.</summary>
    public static IEnumerable<(string What, LovaszSoftmaxLoss? Softmax, LovaszHingeLoss? Hinge, float[] Input, long[]? Labels, float[]? Target, SegmentationShape Shape,
        double Loss, double[] Gradient)> Cases((int N, int C, int S)[] shapes)
    {
        int seed = 1;
        foreach ((int n, int c, int s) in shapes)
        {
            foreach ((bool fromLogits, bool perImage, long? ignore) in new[] { (true, false, (long?)null), (true, true, 2L), (false, false, 2L), (false, true, null) })
            {
                bool quantized = seed % 2 == 1;
                (float[] input, long[] labels) = LovaszTests.SoftmaxProblem(n, c, s, seed++, fromLogits, ignore, quantized);
                (double loss, double[] gradient) = ReferenceLovasz.Softmax(input, labels, n, c, s, fromLogits, perImage, ignore, 0.8);
                yield return ($"softmax [{n},{c},{s}] logits={fromLogits} per_image={perImage} ignore={ignore} quantized={quantized}",
                    new LovaszSoftmaxLoss(fromLogits, perImage, ignore), null, input, labels, null, new SegmentationShape(n, c, s), loss, gradient);
            }

            foreach ((bool perImage, long? ignore) in new[] { (false, (long?)null), (true, -1L) })
            {
                bool quantized = seed % 2 == 1;
                (float[] input, float[] target) = LovaszTests.HingeProblem(n * c * s, seed++, ignore, quantized);
                (double loss, double[] gradient) = ReferenceLovasz.Hinge(input, target, n, c, s, perImage, ignore, 0.8);
                yield return ($"hinge [{n},{c},{s}] per_image={perImage} ignore={ignore} quantized={quantized}",
                    null, new LovaszHingeLoss(perImage, ignore, c == 1 ? SegmentationMode.Binary : SegmentationMode.Multilabel), input, null, target, new SegmentationShape(n, c, s),
                    loss, gradient);
            }
        }
    }
}
