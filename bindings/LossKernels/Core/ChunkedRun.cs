using System.Runtime.Intrinsics;

namespace LossKernels;

/// <summary>A pass over a range [start, start + length) of a call's items; returns the range's partial sum (0 when the pass does not reduce).</summary>
internal interface IRangeKernel
{
    double RunRange(nint start, nint length);
}

/// <summary>
/// Splits a call's n items into fixed chunks whose length depends on n alone, runs them on up to
/// <see cref="LossKernelsSettings.MaxThreads"/> threads, and adds the chunk partials in index order,
/// so that a reduced result is bitwise the same for any thread count. Shared by every CPU driver.
/// </summary>
internal static unsafe class ChunkedRun
{
    private const int MinChunkLength = 16384;

    /// <summary>At most this many chunks, so that their partial sums fit on the stack.</summary>
    internal const int MaxChunks = 4096;

    /// <summary>The fixed chunk length for <paramref name="length"/> items: a function of the length alone.</summary>
    internal static nint ChunkLength(nint length)
    {
        nint chunk = MinChunkLength;
        nint needed = (length + MaxChunks - 1) / MaxChunks;
        if (needed > chunk)
            chunk = (needed + 63) & ~(nint)63;
        return chunk;
    }

    /// <summary>Runs <paramref name="kernel"/> over <paramref name="length"/> items; below <paramref name="parallelThreshold"/> items on the caller's thread alone.</summary>
    /// <param name="kernel">The pass.</param>
    /// <param name="length">The item count n.</param>
    /// <param name="parallelThreshold">The least n worth more than one thread.</param>
    /// <param name="chunkLength">Items per chunk; 0 for <see cref="ChunkLength"/>(n). A pass that reduces must pass a length that depends on the call's shape alone (rows of C classes: so many rows), never on the thread count.</param>
    public static double Run<TKernel>(in TKernel kernel, int length, int parallelThreshold, nint chunkLength = 0)
        where TKernel : struct, IRangeKernel
    {
        if (length == 0)
            return 0d;
        // At most MaxChunks partials go on the stack, whatever chunk length a caller asks for (still a function of the shape alone).
        nint chunk = chunkLength > 0 ? Math.Max(chunkLength, ((nint)length + MaxChunks - 1) / MaxChunks) : ChunkLength(length);
        int chunks = (int)((length + chunk - 1) / chunk);
        if (chunks == 1)
            return kernel.RunRange(0, length);

        double* partials = stackalloc double[chunks];
        int threads = length < parallelThreshold ? 1 : Math.Min(LossKernelsSettings.MaxThreads, chunks);
        RangeJob<TKernel> job = RangeJob<TKernel>.Shared;
        if (threads > 1 && ChunkScheduler.TryEnter())
        {
            try
            {
                job.Set(kernel, length, chunk, partials);
                ChunkScheduler.Run(job, chunks, threads);
            }
            finally
            {
                ChunkScheduler.Exit();
            }
        }
        else
        {
            for (int c = 0; c < chunks; c++)
                partials[c] = RunChunk(kernel, length, chunk, c);
        }

        double total = 0d;
        for (int c = 0; c < chunks; c++)
            total += partials[c];
        return total;
    }

    internal static double RunChunk<TKernel>(in TKernel kernel, nint length, nint chunk, int index)
        where TKernel : struct, IRangeKernel
    {
        nint start = index * chunk;
        return kernel.RunRange(start, Math.Min(chunk, length - start));
    }
}

/// <summary>One reusable work item per range kernel type, handed to the chunk scheduler under its lock.</summary>
internal sealed unsafe class RangeJob<TKernel> : IChunkJob
    where TKernel : struct, IRangeKernel
{
    public static readonly RangeJob<TKernel> Shared = new();

    private TKernel kernel;
    private nint length;
    private nint chunk;
    private double* partials;

    public void Set(in TKernel kernel, nint length, nint chunk, double* partials)
    {
        this.kernel = kernel;
        this.length = length;
        this.chunk = chunk;
        this.partials = partials;
    }

    public void RunChunk(int index) => partials[index] = ChunkedRun.RunChunk(kernel, length, chunk, index);
}

/// <summary>A pass written once over <see cref="IVectorMath{TVec}"/>, for <see cref="SimdWidths.Run"/> to run at one width.</summary>
internal interface IWidthKernel
{
    /// <summary>Items [start, start + length), with at least one full vector of them.</summary>
    double Run<TVec, TMath>(nint start, nint length)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;

    /// <summary>Fewer items than a Vector128 holds: the kernel pads them on the stack.</summary>
    double RunPadded(nint start, int length);
}

/// <summary>Picks the width for a range: 512 → 256 → 128 bits as the hardware has them and the range fills a vector, else the padded path.</summary>
internal static class SimdWidths
{
    public static double Run<TKernel>(in TKernel kernel, nint start, nint length)
        where TKernel : struct, IWidthKernel
    {
        if (Vector512.IsHardwareAccelerated && length >= Vector512<float>.Count)
            return kernel.Run<Vector512<float>, Width512>(start, length);
        if (Vector256.IsHardwareAccelerated && length >= Vector256<float>.Count)
            return kernel.Run<Vector256<float>, Width256>(start, length);
        if (length >= Vector128<float>.Count)
            return kernel.Run<Vector128<float>, Width128>(start, length);
        return kernel.RunPadded(start, (int)length);
    }
}
