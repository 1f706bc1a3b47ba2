using System.Buffers;
using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Segmentation;

namespace LossKernels.ILGPU;

/// <summary>
/// The Lovász losses (<see cref="LovaszSoftmaxLoss"/>, <see cref="LovaszHingeLoss"/>) on an engine's ILGPU memory, from the CPU
/// kernels' per-element math (<see cref="LovaszMath"/>): per task (a group's class, or a group) the keys of every element
/// (ignored ones flagged and skipped by the walk), a stable radix sort of four 8-bit passes (per-chunk digit counts, their
/// scan in one work-group, an ordered scatter per chunk), the per-chunk foreground and background counts and their scan,
/// and the walk, whose per-chunk losses the host adds in order. Multiclass from logits: the softmax statistics first,
/// ∂L/∂p into scratch, a chain launch last. Targets are checked on the device first.
/// </summary>
/// <remarks>The same formulas, order of ties and argument rules as <see cref="LovaszLoss"/>'s span overloads; every call waits for its result.</remarks>
public static class IlgpuLovaszLoss
{
    /// <summary>Forward only: the loss.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float Forward(this LovaszSoftmaxLoss loss, ArrayView<float> input, ArrayView<long> target, SegmentationShape shape, AcceleratorStream? stream = null) =>
        Run(loss.Options, false, input, target, default, default, false, shape, 1f, stream);

    /// <summary>Fused forward+backward: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward(this LovaszSoftmaxLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> inputGrad, SegmentationShape shape,
        float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss.Options, false, input, target, default, inputGrad, true, shape, upstream, stream);

    /// <summary>Backward only: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this LovaszSoftmaxLoss loss, ArrayView<float> input, ArrayView<long> target, float upstream, ArrayView<float> inputGrad, SegmentationShape shape,
        AcceleratorStream? stream = null) =>
        Run(loss.Options, false, input, target, default, inputGrad, true, shape, upstream, stream);

    /// <summary>Forward only: the loss.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float Forward(this LovaszHingeLoss loss, ArrayView<float> input, ArrayView<float> target, SegmentationShape shape, AcceleratorStream? stream = null) =>
        Run(loss.Options, true, input, default, target, default, false, shape, 1f, stream);

    /// <summary>Fused forward+backward: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward(this LovaszHingeLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> inputGrad, SegmentationShape shape,
        float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss.Options, true, input, default, target, inputGrad, true, shape, upstream, stream);

    /// <summary>Backward only: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this LovaszHingeLoss loss, ArrayView<float> input, ArrayView<float> target, float upstream, ArrayView<float> inputGrad, SegmentationShape shape,
        AcceleratorStream? stream = null) =>
        Run(loss.Options, true, input, default, target, inputGrad, true, shape, upstream, stream);

    private static float Run(in OverlapOptions options, bool hinge, ArrayView<float> input, ArrayView<long> labels, ArrayView<float> dense, ArrayView<float> gradient,
        bool writeGradient, SegmentationShape shape, float upstream, AcceleratorStream? stream)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(input, nameof(input));
        LovaszHost.Check(options, hinge, shape, input.Length, hinge ? dense.Length : labels.Length);
        long n = input.Length;
        if (hinge)
            ViewChecks.Required(dense, accelerator, n, "target");
        else
            ViewChecks.Required(labels, accelerator, shape.Pixels, "target");
        if (writeGradient)
        {
            ViewChecks.Destination(gradient, accelerator, n, "inputGrad");
            ViewChecks.IfPartialOverlap(input, gradient, n, "inputGrad");
            ViewChecks.IfOverlaps(dense, dense.Length, gradient, n, "inputGrad", "target");
            ViewChecks.IfOverlaps(labels, labels.Length, gradient, n, "inputGrad", "target");
        }

        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        int groups = LovaszHost.Groups(options, shape), perGroup = LovaszHost.TasksPerGroup(hinge, shape), tasks = groups * perGroup, classes = shape.Classes;
        int length = (int)LovaszHost.GroupLength(options, hinge, shape);
        LovaszHost.DeviceChunks(length, out int threads, out int chunk);
        int[] classCounts = ArrayPool<int>.Shared.Rent(Math.Max(1, groups * classes));
        try
        {
            lock (state.Gate)
            {
                if (hinge)
                {
                    ItemKernel.Launch(new LovaszBinaryCheckPass(dense, options, state.Fault), accelerator, queue);
                    if (state.TakeFault(queue) is long position)
                        LovaszHost.ThrowNotBinary(position, RowChecks.ReadBack(dense, position, queue), options.IgnoreIndex);
                }
                else
                {
                    RowChecks.CheckTargets(state, queue, labels, default, classes, options.IgnoreIndex, countRows: false);
                    ArrayView<int> counts = state.ClearedCounts(queue, Math.Max(1, groups * classes));
                    ItemKernel.Launch(new LovaszClassCountPass(labels, shape, options, counts), accelerator, queue);
                    state.ReadCounts(queue, groups * classes).CopyTo(classCounts);
                }

                bool softmax = !hinge && options.FromLogits;
                ArrayView<float> stats = softmax ? state.Scratch(0, 2 * shape.Pixels) : default;
                if (softmax)
                    ItemKernel.Launch(new OverlapStatsPass(new OverlapViews(input, labels, dense, stats, default, default, shape, 0, options)), accelerator, queue);
                // The walk writes ∂L/∂p into scratch for the chain launch (softmax from logits), else the gradient itself.
                ArrayView<float> destination = !writeGradient ? default : softmax ? state.Scratch(1, n) : gradient;
                var sort = new LovaszSort(state, queue, length, threads, chunk);
                long stride = (long)classes * shape.Spatial;
                double loss = 0d;
                for (int task = 0; task < tasks && length > 0; task++)
                {
                    int group = task / perGroup, c = task % perGroup, firstImage = options.PerImage ? group : 0;
                    double scale = hinge ? 1d / groups : LovaszHost.TaskScale(classCounts.AsSpan(0, groups * classes), group, c, classes, groups);
                    var place = new LovaszPlace(hinge ? firstImage * stride : ((long)firstImage * classes + c) * shape.Spatial, hinge ? length : shape.Spatial, stride);
                    if (scale == 0d)
                    {
                        if (writeGradient)
                            ItemKernel.Launch(new LovaszClearPass(destination, place, length), accelerator, queue);
                        continue;
                    }

                    if (hinge)
                        ItemKernel.Launch(new LovaszHingeKeysPass(input, dense, place.First, length, options, sort.Keys, sort.Values), accelerator, queue);
                    else
                        ItemKernel.Launch(new LovaszSoftmaxKeysPass(input, labels, stats, shape, firstImage, length, c, options, sort.Keys, sort.Values), accelerator, queue);
                    sort.Sort();
                    loss += scale * sort.Walk(place, (float)(scale * upstream), writeGradient, destination);
                }

                if (softmax && writeGradient)
                    ItemKernel.Launch(new LovaszSoftmaxChainPass(input, stats, destination, gradient, shape), accelerator, queue);
                queue.Synchronize();
                return (float)loss;
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(classCounts);
        }
    }
}

/// <summary><see cref="IFloatBits"/> in ILGPU kernels.</summary>
internal readonly struct IlgpuFloatBits : IFloatBits
{
    public static uint ToBits(float value) => Interop.FloatAsInt(value);

    public static float FromBits(uint bits) => Interop.IntAsFloat(bits);
}

/// <summary>Where position i of a task lands: <c>First + i / Span · Stride + i % Span</c> (a hinge group is contiguous; a softmax class's pixels lie in its planes).</summary>
internal readonly struct LovaszPlace(long first, int span, long stride)
{
    public readonly long First = first;
    public readonly int Span = span;
    public readonly long Stride = stride;

    public long At(int position) => First + position / Span * Stride + position % Span;
}

/// <summary>
/// One task's sort on the device: the key and payload buffers (scratch 2 to 5), the counts (scratch 6), the four radix
/// passes and the walk, in chunks of <c>LovaszHost.DeviceChunks</c>.
/// </summary>
internal readonly struct LovaszSort
{
    private readonly LossAccelerator state;
    private readonly AcceleratorStream stream;
    private readonly int length, threads, chunk;
    private readonly ArrayView<uint> spareKeys, spareValues;
    private readonly ArrayView<int> counts;

    public LovaszSort(LossAccelerator state, AcceleratorStream stream, int length, int threads, int chunk)
    {
        this.state = state;
        this.stream = stream;
        this.length = length;
        this.threads = threads;
        this.chunk = chunk;
        Keys = state.Scratch(2, Math.Max(length, 1)).Cast<uint>();
        Values = state.Scratch(3, Math.Max(length, 1)).Cast<uint>();
        spareKeys = state.Scratch(4, Math.Max(length, 1)).Cast<uint>();
        spareValues = state.Scratch(5, Math.Max(length, 1)).Cast<uint>();
        counts = state.Scratch(6, (1L << LovaszHost.DeviceRadixBits) * threads).Cast<int>();
    }

    /// <summary>The task's keys, sorted in place by <see cref="Sort"/>.</summary>
    public ArrayView<uint> Keys { get; }

    /// <summary>The task's payloads, sorted along.</summary>
    public ArrayView<uint> Values { get; }

    /// <summary>Four stable 8-bit passes; an even count, so the sorted pairs end in <see cref="Keys"/> and <see cref="Values"/>.</summary>
    public void Sort()
    {
        for (int pass = 0; pass < 32 / LovaszHost.DeviceRadixBits; pass++)
        {
            bool even = pass % 2 == 0;
            var run = new LovaszRadixRun(even ? Keys : spareKeys, even ? Values : spareValues, even ? spareKeys : Keys, even ? spareValues : Values, counts,
                length, chunk, threads, pass * LovaszHost.DeviceRadixBits);
            ItemKernel.Launch(new LovaszRadixCountsPass(run), state.Accelerator, stream);
            Scan((1 << LovaszHost.DeviceRadixBits) * threads);
            ItemKernel.Launch(new LovaszRadixScatterPass(run), state.Accelerator, stream);
        }
    }

    /// <summary>The walk over the sorted pairs: returns Σ relu(e)·w (waiting for it) and writes <c>scale·∂/∂input</c> at each element's place when asked.</summary>
    public double Walk(LovaszPlace place, float gradientScale, bool writeGradient, ArrayView<float> destination)
    {
        var run = new LovaszRadixRun(Keys, Values, default, default, counts, length, chunk, threads, 0);
        ItemKernel.Launch(new LovaszWalkCountsPass(run), state.Accelerator, stream);
        Scan(2 * threads);
        return ItemKernel.Launch(new LovaszWalkPass(run, place, gradientScale, writeGradient ? 1 : 0, destination), state.Accelerator, stream);
    }

    /// <summary>The exclusive prefix sum of the first <paramref name="count"/> counts, by one work-group.</summary>
    private void Scan(int count) => ScanKernel.For(state)(stream, new KernelConfig(1, state.GroupSize), counts, count);

    /// <summary>The most threads of the scan's work-group (<see cref="LossAccelerator.PreferredGroupSize"/>): the shared memory holds one sum per thread.</summary>
    private const int MaxScanGroup = LossAccelerator.PreferredGroupSize;

    private static readonly LoadedKernel<Action<AcceleratorStream, KernelConfig, ArrayView<int>, int>> ScanKernel =
        new(accelerator => accelerator.LoadKernel<ArrayView<int>, int>(ExclusiveScan));

    /// <summary>Each thread sums a contiguous range, the first thread scans the range sums, then each thread writes its range's prefixes.</summary>
    private static void ExclusiveScan(ArrayView<int> counts, int length)
    {
        ArrayView<int> sums = SharedMemory.Allocate<int>(MaxScanGroup);
        int lane = Group.IdxX, size = Group.DimX, per = (length + size - 1) / size, from = Math.Min(length, lane * per), to = Math.Min(length, from + per);
        int sum = 0;
        for (int i = from; i < to; i++)
            sum += counts[i];
        sums[lane] = sum;
        Group.Barrier();
        if (lane == 0)
        {
            int running = 0;
            for (int k = 0; k < size; k++)
            {
                int value = sums[k];
                sums[k] = running;
                running += value;
            }
        }

        Group.Barrier();
        int prefix = sums[lane];
        for (int i = from; i < to; i++)
        {
            int value = counts[i];
            counts[i] = prefix;
            prefix += value;
        }
    }
}

/// <summary>The buffers and chunking of one radix pass or walk.</summary>
internal readonly struct LovaszRadixRun(ArrayView<uint> keys, ArrayView<uint> values, ArrayView<uint> sortedKeys, ArrayView<uint> sortedValues, ArrayView<int> counts,
    int length, int chunk, int threads, int shift)
{
    public readonly ArrayView<uint> Keys = keys;
    public readonly ArrayView<uint> Values = values;
    public readonly ArrayView<uint> SortedKeys = sortedKeys;
    public readonly ArrayView<uint> SortedValues = sortedValues;
    public readonly ArrayView<int> Counts = counts;
    public readonly int Length = length;
    public readonly int Chunk = chunk;
    public readonly int Threads = threads;
    public readonly int Shift = shift;

    /// <summary>Chunk t's first element.</summary>
    public int From(long t) => (int)Math.Min(Length, t * Chunk);

    /// <summary>Chunk t's end.</summary>
    public int To(long t) => (int)Math.Min(Length, (t + 1) * Chunk);

    /// <summary>Where a key's digit of chunk t is counted: [digit, chunk].</summary>
    public long Slot(uint key, long t) => (long)((key >> Shift) & ((1u << LovaszHost.DeviceRadixBits) - 1)) * Threads + t;
}

/// <summary>Per chunk: its keys' digit counts.</summary>
internal readonly struct LovaszRadixCountsPass(LovaszRadixRun run) : IItemPass
{
    private readonly LovaszRadixRun r = run;

    public long Length => r.Threads;

    public PassFlags Flags => PassFlags.None;

    public float Run(long t)
    {
        for (int d = 0; d < 1 << LovaszHost.DeviceRadixBits; d++)
            r.Counts[(long)d * r.Threads + t] = 0;
        for (int i = r.From(t); i < r.To(t); i++)
            r.Counts[r.Slot(r.Keys[i], t)] += 1;
        return 0f;
    }
}

/// <summary>Per chunk: its pairs, in order, to their places from the scanned counts (a stable pass).</summary>
internal readonly struct LovaszRadixScatterPass(LovaszRadixRun run) : IItemPass
{
    private readonly LovaszRadixRun r = run;

    public long Length => r.Threads;

    public PassFlags Flags => PassFlags.None;

    public float Run(long t)
    {
        for (int i = r.From(t); i < r.To(t); i++)
        {
            uint key = r.Keys[i];
            long slot = r.Slot(key, t);
            int at = r.Counts[slot];
            r.Counts[slot] = at + 1;
            r.SortedKeys[at] = key;
            r.SortedValues[at] = r.Values[i];
        }

        return 0f;
    }
}

/// <summary>Per chunk of the sorted order: its foreground and background elements, into counts [t] and [threads + t].</summary>
internal readonly struct LovaszWalkCountsPass(LovaszRadixRun run) : IItemPass
{
    private readonly LovaszRadixRun r = run;

    public long Length => r.Threads;

    public PassFlags Flags => PassFlags.None;

    public float Run(long t)
    {
        int foreground = 0, background = 0;
        for (int i = r.From(t); i < r.To(t); i++)
        {
            uint value = r.Values[i];
            foreground += (value & LovaszMath.Foreground) != 0 ? 1 : 0;
            background += (value & (LovaszMath.Foreground | LovaszMath.Ignored)) != 0 ? 0 : 1;
        }

        r.Counts[t] = foreground;
        r.Counts[r.Threads + t] = background;
        return 0f;
    }
}

/// <summary>
/// Per chunk of the sorted order, from the scanned counts (counts[threads] is the task's foreground): each element's
/// weight, its relu(e)·w into the chunk's loss and its gradient at its place.
/// </summary>
internal readonly struct LovaszWalkPass(LovaszRadixRun run, LovaszPlace place, float gradientScale, int writeGradient, ArrayView<float> destination) : IItemPass
{
    private readonly LovaszRadixRun r = run;
    private readonly LovaszPlace place = place;
    private readonly float gradientScale = gradientScale;
    private readonly int writeGradient = writeGradient;
    private readonly ArrayView<float> destination = destination;

    public long Length => r.Threads;

    public PassFlags Flags => PassFlags.Reduce;

    public float Run(long t)
    {
        int foregroundCount = r.Counts[r.Threads], foregroundBefore = r.Counts[t], backgroundBefore = r.Counts[r.Threads + t] - foregroundCount;
        float sum = 0f;
        for (int i = r.From(t); i < r.To(t); i++)
        {
            uint value = r.Values[i];
            long at = place.At((int)(value & LovaszMath.PositionMask));
            if ((value & LovaszMath.Ignored) != 0)
            {
                if (writeGradient != 0)
                    destination[at] = 0f;
                continue;
            }

            bool foreground = (value & LovaszMath.Foreground) != 0;
            float error = LovaszMath.Error<IlgpuFloatBits>(r.Keys[i]);
            float weight = LovaszMath.Weight(foreground, foregroundBefore, backgroundBefore, foregroundCount);
            foregroundBefore += foreground ? 1 : 0;
            backgroundBefore += foreground ? 0 : 1;
            sum += LovaszMath.Term(error, weight);
            if (writeGradient != 0)
                destination[at] = gradientScale * LovaszMath.Slope(error, foreground, weight);
        }

        return sum;
    }
}

/// <summary>Per pixel of the group: class c's error key and payload (ignored pixels flagged, sorted last).</summary>
internal readonly struct LovaszSoftmaxKeysPass(ArrayView<float> input, ArrayView<long> labels, ArrayView<float> stats, SegmentationShape shape, int firstImage, int length,
    int c, OverlapOptions options, ArrayView<uint> keys, ArrayView<uint> values) : IItemPass
{
    private readonly ArrayView<float> input = input;
    private readonly ArrayView<long> labels = labels;
    private readonly ArrayView<float> stats = stats;
    private readonly int classes = shape.Classes, spatial = shape.Spatial, firstImage = firstImage, length = length, c = c;
    private readonly int fromLogits = options.FromLogits ? 1 : 0, hasIgnore = options.IgnoreIndex is null ? 0 : 1;
    private readonly long ignoreIndex = options.IgnoreIndex ?? 0L;
    private readonly ArrayView<uint> keys = keys, values = values;

    public long Length => length;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        int image = firstImage + (int)(i / spatial), s = (int)(i % spatial);
        long pixel = (long)image * spatial + s;
        long label = labels[pixel];
        bool ignored = hasIgnore != 0 && label == ignoreIndex, foreground = !ignored && label == c;
        float p = input[((long)image * classes + c) * spatial + s];
        if (fromLogits != 0)
            p = OverlapMath.Softmax<float, IlgpuMath>(p, stats[2 * pixel], stats[2 * pixel + 1]);
        keys[i] = ignored ? uint.MaxValue : LovaszMath.Key<IlgpuFloatBits>(LovaszMath.SoftmaxError(p, foreground));
        values[i] = (uint)i | (foreground ? LovaszMath.Foreground : 0u) | (ignored ? LovaszMath.Ignored : 0u);
        return 0f;
    }
}

/// <summary>Per element of the group: its hinge error's key and payload (ignored elements flagged, sorted last).</summary>
internal readonly struct LovaszHingeKeysPass(ArrayView<float> input, ArrayView<float> target, long first, int length, OverlapOptions options, ArrayView<uint> keys,
    ArrayView<uint> values) : IItemPass
{
    private readonly ArrayView<float> input = input, target = target;
    private readonly long first = first;
    private readonly int length = length, hasIgnore = options.IgnoreIndex is null ? 0 : 1;
    private readonly float ignoreValue = options.IgnoreIndex ?? 0L;
    private readonly ArrayView<uint> keys = keys, values = values;

    public long Length => length;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        float t = target[first + i];
        bool ignored = hasIgnore != 0 && t == ignoreValue, foreground = !ignored && t == 1f;
        keys[i] = ignored ? uint.MaxValue : LovaszMath.Key<IlgpuFloatBits>(LovaszMath.HingeError(input[first + i], foreground));
        values[i] = (uint)i | (foreground ? LovaszMath.Foreground : 0u) | (ignored ? LovaszMath.Ignored : 0u);
        return 0f;
    }
}

/// <summary>Per pixel not ignored: one more pixel of its class in its group (integer atomics: the same counts in any order).</summary>
internal readonly struct LovaszClassCountPass(ArrayView<long> labels, SegmentationShape shape, OverlapOptions options, ArrayView<int> counts) : IItemPass
{
    private readonly ArrayView<long> labels = labels;
    private readonly int classes = shape.Classes, spatial = shape.Spatial, perImage = options.PerImage ? 1 : 0, hasIgnore = options.IgnoreIndex is null ? 0 : 1;
    private readonly long ignoreIndex = options.IgnoreIndex ?? 0L;
    private readonly ArrayView<int> counts = counts;

    public long Length => labels.Length;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        long label = labels[i];
        if (!(hasIgnore != 0 && label == ignoreIndex))
            Atomic.Add(ref counts[(perImage != 0 ? i / spatial : 0) * classes + label], 1);
        return 0f;
    }
}

/// <summary>Records the first hinge target that is not 0, 1 or the ignored value.</summary>
internal readonly struct LovaszBinaryCheckPass(ArrayView<float> target, OverlapOptions options, ArrayView<long> fault) : IItemPass
{
    private readonly ArrayView<float> target = target;
    private readonly int hasIgnore = options.IgnoreIndex is null ? 0 : 1;
    private readonly float ignoreValue = options.IgnoreIndex ?? 0L;
    private readonly ArrayView<long> fault = fault;

    public long Length => target.Length;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        float t = target[i];
        if (t != 0f && t != 1f && !(hasIgnore != 0 && t == ignoreValue))
            Atomic.Min(ref fault[0], i);
        return 0f;
    }
}

/// <summary>Zero gradient for an absent class's planes.</summary>
internal readonly struct LovaszClearPass(ArrayView<float> destination, LovaszPlace place, int length) : IItemPass
{
    private readonly ArrayView<float> destination = destination;
    private readonly LovaszPlace place = place;
    private readonly int length = length;

    public long Length => length;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        destination[place.At((int)i)] = 0f;
        return 0f;
    }
}

/// <summary>Per pixel: ∂L/∂x = p·(g − Σp·g) from the walk's ∂L/∂p (every class read before any is written).</summary>
internal readonly struct LovaszSoftmaxChainPass(ArrayView<float> input, ArrayView<float> stats, ArrayView<float> probabilityGradient, ArrayView<float> gradient,
    SegmentationShape shape) : IItemPass
{
    private readonly ArrayView<float> input = input, stats = stats, probabilityGradient = probabilityGradient, gradient = gradient;
    private readonly int classes = shape.Classes, spatial = shape.Spatial;
    private readonly long pixels = shape.Pixels;

    public long Length => pixels;

    public PassFlags Flags => PassFlags.None;

    public float Run(long pixel)
    {
        long image = pixel / spatial, first = image * classes * spatial + pixel - image * spatial;
        float max = stats[2 * pixel], inverseSum = stats[2 * pixel + 1], dot = 0f;
        for (int c = 0; c < classes; c++)
        {
            long at = first + (long)c * spatial;
            dot = IlgpuMath.MultiplyAdd(OverlapMath.Softmax<float, IlgpuMath>(input[at], max, inverseSum), probabilityGradient[at], dot);
        }

        for (int c = 0; c < classes; c++)
        {
            long at = first + (long)c * spatial;
            gradient[at] = OverlapMath.SoftmaxChain<float, IlgpuMath>(OverlapMath.Softmax<float, IlgpuMath>(input[at], max, inverseSum), probabilityGradient[at], dot);
        }

        return 0f;
    }
}

/// <summary>A <see cref="LovaszBoundLoss"/> on an ILGPU accelerator.</summary>
internal sealed class IlgpuLovaszRun(LovaszBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.input, bound.denseTarget, [], [], null, classes: bound.hinge ? null : bound.classTarget)
{
    public override void Run(LossMode mode)
    {
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = bound.hinge ? bound.Hinge.Forward(Input, Target, bound.shape, Stream) : bound.Softmax.Forward(Input, Classes, bound.shape, Stream);
                break;
            case LossMode.Fused:
                bound.Loss[0] = bound.hinge ? bound.Hinge.ForwardBackward(Input, Target, Gradient, bound.shape, bound.upstream, Stream)
                    : bound.Softmax.ForwardBackward(Input, Classes, Gradient, bound.shape, bound.upstream, Stream);
                break;
            default:
                if (bound.hinge)
                    bound.Hinge.Backward(Input, Target, bound.upstream, Gradient, bound.shape, Stream);
                else
                    bound.Softmax.Backward(Input, Classes, bound.upstream, Gradient, bound.shape, Stream);
                break;
        }
    }
}
