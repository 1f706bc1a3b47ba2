using LossKernels.Embedding;
using LossKernels.OpenCL;
using LossKernels.Tests.Embedding;

namespace LossKernels.Tests.OpenCL;

/// <summary>The discriminative loss on the OpenCL device: every option against the float64 reference, in place, empty masks, every bad argument.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLDiscriminativeTests
{
    private static readonly (int Images, int Channels, int Pixels, int Instances)[] Shapes =
        [(1, 1, 1, 1), (2, 3, 17, 3), (3, 16, 65, 6), (2, 5, 257, 8), (1, 2, 5000, 3)];

    [TestCaseSource(typeof(DiscriminativeTests), nameof(DiscriminativeTests.Options))]
    public void MatchesTheReference(DiscriminativeLoss loss, Reduction reduction)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        int seed = 40;
        foreach ((int images, int channels, int pixels, int instances) in Shapes)
        {
            (float[] x, long[] labels) = DiscriminativeTests.Problem(images, channels, pixels, instances, seed++);
            using DeviceBuffer<float> embeddings = device.Upload(x), gradient = device.Allocate<float>(x.Length);
            using DeviceBuffer<long> deviceLabels = device.Upload(labels);
            DiscriminativeTests.AssertMatchesReference($"opencl N={images} E={channels} S={pixels}", loss, x, labels, images, channels, reduction, 0.5f,
                () => (loss.ForwardBackward(embeddings, deviceLabels, images, channels, gradient, reduction, 0.5f), gradient.ToArray()),
                () => loss.Forward(embeddings, deviceLabels, images, channels, reduction));
        }
    }

    /// <summary>The gradient may overwrite the embeddings; the backward entry point gives the fused one's gradient; all pixels ignored give zeros.</summary>
    [Test]
    public void InPlaceBackwardAndEmptyMasks()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        var loss = new DiscriminativeLoss(0.3f, 1f);
        (float[] x, long[] labels) = DiscriminativeTests.Problem(2, 4, 40, 4, 3);
        var expected = new float[x.Length];
        DiscriminativeLossResult cpu = loss.ForwardBackward(x, labels, 2, 4, expected);
        using DeviceBuffer<float> embeddings = device.Upload(x), backward = device.Allocate<float>(x.Length);
        using DeviceBuffer<long> deviceLabels = device.Upload(labels);
        loss.Backward(embeddings, deviceLabels, 2, 4, 1f, backward);
        DiscriminativeLossResult result = loss.ForwardBackward(embeddings, deviceLabels, 2, 4, embeddings);
        Assert.That(result.Loss, Is.EqualTo(cpu.Loss).Within(1e-5 * Math.Abs(cpu.Loss)));
        Numerics.AssertClose("in place", embeddings.ToArray(), Numerics.ToDouble(expected), 1e-4, 1e-6);
        Numerics.AssertClose("backward", backward.ToArray(), Numerics.ToDouble(expected), 1e-4, 1e-6);

        using DeviceBuffer<long> background = device.Upload(new long[labels.Length]);
        using DeviceBuffer<float> filled = device.Upload(Enumerable.Repeat(5f, x.Length).ToArray());
        Assert.That(loss.ForwardBackward(filled, background, 2, 4, filled), Is.EqualTo(default(DiscriminativeLossResult)));
        Assert.That(filled.ToArray(), Is.All.Zero);
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> x = device.Upload(new float[12]), gradient = device.Allocate<float>(12), shortGradient = device.Allocate<float>(11);
        using DeviceBuffer<long> labels = device.Upload(new long[] { 0, 1, 0, 1 }), foreignLabels = other.Upload(new long[] { 0, 1, 0, 1 });
        using DeviceBuffer<float> foreign = other.Allocate<float>(12);
        var loss = new DiscriminativeLoss();
        gradient.Upload(Enumerable.Repeat(7f, 12).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("labels on another device", () => loss.ForwardBackward(x, foreignLabels, 2, 3, gradient), typeof(ArgumentException), "labels"),
            ("gradient on another device", () => loss.ForwardBackward(x, labels, 2, 3, foreign), typeof(ArgumentException), "gradient"),
            ("short gradient", () => loss.ForwardBackward(x, labels, 2, 3, shortGradient), typeof(ArgumentException), "gradient"),
            ("ragged images", () => loss.ForwardBackward(x, labels, 3, 3, gradient), typeof(ArgumentException), "labels"),
            ("wrong channels", () => loss.ForwardBackward(x, labels, 2, 2, gradient), typeof(ArgumentException), "embeddings"),
            ("reduction none", () => loss.ForwardBackward(x, labels, 2, 3, gradient, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
            ("missing gradient", () => loss.ForwardBackward(x, labels, 2, 3, null!), typeof(ArgumentNullException), "gradient"),
            ("missing labels", () => loss.ForwardBackward(x, null!, 2, 3, gradient), typeof(ArgumentNullException), "labels"),
        ], name => Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
