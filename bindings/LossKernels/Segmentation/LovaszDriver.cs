using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossKernels.Segmentation;

/// <summary>
/// One Lovász call on the CPU: pointers into the caller's pinned spans and the pooled scratch, the shape and options.
/// </summary>
internal readonly unsafe struct LovaszArgs<TIndex>(float* input, TIndex* classTarget, float* denseTarget, float* gradient, float* destination,
    float* stats, int* classCounts, SegmentationShape shape, OverlapOptions options, bool hinge, float upstream)
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    public readonly float* Input = input;
    public readonly TIndex* ClassTarget = classTarget;
    public readonly float* DenseTarget = denseTarget;

    /// <summary>The caller's gradient (null for the forward).</summary>
    public readonly float* Gradient = gradient;

    /// <summary>Where the walk writes ∂L/∂p (softmax from logits: a pooled [N, C, S] buffer the last sweep chains) or ∂L/∂input (the gradient); null for the forward.</summary>
    public readonly float* Destination = destination;

    /// <summary>Softmax from logits: the max per pixel, then 1/Σe per pixel (two planes of N·S).</summary>
    public readonly float* Stats = stats;

    /// <summary>Softmax: the pixels of each class per group, [groups, C].</summary>
    public readonly int* ClassCounts = classCounts;
    public readonly SegmentationShape Shape = shape;
    public readonly OverlapOptions Options = options;
    public readonly bool Hinge = hinge;
    public readonly float Upstream = upstream;

    public int Groups => LovaszHost.Groups(Options, Shape);
}

/// <summary>
/// The CPU side of the Lovász losses (<see cref="LovaszLoss"/>): per task (a group's class, or a group) the errors into
/// radix-sort keys with their positions, the sort, and the walk in sorted order that adds <c>relu(e)·w</c> and writes each
/// element's gradient. The softmax's statistics and its chain rule are sweeps over neighbouring pixels in vectors, from
/// <see cref="OverlapMath"/>.
/// </summary>
internal static unsafe class LovaszDriver
{
    /// <summary>Pixels per chunk of the softmax sweeps.</summary>
    private const int SweepPixels = 16384;

    public static float Run<TIndex>(in OverlapOptions options, bool hinge, ReadOnlySpan<float> input, ReadOnlySpan<TIndex> classTarget, ReadOnlySpan<float> denseTarget,
        Span<float> gradient, in SegmentationShape shape, float upstream)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        int groups = LovaszHost.Groups(options, shape), classes = shape.Classes;
        bool softmax = !hinge && options.FromLogits;
        int pixels = (int)shape.Pixels;
        int[] counts = ArrayPool<int>.Shared.Rent(Math.Max(1, groups * classes));
        float[] stats = ArrayPool<float>.Shared.Rent(softmax ? Math.Max(1, 2 * pixels) : 1);
        // The softmax's ∂L/∂p waits in a pooled buffer for the chain sweep, which may then overwrite the input.
        float[] probabilityGradient = ArrayPool<float>.Shared.Rent(softmax && !gradient.IsEmpty ? input.Length : 1);
        try
        {
            if (!hinge)
                CountClasses(classTarget, counts.AsSpan(0, groups * classes), shape, options);
            fixed (float* x = input, t = denseTarget, g = gradient, s = stats, pg = probabilityGradient)
            fixed (TIndex* labels = classTarget)
            fixed (int* classCounts = counts)
            {
                float* destination = gradient.IsEmpty ? null : softmax ? pg : g;
                var args = new LovaszArgs<TIndex>(x, labels, hinge ? t : null, gradient.IsEmpty ? null : g, destination, s, classCounts, shape, options, hinge, upstream);
                int threshold = shape.InputLength >= ElementwiseDriver.ParallelThreshold ? 0 : int.MaxValue;
                if (softmax && pixels > 0)
                    ChunkedRun.Run(new SoftmaxSweep<TIndex, StatsStage>(args), pixels, threshold, SweepPixels);
                double loss = RunTasks(args, threshold);
                if (softmax && !gradient.IsEmpty && pixels > 0)
                    ChunkedRun.Run(new SoftmaxSweep<TIndex, ChainStage>(args), pixels, threshold, SweepPixels);
                return (float)loss;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(probabilityGradient);
            ArrayPool<float>.Shared.Return(stats);
            ArrayPool<int>.Shared.Return(counts);
        }
    }

    /// <summary>The pixels of each class per group, not ignored.</summary>
    private static void CountClasses<TIndex>(ReadOnlySpan<TIndex> target, Span<int> counts, in SegmentationShape shape, in OverlapOptions options)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        counts.Clear();
        for (int i = 0; i < target.Length; i++)
        {
            long label = long.CreateTruncating(target[i]);
            if (!(options.IgnoreIndex is long ignored && label == ignored))
                counts[(options.PerImage ? i / shape.Spatial : 0) * shape.Classes + (int)label]++;
        }
    }

    /// <summary>Tasks fewer than this, each of at least <see cref="ChunkedTaskLength"/> elements, are sorted one at a time across the threads (a function of the shape alone).</summary>
    private const int ChunkedTaskLimit = 4;

    /// <summary>The least task length sorted in chunks across the threads.</summary>
    private const int ChunkedTaskLength = ElementwiseDriver.ParallelThreshold;

    /// <summary>Elements per chunk of a task sorted across the threads.</summary>
    private const int SortChunk = 65536;

    /// <summary>
    /// The tasks: many (a class per group, or many images) run one per thread, each sorted on one thread; a few large ones
    /// run one after another, each sorted in chunks across the threads. Which depends on the shape alone, so every thread
    /// count gives the same bits.
    /// </summary>
    private static double RunTasks<TIndex>(in LovaszArgs<TIndex> args, int threshold)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        int tasks = args.Groups * LovaszHost.TasksPerGroup(args.Hinge, args.Shape);
        if (tasks >= ChunkedTaskLimit || LovaszHost.GroupLength(args.Options, args.Hinge, args.Shape) < ChunkedTaskLength)
            return ChunkedRun.Run(new Tasks<TIndex>(args), tasks, threshold, 1);
        double loss = 0d;
        for (int task = 0; task < tasks; task++)
            loss += ChunkedTask(args, new TaskPlan<TIndex>(args, task), threshold);
        return loss;
    }

    /// <summary>One task: its group, class, images, length, share of the loss, and where its positions land in the gradient.</summary>
    private readonly struct TaskPlan<TIndex>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        public readonly int Class, FirstImage, Images, Length;
        public readonly double Scale;

        /// <summary>Position i of the task lands at <c>First + i / Span · Stride + i % Span</c>: a hinge group is contiguous; a softmax class's pixels lie in its planes.</summary>
        public readonly nint First, Stride;
        public readonly int Span;

        public TaskPlan(in LovaszArgs<TIndex> args, int task)
        {
            SegmentationShape shape = args.Shape;
            int perGroup = LovaszHost.TasksPerGroup(args.Hinge, shape), group = task / perGroup;
            Class = task % perGroup;
            FirstImage = args.Options.PerImage ? group : 0;
            Images = LovaszHost.ImagesPerGroup(args.Options, shape);
            Length = (int)LovaszHost.GroupLength(args.Options, args.Hinge, shape);
            Scale = args.Hinge ? 1d / args.Groups
                : LovaszHost.TaskScale(new ReadOnlySpan<int>(args.ClassCounts, args.Groups * shape.Classes), group, Class, shape.Classes, args.Groups);
            Stride = (nint)shape.Classes * shape.Spatial;
            First = args.Hinge ? FirstImage * Stride : ((nint)FirstImage * shape.Classes + Class) * shape.Spatial;
            Span = args.Hinge ? Math.Max(Length, 1) : shape.Spatial;
        }

        public nint At(int position) => First + position / Span * Stride + position % Span;

        /// <summary>An absent class: no share of the loss and a zero gradient in its planes.</summary>
        public void ClearAbsent(float* destination)
        {
            for (int row = 0; destination != null && row < Length / Span; row++)
                new Span<float>(destination + First + row * Stride, Span).Clear();
        }
    }

    /// <summary>One sort and walk per task on one thread, on pooled buffers; each task returns its loss, already divided as the means divide.</summary>
    private readonly struct Tasks<TIndex>(LovaszArgs<TIndex> args) : IRangeKernel
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        private readonly LovaszArgs<TIndex> args = args;

        public double RunRange(nint start, nint length)
        {
            double sum = 0d;
            for (nint task = start; task < start + length; task++)
                sum += Task(new TaskPlan<TIndex>(args, (int)task));
            return sum;
        }

        private double Task(in TaskPlan<TIndex> plan)
        {
            if (plan.Scale == 0d)
            {
                plan.ClearAbsent(args.Destination);
                return 0d;
            }

            uint[] buffers = ArrayPool<uint>.Shared.Rent(Math.Max(1, 4 * plan.Length));
            try
            {
                fixed (uint* pinned = buffers)
                {
                    uint* keys = pinned, values = keys + plan.Length, spareKeys = values + plan.Length, spareValues = spareKeys + plan.Length;
                    int count = Build(args, plan, 0, plan.Length, keys, values, compact: true, out int foreground);
                    if (RadixSort.Sort(keys, values, spareKeys, spareValues, count))
                    {
                        keys = spareKeys;
                        values = spareValues;
                    }

                    return plan.Scale * Walk(args, plan, keys, values, count, 0, 0, foreground, (float)(plan.Scale * args.Upstream));
                }
            }
            finally
            {
                ArrayPool<uint>.Shared.Return(buffers);
            }
        }
    }

    /// <summary>
    /// A large task across the threads: keys built per chunk (ignored elements flagged and sorted along, as on the devices),
    /// then per radix pass the chunks' digit counts, their prefix in [digit, chunk] order, and each chunk scattered in order
    /// (a stable pass); then each chunk's foreground and background counts, their prefix, and the walk per chunk, whose sums
    /// are added in chunk order.
    /// </summary>
    private static double ChunkedTask<TIndex>(in LovaszArgs<TIndex> args, in TaskPlan<TIndex> plan, int threshold)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        if (plan.Scale == 0d)
        {
            plan.ClearAbsent(args.Destination);
            return 0d;
        }

        int length = plan.Length, chunks = (length + SortChunk - 1) / SortChunk;
        uint[] buffers = ArrayPool<uint>.Shared.Rent(4 * length);
        int[] counts = ArrayPool<int>.Shared.Rent(chunks * RadixSort.Buckets);
        try
        {
            fixed (uint* pinned = buffers)
            fixed (int* table = counts)
            {
                var sort = new ChunkedSort<TIndex>(args, plan, pinned, table, chunks);
                ChunkedRun.Run(sort.At(ChunkedStage.Build), chunks, threshold, 1);
                for (int shift = 0; shift < 32; shift += RadixSort.DigitBits)
                {
                    ChunkedRun.Run(sort.At(ChunkedStage.Count, shift), chunks, threshold, 1);
                    if (RadixSort.Prefix(table, chunks, length))
                        continue;
                    ChunkedRun.Run(sort.At(ChunkedStage.Scatter, shift), chunks, threshold, 1);
                    sort = sort.Swapped();
                }

                ChunkedRun.Run(sort.At(ChunkedStage.WalkCounts), chunks, threshold, 1);
                int foreground = 0;
                for (int k = 0; k < chunks; k++)
                    foreground += table[k];
                // Foreground and background before each chunk.
                for (int k = 0, foregroundBefore = 0, backgroundBefore = 0; k < chunks; k++)
                {
                    int chunkForeground = table[k], chunkBackground = table[chunks + k];
                    table[k] = foregroundBefore;
                    table[chunks + k] = backgroundBefore;
                    foregroundBefore += chunkForeground;
                    backgroundBefore += chunkBackground;
                }

                return plan.Scale * ChunkedRun.Run(sort.At(ChunkedStage.Walk, foreground: foreground), chunks, threshold, 1);
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(counts);
            ArrayPool<uint>.Shared.Return(buffers);
        }
    }

    private enum ChunkedStage
    {
        Build,
        Count,
        Scatter,
        WalkCounts,
        Walk,
    }

    /// <summary>One stage of a task sorted in chunks of <see cref="SortChunk"/> elements: chunk k runs on one thread.</summary>
    private readonly struct ChunkedSort<TIndex> : IRangeKernel
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        private readonly LovaszArgs<TIndex> args;
        private readonly TaskPlan<TIndex> plan;
        private readonly uint* keys, values, spareKeys, spareValues;
        private readonly int* table;
        private readonly int chunks, shift, foreground;
        private readonly ChunkedStage stage;

        public ChunkedSort(in LovaszArgs<TIndex> args, in TaskPlan<TIndex> plan, uint* buffers, int* table, int chunks)
        {
            this.args = args;
            this.plan = plan;
            keys = buffers;
            values = buffers + plan.Length;
            spareKeys = values + plan.Length;
            spareValues = spareKeys + plan.Length;
            this.table = table;
            this.chunks = chunks;
        }

        private ChunkedSort(in ChunkedSort<TIndex> from, uint* keys, uint* values, uint* spareKeys, uint* spareValues, ChunkedStage stage, int shift, int foreground)
        {
            this = from;
            this.keys = keys;
            this.values = values;
            this.spareKeys = spareKeys;
            this.spareValues = spareValues;
            this.stage = stage;
            this.shift = shift;
            this.foreground = foreground;
        }

        /// <summary>The same buffers for <paramref name="next"/>.</summary>
        public ChunkedSort<TIndex> At(ChunkedStage next, int digitShift = 0, int foreground = 0) =>
            new(this, keys, values, spareKeys, spareValues, next, digitShift, foreground);

        /// <summary>After a scatter: the sorted pairs are in the spare buffers.</summary>
        public ChunkedSort<TIndex> Swapped() => new(this, spareKeys, spareValues, keys, values, stage, shift, foreground);

        public double RunRange(nint start, nint length)
        {
            double sum = 0d;
            for (int k = (int)start; k < start + length; k++)
            {
                int from = k * SortChunk, to = Math.Min(plan.Length, from + SortChunk);
                switch (stage)
                {
                    case ChunkedStage.Build:
                        Build(args, plan, from, to, keys + from, values + from, compact: false, out _);
                        break;
                    case ChunkedStage.Count:
                        RadixSort.CountDigits(keys + from, to - from, shift, table + k * RadixSort.Buckets);
                        break;
                    case ChunkedStage.Scatter:
                        RadixSort.Scatter(keys + from, values + from, to - from, shift, table + k * RadixSort.Buckets, spareKeys, spareValues);
                        break;
                    case ChunkedStage.WalkCounts:
                        int chunkForeground = 0, chunkBackground = 0;
                        for (int i = from; i < to; i++)
                        {
                            chunkForeground += (values[i] & LovaszMath.Foreground) != 0 ? 1 : 0;
                            chunkBackground += (values[i] & (LovaszMath.Foreground | LovaszMath.Ignored)) != 0 ? 0 : 1;
                        }

                        table[k] = chunkForeground;
                        table[chunks + k] = chunkBackground;
                        break;
                    default:
                        sum += Walk(args, plan, keys + from, values + from, to - from, table[k], table[chunks + k], foreground, (float)(plan.Scale * args.Upstream));
                        break;
                }
            }

            return sum;
        }
    }

    /// <summary>
    /// The keys and payloads of the task's positions [<paramref name="from"/>, <paramref name="to"/>) from <paramref name="keys"/> on:
    /// compacted (ignored elements left out, their gradient zeroed) or, for the chunked sort, in place (ignored ones flagged,
    /// sorted last, zeroed by the walk). Returns the count written and the foreground elements among them.
    /// </summary>
    private static int Build<TIndex>(in LovaszArgs<TIndex> args, in TaskPlan<TIndex> plan, int from, int to, uint* keys, uint* values, bool compact, out int foreground)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        if (args.Hinge)
            return BuildHinge(args, plan, from, to, keys, values, compact, out foreground);
        if (Vector512.IsHardwareAccelerated)
            return BuildSoftmax<TIndex, Vector512<float>, Width512>(args, plan, from, to, keys, values, compact, out foreground);
        if (Vector256.IsHardwareAccelerated)
            return BuildSoftmax<TIndex, Vector256<float>, Width256>(args, plan, from, to, keys, values, compact, out foreground);
        return BuildSoftmax<TIndex, Vector128<float>, Width128>(args, plan, from, to, keys, values, compact, out foreground);
    }

    /// <summary>Class c's errors of the pixels: the probabilities in vectors of neighbouring pixels of one image, then a key and payload per pixel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int BuildSoftmax<TIndex, TVec, TMath>(in LovaszArgs<TIndex> args, in TaskPlan<TIndex> plan, int from, int to, uint* keys, uint* values, bool compact,
        out int foreground)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        int spatial = args.Shape.Spatial, classes = args.Shape.Classes, lanes = TMath.Count, count = 0, c = plan.Class;
        float* probabilities = stackalloc float[lanes];
        float* pad = stackalloc float[3 * lanes];
        foreground = 0;
        for (int position = from; position < to;)
        {
            int n = plan.FirstImage + position / spatial, s = position % spatial, used = Math.Min(Math.Min(lanes, spatial - s), to - position);
            nint pixel = (nint)n * spatial + s;
            TVec p = Lanes.Load<TVec, TMath>(args.Input + ((nint)n * classes + c) * spatial + s, used, pad);
            if (args.Options.FromLogits)
                p = OverlapMath.Softmax<TVec, TMath>(p, Lanes.Load<TVec, TMath>(args.Stats + pixel, used, pad + lanes),
                    Lanes.Load<TVec, TMath>(args.Stats + args.Shape.Pixels + pixel, used, pad + 2 * lanes));
            TMath.Store(p, ref probabilities[0]);
            for (int l = 0; l < used; l++)
            {
                long label = long.CreateTruncating(args.ClassTarget[pixel + l]);
                bool ignored = args.Options.IgnoreIndex is long ignoredIndex && label == ignoredIndex, isForeground = !ignored && label == c;
                count += Emit(args, plan, position + l, LovaszMath.SoftmaxError(probabilities[l], isForeground), isForeground, ignored, compact, keys + count, values + count);
                foreground += isForeground ? 1 : 0;
            }

            position += used;
        }

        return count;
    }

    /// <summary>The hinge errors of the group's elements.</summary>
    private static int BuildHinge<TIndex>(in LovaszArgs<TIndex> args, in TaskPlan<TIndex> plan, int from, int to, uint* keys, uint* values, bool compact, out int foreground)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        float* x = args.Input + plan.First, t = args.DenseTarget + plan.First;
        int count = 0;
        foreground = 0;
        for (int i = from; i < to; i++)
        {
            bool ignored = args.Options.IgnoreIndex is long ignoredValue && t[i] == ignoredValue, isForeground = !ignored && t[i] == 1f;
            count += Emit(args, plan, i, LovaszMath.HingeError(x[i], isForeground), isForeground, ignored, compact, keys + count, values + count);
            foreground += isForeground ? 1 : 0;
        }

        return count;
    }

    /// <summary>Writes one element's key and payload (returns 1), or for an ignored element when compacting zeroes its gradient and writes nothing (returns 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Emit<TIndex>(in LovaszArgs<TIndex> args, in TaskPlan<TIndex> plan, int position, float error, bool foreground, bool ignored, bool compact,
        uint* key, uint* value)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        if (ignored && compact)
        {
            if (args.Destination != null)
                args.Destination[plan.At(position)] = 0f;
            return 0;
        }

        *key = ignored ? uint.MaxValue : LovaszMath.Key<FloatBits>(error);
        *value = (uint)position | (foreground ? LovaszMath.Foreground : 0u) | (ignored ? LovaszMath.Ignored : 0u);
        return 1;
    }

    /// <summary>
    /// The walk over <paramref name="count"/> sorted pairs after <paramref name="foregroundBefore"/> foreground and
    /// <paramref name="backgroundBefore"/> background elements: Σ relu(e)·w in double, and <c>scale·∂(relu(e)·w)/∂input</c> at
    /// each element's place (zero at an ignored one).
    /// </summary>
    private static double Walk<TIndex>(in LovaszArgs<TIndex> args, in TaskPlan<TIndex> plan, uint* keys, uint* values, int count, int foregroundBefore, int backgroundBefore,
        int foreground, float gradientScale)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        double sum = 0d;
        for (int r = 0; r < count; r++)
        {
            uint value = values[r];
            if ((value & LovaszMath.Ignored) != 0)
            {
                if (args.Destination != null)
                    args.Destination[plan.At((int)(value & LovaszMath.PositionMask))] = 0f;
                continue;
            }

            bool isForeground = (value & LovaszMath.Foreground) != 0;
            float error = LovaszMath.Error<FloatBits>(keys[r]);
            float weight = LovaszMath.Weight(isForeground, foregroundBefore, backgroundBefore, foreground);
            foregroundBefore += isForeground ? 1 : 0;
            backgroundBefore += isForeground ? 0 : 1;
            sum += LovaszMath.Term(error, weight);
            if (args.Destination != null)
                args.Destination[plan.At((int)(value & LovaszMath.PositionMask))] = gradientScale * LovaszMath.Slope(error, isForeground, weight);
        }

        return sum;
    }

    private interface IStage
    {
        static abstract bool Chain { get; }
    }

    /// <summary>The softmax's max and 1/Σe per pixel.</summary>
    private readonly struct StatsStage : IStage
    {
        public static bool Chain => false;
    }

    /// <summary>∂L/∂x = p·(g − Σp·g) from the walk's ∂L/∂p; every class of a pixel read before any is written.</summary>
    private readonly struct ChainStage : IStage
    {
        public static bool Chain => true;
    }

    /// <summary>A sweep over pixels [start, start + length) of the batch in vectors of neighbouring pixels of one image (a last partial vector zero-padded).</summary>
    private readonly struct SoftmaxSweep<TIndex, TStage>(LovaszArgs<TIndex> args) : IRangeKernel
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TStage : struct, IStage
    {
        private readonly LovaszArgs<TIndex> args = args;

        public double RunRange(nint start, nint length)
        {
            if (Vector512.IsHardwareAccelerated)
                Range<Vector512<float>, Width512>(start, length);
            else if (Vector256.IsHardwareAccelerated)
                Range<Vector256<float>, Width256>(start, length);
            else
                Range<Vector128<float>, Width128>(start, length);
            return 0d;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Range<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int spatial = args.Shape.Spatial, classes = args.Shape.Classes, lanes = TMath.Count;
            float* pad = stackalloc float[3 * lanes];
            float* max = args.Stats, inverseSum = args.Stats + args.Shape.Pixels;
            for (nint pixel = start; pixel < start + length;)
            {
                nint image = pixel / spatial;
                int s = (int)(pixel - image * spatial), used = (int)Math.Min(Math.Min(lanes, spatial - s), start + length - pixel);
                float* x = args.Input + image * classes * spatial + s;
                if (!TStage.Chain)
                {
                    TVec top = Lanes.Load<TVec, TMath>(x, used, pad);
                    for (int c = 1; c < classes; c++)
                        top = TMath.Max(top, Lanes.Load<TVec, TMath>(x + (nint)c * spatial, used, pad));
                    TVec sum = TMath.Create(0f);
                    for (int c = 0; c < classes; c++)
                        sum = TMath.Add(sum, VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(Lanes.Load<TVec, TMath>(x + (nint)c * spatial, used, pad), top)));
                    Lanes.Store<TVec, TMath>(top, max + pixel, used, pad);
                    Lanes.Store<TVec, TMath>(TMath.Divide(TMath.Create(1f), sum), inverseSum + pixel, used, pad);
                }
                else
                {
                    TVec rowMax = Lanes.Load<TVec, TMath>(max + pixel, used, pad), rowInverse = Lanes.Load<TVec, TMath>(inverseSum + pixel, used, pad + lanes);
                    float* g = args.Destination + image * classes * spatial + s, destination = args.Gradient + image * classes * spatial + s;
                    TVec dot = TMath.Create(0f);
                    for (int c = 0; c < classes; c++)
                    {
                        TVec p = OverlapMath.Softmax<TVec, TMath>(Lanes.Load<TVec, TMath>(x + (nint)c * spatial, used, pad + 2 * lanes), rowMax, rowInverse);
                        dot = TMath.MultiplyAdd(p, Lanes.Load<TVec, TMath>(g + (nint)c * spatial, used, pad + 2 * lanes), dot);
                    }

                    for (int c = 0; c < classes; c++)
                    {
                        TVec p = OverlapMath.Softmax<TVec, TMath>(Lanes.Load<TVec, TMath>(x + (nint)c * spatial, used, pad + 2 * lanes), rowMax, rowInverse);
                        TVec chained = OverlapMath.SoftmaxChain<TVec, TMath>(p, Lanes.Load<TVec, TMath>(g + (nint)c * spatial, used, pad + 2 * lanes), dot);
                        Lanes.Store<TVec, TMath>(chained, destination + (nint)c * spatial, used, pad + 2 * lanes);
                    }
                }

                pixel += used;
            }
        }
    }
}

/// <summary>Loads and stores of the first <c>used</c> lanes of a vector, through a zero-padded copy when a vector would run past the data.</summary>
internal static unsafe class Lanes
{
    /// <summary>The <paramref name="used"/> floats at <paramref name="source"/>, zeros in the other lanes (<paramref name="pad"/>: TMath.Count floats of scratch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Load<TVec, TMath>(float* source, int used, float* pad)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (used == TMath.Count)
            return TMath.Load(ref *source);
        for (int l = 0; l < TMath.Count; l++)
            pad[l] = l < used ? source[l] : 0f;
        return TMath.Load(ref *pad);
    }

    /// <summary>Writes the first <paramref name="used"/> lanes of <paramref name="value"/> to <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<TVec, TMath>(TVec value, float* destination, int used, float* pad)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (used == TMath.Count)
        {
            TMath.Store(value, ref *destination);
            return;
        }

        TMath.Store(value, ref *pad);
        new ReadOnlySpan<float>(pad, used).CopyTo(new Span<float>(destination, used));
    }
}
