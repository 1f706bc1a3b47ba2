using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels.Benchmarks;

/// <summary>
/// The roof that a memory-bound loss is measured against: the faster of two copies that move the
/// same number of bytes (half read, half written) — one memmove on the caller's thread, and a copy
/// over the kernels' threads and scheduler with streaming (non-temporal) stores, as the kernels
/// use for large outputs — measured in this process next to the kernel it is compared with.
/// </summary>
internal sealed unsafe class CopyRoofline : IChunkJob
{
    private const int ChunkBytes = 1 << 20;
    private readonly byte[] source;
    private readonly byte[] destination;
    private readonly int sourceOffset;
    private readonly int destinationOffset;
    private int chunkCount;
    private long bytesPerSide;

    public CopyRoofline(long maxBytesMoved)
    {
        int side = (int)(maxBytesMoved / 2) + 64;
        source = GC.AllocateUninitializedArray<byte>(side, pinned: true);
        destination = GC.AllocateUninitializedArray<byte>(side, pinned: true);
        new Random(1).NextBytes(source);
        Array.Fill(destination, (byte)1);
        sourceOffset = AlignmentOffset(source);
        destinationOffset = AlignmentOffset(destination);
    }

    /// <summary>Sets the size of the next copies: <paramref name="bytesMoved"/>/2 bytes read and as many written.</summary>
    public void Prepare(long bytesMoved)
    {
        bytesPerSide = bytesMoved / 2;
        chunkCount = (int)((bytesPerSide + ChunkBytes - 1) / ChunkBytes);
    }

    /// <summary>One memmove on the caller's thread.</summary>
    public void Memmove() =>
        source.AsSpan(sourceOffset, (int)bytesPerSide).CopyTo(destination.AsSpan(destinationOffset, (int)bytesPerSide));

    /// <summary>A copy over the kernels' threads and scheduler with streaming stores.</summary>
    public void Streaming()
    {
        int threads = Math.Min(LossKernelsSettings.MaxThreads, chunkCount);
        if (threads > 1 && ChunkScheduler.TryEnter())
        {
            try
            {
                ChunkScheduler.Run(this, chunkCount, threads);
            }
            finally
            {
                ChunkScheduler.Exit();
            }
        }
        else
        {
            for (int c = 0; c < chunkCount; c++)
                RunChunk(c);
        }
    }

    public void RunChunk(int index)
    {
        long start = (long)index * ChunkBytes;
        int length = (int)Math.Min(ChunkBytes, bytesPerSide - start);
        int vectorBytes = Vector512.IsHardwareAccelerated ? length & ~63 : 0;
        fixed (byte* from = &source[sourceOffset + start], to = &destination[destinationOffset + start])
        {
            for (int i = 0; i < vectorBytes; i += 64)
                Vector512.Load(from + i).StoreAlignedNonTemporal(to + i);
            new ReadOnlySpan<byte>(from + vectorBytes, length - vectorBytes).CopyTo(new Span<byte>(to + vectorBytes, length - vectorBytes));
        }

        if (Sse.IsSupported)
            Sse.StoreFence();
    }

    private static int AlignmentOffset(byte[] buffer)
    {
        fixed (byte* start = buffer)
            return (int)((64 - ((nuint)start & 63)) & 63);
    }
}
