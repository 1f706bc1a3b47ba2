using LossKernels.Classification;
using LossKernels.Tests.Core;

namespace LossKernels.Tests.Classification;

/// <summary>GHM-C against mmdetection's algorithm in float64: bins, weights, momentum state across calls, label weights, threads, allocation.</summary>
[TestFixture]
public class GhmcTests
{
    [Test]
    public void MatchesMmdetectionsAlgorithm([Values(1, 10, 30)] int bins, [Values(0.0, 0.75)] double momentum)
    {
        foreach (int length in new[] { 0, 1, 7, 64, 1031, 300_007 })
        {
            (float[] x, float[] t) = CatalogHarness.Sample("sigmoid_focal_loss", length, seed: length + bins);
            float[] labelWeight = [.. Enumerable.Range(0, length).Select(i => i % 7 == 3 ? 0f : 1f)];
            var loss = new GhmcLoss(bins, (float)momentum);
            float[] state = new float[bins];
            double[] referenceState = new double[bins];
            for (int call = 0; call < 3; call++)
            {
                (double value, double[] gradient) = Reference(x, t, labelWeight, bins, momentum, referenceState, 0.5);
                float[] got = new float[length];
                float result = loss.ForwardBackward(x, t, got, labelWeight: labelWeight, accumulatedCounts: state, reduction: Reduction.Mean, upstream: 0.5f);
                string what = $"bins {bins} momentum {momentum} n{length} call {call}";
                Numerics.AssertClose(what + " loss", [result], [value], 1e-5, 1e-7);
                Numerics.AssertClose(what + " gradient", got, gradient, 1e-5, 1e-7);
                Numerics.AssertClose(what + " state", state, referenceState, 1e-6, 1e-6);
            }
        }
    }

    [Test]
    public void ThreadCapsGiveBitwiseEqualResultsAndNothingIsAllocated()
    {
        int saved = LossKernelsSettings.MaxThreads;
        try
        {
            (float[] x, float[] t) = CatalogHarness.Sample("sigmoid_focal_loss", 1_000_003, seed: 3);
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 4, 8 })
            {
                LossKernelsSettings.MaxThreads = threads;
                float[] gradient = new float[x.Length];
                float value = new GhmcLoss().ForwardBackward(x, t, gradient);
                float[] results = [value, .. gradient];
                if (first is null)
                    first = results;
                else
                    Assert.That(Numerics.BitEqual(results, first), $"{threads} threads");
            }

            LossKernelsSettings.MaxThreads = 2;
            float[] state = new float[10], output = new float[x.Length], grad = new float[x.Length];
            var withMomentum = new GhmcLoss(10, 0.75f);
            DeterminismAndAllocationTests.AssertNoAllocation("ghm_c", () =>
            {
                withMomentum.ForwardBackward(x, t, grad, accumulatedCounts: state);
                withMomentum.Forward(x, t, accumulatedCounts: state, reduction: Reduction.Sum);
                withMomentum.ForwardBackward(x, t, output, grad, accumulatedCounts: state);
            });
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new GhmcLoss(0, 0f))!.ParamName, Is.EqualTo("Bins"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new GhmcLoss(10, 1f))!.ParamName, Is.EqualTo("Momentum"));
        float[] x = new float[4], g = new float[4];
        Assert.That(Assert.Throws<ArgumentException>(() => new GhmcLoss(10, 0.5f).ForwardBackward(x, x, g, accumulatedCounts: new float[3]))!.ParamName, Is.EqualTo("accumulatedCounts"));
        Assert.That(Assert.Throws<ArgumentException>(() => new GhmcLoss().ForwardBackward(x, new float[3], g))!.ParamName, Is.EqualTo("target"));
    }

    /// <summary>mmdetection's GHMC.forward in float64 (edges i/bins rounded to float, as PyTorch compares a float32 tensor); updates <paramref name="state"/>.</summary>
    internal static (double Loss, double[] Gradient) Reference(float[] x, float[] t, float[] labelWeight, int bins, double momentum, double[] state, double upstream)
    {
        int n = x.Length;
        var bin = new int[n];
        var counts = new long[bins];
        long valid = 0;
        for (int i = 0; i < n; i++)
        {
            double p = 1 / (1 + Math.Exp(-(double)x[i]));
            double g = Math.Abs(p - t[i]);
            bin[i] = -1;
            for (int b = bins - 1; b >= 0; b--)
            {
                if (g >= (float)((double)b / bins))
                {
                    bin[i] = b;
                    break;
                }
            }

            if (labelWeight[i] > 0 && bin[i] >= 0)
            {
                counts[bin[i]]++;
                valid++;
            }
        }

        double total = Math.Max(valid, 1);
        var weights = new double[bins];
        int nonEmpty = 0;
        for (int b = 0; b < bins; b++)
        {
            if (counts[b] == 0)
                continue;
            nonEmpty++;
            if (momentum > 0)
            {
                state[b] = momentum * state[b] + (1 - momentum) * counts[b];
                weights[b] = total / state[b];
            }
            else
            {
                weights[b] = total / counts[b];
            }
        }

        double sum = 0;
        var gradient = new double[n];
        double scale = upstream / (total + 1.1920928955078125e-07);
        for (int i = 0; i < n; i++)
        {
            if (labelWeight[i] <= 0 || bin[i] < 0)
                continue;
            double w = nonEmpty > 0 ? weights[bin[i]] / nonEmpty : 0;
            double xi = x[i], ti = t[i];
            double ce = Math.Max(xi, 0) - xi * ti + Math.Log(1 + Math.Exp(-Math.Abs(xi)));
            sum += w * labelWeight[i] * ce;
            gradient[i] = w * labelWeight[i] * (1 / (1 + Math.Exp(-xi)) - ti) * scale;
        }

        return (sum / (total + 1.1920928955078125e-07), gradient);
    }
}
