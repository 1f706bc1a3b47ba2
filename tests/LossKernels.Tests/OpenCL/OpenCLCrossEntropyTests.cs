using LossKernels.Classification;
using LossKernels.OpenCL;
using LossKernels.Tests.Classification;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.OpenCL;

/// <summary>Cross entropy on the OpenCL device against PyTorch's composition in float64, in place, and the device-side target check.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLCrossEntropyTests
{
    private static readonly (int Rows, int Classes)[] Shapes = [(1, 1), (2, 3), (5, 7), (3, 17), (7, 31), (9, 64), (17, 257), (3, 1031), (2, 32000), (300, 81), (37, 17), (40, 32), (33, 33)];

    [TestCaseSource(typeof(CrossEntropyTests), nameof(CrossEntropyTests.DeviceOptions))]
    public void ShapesAndOptionsMatchTheReference(double smoothing, double z, bool weighted)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        var loss = new CrossEntropyLoss(-100, (float)smoothing, (float)z);
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, long[] target) = CrossEntropyTests.Sample(rows, classes, seed: rows + classes, ignoreEvery: 3);
            float[]? weight = weighted ? Core.CatalogHarness.Uniform(classes, 5, 0f, 2f) : null;
            using DeviceBuffer<float> x = device.Upload(logits), g = device.Allocate<float>(logits.Length), o = device.Allocate<float>(rows);
            using DeviceBuffer<long> t = device.Upload(target);
            using DeviceBuffer<float>? w = weight is null ? null : device.Upload(weight);
            string what = $"{rows}x{classes} eps {smoothing} z {z} w {weighted}";
            foreach (string reduction in new[] { "mean", "sum" })
            {
                ReferenceResult expected = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z, reduction, [0.5]);
                Reduction r = reduction == "sum" ? Reduction.Sum : Reduction.Mean;
                float value = loss.ForwardBackward(x, t, g, r, w, 0.5f);
                Numerics.AssertClose($"{what} {reduction} loss", [value], [expected.Loss[0]], 1e-5, 1e-6);
                Numerics.AssertClose($"{what} {reduction} gradient", g.ToArray(), expected.InputGradient, 1e-5, 1e-6);
                Numerics.AssertClose($"{what} {reduction} forward", [loss.Forward(x, t, r, w)], [expected.Loss[0]], 1e-5, 1e-6);
            }

            float[] upstream = Core.CatalogHarness.Uniform(rows, 9, -1f, 1f);
            using DeviceBuffer<float> u = device.Upload(upstream);
            ReferenceResult none = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z, "none", Numerics.ToDouble(upstream));
            loss.ForwardBackward(x, t, o, g, u, w);
            Numerics.AssertClose($"{what} none losses", o.ToArray(), none.Loss, 1e-5, 1e-5);
            Numerics.AssertClose($"{what} none gradient", g.ToArray(), none.InputGradient, 1e-5, 1e-6);

            float sum = loss.ForwardBackward(x, t, x, Reduction.Sum, w);
            ReferenceResult inPlace = ReferenceCrossEntropy.Compute(Numerics.ToDouble(logits), target, weight is null ? null : Numerics.ToDouble(weight), -100, smoothing, z, "sum", null);
            Numerics.AssertClose($"{what} in place", x.ToArray(), inPlace.InputGradient, 1e-5, 1e-6);
            Numerics.AssertClose($"{what} in place loss", [sum], inPlace.Loss, 1e-5, 1e-6);
        }
    }

    [Test]
    public void SoftTargetsInPlaceMatchTheReference()
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        var loss = new CrossEntropyLoss(-100, 0.1f, 1e-4f);
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, _) = CrossEntropyTests.Sample(rows, classes, seed: 2, ignoreEvery: 0);
            float[] target = CrossEntropyTests.SoftTargets(rows, classes, seed: 3);
            using DeviceBuffer<float> x = device.Upload(logits), t = device.Upload(target);
            float value = loss.ForwardBackward(x, t, classes, x, Reduction.Mean, null, 0.5f);
            ReferenceResult expected = ReferenceCrossEntropy.ComputeSoft(Numerics.ToDouble(logits), Numerics.ToDouble(target), classes, null, 0.1, 1e-4, "mean", [0.5]);
            Numerics.AssertClose($"soft {rows}x{classes} loss", [value], expected.Loss, 1e-5, 1e-6);
            Numerics.AssertClose($"soft {rows}x{classes} gradient in place", x.ToArray(), expected.InputGradient, 1e-5, 1e-6);
        }
    }

    /// <summary>[N, C, d…] on the device (a work-item per position), in place, hard and soft targets: the CPU kernels' values.</summary>
    [Test]
    public void SpatialInputsInPlaceMatchTheCpu()
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        var loss = new CrossEntropyLoss(-100, 0.1f, 1e-4f);
        foreach ((int samples, int classes, int spatial) in new[] { (2, 5, 12), (1, 3, 1031), (3, 21, 37) })
        {
            (float[] logits, long[] target) = CrossEntropyTests.Sample(samples * spatial, classes, seed: 5, ignoreEvery: 4);
            float[] soft = CrossEntropyTests.SoftTargets(samples * spatial, classes, seed: 6);
            float[] weight = Core.CatalogHarness.Uniform(classes, 7, 0.5f, 2f);
            float[] expected = new float[logits.Length], expectedSoft = new float[logits.Length];
            float value = loss.ForwardBackward(logits, target, expected, Reduction.Mean, weight, 1f, spatial);
            float softValue = loss.ForwardBackward(logits, soft, classes, expectedSoft, Reduction.Sum, weight, 1f, spatial);
            using DeviceBuffer<float> x = device.Upload(logits), y = device.Upload(logits), p = device.Upload(soft), w = device.Upload(weight);
            using DeviceBuffer<long> t = device.Upload(target);
            Assert.That(loss.ForwardBackward(x, t, x, Reduction.Mean, w, 1f, spatial), Is.EqualTo(value).Within(1e-5).Percent);
            Numerics.AssertClose($"{samples}x{classes}x{spatial} hard", x.ToArray(), Numerics.ToDouble(expected), 1e-5, 1e-6);
            Assert.That(loss.ForwardBackward(y, p, classes, y, Reduction.Sum, w, 1f, spatial), Is.EqualTo(softValue).Within(1e-5).Percent);
            Numerics.AssertClose($"{samples}x{classes}x{spatial} soft", y.ToArray(), Numerics.ToDouble(expectedSoft), 1e-5, 1e-6);
        }
    }

    [Test]
    public void OutOfRangeTargetsAreCaughtOnTheDeviceNamingTheFirstPosition()
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        (float[] logits, _) = CrossEntropyTests.Sample(6, 4, seed: 1, ignoreEvery: 0);
        using DeviceBuffer<float> x = device.Upload(logits), g = device.Allocate<float>(logits.Length);
        using DeviceBuffer<long> t = device.Upload([0L, -100L, 3L, 4L, -5L, 9L]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss().ForwardBackward(x, t, g))!;
        Assert.That(e.ParamName, Is.EqualTo("target"));
        Assert.That(e.Message, Does.Contain("3").And.Contain("4"));
        using DeviceBuffer<long> good = device.Upload([0L, -100L, 3L, 2L, 1L, 0L]);
        Assert.That(float.IsFinite(new CrossEntropyLoss().ForwardBackward(x, good, g)), "the device stays usable");
    }

    /// <summary>
    /// Logits at ±1e4 on the target, beside it and everywhere, in short rows (sixteen to a work-item on CPU devices, the last
    /// work-item's partly filled) and long ones: each row's loss and gradient are the CPU kernel's, in place too.
    /// </summary>
    [Test]
    public void ExtremeLogitsMatchTheCpu([Values(0f, 0.1f)] float smoothing)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        var loss = new CrossEntropyLoss(-100, smoothing, 1e-4f);
        foreach ((int rows, int classes) in new[] { (37, 17), (21, 5), (5, 300) })
        {
            (float[] logits, long[] target) = CrossEntropyTests.Sample(rows, classes, seed: 11, ignoreEvery: 5);
            for (int r = 0; r < rows; r++)
            {
                int y = (int)Math.Max(target[r], 0);
                switch (r % 4)
                {
                    case 0: logits[r * classes + y] = 1e4f; break;
                    case 1: logits[r * classes + (y + 1) % classes] = 1e4f; break;
                    case 2: logits[r * classes + y] = -1e4f; break;
                    default: Array.Fill(logits, r % 8 == 3 ? 1e4f : -1e4f, r * classes, classes); break;
                }
            }

            float[] upstream = Core.CatalogHarness.Uniform(rows, 3, -1f, 1f);
            float[] expectedLosses = new float[rows], expectedGradient = new float[logits.Length];
            loss.ForwardBackward(logits, target, expectedLosses, expectedGradient, upstream);
            using DeviceBuffer<float> x = device.Upload(logits), o = device.Allocate<float>(rows), u = device.Upload(upstream);
            using DeviceBuffer<long> t = device.Upload(target);
            loss.ForwardBackward(x, t, o, x, u);
            Numerics.AssertClose($"{rows}x{classes} losses", o.ToArray(), Numerics.ToDouble(expectedLosses), 1e-5, 1e-6);
            Numerics.AssertClose($"{rows}x{classes} gradient in place", x.ToArray(), Numerics.ToDouble(expectedGradient), 1e-5, 1e-6);
        }
    }

    /// <summary>Distribution focal loss over many rows (the last sixteen partly filled on CPU devices) with row weights and upstream: the CPU kernel's values, in place too.</summary>
    [Test]
    public void DistributionFocalRowsMatchTheCpu()
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        var loss = new DistributionFocalLoss();
        foreach ((int rows, int classes) in new[] { (37, 17), (16, 8), (3, 40) })
        {
            (float[] logits, _) = CrossEntropyTests.Sample(rows, classes, seed: 12, ignoreEvery: 0);
            float[] label = Core.CatalogHarness.Uniform(rows, 13, 0f, classes - 1);
            label[0] = 0f;
            label[rows - 1] = classes - 1;
            float[] weight = Core.CatalogHarness.Uniform(rows, 14, 0f, 2f), upstream = Core.CatalogHarness.Uniform(rows, 15, -1f, 1f);
            float[] expectedLosses = new float[rows], expectedGradient = new float[logits.Length];
            loss.ForwardBackward(logits, label, expectedLosses, expectedGradient, upstream, weight);
            float expectedMean = loss.ForwardBackward(logits, label, new float[logits.Length], Reduction.Mean, weight);
            using DeviceBuffer<float> x = device.Upload(logits), l = device.Upload(label), w = device.Upload(weight), u = device.Upload(upstream),
                o = device.Allocate<float>(rows), g = device.Allocate<float>(logits.Length);
            Assert.That(loss.ForwardBackward(x, l, g, Reduction.Mean, w), Is.EqualTo(expectedMean).Within(1e-4).Percent, $"{rows}x{classes} mean");
            loss.ForwardBackward(x, l, o, x, u, w);
            Numerics.AssertClose($"{rows}x{classes} losses", o.ToArray(), Numerics.ToDouble(expectedLosses), 1e-5, 1e-6);
            Numerics.AssertClose($"{rows}x{classes} gradient in place", x.ToArray(), Numerics.ToDouble(expectedGradient), 1e-5, 1e-6);
        }
    }

    [Test]
    public void DistributionFocalLabelsAreCheckedOnTheDevice()
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        (float[] logits, _) = CrossEntropyTests.Sample(4, 5, seed: 1, ignoreEvery: 0);
        using DeviceBuffer<float> x = device.Upload(logits), g = device.Allocate<float>(logits.Length);
        using DeviceBuffer<float> bad = device.Upload([0.5f, 4f, 4.5f, 1f]), good = device.Upload([0.5f, 4f, 3.25f, 0f]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DistributionFocalLoss().ForwardBackward(x, bad, g))!;
        Assert.That(e.Message, Does.Contain("position 2"));
        float expected = new DistributionFocalLoss().ForwardBackward(logits, [0.5f, 4f, 3.25f, 0f], new float[logits.Length]);
        Assert.That(new DistributionFocalLoss().ForwardBackward(x, good, g), Is.EqualTo(expected).Within(1e-5).Percent);
    }

    [Test]
    public void SoftmaxFocalLossInPlaceMatchesTheReference([Values(0.5, 2.0)] double gamma)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        var focal = new SoftmaxFocalLoss(0.25f, (float)gamma);
        foreach ((int rows, int classes) in Shapes)
        {
            (float[] logits, long[] target) = CrossEntropyTests.Sample(rows, classes, seed: 4, ignoreEvery: 3);
            float[] weight = Core.CatalogHarness.Uniform(classes, 2, 0.5f, 2f);
            using DeviceBuffer<float> x = device.Upload(logits), w = device.Upload(weight);
            using DeviceBuffer<long> t = device.Upload(target);
            float value = focal.ForwardBackward(x, t, x, Reduction.Mean, w, 0.5f);
            ReferenceResult expected = ReferenceCrossEntropy.ComputeSoftmaxFocal(Numerics.ToDouble(logits), target, Numerics.ToDouble(weight), -100, 0.25, gamma, "mean", [0.5]);
            Numerics.AssertClose($"{rows}x{classes} loss", [value], expected.Loss, 1e-5, 1e-6);
            Numerics.AssertClose($"{rows}x{classes} gradient in place", x.ToArray(), expected.InputGradient, 1e-5, 1e-6);
        }
    }

    [Test]
    public void AllTargetsIgnoredGiveNaNForTheMean()
    {
        OpenCLDevice device = OpenCLTestDevice.Get(OpenCLReductionVariant.Auto);
        using DeviceBuffer<float> x = device.Upload(new float[12]), g = device.Allocate<float>(12);
        using DeviceBuffer<long> t = device.Upload([-100L, -100L, -100L]);
        Assert.That(float.IsNaN(new CrossEntropyLoss().ForwardBackward(x, t, g)));
        Assert.That(g.ToArray().All(v => v == 0f));
    }
}
