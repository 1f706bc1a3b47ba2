using LossKernels.Embedding;
using LossKernels.OpenCL;
using LossKernels.Tests.Embedding;

namespace LossKernels.Tests.OpenCL;

/// <summary>Triplet mining on the OpenCL device: every option against the float64 reference, in place, and every bad argument.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLTripletMiningTests
{
    private static readonly (int Rows, int Dim, int Classes)[] Shapes = [(1, 2, 1), (5, 1, 2), (17, 7, 4), (40, 33, 6), (70, 129, 9)];

    [TestCaseSource(typeof(TripletMiningTests), nameof(TripletMiningTests.Options))]
    public void MatchesTheReference(TripletMining mining, TripletDistance distance, bool soft, bool normalize)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        var loss = new TripletMiningLoss(mining, 0.3f, distance, soft, normalize);
        foreach ((int rows, int dim, int classes) in Shapes)
        {
            (float[] x, long[] labels) = TripletMiningTests.ConditionedProblem(loss, rows, dim, classes);
            using DeviceBuffer<float> embeddings = device.Upload(x), gradient = device.Allocate<float>(x.Length);
            using DeviceBuffer<long> deviceLabels = device.Upload(labels);
            TripletMiningTests.AssertMatchesReference($"opencl B={rows} D={dim}", loss, x, labels, dim, Reduction.Sum, 0.5f,
                () => (loss.ForwardBackward(embeddings, deviceLabels, dim, gradient, Reduction.Sum, 0.5f), gradient.ToArray()),
                () => loss.Forward(embeddings, deviceLabels, dim, Reduction.Sum));
        }
    }

    /// <summary>The gradient may overwrite the embeddings; the backward entry point gives the fused one's gradient.</summary>
    [Test]
    public void InPlaceAndBackward()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        var loss = new TripletMiningLoss(TripletMining.SemiHard, 0.25f, TripletDistance.Euclidean, normalize: true);
        (float[] x, long[] labels) = TripletMiningTests.ConditionedProblem(loss, 33, 20, 5);
        var expected = new float[x.Length];
        TripletMiningResult cpu = loss.ForwardBackward(x, labels, 20, expected);
        using DeviceBuffer<float> embeddings = device.Upload(x), backward = device.Allocate<float>(x.Length);
        using DeviceBuffer<long> deviceLabels = device.Upload(labels);
        loss.Backward(embeddings, deviceLabels, 20, 1f, backward);
        TripletMiningResult result = loss.ForwardBackward(embeddings, deviceLabels, 20, embeddings);
        Assert.That(result.Triplets, Is.EqualTo(cpu.Triplets));
        Assert.That(result.Loss, Is.EqualTo(cpu.Loss).Within(1e-5 * Math.Abs(cpu.Loss)));
        Numerics.AssertClose("in place", embeddings.ToArray(), Numerics.ToDouble(expected), 1e-4, 1e-6);
        Numerics.AssertClose("backward", backward.ToArray(), Numerics.ToDouble(expected), 1e-4, 1e-6);
    }

    /// <summary>No triplet (one label): the gradient is zeros as on the CPU, infinite embeddings included (the fuzzer's find).</summary>
    [Test]
    public void NoTripletGivesAZeroGradient()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> embeddings = device.Upload(new[] { float.PositiveInfinity, float.NegativeInfinity, 0.5f }), gradient = device.Upload(new[] { 7f, 7f, 7f });
        using DeviceBuffer<long> labels = device.Upload(new long[] { 4, 4, 4 });
        TripletMiningResult result = new TripletMiningLoss().ForwardBackward(embeddings, labels, 1, gradient);
        Assert.That(result, Is.EqualTo(new TripletMiningResult(0f, 0)));
        Assert.That(gradient.ToArray(), Is.All.Zero);
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> x = device.Upload(new float[12]), gradient = device.Allocate<float>(12), shortGradient = device.Allocate<float>(11);
        using DeviceBuffer<long> labels = device.Upload(new long[] { 0, 1, 0, 1 }), foreignLabels = other.Upload(new long[] { 0, 1, 0, 1 });
        using DeviceBuffer<float> foreign = other.Allocate<float>(12);
        var loss = new TripletMiningLoss();
        gradient.Upload(Enumerable.Repeat(7f, 12).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("labels on another device", () => loss.ForwardBackward(x, foreignLabels, 3, gradient), typeof(ArgumentException), "labels"),
            ("gradient on another device", () => loss.ForwardBackward(x, labels, 3, foreign), typeof(ArgumentException), "gradient"),
            ("short gradient", () => loss.ForwardBackward(x, labels, 3, shortGradient), typeof(ArgumentException), "gradient"),
            ("labels short", () => loss.ForwardBackward(x, labels, 2, gradient), typeof(ArgumentException), "labels"),
            ("reduction none", () => loss.ForwardBackward(x, labels, 3, gradient, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
            ("missing gradient", () => loss.ForwardBackward(x, labels, 3, null!), typeof(ArgumentNullException), "gradient"),
        ], name => Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
