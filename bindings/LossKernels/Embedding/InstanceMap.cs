using System.Buffers;

namespace LossKernels.Embedding;

/// <summary>
/// The instances of a <see cref="DiscriminativeLoss"/> call, built on the host for every backend from the ids: per image the distinct
/// ids not ignored, numbered in ascending order of id (so the numbering depends on the ids alone) and offset by the instances of the
/// images before; per pixel its instance (−1 when ignored); the pixels in a stable counting sort by instance (<see cref="Order"/>:
/// each instance's pixels, in pixel order); and the instances cut into pieces of at most <see cref="PieceLength"/> pixels, the
/// fixed units whose sums are added in order. Every array is pooled; <see cref="Return"/> gives them back.
/// </summary>
internal unsafe struct InstanceMap
{
    /// <summary>Pixels per piece: the sums' fixed unit of work.</summary>
    public const int PieceLength = 2048;

    /// <summary>Ints per instance: <see cref="Start"/>, <see cref="Count"/>, <see cref="FirstPiece"/>, <see cref="PieceCount"/>, <see cref="Image"/>, <see cref="ImageFirst"/>, <see cref="ImageInstances"/>.</summary>
    public const int InstanceStride = 7;

    /// <summary>Fields of an instance's row.</summary>
    public const int Start = 0, Count = 1, FirstPiece = 2, PieceCount = 3, Image = 4, ImageFirst = 5, ImageInstances = 6;

    /// <summary>Ints per piece: its first and end position in <see cref="Order"/>, and its instance.</summary>
    public const int PieceStride = 3;

    /// <summary>N·S: each pixel's instance, or −1.</summary>
    public int[] PixelInstance;

    /// <summary>The positions (pixel index within its image) of every pixel not ignored, instance by instance.</summary>
    public int[] Order;

    /// <summary><see cref="InstanceStride"/> ints per instance.</summary>
    public int[] Instances;

    /// <summary><see cref="PieceStride"/> ints per piece.</summary>
    public int[] Pieces;

    /// <summary>The instances of the call (all images), the pieces, and the pixels not ignored.</summary>
    public int InstanceTotal, PieceTotal, Positions;

    /// <summary>Maps <paramref name="labels"/> (N images of <paramref name="pixels"/> ids).</summary>
    public static InstanceMap Build(ReadOnlySpan<long> labels, int images, int pixels, in DiscriminativeLoss loss)
    {
        var map = new InstanceMap { PixelInstance = ArrayPool<int>.Shared.Rent(Math.Max(labels.Length, 1)) };
        int[] local = ArrayPool<int>.Shared.Rent(Math.Max(labels.Length, 1));
        int[] perImage = ArrayPool<int>.Shared.Rent(Math.Max(images, 1));
        try
        {
            fixed (long* ids = labels)
            fixed (int* pixelInstance = map.PixelInstance, counts = local, instancesOf = perImage)
            {
                bool parallel = labels.Length >= 1 << 16;
                var number = new NumberKernel(loss, ids, pixelInstance, counts, instancesOf, pixels);
                ChunkedRun.Run(number, images, parallel ? 0 : int.MaxValue, chunkLength: 1);
                map.Lay(counts, instancesOf, images, pixels);
                fixed (int* order = map.Order, instances = map.Instances)
                    ChunkedRun.Run(new PlaceKernel(pixelInstance, order, instances, counts, instancesOf, pixels), images, parallel ? 0 : int.MaxValue, chunkLength: 1);
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(perImage);
            ArrayPool<int>.Shared.Return(local);
        }

        return map;
    }

    /// <summary>Gives the arrays back to the pool.</summary>
    public readonly void Return()
    {
        ArrayPool<int>.Shared.Return(Pieces);
        ArrayPool<int>.Shared.Return(Instances);
        ArrayPool<int>.Shared.Return(Order);
        ArrayPool<int>.Shared.Return(PixelInstance);
    }

    /// <summary>The instance and piece rows from the per-image counts (<paramref name="counts"/> at n·S + r for image n's r-th instance).</summary>
    private void Lay(int* counts, int* instancesOf, int images, int pixels)
    {
        int total = 0, pieces = 0, positions = 0;
        for (int n = 0; n < images; n++)
        {
            total += instancesOf[n];
            for (int r = 0; r < instancesOf[n]; r++)
            {
                int count = counts[(nint)n * pixels + r];
                positions += count;
                pieces += (count + PieceLength - 1) / PieceLength;
            }
        }

        InstanceTotal = total;
        PieceTotal = pieces;
        Positions = positions;
        Order = ArrayPool<int>.Shared.Rent(Math.Max(positions, 1));
        Instances = ArrayPool<int>.Shared.Rent(Math.Max(total * InstanceStride, 1));
        Pieces = ArrayPool<int>.Shared.Rent(Math.Max(pieces * PieceStride, 1));
        int g = 0, piece = 0, start = 0;
        for (int n = 0; n < images; n++)
        {
            int first = g;
            for (int r = 0; r < instancesOf[n]; r++, g++)
            {
                int count = counts[(nint)n * pixels + r];
                int row = g * InstanceStride;
                Instances[row + Start] = start;
                Instances[row + Count] = count;
                Instances[row + FirstPiece] = piece;
                Instances[row + PieceCount] = (count + PieceLength - 1) / PieceLength;
                Instances[row + Image] = n;
                Instances[row + ImageFirst] = first;
                Instances[row + ImageInstances] = instancesOf[n];
                for (int p = start; p < start + count; p += PieceLength, piece++)
                {
                    Pieces[piece * PieceStride] = p;
                    Pieces[piece * PieceStride + 1] = Math.Min(p + PieceLength, start + count);
                    Pieces[piece * PieceStride + 2] = g;
                }

                start += count;
            }
        }
    }

    /// <summary>
    /// Per image: the distinct ids not ignored in a pooled open-addressing table (the last id cached: instances come in runs), sorted
    /// to number them, each pixel's number within its image and each number's pixel count (at n·S + r).
    /// </summary>
    private readonly struct NumberKernel(DiscriminativeLoss loss, long* ids, int* pixelInstance, int* counts, int* instancesOf, int pixels) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint n = start; n < start + length; n++)
                Number(n);
            return 0d;
        }

        private void Number(nint n)
        {
            long* id = ids + n * pixels;
            int* instance = pixelInstance + n * pixels;
            int capacity = 256;
            long[] keys = ArrayPool<long>.Shared.Rent(capacity);
            int[] slots = ArrayPool<int>.Shared.Rent(capacity);
            long[] distinct = ArrayPool<long>.Shared.Rent(capacity / 2);
            int found = 0;
            try
            {
                slots.AsSpan(0, capacity).Fill(-1);
                long last = 0;
                int lastSlot = -1;
                for (int i = 0; i < pixels; i++)
                {
                    long label = id[i];
                    if (loss.Ignores(label))
                    {
                        instance[i] = -1;
                        continue;
                    }

                    if (lastSlot < 0 || label != last)
                    {
                        if (2 * (found + 1) > capacity)
                            Grow(ref keys, ref slots, ref distinct, ref capacity, found);
                        lastSlot = Find(keys, slots, capacity, label, found, distinct);
                        if (lastSlot == found)
                            found++;
                        last = label;
                    }

                    instance[i] = lastSlot;
                }

                // Number the ids in ascending order: sort (id, slot) pairs, then rank[slot] is the id's number.
                int[] order = ArrayPool<int>.Shared.Rent(Math.Max(found, 1));
                try
                {
                    Span<long> sorted = distinct.AsSpan(0, found);
                    Span<int> slotOf = order.AsSpan(0, found);
                    for (int s = 0; s < found; s++)
                        slotOf[s] = s;
                    sorted.Sort(slotOf);
                    Span<int> rank = slots.AsSpan(0, found);
                    for (int r = 0; r < found; r++)
                        rank[slotOf[r]] = r;
                    int* count = counts + n * pixels;
                    new Span<int>(count, found).Clear();
                    for (int i = 0; i < pixels; i++)
                    {
                        if (instance[i] < 0)
                            continue;
                        int r = rank[instance[i]];
                        instance[i] = r;
                        count[r]++;
                    }
                }
                finally
                {
                    ArrayPool<int>.Shared.Return(order);
                }

                instancesOf[n] = found;
            }
            finally
            {
                ArrayPool<long>.Shared.Return(distinct);
                ArrayPool<int>.Shared.Return(slots);
                ArrayPool<long>.Shared.Return(keys);
            }
        }

        /// <summary>The slot of <paramref name="label"/>, inserting it as slot <paramref name="found"/> when new (linear probing).</summary>
        private static int Find(long[] keys, int[] slots, int capacity, long label, int found, long[] distinct)
        {
            int mask = capacity - 1;
            int h = (int)((ulong)label * 0x9E3779B97F4A7C15UL >> 40) & mask;
            while (slots[h] >= 0)
            {
                if (keys[h] == label)
                    return slots[h];
                h = (h + 1) & mask;
            }

            keys[h] = label;
            slots[h] = found;
            distinct[found] = label;
            return found;
        }

        /// <summary>Doubles the table (pooled) and re-inserts the <paramref name="found"/> ids.</summary>
        private static void Grow(ref long[] keys, ref int[] slots, ref long[] distinct, ref int capacity, int found)
        {
            int grown = capacity * 2;
            long[] newKeys = ArrayPool<long>.Shared.Rent(grown);
            int[] newSlots = ArrayPool<int>.Shared.Rent(grown);
            long[] newDistinct = ArrayPool<long>.Shared.Rent(grown / 2);
            newSlots.AsSpan(0, grown).Fill(-1);
            distinct.AsSpan(0, found).CopyTo(newDistinct);
            for (int s = 0; s < found; s++)
                Find(newKeys, newSlots, grown, newDistinct[s], s, newDistinct);
            ArrayPool<long>.Shared.Return(distinct);
            ArrayPool<int>.Shared.Return(slots);
            ArrayPool<long>.Shared.Return(keys);
            keys = newKeys;
            slots = newSlots;
            distinct = newDistinct;
            capacity = grown;
        }
    }

    /// <summary>Per image: each pixel's instance made global, and its position appended to its instance's run of <see cref="Order"/>.</summary>
    private readonly struct PlaceKernel(int* pixelInstance, int* order, int* instances, int* counts, int* instancesOf, int pixels) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint n = start; n < start + length; n++)
            {
                int first = 0;
                for (nint m = 0; m < n; m++)
                    first += instancesOf[m];
                int* cursor = counts + n * pixels;
                for (int r = 0; r < instancesOf[n]; r++)
                    cursor[r] = instances[(first + r) * InstanceStride + Start];
                int* instance = pixelInstance + n * pixels;
                for (int i = 0; i < pixels; i++)
                {
                    int r = instance[i];
                    if (r < 0)
                        continue;
                    instance[i] = first + r;
                    order[cursor[r]++] = i;
                }
            }

            return 0d;
        }
    }
}
