using ILGPU.Runtime;
using LossKernels.Embedding;
using LossKernels.ILGPU;
using LossKernels.Tests.Embedding;

namespace LossKernels.Tests.ILGPU;

/// <summary>The discriminative loss on the ILGPU accelerator (small images: the CPU accelerator is slow): every option against the float64 reference, in place, bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUDiscriminativeTests
{
    private static readonly (int Images, int Channels, int Pixels, int Instances)[] Shapes = [(1, 1, 1, 1), (2, 3, 17, 3), (3, 5, 64, 6), (1, 2, 2100, 2)];

    [TestCaseSource(typeof(DiscriminativeTests), nameof(DiscriminativeTests.Options))]
    public void MatchesTheReference(DiscriminativeLoss loss, Reduction reduction)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        int seed = 20;
        foreach ((int images, int channels, int pixels, int instances) in Shapes)
        {
            (float[] x, long[] labels) = DiscriminativeTests.Problem(images, channels, pixels, instances, seed++);
            using var embeddings = accelerator.Upload(x);
            using var gradient = accelerator.Allocate1D<float>(x.Length);
            using var deviceLabels = accelerator.Upload(labels);
            DiscriminativeTests.AssertMatchesReference($"ilgpu N={images} E={channels} S={pixels}", loss, x, labels, images, channels, reduction, 1.5f,
                () => (loss.ForwardBackward(embeddings.View, deviceLabels.View, images, channels, gradient.View, reduction, 1.5f), gradient.GetAsArray1D()),
                () => loss.Forward(embeddings.View, deviceLabels.View, images, channels, reduction));
        }
    }

    [Test]
    public void InPlaceBackwardAndEmptyMasks()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var loss = new DiscriminativeLoss(0.3f, 1f);
        (float[] x, long[] labels) = DiscriminativeTests.Problem(2, 4, 40, 4, 3);
        var expected = new float[x.Length];
        DiscriminativeLossResult cpu = loss.ForwardBackward(x, labels, 2, 4, expected, Reduction.Sum);
        using var embeddings = accelerator.Upload(x);
        using var backward = accelerator.Allocate1D<float>(x.Length);
        using var deviceLabels = accelerator.Upload(labels);
        loss.Backward(embeddings.View, deviceLabels.View, 2, 4, 1f, backward.View, Reduction.Sum);
        DiscriminativeLossResult result = loss.ForwardBackward(embeddings.View, deviceLabels.View, 2, 4, embeddings.View, Reduction.Sum);
        Assert.That(result.Loss, Is.EqualTo(cpu.Loss).Within(1e-5 * Math.Abs(cpu.Loss)));
        Numerics.AssertClose("in place", embeddings.GetAsArray1D(), Numerics.ToDouble(expected), 1e-4, 1e-6);
        Numerics.AssertClose("backward", backward.GetAsArray1D(), Numerics.ToDouble(expected), 1e-4, 1e-6);

        using var background = accelerator.Upload(new long[labels.Length]);
        using var zeros = accelerator.Upload(Enumerable.Repeat(5f, x.Length).ToArray());
        Assert.That(loss.ForwardBackward(zeros.View, background.View, 2, 4, zeros.View), Is.EqualTo(default(DiscriminativeLossResult)));
        Assert.That(zeros.GetAsArray1D(), Is.All.Zero);
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var x = accelerator.Allocate1D<float>(12);
        using var gradient = accelerator.Allocate1D<float>(12);
        using var labels = accelerator.Allocate1D<long>(4);
        var loss = new DiscriminativeLoss();
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent embeddings", () => loss.Forward(default, labels.View, 2, 3), typeof(ArgumentException), "embeddings"),
            ("absent gradient", () => loss.ForwardBackward(x.View, labels.View, 2, 3, default), typeof(ArgumentException), "gradient"),
            ("short labels", () => loss.Forward(x.View, labels.View.SubView(0, 3), 1, 3), typeof(ArgumentException), "embeddings"),
            ("ragged images", () => loss.Forward(x.View, labels.View, 3, 3), typeof(ArgumentException), "labels"),
            ("short gradient", () => loss.ForwardBackward(x.View, labels.View, 2, 3, gradient.View.SubView(0, 11)), typeof(ArgumentException), "gradient"),
            ("shifted gradient", () => loss.ForwardBackward(x.View.SubView(0, 9), labels.View.SubView(0, 3), 1, 3, x.View.SubView(1, 9)), typeof(ArgumentException), "gradient"),
            ("reduction none", () => loss.Forward(x.View, labels.View, 2, 3, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
