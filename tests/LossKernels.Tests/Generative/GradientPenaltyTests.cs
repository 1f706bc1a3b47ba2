using LossKernels.Generative;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The gradient penalty on the CPU against WGAN-GP's and R1's formulas in float64: rows of 1..257 values and odd large ones, every
/// reduction; the reference against its own central differences; a zero row, unit norms, ±1e4, in place, thread counts, allocations and
/// bad arguments.
/// </summary>
[TestFixture]
public class GradientPenaltyTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> Losses()
    {
        yield return new TestCaseData(new GradientPenaltyLoss()).SetArgDisplayNames("wgan_gp 10");
        yield return new TestCaseData(new GradientPenaltyLoss(GradientPenaltyKind.WganGp, 2.5f)).SetArgDisplayNames("wgan_gp 2.5");
        yield return new TestCaseData(new GradientPenaltyLoss(GradientPenaltyKind.R1, 10f)).SetArgDisplayNames("r1 10");
        yield return new TestCaseData(new GradientPenaltyLoss(GradientPenaltyKind.R1, 0.2f)).SetArgDisplayNames("r1 0.2");
    }

    /// <summary>B rows of D values with norms between about 0.3 and 2 (both sides of WGAN-GP's 1), the second row zero when B &gt; 2.</summary>
    public static float[] Gradients(int batch, int dim, int seed)
    {
        var random = new Random(seed);
        float spread = 2f / MathF.Sqrt(dim);
        return Enumerable.Range(0, batch * dim)
            .Select(i => batch > 2 && i / dim == 1 ? 0f : (float)((2 * random.NextDouble() - 1) * spread * (0.5 + i / dim % 3 * 0.5))).ToArray();
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheReference(GradientPenaltyLoss loss)
    {
        foreach (int dim in Enumerable.Range(1, 257).Where(d => d < 20 || d % 29 == 0 || d == 257).Concat([1031, 196_608]))
        {
            int batch = dim > 1000 ? 3 : 1 + dim % 5;
            AssertMatches($"B={batch} D={dim}", loss, Gradients(batch, dim, dim), batch);
        }
    }

    internal static void AssertMatches(string what, GradientPenaltyLoss loss, float[] g, int batch, double rtol = 1e-5)
    {
        float[] upstream = Enumerable.Range(0, batch).Select(b => 0.5f + b).ToArray();
        (double[] values, double[] perRow) = ReferenceGradientPenalty.Evaluate(loss, g, batch, b => upstream[b]);
        (_, double[] mean) = ReferenceGradientPenalty.Evaluate(loss, g, batch, _ => 1.5 / batch);
        double largest = Math.Max(1, values.Max(Math.Abs));
        double gradientAtol = 1e-6 * Math.Max(1, g.Max(Math.Abs)) * loss.GpWeight;
        var output = new float[batch];
        var gradient = new float[g.Length];
        loss.ForwardBackward(g, batch, output, gradient, upstream);
        Numerics.AssertClose($"{what}: values", output, values, rtol, 1e-6 * largest);
        Numerics.AssertClose($"{what}: gradient (none)", gradient, perRow, rtol, gradientAtol);
        float meanLoss = loss.ForwardBackward(g, batch, gradient, Reduction.Mean, 1.5f);
        Numerics.AssertClose($"{what}: mean", meanLoss, values.Average(), rtol, 1e-6 * largest);
        Numerics.AssertClose($"{what}: gradient (mean)", gradient, mean, rtol, gradientAtol);
        Assert.That(loss.Forward(g, batch), Is.EqualTo(meanLoss), $"{what}: forward");
        Numerics.AssertClose($"{what}: sum", loss.Forward(g, batch, Reduction.Sum), values.Sum(), rtol, 1e-6 * largest * batch);
        var alone = new float[batch];
        loss.Forward(g, batch, alone);
        Assert.That(alone, Is.EqualTo(output), $"{what}: forward unreduced");
        var backward = new float[g.Length];
        loss.Backward(g, batch, 1.5f, backward);
        Assert.That(backward, Is.EqualTo(gradient), $"{what}: backward");
    }

    /// <summary>The reference's gradient against its central differences (rows away from 0).</summary>
    [TestCaseSource(nameof(Losses))]
    public void TheGradientIsTheLossDerivative(GradientPenaltyLoss loss)
    {
        var random = new Random(3);
        const int batch = 3, dim = 7;
        float[] g = Enumerable.Range(0, batch * dim).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        (_, double[] expected) = ReferenceGradientPenalty.Evaluate(loss, g, batch, _ => 1d);
        for (int i = 0; i < g.Length; i++)
        {
            float[] plus = (float[])g.Clone(), minus = (float[])g.Clone();
            plus[i] += 1f / 4096;
            minus[i] -= 1f / 4096;
            double difference = (ReferenceGradientPenalty.Evaluate(loss, plus, batch, _ => 1d).Values.Sum()
                - ReferenceGradientPenalty.Evaluate(loss, minus, batch, _ => 1d).Values.Sum()) / (plus[i] - minus[i]);
            Assert.That(expected[i], Is.EqualTo(difference).Within(1e-3 + 1e-3 * Math.Abs(difference)), $"element {i}");
        }
    }

    [TestCaseSource(nameof(Losses))]
    public void EdgeCases(GradientPenaltyLoss loss)
    {
        // Zero rows: WGAN-GP's w with a zero gradient (its limit does not exist), R1's 0.
        AssertMatches("zero rows", loss, new float[3 * 40], 3);
        // A row of norm exactly 1: WGAN-GP's 0 and zero gradient.
        float[] unit = new float[2 * 9];
        unit[4] = 1f;
        unit[9 + 2] = -0.6f;
        unit[9 + 7] = 0.8f;
        AssertMatches("unit norms", loss, unit, 2);
        // ±1e4.
        AssertMatches("±1e4", loss, Gradients(3, 50, 7).Select(v => v * 1e4f).ToArray(), 3);
        // One value a row, and no rows (the mean of none is NaN).
        AssertMatches("rows of one", loss, [0.5f, -2f, 0f, 1f], 4);
        Assert.That(loss.Forward([], 0), Is.NaN);
        Assert.That(loss.ForwardBackward([], 0, [], Reduction.Sum), Is.Zero);
        // In place: the gradient overwrites the input.
        float[] g = Gradients(4, 300, 9), expected = new float[g.Length];
        float value = loss.ForwardBackward(g, 4, expected);
        Assert.That(loss.ForwardBackward(g, 4, g), Is.EqualTo(value));
        Assert.That(g, Is.EqualTo(expected));
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        float[] g = Gradients(16, 65_537, 5);
        foreach (GradientPenaltyLoss loss in Losses().Select(d => (GradientPenaltyLoss)d.Arguments[0]!))
        {
            AssertSameBits($"{loss.Kind}", () =>
            {
                var gradient = new float[g.Length];
                return (loss.ForwardBackward(g, 16, gradient), [gradient]);
            });
        }
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        float[] g = Gradients(8, 40_000, 6);
        var gradient = new float[g.Length];
        var output = new float[8];
        DeterminismAndAllocationTests.AssertNoAllocation("gradient penalty", () =>
        {
            new GradientPenaltyLoss().ForwardBackward(g, 8, gradient);
            new GradientPenaltyLoss(GradientPenaltyKind.R1).ForwardBackward(g, 8, output, gradient);
            new GradientPenaltyLoss().Forward(g, 8, Reduction.Sum);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] g = new float[24], gradient = new float[24], output = new float[4];
        var loss = new GradientPenaltyLoss();
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("kind 5", () => _ = new GradientPenaltyLoss((GradientPenaltyKind)5), typeof(ArgumentOutOfRangeException), "kind"),
            ("negative weight", () => _ = new GradientPenaltyLoss(GradientPenaltyKind.R1, -1f), typeof(ArgumentOutOfRangeException), "gpWeight"),
            ("NaN weight", () => _ = new GradientPenaltyLoss(GradientPenaltyKind.WganGp, float.NaN), typeof(ArgumentOutOfRangeException), "gpWeight"),
            ("negative batch", () => loss.ForwardBackward(g, -1, gradient), typeof(ArgumentOutOfRangeException), "batch"),
            ("batch not dividing", () => loss.ForwardBackward(g, 5, gradient), typeof(ArgumentException), "input"),
            ("batch 0 with values", () => loss.ForwardBackward(g, 0, gradient), typeof(ArgumentException), "input"),
            ("gradient short", () => loss.ForwardBackward(g, 4, gradient.AsSpan(0, 23)), typeof(ArgumentException), "inputGrad"),
            ("gradient shifted over the input", () => loss.ForwardBackward(gradient.AsSpan(0, 20), 4, gradient.AsSpan(1)), typeof(ArgumentException), "inputGrad"),
            ("reduction none", () => loss.ForwardBackward(g, 4, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("output short", () => loss.ForwardBackward(g, 4, output.AsSpan(0, 3), gradient), typeof(ArgumentException), "output"),
            ("upstream short", () => loss.ForwardBackward(g, 4, output, gradient, new float[3]), typeof(ArgumentException), "upstream"),
            ("output in the gradient", () => loss.ForwardBackward(g, 4, gradient.AsSpan(0, 4), gradient), typeof(ArgumentException), "inputGrad"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            Array.Fill(gradient, -7f);
            Array.Fill(output, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            Assert.That(gradient, Is.All.EqualTo(-7f), name);
            Assert.That(output, Is.All.EqualTo(-7f), name);
        }
    }
}
