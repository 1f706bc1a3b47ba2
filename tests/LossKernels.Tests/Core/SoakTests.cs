using System.Diagnostics;
using LossKernels.Catalog;
using LossKernels.OpenCL;
using LossKernels.Tests.OpenCL;

namespace LossKernels.Tests.Core;

/// <summary>
/// Many callers at once: 8 threads, each with its own bindings of every catalog loss (unreduced and mean) on the CPU and on
/// one shared OpenCL device, run every mode in a rotated order for a bounded time (LOSSKERNELS_SOAK_SECONDS, 8 s by
/// default, and at least one round past two warm-up rounds); every result is bitwise the one the same call gave alone, and the
/// live managed heap and the native memory (the working set less what the GC has committed) stay flat after the warm-up.
/// </summary>
[TestFixture]
[NonParallelizable]
public class SoakTests
{
    public const string SecondsVariable = "LOSSKERNELS_SOAK_SECONDS";
    private const int Threads = 8;
    private const int WarmUpRounds = 2;

    // Small enough for 8 × every loss × 2 backends in memory, odd so that every vector tail runs; two losses large enough
    // that a call splits into chunks on the shared worker pool while the other threads call too.
    private const int Length = 4099;
    private const int LargeLength = 300_007;
    private static readonly string[] LargeLosses = ["smooth_l1", "cross_entropy"];

    private static readonly LossMode[] Modes = [LossMode.Fused, LossMode.Forward, LossMode.Backward];

    [Test]
    public void EveryFamilyFromEightThreadsOnTheCpuAndOneSharedDeviceGivesTheResultsOfACallAlone()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        double seconds = double.TryParse(Environment.GetEnvironmentVariable(SecondsVariable), System.Globalization.CultureInfo.InvariantCulture, out double s) ? s : 8d;
        List<Job>[] jobs = [.. Enumerable.Range(0, Threads).Select(_ => new List<Job>())];
        try
        {
            foreach (LossDefinition definition in LossCatalog.All)
            {
                int length = LargeLosses.Contains(definition.Name) ? LargeLength : Length;
                Dictionary<string, LossTensor> inputs = definition.SampleInputs(length, seed: definition.Name.Length);
                string[] reductions = definition.Reductions.Count == 0 ? [""] : [.. definition.Reductions.Where(r => r is "none" or "mean")];
                foreach (string reduction in reductions)
                {
                    foreach (LossDevice? backend in new LossDevice?[] { null, device })
                    {
                        Expected solo = Expected.Of(() => Bind(definition, inputs, reduction, backend));
                        for (int t = 0; t < Threads; t++)
                            jobs[t].Add(new Job($"{definition.Name}/{reduction}/{backend?.Backend ?? "simd"}", Bind(definition, inputs, reduction, backend), solo));
                    }
                }
            }

            long heapAfterWarmUp = 0, workingSetAfterWarmUp = 0, committedAfterWarmUp = 0;
            using var warmedUp = new Barrier(Threads, _ =>
            {
                heapAfterWarmUp = GC.GetTotalMemory(forceFullCollection: true);
                workingSetAfterWarmUp = Environment.WorkingSet;
                committedAfterWarmUp = GC.GetGCMemoryInfo().TotalCommittedBytes;
            });
            var deadline = Stopwatch.StartNew();
            int[] rounds = new int[Threads];
            var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                bool signaled = false;
                try
                {
                    int round = 0;
                    do
                    {
                        // Each thread starts its round at another job, so that different losses and backends overlap.
                        for (int k = 0; k < jobs[t].Count; k++)
                        {
                            Job job = jobs[t][(k + t * jobs[t].Count / Threads + round) % jobs[t].Count];
                            foreach (LossMode mode in Modes)
                            {
                                if (job.Solo.Check(job.Bound, mode) is string mismatch)
                                    failures.Enqueue($"thread {t} round {round} {job.Name} {mode}: {mismatch}");
                            }
                        }

                        // Two warm-up rounds: the first touches every page, the collection at the barrier may move what it touched.
                        if (round++ == WarmUpRounds - 1)
                        {
                            signaled = true;
                            warmedUp.SignalAndWait();
                        }
                    }
                    while ((round <= WarmUpRounds || deadline.Elapsed.TotalSeconds < seconds) && failures.IsEmpty);
                    rounds[t] = round;
                }
                catch (Exception e)
                {
                    failures.Enqueue($"thread {t}: {e}");
                    if (!signaled)
                        warmedUp.RemoveParticipant();
                }
            })).ToArray();
            foreach (Thread thread in threads)
                thread.Start();
            foreach (Thread thread in threads)
                thread.Join();

            Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(10)));
            long heapGrowth = GC.GetTotalMemory(forceFullCollection: true) - heapAfterWarmUp;
            long committedGrowth = GC.GetGCMemoryInfo().TotalCommittedBytes - committedAfterWarmUp;
            // The GC keeps memory it has committed (its budgets grow with 8 allocating threads), so what is not the GC's is
            // the working set's growth less the GC's commit: the native memory of the kernels, PoCL and the runtime.
            long nativeGrowth = Environment.WorkingSet - workingSetAfterWarmUp - committedGrowth;
            TestContext.Out.WriteLine($"{jobs[0].Count} bindings per thread × {Modes.Length} modes, rounds per thread {string.Join(", ", rounds)}; after warm-up " +
                $"the live heap grew {heapGrowth / 1024} KiB, the GC's commit {committedGrowth / 1024} KiB, the rest of the working set {nativeGrowth / 1024} KiB");
            Assert.That(rounds, Is.All.GreaterThan(WarmUpRounds));
            Assert.That(heapGrowth, Is.LessThan(1L << 20), "live managed heap flat after warm-up");
            Assert.That(nativeGrowth, Is.LessThan(64L << 20), "native memory flat after warm-up");
        }
        finally
        {
            foreach (Job job in jobs.SelectMany(j => j))
                job.Bound.Dispose();
        }
    }

    private static BoundLoss Bind(LossDefinition definition, Dictionary<string, LossTensor> inputs, string reduction, LossDevice? device)
    {
        var parameters = new Dictionary<string, object?>();
        if (reduction.Length > 0)
            parameters["reduction"] = reduction;
        return definition.Bind(new LossParameters(parameters), inputs, null, device);
    }

    private sealed record Job(string Name, BoundLoss Bound, Expected Solo);

    /// <summary>What each mode wrote when the call ran alone: the losses and every gradient.</summary>
    private sealed class Expected
    {
        private readonly Dictionary<LossMode, float[][]> results = [];

        public static Expected Of(Func<BoundLoss> bind)
        {
            var expected = new Expected();
            using BoundLoss bound = bind();
            foreach (LossMode mode in Modes)
            {
                Run(bound, mode);
                expected.results[mode] = [(float[])bound.Loss.Clone(), .. bound.Gradients.Values.Select(g => (float[])g.Clone())];
            }

            return expected;
        }

        /// <summary>Null when <paramref name="bound"/>'s run of <paramref name="mode"/> is bitwise the call alone, else what differs.</summary>
        public string? Check(BoundLoss bound, LossMode mode)
        {
            Run(bound, mode);
            float[][] alone = results[mode];
            float[][] now = [bound.Loss, .. bound.Gradients.Values];
            for (int i = 0; i < alone.Length; i++)
            {
                if (!Numerics.BitEqual(now[i], alone[i]))
                    return i == 0 ? "losses differ from the call alone" : $"gradient {i} differs from the call alone";
            }

            return null;
        }

        private static void Run(BoundLoss bound, LossMode mode)
        {
            bound.Poison(float.NaN);
            bound.Run(mode);
            bound.FetchResults();
        }
    }
}
