using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.OpenCL;

/// <summary>
/// The topology-aware loss and the feature reconstruction loss over several layers on the OpenCL device, against the float64 references;
/// bad arguments.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenCLTopologyAwareTests
{
    [TestCaseSource(typeof(TopologyAwareTests), nameof(TopologyAwareTests.Losses))]
    public void MatchesTheReference(TopologyAwareLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((int images, int pixels, Reduction reduction) in (ValueTuple<int, int, Reduction>[])[(1, 1, Reduction.Mean), (3, 257, Reduction.Sum)])
        {
            TopologyAwareTests.Problem problem = TopologyAwareTests.Problem.Create(images, pixels, pixels + 5);
            DeviceBuffer<float>[] features = [.. problem.Features.Select(device.Upload)], targets = [.. problem.Targets.Select(device.Upload)],
                gradients = [.. problem.Features.Select(f => device.Allocate<float>(f.Length))];
            using DeviceBuffer<float> logits = device.Upload(problem.Logits), mask = device.Upload(problem.Mask), logitsGrad = device.Allocate<float>(problem.Logits.Length);
            try
            {
                FeatureDeviceLayer[] layers = [.. features.Select((f, l) => new FeatureDeviceLayer(f, targets[l], gradients[l], images, 1f + l))];
                TopologyAwareResult result = loss.ForwardBackward(logits, mask, logitsGrad, layers, reduction, 0.75f);
                TopologyAwareTests.AssertMatchesReference($"opencl N={images} {reduction}", loss, problem, reduction, result, logitsGrad.ToArray(),
                    [.. gradients.Select(g => g.ToArray())]);
                Numerics.AssertClose("forward", loss.Forward(logits, mask, layers, reduction).Loss, result.Loss, 1e-6, 1e-9);

                // The feature reconstruction loss over the same layers: the span overload's sum and per-layer values.
                var featureLoss = new FeatureReconstructionLoss();
                var deviceLosses = new float[layers.Length];
                var spanLosses = new float[layers.Length];
                float[][] spanGradients = problem.NewGradients();
                float onDevice = featureLoss.ForwardBackward(layers, reduction, 0.5f, deviceLosses);
                float onSpans = featureLoss.ForwardBackward(problem.Layers(spanGradients), reduction, 0.5f, spanLosses);
                Numerics.AssertClose("feature layers", onDevice, onSpans, 1e-6, 1e-9);
                Numerics.AssertClose("feature layer losses", deviceLosses, Array.ConvertAll(spanLosses, v => (double)v), 1e-6, 1e-9);
                for (int l = 0; l < layers.Length; l++)
                    Numerics.AssertClose($"feature layer {l} gradient", gradients[l].ToArray(), Array.ConvertAll(spanGradients[l], v => (double)v), 1e-6, 1e-9);
                Numerics.AssertClose("feature layers forward", featureLoss.Forward(layers, reduction), onDevice, 1e-6, 1e-9);
            }
            finally
            {
                foreach (DeviceBuffer<float> buffer in features.Concat(targets).Concat(gradients))
                    buffer.Dispose();
            }
        }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> logits = device.Upload(new float[12]), mask = device.Upload(new float[12]), logitsGrad = device.Allocate<float>(12),
            x = device.Upload(new float[24]), t = device.Upload(new float[24]), gradient = device.Allocate<float>(24), shortMask = device.Allocate<float>(11);
        var loss = new TopologyAwareLoss();
        var layer = new FeatureDeviceLayer(x, t, gradient, 2);
        logitsGrad.Upload(Enumerable.Repeat(7f, 12).ToArray());
        gradient.Upload(Enumerable.Repeat(7f, 24).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("mask length", () => loss.ForwardBackward(logits, shortMask, logitsGrad, [layer]), typeof(ArgumentException), "mask"),
            ("logits gradient is the mask", () => loss.ForwardBackward(logits, mask, mask, [layer]), typeof(ArgumentException), "logitsGrad"),
            ("logits gradient is a layer's", () => loss.ForwardBackward(logits, mask, gradient, [layer]), typeof(ArgumentException), "logitsGrad"),
            ("layer gradient is the logits", () => loss.ForwardBackward(logits, mask, logitsGrad, [layer with { InputGrad = logits }]), typeof(ArgumentException), "layers"),
            ("layer without a gradient", () => loss.ForwardBackward(logits, mask, logitsGrad, [layer with { InputGrad = null }]), typeof(ArgumentException), "layers"),
            ("reduction none", () => loss.ForwardBackward(logits, mask, logitsGrad, [layer], Reduction.None), typeof(ArgumentException), "reduction"),
            ("feature layers sharing a gradient", () => new FeatureReconstructionLoss().ForwardBackward([layer, layer with { Input = t, Target = x }]),
                typeof(ArgumentException), "layers"),
        ], name =>
        {
            Assert.That(logitsGrad.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written");
            Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written");
        });
    }
}
