namespace LossKernels;

/// <summary>A unit of parallel work: chunks by index, each independent of the others.</summary>
internal interface IChunkJob
{
    void RunChunk(int index);
}

/// <summary>
/// A small pool of dedicated background threads that run the chunks of one call at a time, with
/// nothing allocated per call (the thread pool's <c>Parallel.For</c> allocates closures and tasks).
/// Chunks are claimed dynamically, in runs of consecutive chunks (about a quarter of a thread's
/// share), so that each thread streams long stretches of memory rather than alternating with the
/// others chunk by chunk, which measured slower; since every chunk writes its own partial, which
/// thread ran it does not change the result. A call that finds the pool busy runs its chunks on its own thread,
/// with the same result.
/// </summary>
internal static class ChunkScheduler
{
    private static int busy;
    private static readonly object Signal = new();
    private static Thread[] workers = [];
    private static long[] workerAllocatedBytes = [];
    private static IChunkJob? job;
    private static int chunkCount;
    private static int nextChunk;
    private static int claimLength;
    private static int helpersWanted;
    private static int helpersRunning;
    private static long generation;

    /// <summary>The bytes the workers have allocated in their lifetime, as of their last job: lets tests prove the pool allocates nothing per call.</summary>
    internal static long WorkerAllocatedBytes
    {
        get
        {
            long[] counts = workerAllocatedBytes;
            long total = 0;
            for (int i = 0; i < counts.Length; i++)
                total += Volatile.Read(ref counts[i]);
            return total;
        }
    }

    /// <summary>Takes the pool for one call; false when another call holds it.</summary>
    public static bool TryEnter() => Interlocked.CompareExchange(ref busy, 1, 0) == 0;

    public static void Exit() => Volatile.Write(ref busy, 0);

    /// <summary>Runs every chunk of <paramref name="work"/> on up to <paramref name="threads"/> threads, the caller's included. Call between <see cref="TryEnter"/> and <see cref="Exit"/>.</summary>
    public static void Run(IChunkJob work, int chunks, int threads)
    {
        EnsureWorkers(threads - 1);
        lock (Signal)
        {
            job = work;
            chunkCount = chunks;
            nextChunk = 0;
            claimLength = Math.Max(1, chunks / (4 * threads));
            helpersWanted = threads - 1;
            helpersRunning = threads - 1;
            generation++;
            Monitor.PulseAll(Signal);
        }

        Work(work);

        // Chunks are claimed dynamically, so helpers finish within about one chunk of the caller:
        // spin (yielding, never sleeping) rather than block, which would allocate a wait object.
        SpinWait spin = default;
        while (Volatile.Read(ref helpersRunning) != 0)
            spin.SpinOnce(sleep1Threshold: -1);
        job = null;
    }

    private static void Work(IChunkJob work)
    {
        int claim = claimLength;
        int first;
        while ((first = Interlocked.Add(ref nextChunk, claim) - claim) < chunkCount)
        {
            int end = Math.Min(first + claim, chunkCount);
            for (int index = first; index < end; index++)
                work.RunChunk(index);
        }
    }

    private static void EnsureWorkers(int count)
    {
        if (workers.Length < count)
            AddWorkers(count);
    }

    /// <summary>Grows the pool; apart from <see cref="EnsureWorkers"/> so that its closure is allocated only when a thread is made.</summary>
    private static void AddWorkers(int count)
    {
        var grown = new Thread[count];
        Array.Copy(workers, grown, workers.Length);
        var allocated = new long[count];
        Array.Copy(workerAllocatedBytes, allocated, workerAllocatedBytes.Length);
        workerAllocatedBytes = allocated;
        long current = Interlocked.Read(ref generation);
        for (int i = workers.Length; i < count; i++)
        {
            int index = i;
            grown[i] = new Thread(() => WorkerLoop(index, current)) { IsBackground = true, Name = $"LossKernels worker {index}" };
            grown[i].Start();
        }

        workers = grown;
    }

    /// <summary>A worker's life: wait for a generation newer than <paramref name="seen"/>, help if wanted, report done.</summary>
    private static void WorkerLoop(int index, long seen)
    {
        while (true)
        {
            IChunkJob work;
            lock (Signal)
            {
                while (generation == seen)
                    Monitor.Wait(Signal);
                seen = generation;
                if (index >= helpersWanted)
                    continue;
                work = job!;
            }

            Work(work);
            Volatile.Write(ref workerAllocatedBytes[index], GC.GetAllocatedBytesForCurrentThread());
            Interlocked.Decrement(ref helpersRunning);
        }
    }
}
