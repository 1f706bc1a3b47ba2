using ILGPU;
using ILGPU.Runtime;
using LossKernels.Box;
using LossKernels.Classification;
using LossKernels.Embedding;
using LossKernels.ILGPU;
using LossKernels.Regression;
using LossKernels.Tests.Classification;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// After warm-up a call allocates nothing of its own on the host: kernels and scratch are cached per accelerator, arguments are structs. On CUDA
/// a call allocates 0 bytes (LOSSKERNELS_ILGPU_ACCELERATOR=cuda, run by benchmarks/gpu-check.sh); ILGPU's CPU accelerator itself allocates one task
/// object per launch, so there the bytes per launch are held to that object's size and must not grow from call to call.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ILGPUAllocationTests
{
    /// <summary>The most ILGPU's CPU accelerator allocates for one launch: a task object holding the kernel's arguments (the largest about 400 bytes).</summary>
    private const double CpuTaskBytesPerLaunch = 512;

    [Test]
    public void SteadyStateCallsAllocateNothingBeyondTheAcceleratorsOwnLaunches()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        const int length = 4099;
        (float[] input, float[] target) = Sample(length, seed: 3);
        (float[] logits, long[] classes) = CrossEntropyTests.Sample(40, 100, seed: 1, ignoreEvery: 4);
        (float[] prediction, float[] boxes) = Box.BoxHarness.Boxes(length / 4, seed: 2);
        using MemoryBuffer1D<float, Stride1D.Dense> x = accelerator.Upload(input), t = accelerator.Upload(target), w = accelerator.Upload(Uniform(length, 4, 0f, 1f)),
            u = accelerator.Upload(Uniform(length, 5, -1f, 1f)), o = accelerator.Allocate1D<float>(length), g = accelerator.Allocate1D<float>(length),
            l = accelerator.Upload(logits), lg = accelerator.Allocate1D<float>(logits.Length), p = accelerator.Upload(prediction), b = accelerator.Upload(boxes);
        using MemoryBuffer1D<long, Stride1D.Dense> y = accelerator.Upload(classes);
        var balanced = new BalancedL1Loss();
        var ghmc = new GhmcLoss();
        var state = new float[ghmc.Bins];
        void Calls()
        {
            balanced.Forward(x.View, t.View, Reduction.Mean, w.View, 7f);
            balanced.ForwardBackward(x.View, t.View, o.View, g.View, u.View, w.View);
            balanced.Backward(x.View, t.View, 0.5f, g.View);
            new RmseLoss().ForwardBackward(x.View, t.View, g.View);
            new CompleteIoULoss().ForwardBackward(p.View, b.View, g.View.SubView(0, prediction.Length));
            new CrossEntropyLoss(-100, 0.1f, 0f).ForwardBackward(l.View, y.View, lg.View);
            new CrossEntropyLoss().ForwardBackward(l.View, y.View, o.View.SubView(0, 40), lg.View);
            IlgpuSoftmax.Forward(l.View, 100, lg.View);
            ghmc.ForwardBackward(x.View, t.View, g.View, accumulatedCounts: state);
            new TripletMarginLoss(0.5f, swap: true).ForwardBackward(x.View.SubView(0, 4000), t.View.SubView(0, 4000), w.View.SubView(0, 4000), 80,
                g.View.SubView(0, 4000), lg.View.SubView(0, 4000), o.View.SubView(0, 4000));
            new ContrastiveLoss().ForwardBackward(x.View.SubView(0, 4000), t.View.SubView(0, 4000), y.View, o.View.SubView(0, 40), g.View.SubView(0, 4000),
                lg.View.SubView(0, 4000));
            accelerator.Synchronize();
        }

        // Warm past the JIT's tier-up, as the CPU allocation checks do.
        for (int i = 0; i < 40; i++)
            Calls();
        LossAccelerator losses = LossAccelerator.For(accelerator);
        var perRound = new long[3];
        long launches = losses.Launches;
        for (int round = 0; round < perRound.Length; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Calls();
            perRound[round] = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        double launchesPerRound = (double)(losses.Launches - launches) / perRound.Length;
        TestContext.Out.WriteLine($"{accelerator.AcceleratorType}: {perRound[0]} bytes for {launchesPerRound} launches per round of 11 calls");
        Assert.That(perRound.Distinct().Count(), Is.EqualTo(1), $"allocations grow from call to call: {string.Join(", ", perRound)}");
        double bound = accelerator.AcceleratorType == AcceleratorType.Cuda ? 0 : CpuTaskBytesPerLaunch * launchesPerRound;
        Assert.That(perRound[0], Is.LessThanOrEqualTo(bound), $"{perRound[0]} bytes for {launchesPerRound} launches on {accelerator.AcceleratorType}");
    }
}
