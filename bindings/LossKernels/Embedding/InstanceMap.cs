using System.Buffers;

namespace LossKernels.Embedding;

/// <summary>
/// The instances of a <see cref="DiscriminativeLoss"/> call, built on the host for every backend from the ids: per image the distinct
/// ids not ignored, numbered in ascending order of id (so the numbering depends on the ids alone) and offset by the instances of the
/// images before; per pixel its instance (−1 when ignored); the pixels in a stable counting sort by instance (<see cref="Order"/>:
/// each instance's pixels, in pixel order); and the instances cut into pieces, an instance's pixels within one block of
/// <see cref="PieceLength"/> pixels of its image: the fixed units whose sums are added in order (<see cref="Pieces"/>, instance by
/// instance), which the CPU visits block by block (<see cref="TaskOrder"/>) so that a block's embeddings are read from memory once for
/// all the instances in it. Every array is pooled; <see cref="Return"/> gives them back.
/// </summary>
internal unsafe struct InstanceMap
{
    /// <summary>Pixels per block: a piece is an instance's pixels within one block.</summary>
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

    /// <summary><see cref="PieceStride"/> ints per piece, instance by instance and each instance's in block order.</summary>
    public int[] Pieces;

    /// <summary>The pieces image by image and block by block: the order the CPU runs them in.</summary>
    public int[] TaskOrder;

    /// <summary>The instances of the call (all images), the pieces, and the pixels not ignored.</summary>
    public int InstanceTotal, PieceTotal, Positions;

    /// <summary>Maps <paramref name="labels"/> (N images of <paramref name="pixels"/> ids).</summary>
    public static InstanceMap Build(ReadOnlySpan<long> labels, int images, int pixels, in DiscriminativeLoss loss)
    {
        var map = new InstanceMap { PixelInstance = ArrayPool<int>.Shared.Rent(Math.Max(labels.Length, 1)) };
        int[] local = ArrayPool<int>.Shared.Rent(Math.Max(labels.Length, 1));
        int[] lastBlocks = ArrayPool<int>.Shared.Rent(Math.Max(labels.Length, 1));
        int[] perImage = ArrayPool<int>.Shared.Rent(Math.Max(images, 1));
        try
        {
            fixed (long* ids = labels)
            fixed (int* pixelInstance = map.PixelInstance, counts = local, last = lastBlocks, instancesOf = perImage)
            {
                int threshold = labels.Length >= 1 << 16 ? 0 : int.MaxValue;
                var number = new NumberKernel(loss, ids, pixelInstance, counts, instancesOf, pixels);
                ChunkedRun.Run(number, images, threshold, chunkLength: 1);
                map.Lay(counts, instancesOf, images, pixels);
                fixed (int* order = map.Order, instances = map.Instances)
                {
                    ChunkedRun.Run(new PlaceKernel(pixelInstance, order, instances, counts, last, instancesOf, pixels), images, threshold, chunkLength: 1);
                    map.LayPieces();
                    fixed (int* pieces = map.Pieces)
                        ChunkedRun.Run(new PieceKernel(order, instances, pieces), map.InstanceTotal, threshold, chunkLength: 16);
                }

                map.OrderTasks(images, pixels, counts);
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(perImage);
            ArrayPool<int>.Shared.Return(lastBlocks);
            ArrayPool<int>.Shared.Return(local);
        }

        return map;
    }

    /// <summary>Gives the arrays back to the pool.</summary>
    public readonly void Return()
    {
        ArrayPool<int>.Shared.Return(TaskOrder);
        ArrayPool<int>.Shared.Return(Pieces);
        ArrayPool<int>.Shared.Return(Instances);
        ArrayPool<int>.Shared.Return(Order);
        ArrayPool<int>.Shared.Return(PixelInstance);
    }

    /// <summary>The instance rows from the per-image counts (<paramref name="counts"/> at n·S + r for image n's r-th instance); pieces come later.</summary>
    private void Lay(int* counts, int* instancesOf, int images, int pixels)
    {
        int total = 0, positions = 0;
        for (int n = 0; n < images; n++)
            total += instancesOf[n];
        InstanceTotal = total;
        Instances = ArrayPool<int>.Shared.Rent(Math.Max(total * InstanceStride, 1));
        int g = 0;
        for (int n = 0; n < images; n++)
        {
            int first = g;
            for (int r = 0; r < instancesOf[n]; r++, g++)
            {
                int count = counts[(nint)n * pixels + r];
                int row = g * InstanceStride;
                Instances[row + Start] = positions;
                Instances[row + Count] = count;
                Instances[row + PieceCount] = 0;
                Instances[row + Image] = n;
                Instances[row + ImageFirst] = first;
                Instances[row + ImageInstances] = instancesOf[n];
                positions += count;
            }
        }

        Positions = positions;
        Order = ArrayPool<int>.Shared.Rent(Math.Max(positions, 1));
    }

    /// <summary>Each instance's first piece from the piece counts <see cref="PlaceKernel"/> made; the piece arrays rented.</summary>
    private void LayPieces()
    {
        int piece = 0;
        for (int g = 0; g < InstanceTotal; g++)
        {
            Instances[g * InstanceStride + FirstPiece] = piece;
            piece += Instances[g * InstanceStride + PieceCount];
        }

        PieceTotal = piece;
        Pieces = ArrayPool<int>.Shared.Rent(Math.Max(piece * PieceStride, 1));
        TaskOrder = ArrayPool<int>.Shared.Rent(Math.Max(piece, 1));
    }

    /// <summary>
    /// <see cref="TaskOrder"/>: per image, its pieces (a contiguous run, its instances being) in a stable counting sort by block, with
    /// <paramref name="scratch"/> (at n·S) for the per-block counts.
    /// </summary>
    private readonly void OrderTasks(int images, int pixels, int* scratch)
    {
        int blocks = (pixels + PieceLength - 1) / PieceLength;
        int g = 0;
        for (int n = 0; n < images; n++)
        {
            if (g == InstanceTotal || Instances[g * InstanceStride + Image] != n)
                continue;
            int clusters = Instances[g * InstanceStride + ImageInstances];
            int first = Instances[g * InstanceStride + FirstPiece];
            int last = g + clusters - 1;
            int end = Instances[last * InstanceStride + FirstPiece] + Instances[last * InstanceStride + PieceCount];
            int* cursor = scratch + (nint)n * pixels;
            new Span<int>(cursor, blocks).Clear();
            for (int p = first; p < end; p++)
                cursor[Order[Pieces[p * PieceStride]] / PieceLength]++;
            for (int b = 0, sum = first; b < blocks; b++)
            {
                int count = cursor[b];
                cursor[b] = sum;
                sum += count;
            }

            for (int p = first; p < end; p++)
                TaskOrder[cursor[Order[Pieces[p * PieceStride]] / PieceLength]++] = p;
            g += clusters;
        }
    }

    /// <summary>The length of <see cref="Pack"/>'s table: the pixels' instances, then <see cref="Order"/>, the instance rows and the pieces.</summary>
    public readonly int PackedLength(int pixelCount) => pixelCount + Positions + InstanceTotal * InstanceStride + PieceTotal * PieceStride;

    /// <summary>Where <see cref="Order"/>, the instance rows and the pieces start in <see cref="Pack"/>'s table.</summary>
    public readonly (int Order, int Instances, int Pieces) PackedOffsets(int pixelCount) =>
        (pixelCount, pixelCount + Positions, pixelCount + Positions + InstanceTotal * InstanceStride);

    /// <summary>The four int arrays one after another into <paramref name="table"/> (<see cref="PackedLength"/> ints): what a device uploads in one copy.</summary>
    public readonly void Pack(int pixelCount, Span<int> table)
    {
        (int order, int instances, int pieces) = PackedOffsets(pixelCount);
        PixelInstance.AsSpan(0, pixelCount).CopyTo(table);
        Order.AsSpan(0, Positions).CopyTo(table[order..]);
        Instances.AsSpan(0, InstanceTotal * InstanceStride).CopyTo(table[instances..]);
        Pieces.AsSpan(0, PieceTotal * PieceStride).CopyTo(table[pieces..]);
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

    /// <summary>
    /// Per image: each pixel's instance made global, its position appended to its instance's run of <see cref="Order"/>, and each
    /// instance's pieces counted (the blocks it appears in, <paramref name="lastBlocks"/> at n·S keeping the last).
    /// </summary>
    private readonly struct PlaceKernel(int* pixelInstance, int* order, int* instances, int* counts, int* lastBlocks, int* instancesOf, int pixels) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint n = start; n < start + length; n++)
            {
                int first = 0;
                for (nint m = 0; m < n; m++)
                    first += instancesOf[m];
                int* cursor = counts + n * pixels, last = lastBlocks + n * pixels;
                for (int r = 0; r < instancesOf[n]; r++)
                {
                    cursor[r] = instances[(first + r) * InstanceStride + Start];
                    last[r] = -1;
                }

                int* instance = pixelInstance + n * pixels;
                for (int i = 0; i < pixels; i++)
                {
                    int r = instance[i];
                    if (r < 0)
                        continue;
                    instance[i] = first + r;
                    order[cursor[r]++] = i;
                    int block = i / PieceLength;
                    if (last[r] != block)
                    {
                        last[r] = block;
                        instances[(first + r) * InstanceStride + PieceCount]++;
                    }
                }
            }

            return 0d;
        }
    }

    /// <summary>Per instance: its positions cut where the block changes, written as its pieces from its first.</summary>
    private readonly struct PieceKernel(int* order, int* instances, int* pieces) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint g = start; g < start + length; g++)
            {
                int* row = instances + g * InstanceStride;
                int begin = row[Start], end = begin + row[Count];
                int* piece = pieces + (nint)row[FirstPiece] * PieceStride;
                for (int k = begin; k < end;)
                {
                    int block = order[k] / PieceLength, next = k + 1;
                    while (next < end && order[next] / PieceLength == block)
                        next++;
                    piece[0] = k;
                    piece[1] = next;
                    piece[2] = (int)g;
                    piece += PieceStride;
                    k = next;
                }
            }

            return 0d;
        }
    }
}
