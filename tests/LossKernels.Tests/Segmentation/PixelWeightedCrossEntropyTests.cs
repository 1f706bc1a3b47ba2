using LossKernels.Classification;
using LossKernels.Segmentation;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Segmentation;

/// <summary>
/// U-Net's pixel-weighted cross entropy against the float64 cross-entropy reference with each position's loss weighted (its
/// gradient is the reference's with the weight as the row's upstream): rows 0…257, [N, C, d…] through a transposition to
/// rows, ignore_index, class weights, avg_factor, all reductions; ones equal plain cross entropy bit for bit; bad arguments.
/// </summary>
[TestFixture]
public class PixelWeightedCrossEntropyTests
{
    private static (double Loss, double[] PerRow, double[] Gradient) Reference(float[] logits, long[] target, float[] pixelWeight, float[]? classWeight,
        long ignoreIndex, string reduction, double upstream, float? avgFactor) =>
        ReferenceSegmentationLosses.PixelWeighted(logits, target, pixelWeight, classWeight, ignoreIndex, 1, reduction, upstream, avgFactor);

    private static (float[] Logits, long[] Target, float[] Weight) Sample(int rows, int classes, int seed, long ignore = -100)
    {
        var random = new Random(seed);
        float[] logits = Enumerable.Range(0, rows * classes).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        long[] target = Enumerable.Range(0, rows).Select(_ => random.NextDouble() < 0.2 ? ignore : random.Next(classes)).Select(v => (long)v).ToArray();
        float[] weight = Enumerable.Range(0, rows).Select(_ => (float)(random.NextDouble() * 3)).ToArray();
        return (logits, target, weight);
    }

    [Test]
    public void RowsMatchTheWeightedReference()
    {
        var loss = new PixelWeightedCrossEntropyLoss();
        foreach (int rows in Enumerable.Range(0, 20).Concat([31, 63, 64, 65, 127, 128, 129, 255, 257, 1031]))
        {
            (float[] logits, long[] target, float[] weight) = Sample(rows, 5 + rows % 4, rows);
            int classes = rows == 0 ? 5 : logits.Length / rows;
            float[] classWeight = Enumerable.Range(0, classes).Select(c => 0.5f + c * 0.25f).ToArray();
            var gradient = new float[logits.Length];
            foreach ((string reduction, float? avgFactor, float[]? cw) in new[] { ("mean", (float?)null, (float[]?)null), ("sum", null, null), ("mean", 9.5f, null), ("mean", null, classWeight) })
            {
                (double expected, _, double[] expectedGrad) = Reference(logits, target, weight, cw, -100, reduction, 0.7, avgFactor);
                Reduction r = reduction == "sum" ? Reduction.Sum : Reduction.Mean;
                float got = loss.ForwardBackward(logits, target, weight, gradient, r, cw, 0.7f, avgFactor: avgFactor);
                string what = $"{rows} rows {reduction} avg {avgFactor} class weights {cw is not null}";
                if (double.IsNaN(expected))
                    Assert.That(got, Is.NaN, what);
                else
                    Numerics.AssertClose(what, got, expected, 1e-5, 1e-6);
                Numerics.AssertClose(what + " gradient", gradient, expectedGrad, 1e-5, 1e-6);
                float forward = loss.Forward(logits, target, weight, r, cw, avgFactor: avgFactor);
                if (float.IsNaN(got))
                    Assert.That(forward, Is.NaN, what + " forward");
                else
                    Assert.That(forward, Is.EqualTo(got).Within(Math.Abs(got) * 1e-6 + 1e-7), what + " forward");
            }

            var output = new float[rows];
            (_, double[] perRow, double[] unreducedGrad) = Reference(logits, target, weight, null, -100, "sum", 1, null);
            loss.ForwardBackward(logits, target, weight, output, gradient);
            Numerics.AssertClose($"{rows} rows none", output, perRow, 1e-5, 1e-6);
            Numerics.AssertClose($"{rows} rows none gradient", gradient, unreducedGrad, 1e-5, 1e-6);
        }
    }

    [Test]
    public void PositionsMatchTheRowsOfTheTransposedInput()
    {
        // [N, C, S] → rows [N·S, C]: the same losses per position.
        const int n = 2, c = 4, s = 301;
        (float[] rowsLogits, long[] target, float[] weight) = Sample(n * s, c, 5, ignore: 2);
        var logits = new float[rowsLogits.Length];
        for (int image = 0; image < n; image++)
            for (int k = 0; k < c; k++)
                for (int p = 0; p < s; p++)
                    logits[(image * c + k) * s + p] = rowsLogits[(image * s + p) * c + k];
        var loss = new PixelWeightedCrossEntropyLoss(ignoreIndex: 2);
        var gradient = new float[logits.Length];
        float got = loss.ForwardBackward(logits, target, weight, gradient, spatialSize: s);
        (double expected, _, double[] expectedGradient) = ReferenceSegmentationLosses.PixelWeighted(logits, target, weight, null, 2, s, "mean", 1, null);
        Numerics.AssertClose("loss", got, expected, 1e-5, 1e-6);
        Numerics.AssertClose("gradient", gradient, expectedGradient, 1e-5, 1e-6);
        var inPlace = (float[])logits.Clone();
        loss.ForwardBackward(inPlace, target, weight, inPlace, spatialSize: s);
        Assert.That(Numerics.BitEqual(inPlace, gradient), Is.True, "in place");
        int[] target32 = target.Select(t => (int)t).ToArray();
        Assert.That(loss.Forward(logits, target32, weight, spatialSize: s), Is.EqualTo(loss.Forward(logits, target, weight, spatialSize: s)), "int32 targets");
    }

    [Test]
    public void WeightsOfOneArePlainCrossEntropy()
    {
        (float[] logits, long[] target, _) = Sample(3 * 50, 6, 9);
        float[] ones = Enumerable.Repeat(1f, target.Length).ToArray();
        float[] weighted = new float[logits.Length], plain = new float[logits.Length];
        float a = new PixelWeightedCrossEntropyLoss().ForwardBackward(logits, target, ones, weighted, spatialSize: 50);
        float b = new CrossEntropyLoss().ForwardBackward(logits, target, plain, spatialSize: 50);
        Assert.That(a, Is.EqualTo(b));
        Assert.That(Numerics.BitEqual(weighted, plain), Is.True);
    }

    [Test]
    public void BadArgumentsThrowBeforeAnythingIsWritten()
    {
        (float[] logits, long[] target, float[] weight) = Sample(8, 3, 1);
        var gradient = new float[logits.Length];
        Array.Fill(gradient, 7f);
        var loss = new PixelWeightedCrossEntropyLoss();
        long[] bad = (long[])target.Clone();
        bad[5] = 3;
        OpenCL.OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("weight length", () => loss.ForwardBackward(logits, target, weight.AsSpan(1), gradient), typeof(ArgumentException), "pixelWeight"),
            ("weight is the gradient", () => loss.ForwardBackward(logits, target, gradient.AsSpan(0, 8), gradient), typeof(ArgumentException), "logitsGrad"),
            ("avg_factor negative", () => loss.ForwardBackward(logits, target, weight, gradient, avgFactor: -1f), typeof(ArgumentOutOfRangeException), "avgFactor"),
            ("avg_factor with sum", () => loss.ForwardBackward(logits, target, weight, gradient, Reduction.Sum, avgFactor: 2f), typeof(ArgumentException), "avgFactor"),
            ("class out of range", () => loss.ForwardBackward(logits, bad, weight, gradient), typeof(ArgumentOutOfRangeException), "target"),
            ("class weights length", () => loss.ForwardBackward(logits, target, weight, gradient, weight: [1f]), typeof(ArgumentException), "weight"),
        ], name => Assert.That(gradient, Is.All.EqualTo(7f), name));
    }
}
