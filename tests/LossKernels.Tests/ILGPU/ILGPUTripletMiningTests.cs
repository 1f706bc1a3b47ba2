using ILGPU.Runtime;
using LossKernels.Embedding;
using LossKernels.ILGPU;
using LossKernels.Tests.Embedding;

namespace LossKernels.Tests.ILGPU;

/// <summary>Triplet mining on the ILGPU accelerator (small batches: the CPU accelerator is slow): every option against the float64 reference, in place, bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUTripletMiningTests
{
    private static readonly (int Rows, int Dim, int Classes)[] Shapes = [(1, 2, 1), (6, 1, 2), (13, 9, 3), (24, 33, 5)];

    [TestCaseSource(typeof(TripletMiningTests), nameof(TripletMiningTests.Options))]
    public void MatchesTheReference(TripletMining mining, TripletDistance distance, bool soft, bool normalize)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var loss = new TripletMiningLoss(mining, 0.3f, distance, soft, normalize);
        foreach ((int rows, int dim, int classes) in Shapes)
        {
            (float[] x, long[] labels) = TripletMiningTests.ConditionedProblem(loss, rows, dim, classes);
            using var embeddings = accelerator.Upload(x);
            using var gradient = accelerator.Allocate1D<float>(x.Length);
            using var deviceLabels = accelerator.Upload(labels);
            TripletMiningTests.AssertMatchesReference($"ilgpu B={rows} D={dim}", loss, x, labels, dim, Reduction.Mean, 1.5f,
                () => (loss.ForwardBackward(embeddings.View, deviceLabels.View, dim, gradient.View, Reduction.Mean, 1.5f), gradient.GetAsArray1D()),
                () => loss.Forward(embeddings.View, deviceLabels.View, dim));
        }
    }

    [Test]
    public void InPlaceAndBackward()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        var loss = new TripletMiningLoss(TripletMining.All, 0.25f, TripletDistance.Squared, softMargin: true);
        (float[] x, long[] labels) = TripletMiningTests.ConditionedProblem(loss, 15, 6, 3);
        var expected = new float[x.Length];
        TripletMiningResult cpu = loss.ForwardBackward(x, labels, 6, expected, Reduction.Sum);
        using var embeddings = accelerator.Upload(x);
        using var backward = accelerator.Allocate1D<float>(x.Length);
        using var deviceLabels = accelerator.Upload(labels);
        loss.Backward(embeddings.View, deviceLabels.View, 6, 1f, backward.View, Reduction.Sum);
        TripletMiningResult result = loss.ForwardBackward(embeddings.View, deviceLabels.View, 6, embeddings.View, Reduction.Sum);
        Assert.That(result.Triplets, Is.EqualTo(cpu.Triplets));
        Assert.That(result.Loss, Is.EqualTo(cpu.Loss).Within(1e-5 * Math.Abs(cpu.Loss)));
        Numerics.AssertClose("in place", embeddings.GetAsArray1D(), Numerics.ToDouble(expected), 1e-4, 1e-6);
        Numerics.AssertClose("backward", backward.GetAsArray1D(), Numerics.ToDouble(expected), 1e-4, 1e-6);
    }

    /// <summary>No triplet (one label): the gradient is zeros as on the CPU, infinite embeddings included (the fuzzer's find).</summary>
    [Test]
    public void NoTripletGivesAZeroGradient()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var embeddings = accelerator.Upload(new[] { float.PositiveInfinity, float.NegativeInfinity, 0.5f });
        using var gradient = accelerator.Upload(new[] { 7f, 7f, 7f });
        using var labels = accelerator.Upload(new long[] { 4, 4, 4 });
        TripletMiningResult result = new TripletMiningLoss().ForwardBackward(embeddings.View, labels.View, 1, gradient.View);
        Assert.That(result, Is.EqualTo(new TripletMiningResult(0f, 0)));
        Assert.That(gradient.GetAsArray1D(), Is.All.Zero);
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var x = accelerator.Allocate1D<float>(12);
        using var gradient = accelerator.Allocate1D<float>(12);
        using var labels = accelerator.Allocate1D<long>(4);
        var loss = new TripletMiningLoss();
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent embeddings", () => loss.Forward(default, labels.View, 3), typeof(ArgumentException), "embeddings"),
            ("absent gradient", () => loss.ForwardBackward(x.View, labels.View, 3, default), typeof(ArgumentException), "gradient"),
            ("short labels", () => loss.Forward(x.View, labels.View.SubView(0, 3), 3), typeof(ArgumentException), "labels"),
            ("short gradient", () => loss.ForwardBackward(x.View, labels.View, 3, gradient.View.SubView(0, 11)), typeof(ArgumentException), "gradient"),
            ("shifted gradient", () => loss.ForwardBackward(x.View.SubView(0, 9), labels.View.SubView(0, 3), 3, x.View.SubView(1, 9)), typeof(ArgumentException), "gradient"),
            ("reduction none", () => loss.Forward(x.View, labels.View, 3, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
