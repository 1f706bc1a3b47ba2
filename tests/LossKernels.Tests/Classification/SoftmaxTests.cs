using LossKernels.Classification;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Classification;

/// <summary>Softmax, log-softmax (forward and backward) and one-hot against float64 row references: widths, narrow rows, in place, edge values.</summary>
[TestFixture]
public class SoftmaxTests
{
    private static readonly (int Rows, int Classes)[] Shapes = [(0, 3), (1, 1), (2, 2), (3, 3), (2, 4), (5, 7), (3, 16), (4, 17), (2, 33), (3, 257), (2, 32000), (700, 129)];

    [Test]
    public void ForwardAndBackwardMatchTheReference([Values] bool logarithm, [Values] bool inPlace)
    {
        foreach ((int rows, int classes) in Shapes)
        {
            float[] x = CatalogHarness.Uniform(rows * classes, classes, -20f, 20f);
            float[] g = CatalogHarness.Uniform(rows * classes, classes + 1, -1f, 1f);
            (double[] y, double[] dx) = Reference(x, g, classes, logarithm);
            float[] output = inPlace ? (float[])x.Clone() : new float[x.Length];
            if (logarithm)
                LogSoftmax.Forward(inPlace ? output : x, classes, output);
            else
                Softmax.Forward(inPlace ? output : x, classes, output);
            Numerics.AssertClose($"{(logarithm ? "log_softmax" : "softmax")} {rows}x{classes} forward", output, y, 1e-5, 1e-7);
            float[] gradient = inPlace ? (float[])g.Clone() : new float[x.Length];
            if (logarithm)
                LogSoftmax.Backward(output, inPlace ? gradient : g, classes, gradient);
            else
                Softmax.Backward(output, inPlace ? gradient : g, classes, gradient);
            Numerics.AssertClose($"{(logarithm ? "log_softmax" : "softmax")} {rows}x{classes} backward", gradient, dx, 1e-5, 1e-6);
        }
    }

    [Test]
    public void EdgeValuesStayFinite()
    {
        float[] row = [1e4f, -1e4f, 88.7f, -103.9f, 0f, 1e30f, -1e30f, 17f];
        float[] y = new float[row.Length], logY = new float[row.Length];
        Softmax.Forward(row, row.Length, y);
        LogSoftmax.Forward(row, row.Length, logY);
        (double[] expected, _) = Reference(row, new float[row.Length], row.Length, logarithm: false);
        (double[] expectedLog, _) = Reference(row, new float[row.Length], row.Length, logarithm: true);
        Numerics.AssertClose("softmax edges", y, expected, 1e-6, 1e-30);
        Assert.That(y.All(float.IsFinite) && logY.All(float.IsFinite));
        Numerics.AssertClose("log_softmax edges", logY, expectedLog, 1e-6, 1e-3);
    }

    [Test]
    public void OneHotWritesRowsAndIgnoredRowsAreZero()
    {
        float[] output = [.. Enumerable.Repeat(9f, 12)];
        OneHot.Encode([2L, -100L, 0L], 4, output);
        Assert.That(output, Is.EqualTo(new[] { 0f, 0f, 1f, 0f, 0f, 0f, 0f, 0f, 1f, 0f, 0f, 0f }));
        float[] untouched = [.. Enumerable.Repeat(9f, 12)];
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => OneHot.Encode([2L, 4L, 0L], 4, untouched))!.ParamName, Is.EqualTo("target"));
        Assert.That(untouched.All(v => v == 9f));
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Softmax.Forward(new float[6], 0, new float[6]))!.ParamName, Is.EqualTo("classes"));
        Assert.That(Assert.Throws<ArgumentException>(() => Softmax.Forward(new float[7], 3, new float[7]))!.ParamName, Is.EqualTo("input"));
        Assert.That(Assert.Throws<ArgumentException>(() => LogSoftmax.Forward(new float[6], 3, new float[5]))!.ParamName, Is.EqualTo("output"));
        Assert.That(Assert.Throws<ArgumentException>(() => Softmax.Backward(new float[6], new float[3], 3, new float[6]))!.ParamName, Is.EqualTo("outputGrad"));
        float[] buffer = new float[8];
        Assert.That(Assert.Throws<ArgumentException>(() => LogSoftmax.Forward(buffer.AsSpan(0, 6), 3, buffer.AsSpan(1, 6)))!.ParamName, Is.EqualTo("output"));
    }

    [Test]
    public void NoCallAllocates()
    {
        float[] x = CatalogHarness.Uniform(600 * 1000, 1, -5f, 5f), y = new float[x.Length], g = new float[x.Length];
        DeterminismAndAllocationTests.AssertNoAllocation("softmax", () =>
        {
            Softmax.Forward(x, 1000, y);
            Softmax.Backward(y, x, 1000, g);
            LogSoftmax.Forward(x, 1000, y);
            LogSoftmax.Backward(y, x, 1000, g);
        });
    }

    /// <summary>Softmax or log-softmax per row in double, and the backward of upstream g.</summary>
    internal static (double[] Output, double[] InputGrad) Reference(float[] x, float[] g, int classes, bool logarithm)
    {
        int rows = x.Length / classes;
        var y = new double[x.Length];
        var dx = new double[x.Length];
        double[] logits = Numerics.ToDouble(x);
        for (int r = 0; r < rows; r++)
        {
            double lse = ReferenceCrossEntropy.RowLse(logits, r, classes).Lse, dot = 0, gradSum = 0;
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(x[r * classes + c] - lse);
                y[r * classes + c] = logarithm ? x[r * classes + c] - lse : p;
                dot += g[r * classes + c] * p;
                gradSum += g[r * classes + c];
            }

            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(x[r * classes + c] - lse);
                dx[r * classes + c] = logarithm ? g[r * classes + c] - p * gradSum : p * (g[r * classes + c] - dot);
            }
        }

        return (y, dx);
    }
}
