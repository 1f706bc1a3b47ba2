using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.ILGPU;
using LossKernels.Tests.Classification;
using LossKernels.Tests.Reference;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// The cross-entropy family, nll_loss, multi_margin_loss, GHM-C and the row utilities on the ILGPU accelerator: against PyTorch's composition in
/// float64 and the CPU kernels, in place, short rows (a thread per row) and long ones (a work-group per row), the device-side target checks.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ILGPUClassificationTests
{
    /// <summary>Short rows (a thread each) and rows of 64 classes or more (a work-group each), with an odd tail.</summary>
    private static readonly (int Rows, int Classes)[] Shapes = [(1, 1), (2, 3), (5, 7), (3, 17), (9, 63), (9, 64), (17, 257), (3, 1031), (2, 32000), (30, 81)];

    [TestCaseSource(typeof(CrossEntropyTests), nameof(CrossEntropyTests.DeviceOptions))]
    public void CrossEntropyShapesAndOptionsMatchTheReference(double smoothing, double z, bool weighted)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var loss = new CrossEntropyLoss(-100, (float)smoothing, (float)z);
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, long[] target) = CrossEntropyTests.Sample(rows, classes, seed: rows + classes, ignoreEvery: 3);
            float[]? weight = weighted ? Uniform(classes, 5, 0f, 2f) : null;
            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), g = accelerator.Allocate1D<float>(logits.Length), o = accelerator.Allocate1D<float>(rows);
            using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(target);
            using MemoryBuffer1D<float, Stride1D.Dense>? w = weight is null ? null : accelerator.Upload(weight);
            ArrayView<float> weights = w?.View ?? default;
            string what = $"{rows}x{classes} eps {smoothing} z {z} w {weighted}";
            foreach (string reduction in new[] { "mean", "sum" })
            {
                ReferenceResult expected = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z, reduction, [0.5]);
                Reduction r = reduction == "sum" ? Reduction.Sum : Reduction.Mean;
                float value = loss.ForwardBackward(x.View, t.View, g.View, r, weights, 0.5f);
                Numerics.AssertClose($"{what} {reduction} loss", [value], [expected.Loss[0]], 1e-5, 1e-6);
                Numerics.AssertClose($"{what} {reduction} gradient", g.GetAsArray1D(), expected.InputGradient, 1e-5, 1e-6);
                Numerics.AssertClose($"{what} {reduction} forward", [loss.Forward(x.View, t.View, r, weights)], [expected.Loss[0]], 1e-5, 1e-6);
            }

            float[] upstream = Uniform(rows, 9, -1f, 1f);
            using MemoryBuffer1D<float, Stride1D.Dense> u = accelerator.Upload(upstream);
            ReferenceResult none = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z, "none", Numerics.ToDouble(upstream));
            loss.ForwardBackward(x.View, t.View, o.View, g.View, u.View, weights);
            Numerics.AssertClose($"{what} none losses", o.GetAsArray1D(), none.Loss, 1e-5, 1e-5);
            Numerics.AssertClose($"{what} none gradient", g.GetAsArray1D(), none.InputGradient, 1e-5, 1e-6);

            float sum = loss.ForwardBackward(x.View, t.View, x.View, Reduction.Sum, weights);
            ReferenceResult inPlace = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z, "sum", null);
            Numerics.AssertClose($"{what} in place", x.GetAsArray1D(), inPlace.InputGradient, 1e-5, 1e-6);
            Numerics.AssertClose($"{what} in place loss", [sum], inPlace.Loss, 1e-5, 1e-6);
        }
    }

    [Test]
    public void SoftTargetsInPlaceMatchTheReference()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var loss = new CrossEntropyLoss(-100, 0.1f, 1e-4f);
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, _) = CrossEntropyTests.Sample(rows, classes, seed: 2, ignoreEvery: 0);
            float[] target = CrossEntropyTests.SoftTargets(rows, classes, seed: 3);
            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), t = accelerator.Upload(target);
            float value = loss.ForwardBackward(x.View, t.View, classes, x.View, Reduction.Mean, default, 0.5f);
            ReferenceResult expected = ReferenceCrossEntropy.ComputeSoft(Numerics.ToDouble(logits), Numerics.ToDouble(target), classes, null, 0.1, 1e-4, "mean", [0.5]);
            Numerics.AssertClose($"soft {rows}x{classes} loss", [value], expected.Loss, 1e-5, 1e-6);
            Numerics.AssertClose($"soft {rows}x{classes} gradient in place", x.GetAsArray1D(), expected.InputGradient, 1e-5, 1e-6);
        }
    }

    /// <summary>[N, C, d…] (a thread per position), in place, hard and soft targets: the CPU kernels' values.</summary>
    [Test]
    public void SpatialInputsInPlaceMatchTheCpu()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var loss = new CrossEntropyLoss(-100, 0.1f, 1e-4f);
        foreach ((int samples, int classes, int spatial) in new[] { (2, 5, 12), (1, 3, 1031), (3, 21, 37) })
        {
            (float[] logits, long[] target) = CrossEntropyTests.Sample(samples * spatial, classes, seed: 5, ignoreEvery: 4);
            float[] soft = CrossEntropyTests.SoftTargets(samples * spatial, classes, seed: 6);
            float[] weight = Uniform(classes, 7, 0.5f, 2f);
            float[] expected = new float[logits.Length], expectedSoft = new float[logits.Length];
            float value = loss.ForwardBackward(logits, target, expected, Reduction.Mean, weight, 1f, spatial);
            float softValue = loss.ForwardBackward(logits, soft, classes, expectedSoft, Reduction.Sum, weight, 1f, spatial);
            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), y = accelerator.Upload(logits), p = accelerator.Upload(soft), w = accelerator.Upload(weight);
            using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(target);
            Assert.That(loss.ForwardBackward(x.View, t.View, x.View, Reduction.Mean, w.View, 1f, spatial), Is.EqualTo(value).Within(1e-5).Percent);
            Numerics.AssertClose($"{samples}x{classes}x{spatial} hard", x.GetAsArray1D(), Numerics.ToDouble(expected), 1e-5, 1e-6);
            Assert.That(loss.ForwardBackward(y.View, p.View, classes, y.View, Reduction.Sum, w.View, 1f, spatial), Is.EqualTo(softValue).Within(1e-5).Percent);
            Numerics.AssertClose($"{samples}x{classes}x{spatial} soft", y.GetAsArray1D(), Numerics.ToDouble(expectedSoft), 1e-5, 1e-6);
        }
    }

    [Test]
    public void OutOfRangeTargetsAreCaughtOnTheDeviceNamingTheFirstPositionWithNothingWritten()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] logits, _) = CrossEntropyTests.Sample(6, 4, seed: 1, ignoreEvery: 0);
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), g = accelerator.Upload(Enumerable.Repeat(7f, logits.Length).ToArray());
        using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload([0L, -100L, 3L, 4L, -5L, 9L]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss().ForwardBackward(x.View, t.View, g.View))!;
        Assert.That(e.ParamName, Is.EqualTo("target"));
        Assert.That(e.Message, Does.Contain("index 3 is 4"));
        Assert.That(g.GetAsArray1D().All(v => v == 7f), "nothing written before the throw");
        using MemoryBuffer1D<long, Stride1D.Dense> good = accelerator.Upload([0L, -100L, 3L, 2L, 1L, 0L]);
        Assert.That(float.IsFinite(new CrossEntropyLoss().ForwardBackward(x.View, good.View, g.View)), "the accelerator stays usable");
        Assert.Throws<ArgumentOutOfRangeException>(() => IlgpuClassTargets.Validate(t.View, 4));
        IlgpuClassTargets.Validate(good.View, 4);
        using MemoryBuffer1D<long, Stride1D.Dense> lowest = accelerator.Upload([0L, long.MinValue]);
        var margin = Assert.Throws<ArgumentOutOfRangeException>(() => new MultiMarginLoss().ForwardBackward(x.View.SubView(0, 8), lowest.View, g.View.SubView(0, 8)))!;
        Assert.That(margin.Message, Does.Contain("index 1"), "multi_margin_loss has no ignore index: every class outside [0, C) is caught");
    }

    [Test]
    public void AllTargetsIgnoredGiveNaNForTheMeanAndAZeroGradient()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(new float[12]), g = accelerator.Upload(Enumerable.Repeat(7f, 12).ToArray());
        using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload([-100L, -100L, -100L]);
        Assert.That(float.IsNaN(new CrossEntropyLoss().ForwardBackward(x.View, t.View, g.View)));
        Assert.That(g.GetAsArray1D().All(v => v == 0f));
    }

    [Test]
    public void SoftmaxFocalInPlaceMatchesTheReference([Values(0.5, 2.0)] double gamma)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var focal = new SoftmaxFocalLoss(0.25f, (float)gamma);
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, long[] target) = CrossEntropyTests.Sample(rows, classes, seed: 4, ignoreEvery: 3);
            float[] weight = Uniform(classes, 2, 0.5f, 2f);
            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), w = accelerator.Upload(weight);
            using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(target);
            float value = focal.ForwardBackward(x.View, t.View, x.View, Reduction.Mean, w.View, 0.5f);
            ReferenceResult expected = ReferenceCrossEntropy.ComputeSoftmaxFocal(Numerics.ToDouble(logits), target, Numerics.ToDouble(weight), -100, 0.25, gamma, "mean", [0.5]);
            Numerics.AssertClose($"{rows}x{classes} loss", [value], expected.Loss, 1e-5, 1e-6);
            Numerics.AssertClose($"{rows}x{classes} gradient in place", x.GetAsArray1D(), expected.InputGradient, 1e-5, 1e-6);
        }
    }

    [Test]
    public void DistributionFocalLabelsAreCheckedOnTheDevice()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] logits, _) = CrossEntropyTests.Sample(4, 5, seed: 1, ignoreEvery: 0);
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), g = accelerator.Allocate1D<float>(logits.Length);
        using MemoryBuffer1D<float, Stride1D.Dense> bad = accelerator.Upload([0.5f, 4f, 4.5f, 1f]), good = accelerator.Upload([0.5f, 4f, 3.25f, 0f]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DistributionFocalLoss().ForwardBackward(x.View, bad.View, g.View))!;
        Assert.That(e.Message, Does.Contain("position 2"));
        float expected = new DistributionFocalLoss().ForwardBackward(logits, [0.5f, 4f, 3.25f, 0f], new float[logits.Length]);
        Assert.That(new DistributionFocalLoss().ForwardBackward(x.View, good.View, g.View), Is.EqualTo(expected).Within(1e-5).Percent);
    }

    /// <summary>The row losses through the catalog (nll, multi-margin, DFL, focal, GHM-C with momentum carried across calls): the CPU kernels' values, every mode.</summary>
    [TestCase("nll_loss", 1031)]
    [TestCase("multi_margin_loss", 2000)]
    [TestCase("multi_margin_loss", 90)]
    [TestCase("distribution_focal_loss", 1700)]
    [TestCase("softmax_focal_loss", 4000)]
    [TestCase("cross_entropy", 40_000)]
    [TestCase("ghm_c", 5000)]
    public void RowLossesMatchTheCpuKernels(string loss, int length)
    {
        LossDefinition definition = LossCatalog.Get(loss);
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(length, seed: 3);
        foreach (string reduction in new[] { "none", "mean", "sum" })
        {
            var parameters = new LossParameters(new Dictionary<string, object?> { ["reduction"] = reduction });
            using BoundLoss cpu = definition.Bind(parameters, inputs);
            using BoundLoss gpu = definition.Bind(new LossParameters(new Dictionary<string, object?> { ["reduction"] = reduction }), inputs, device: IlgpuTestAccelerator.Device);
            foreach (LossMode mode in new[] { LossMode.Forward, LossMode.Fused, LossMode.Backward })
            {
                cpu.Run(mode);
                RunAndFetch(gpu, mode);
                if (mode != LossMode.Backward || reduction == "none")
                    Numerics.AssertClose($"{loss}/{reduction} {mode} loss", gpu.Loss, Numerics.ToDouble(cpu.Loss), 1e-5, 1e-6);
                if (mode != LossMode.Forward)
                    Numerics.AssertClose($"{loss}/{reduction} {mode} gradient", gpu.InputGradient, Numerics.ToDouble(cpu.InputGradient), 1e-5, 1e-6);
            }
        }
    }

    /// <summary>On the focal loss's sample (hard labels with a soft target in every third element): both kinds of bins, and the state across calls.</summary>
    [Test]
    public void GhmcMomentumStateMatchesTheCpuAcrossCalls()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var loss = new GhmcLoss(10, 0.75f);
        float[] cpuState = new float[10], gpuState = new float[10];
        for (int call = 0; call < 3; call++)
        {
            (float[] logits, float[] target) = Sample("sigmoid_focal_loss", 3001, seed: call);
            var expected = new float[logits.Length];
            float expectedLoss = loss.ForwardBackward(logits, target, expected, accumulatedCounts: cpuState);
            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), t = accelerator.Upload(target), g = accelerator.Allocate1D<float>(logits.Length);
            float got = loss.ForwardBackward(x.View, t.View, g.View, accumulatedCounts: gpuState);
            Assert.That(gpuState, Is.EqualTo(cpuState), $"call {call}: the moving average");
            Assert.That(got, Is.EqualTo(expectedLoss).Within(1e-5).Percent, $"call {call}: loss");
            Numerics.AssertClose($"call {call} gradient", g.GetAsArray1D(), Numerics.ToDouble(expected), 1e-5, 1e-7);
        }
    }

    [Test]
    public void SoftmaxLogSoftmaxAndOneHotMatchTheCpu([Values(1, 5, 64, 1031)] int classes)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        const int rows = 7;
        float[] input = Uniform(rows * classes, classes, -30f, 30f);
        input[0] = 1e4f;
        float[] upstream = Uniform(rows * classes, 2, -1f, 1f);
        foreach (bool logarithm in new[] { false, true })
        {
            float[] output = new float[input.Length], inputGrad = new float[input.Length];
            if (logarithm)
            {
                LogSoftmax.Forward(input, classes, output);
                LogSoftmax.Backward(output, upstream, classes, inputGrad);
            }
            else
            {
                Softmax.Forward(input, classes, output);
                Softmax.Backward(output, upstream, classes, inputGrad);
            }

            using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(input), u = accelerator.Upload(upstream);
            if (logarithm)
                IlgpuLogSoftmax.Forward(x.View, classes, x.View);
            else
                IlgpuSoftmax.Forward(x.View, classes, x.View);
            Numerics.AssertClose($"forward C={classes} log {logarithm} in place", x.GetAsArray1D(), Numerics.ToDouble(output), 1e-5, 1e-7);
            if (logarithm)
                IlgpuLogSoftmax.Backward(x.View, u.View, classes, u.View);
            else
                IlgpuSoftmax.Backward(x.View, u.View, classes, u.View);
            Numerics.AssertClose($"backward C={classes} log {logarithm} in place", u.GetAsArray1D(), Numerics.ToDouble(inputGrad), 1e-5, 1e-6);
        }

        long[] target = [.. Enumerable.Range(0, rows).Select(r => r % 3 == 2 ? -100L : r % classes)];
        var expected = new float[rows * classes];
        OneHot.Encode(target, classes, expected);
        using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(target);
        using MemoryBuffer1D<float, Stride1D.Dense> encoded = accelerator.Allocate1D<float>(rows * classes);
        IlgpuOneHot.Encode(t.View, classes, encoded.View);
        Assert.That(encoded.GetAsArray1D(), Is.EqualTo(expected));
    }

    /// <summary>Rows on the device are added in a fixed order: the same bits every run.</summary>
    [Test]
    public void RowLossRunsAreBitwiseIdentical()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] logits, long[] target) = CrossEntropyTests.Sample(300, 257, seed: 8, ignoreEvery: 5);
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(logits), g = accelerator.Allocate1D<float>(logits.Length);
        using MemoryBuffer1D<long, Stride1D.Dense> t = accelerator.Upload(target);
        var loss = new CrossEntropyLoss(-100, 0.1f, 0f);
        float first = loss.ForwardBackward(x.View, t.View, g.View);
        float[] firstGradient = g.GetAsArray1D();
        for (int run = 0; run < 3; run++)
        {
            Assert.That(BitConverter.SingleToInt32Bits(loss.ForwardBackward(x.View, t.View, g.View)), Is.EqualTo(BitConverter.SingleToInt32Bits(first)), $"run {run}");
            Assert.That(Numerics.BitEqual(g.GetAsArray1D(), firstGradient), $"run {run} gradient");
        }
    }
}
