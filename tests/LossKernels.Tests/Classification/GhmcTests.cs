using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;
using LossKernels.ILGPU;
using LossKernels.OpenCL;
using LossKernels.Tests.Core;
using LossKernels.Tests.ILGPU;
using LossKernels.Tests.OpenCL;
using LossKernels.Tests.Reference;

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

    /// <summary>
    /// Every element is weighted by the bin it was counted in: with m non-empty bins each weighing v/(c_b·m), Σ β over the v valid
    /// elements is v. The gradient norms are packed within float rounding of every edge (t = 0 and 1, logits stepping by an ulp or so
    /// around σ⁻¹(b/10)), where a histogram and an element pass that computed g differently put elements in different bins; 1,000
    /// elements of bin 0 make the bins' counts, so their weights, differ. On the CPU and on the device.
    /// </summary>
    [Test]
    public void EveryElementIsWeightedByTheBinItWasCountedIn()
    {
        var logits = new List<float>();
        var targets = new List<float>();
        for (int b = 1; b < 10; b++)
        {
            float edge = MathF.Log(b / (10f - b));
            for (int k = -300; k <= 300; k++)
            {
                float logit = edge + k * 1.5e-7f;
                logits.AddRange([logit, -logit]);
                targets.AddRange([0f, 1f]);
            }
        }

        logits.AddRange(Enumerable.Repeat(-9f, 1000));
        targets.AddRange(Enumerable.Repeat(0f, 1000));
        float[] input = [.. logits], target = [.. targets];
        double[] crossEntropy = [.. input.Select((x, i) => Math.Max(x, 0) - x * target[i] + Math.Log(1 + Math.Exp(-Math.Abs((double)x))))];
        var output = new float[input.Length];
        var gradient = new float[input.Length];
        new GhmcLoss().ForwardBackward(input, target, output, gradient);
        double betaSum = output.Select((l, i) => l / crossEntropy[i]).Sum();
        Assert.That(betaSum, Is.EqualTo(input.Length).Within(1e-5 * input.Length), "CPU");

        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> x = device.Upload(input), t = device.Upload(target), g = device.Allocate<float>(input.Length);
        float sum = new GhmcLoss().ForwardBackward(x, t, g, reduction: Reduction.Sum);
        float[] deviceGradient = g.ToArray();
        double deviceBetaSum = 0;
        for (int i = 0; i < input.Length; i++)
        {
            double difference = 1 / (1 + Math.Exp(-(double)input[i])) - target[i];
            deviceBetaSum += deviceGradient[i] / difference;
        }

        Assert.That(deviceBetaSum, Is.EqualTo(input.Length).Within(1e-4 * input.Length), $"device (loss {sum})");
    }

    /// <summary>
    /// A hard label's bin is the exact sigmoid's: logits at each threshold τ_b (the least float whose σ reaches b/bins) and one float
    /// below it, with t = 0 and, negated, t = 1, against mmdetection's formula in float64 (whose σ is exact enough there: the nearest
    /// float lies at least 2.4e-11, relative, from every edge's logit for bins ≤ 64). Filler elements give bin b (b + 1)·3 members, so
    /// a misplaced element changes the weights it is compared by. Before the keys, float32's σ put some of these in the next bin
    /// (g within its rounding of the edge). The one float below τ = 0 (the edge ½) is left out: double rounds σ(−1.4e-45) up to ½.
    /// Both look-ups on the CPU (the register search to 16 bins, the compares past it), the device's two variants and ILGPU.
    /// </summary>
    [Test]
    public void HardLabelsAreBinnedByTheExactSigmoid([Values(2, 10, 16, 17, 64)] int bins)
    {
        var logits = new List<float>();
        var targets = new List<float>();
        for (int b = 1; b < bins; b++)
        {
            double edge = (float)b / bins;
            double logit = Math.Log(edge / (1 - edge));
            float threshold = (float)logit >= logit ? (float)logit : MathF.BitIncrement((float)logit);
            foreach (float x in threshold == 0f ? new[] { threshold } : new[] { threshold, MathF.BitDecrement(threshold) })
            {
                logits.AddRange([x, -x]);
                targets.AddRange([0f, 1f]);
            }
        }

        for (int b = 0; b < bins; b++)
        {
            double middle = (b + 0.5) / bins;
            logits.AddRange(Enumerable.Repeat((float)Math.Log(middle / (1 - middle)), 3 * (b + 1)));
            targets.AddRange(Enumerable.Repeat(0f, 3 * (b + 1)));
        }

        float[] input = [.. logits], target = [.. targets];
        var loss = new GhmcLoss(bins, 0f);
        ReferenceResult expected = ReferenceGhmc.Compute(Numerics.ToDouble(input), Numerics.ToDouble(target), null, bins, 0, null, "none", null);
        float[] output = new float[input.Length], gradient = new float[input.Length];
        loss.ForwardBackward(input, target, output, gradient);
        Numerics.AssertClose($"bins {bins} CPU losses", output, expected.Loss, 1e-5, 1e-7);
        Numerics.AssertClose($"bins {bins} CPU gradient", gradient, expected.InputGradient, 1e-5, 1e-7);

        foreach (OpenCLReductionVariant variant in new[] { OpenCLReductionVariant.WorkGroupTree, OpenCLReductionVariant.ChunkPerWorkItem })
        {
            OpenCLDevice device = OpenCLTestDevice.Get(variant);
            using DeviceBuffer<float> x = OpenCLTestDevice.Upload(device, input), t = OpenCLTestDevice.Upload(device, target);
            using DeviceBuffer<float> o = device.Allocate<float>(input.Length), g = device.Allocate<float>(input.Length);
            loss.ForwardBackward(x, t, o, g);
            Numerics.AssertClose($"bins {bins} {variant} losses", OpenCLTestDevice.ToArray(o), expected.Loss, 1e-5, 1e-7);
            Numerics.AssertClose($"bins {bins} {variant} gradient", OpenCLTestDevice.ToArray(g), expected.InputGradient, 1e-5, 1e-7);
        }

        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using MemoryBuffer1D<float, Stride1D.Dense> dx = accelerator.Upload(input), dt = accelerator.Upload(target);
        using MemoryBuffer1D<float, Stride1D.Dense> dout = accelerator.Allocate1D<float>(input.Length), dgrad = accelerator.Allocate1D<float>(input.Length);
        loss.ForwardBackward(dx.View, dt.View, dout.View, dgrad.View);
        Numerics.AssertClose($"bins {bins} ILGPU losses", dout.GetAsArray1D(), expected.Loss, 1e-5, 1e-7);
        Numerics.AssertClose($"bins {bins} ILGPU gradient", dgrad.GetAsArray1D(), expected.InputGradient, 1e-5, 1e-7);
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

    /// <summary>In both variants: a work-item per element with local counts (GPUs), a run of elements per work-item in float16 lanes (CPU devices).</summary>
    [Test]
    public void TheDeviceGivesTheReferenceValuesAndState([Values(0.0, 0.75)] double momentum,
        [Values(LossKernels.OpenCL.OpenCLReductionVariant.WorkGroupTree, LossKernels.OpenCL.OpenCLReductionVariant.ChunkPerWorkItem)] LossKernels.OpenCL.OpenCLReductionVariant variant)
    {
        var device = OpenCL.OpenCLTestDevice.Get(variant);
        foreach (int length in new[] { 0, 1, 7, 1031, 70_001 })
        {
            (float[] x, float[] t) = CatalogHarness.Sample("sigmoid_focal_loss", length, seed: length);
            float[] labelWeight = [.. Enumerable.Range(0, length).Select(i => i % 5 == 2 ? 0f : 1f)];
            float[] state = new float[10];
            double[] referenceState = new double[10];
            using var dx = OpenCL.OpenCLTestDevice.Upload(device, x);
            using var dt = OpenCL.OpenCLTestDevice.Upload(device, t);
            using var dw = OpenCL.OpenCLTestDevice.Upload(device, labelWeight);
            for (int call = 0; call < 2; call++)
            {
                (double value, double[] gradient) = Reference(x, t, labelWeight, 10, momentum, referenceState, 1.0);
                using var dg = device.Allocate<float>(length);
                float result = new GhmcLoss(10, (float)momentum).ForwardBackward(dx, dt, dg, Reduction.Mean, dw, state);
                Numerics.AssertClose($"n{length} call {call} loss", [result], [value], 1e-5, 1e-7);
                Numerics.AssertClose($"n{length} call {call} gradient", OpenCL.OpenCLTestDevice.ToArray(dg), gradient, 1e-5, 1e-7);
                Numerics.AssertClose($"n{length} call {call} state", state, referenceState, 1e-6, 1e-6);
            }
        }
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new GhmcLoss(0, 0f))!.ParamName, Is.EqualTo("bins"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new GhmcLoss(10, 1f))!.ParamName, Is.EqualTo("momentum"));
        float[] x = new float[4], g = new float[4];
        Assert.That(Assert.Throws<ArgumentException>(() => new GhmcLoss(10, 0.5f).ForwardBackward(x, x, g, accumulatedCounts: new float[3]))!.ParamName, Is.EqualTo("accumulatedCounts"));
        Assert.That(Assert.Throws<ArgumentException>(() => new GhmcLoss().ForwardBackward(x, new float[3], g))!.ParamName, Is.EqualTo("target"));
    }

    /// <summary>A call that throws leaves the caller's moving-average state as it was: the new state is committed only after the kernel's own checks pass.</summary>
    [Test]
    public void AThrowingCallLeavesTheStateUntouched()
    {
        var ghm = new GhmcLoss(10, 0.5f);
        float[] x = CatalogHarness.Uniform(8, 1, -3f, 3f), t = [0, 1, 0, 1, 1, 0, 0, 1];
        float[] state = [.. Enumerable.Range(0, 10).Select(b => 0.25f * b)];
        float[] before = (float[])state.Clone();
        Assert.That(Assert.Throws<ArgumentException>(() => ghm.ForwardBackward(x, t, new float[7], accumulatedCounts: state))!.ParamName, Is.EqualTo("logitsGrad"));
        Assert.That(Assert.Throws<ArgumentException>(() => ghm.ForwardBackward(x, t, new float[8], accumulatedCounts: state, reduction: Reduction.None))!.ParamName, Is.EqualTo("reduction"));
        Assert.That(Assert.Throws<ArgumentException>(() => ghm.Forward(x, t, accumulatedCounts: state, reduction: Reduction.None))!.ParamName, Is.EqualTo("reduction"));
        Assert.That(Assert.Throws<ArgumentException>(() => ghm.ForwardBackward(x, t, new float[7], new float[8], new float[8], accumulatedCounts: state))!.ParamName, Is.EqualTo("output"));
        Assert.That(state, Is.EqualTo(before), "state untouched");
        ghm.ForwardBackward(x, t, new float[8], accumulatedCounts: state);
        Assert.That(state, Is.Not.EqualTo(before), "a call that succeeds updates it");
    }

    private static (double Loss, double[] Gradient) Reference(float[] x, float[] t, float[] labelWeight, int bins, double momentum, double[] state, double upstream)
    {
        ReferenceResult result = ReferenceGhmc.Compute(Numerics.ToDouble(x), Numerics.ToDouble(t), Numerics.ToDouble(labelWeight), bins, momentum, state, "mean", [upstream]);
        return (result.Loss[0], result.InputGradient);
    }
}
