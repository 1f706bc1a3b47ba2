using LossKernels.Catalog;
using LossKernels.Regression;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.Core;

/// <summary>Results are bitwise the same for every thread cap, and no entry point allocates.</summary>
[TestFixture]
[NonParallelizable]
public class DeterminismAndAllocationTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> LossesAndReductions() => ElementwiseLossTests.LossesAndReductions();

    [TestCaseSource(nameof(LossesAndReductions))]
    public void ThreadCaps1248GiveBitwiseEqualResults(string loss, string reduction)
    {
        const int length = 1_000_003;
        (float[] input, float[] target) = Sample(length, seed: 42);
        float[] weight = Uniform(length, 43, 0f, 2f);
        Dictionary<string, object?> parameters = ParametersFor(loss, reduction);
        float[]? firstLoss = null, firstGradient = null, firstBackward = null;
        foreach (int threads in new[] { 1, 2, 4, 8 })
        {
            LossKernelsSettings.MaxThreads = threads;
            BoundLoss bound = Bind(loss, parameters, input, target, loss == "rmse" ? null : weight);
            bound.Run(LossMode.Fused);
            float[] lossValues = (float[])bound.Loss.Clone(), gradient = (float[])bound.InputGradient.Clone();
            bound.Run(LossMode.Backward);
            float[] backward = (float[])bound.InputGradient.Clone();
            if (firstLoss is null)
            {
                (firstLoss, firstGradient, firstBackward) = (lossValues, gradient, backward);
                continue;
            }

            Assert.That(Numerics.BitEqual(lossValues, firstLoss), $"{loss}/{reduction}: loss with {threads} threads");
            Assert.That(Numerics.BitEqual(gradient, firstGradient!), $"{loss}/{reduction}: fused gradient with {threads} threads");
            Assert.That(Numerics.BitEqual(backward, firstBackward!), $"{loss}/{reduction}: backward gradient with {threads} threads");
        }
    }

    [Test]
    public void ChunkingDependsOnTheLengthAlone()
    {
        Assert.That(ChunkedRun.ChunkLength(1000), Is.EqualTo(ChunkedRun.ChunkLength(1_000_003)));
        long huge = (long)ChunkedRun.MaxChunks * 100_000;
        Assert.That((huge + ChunkedRun.ChunkLength((nint)huge) - 1) / ChunkedRun.ChunkLength((nint)huge), Is.LessThanOrEqualTo(ChunkedRun.MaxChunks));
    }

    /// <summary>
    /// A driver's own chunk length (rows of C classes, a matrix row of m boxes) never makes more than MaxChunks partials on the
    /// stack: 3,000,001 items asked in chunks of 1, on a thread with a 256 KiB stack, one thread and two, cover every item once.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    public void ACallersChunkLengthNeverPassesTheStackBudget(int threads)
    {
        const int length = 3_000_001;
        LossKernelsSettings.MaxThreads = threads;
        double covered = 0d;
        CountingRanges.Calls = 0;
        Numerics.OnThreadWithStack(256 << 10, () => covered = ChunkedRun.Run(new CountingRanges(), length, parallelThreshold: 0, chunkLength: 1));
        Assert.That(covered, Is.EqualTo(length));
        Assert.That(CountingRanges.Calls, Is.LessThanOrEqualTo(ChunkedRun.MaxChunks));
    }

    /// <summary>Returns each range's length as its partial and counts the ranges.</summary>
    private readonly struct CountingRanges : IRangeKernel
    {
        internal static int Calls;

        public double RunRange(nint start, nint length)
        {
            Interlocked.Increment(ref Calls);
            return length;
        }
    }

    [Test]
    public void ConcurrentCallersGetTheSameResults()
    {
        (float[] input, float[] target) = Sample(600_001, seed: 8);
        var loss = new SmoothL1Loss(0.5f);
        float expected = loss.ForwardBackward(input, target, new float[input.Length]);
        float[] results = new float[4];
        Parallel.For(0, 4, i =>
        {
            var gradient = new float[input.Length];
            for (int k = 0; k < 20; k++)
                results[i] = loss.ForwardBackward(input, target, gradient);
        });
        Assert.That(results, Is.All.EqualTo(expected));
    }

    [TestCase(100)]
    [TestCase(1_000_003)]
    public void NoEntryPointOfAnyLossAllocates(int length)
    {
        LossKernelsSettings.MaxThreads = 2;
        AssertNoAllocation(new L1Loss(), length);
        AssertNoAllocation(new MseLoss(), length);
        AssertNoAllocation(new SmoothL1Loss(0.5f), length);
        AssertNoAllocation(new HuberLoss(0.5f), length);
        AssertNoAllocation(new BalancedL1Loss(), length);

        (float[] input, float[] target) = Sample(length, seed: 1);
        var gradient = new float[length];
        var rmse = new RmseLoss();
        AssertNoAllocation("rmse", () =>
        {
            rmse.Forward(input, target);
            rmse.ForwardBackward(input, target, gradient);
            rmse.Backward(input, target, 0.5f, gradient);
        });
    }

    internal static void AssertNoAllocation<TLoss>(TLoss loss, int length)
        where TLoss : struct, IElementwiseLoss
    {
        (float[] input, float[] target) = Sample(length, seed: 1);
        float[] weight = Uniform(length, 2, 0f, 1f), upstream = Uniform(length, 3, -1f, 1f);
        float[] output = new float[length], gradient = new float[length];
        AssertNoAllocation(typeof(TLoss).Name, () =>
        {
            loss.Forward(input, target);
            loss.Forward(input, target, Reduction.Sum, weight);
            loss.Forward(input, target, output, weight);
            loss.ForwardBackward(input, target, gradient, Reduction.Mean, weight, 10f, 2f);
            loss.ForwardBackward(input, target, output, gradient, upstream, weight);
            loss.Backward(input, target, 1f, gradient);
            loss.Backward(input, target, upstream, gradient, weight);
        });
    }

    /// <summary>
    /// Warm (JIT, tiering, worker threads), then count the bytes allocated over repeated calls by the
    /// calling thread and by the pool's workers (each records its own count after every job; a
    /// process-wide count would include the test host's own background threads). A round that allocates
    /// is measured once more: a one-time allocation of the runtime's (a method tiering up mid-round, seen
    /// once as 184 bytes in a loaded CI run) happens once, while the library's would happen every round.
    /// </summary>
    internal static void AssertNoAllocation(string what, Action calls)
    {
        for (int i = 0; i < 40; i++)
            calls();
        for (int round = 0; ; round++)
        {
            long beforeWorkers = ChunkScheduler.WorkerAllocatedBytes;
            long beforeThread = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++)
                calls();
            long thread = GC.GetAllocatedBytesForCurrentThread() - beforeThread, workers = ChunkScheduler.WorkerAllocatedBytes - beforeWorkers;
            if (thread == 0 && workers == 0)
                return;
            if (round == 1)
            {
                Assert.That(thread, Is.Zero, $"{what}: bytes allocated on the calling thread, in two rounds running");
                Assert.That(workers, Is.Zero, $"{what}: bytes allocated by the worker threads, in two rounds running");
            }
        }
    }
}
