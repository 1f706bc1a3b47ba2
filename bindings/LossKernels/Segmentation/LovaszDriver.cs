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
                double loss = ChunkedRun.Run(new Tasks<TIndex>(args), groups * LovaszHost.TasksPerGroup(hinge, shape), threshold, 1);
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

    /// <summary>One sort and walk per task, on pooled buffers; each task returns its loss, already divided as the means divide.</summary>
    private readonly struct Tasks<TIndex>(LovaszArgs<TIndex> args) : IRangeKernel
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        private readonly LovaszArgs<TIndex> args = args;

        public double RunRange(nint start, nint length)
        {
            double sum = 0d;
            for (nint task = start; task < start + length; task++)
                sum += Task((int)task);
            return sum;
        }

        private double Task(int task)
        {
            SegmentationShape shape = args.Shape;
            int perGroup = LovaszHost.TasksPerGroup(args.Hinge, shape), group = task / perGroup, c = task % perGroup;
            int firstImage = args.Options.PerImage ? group : 0, images = LovaszHost.ImagesPerGroup(args.Options, shape);
            double scale = args.Hinge ? 1d / args.Groups
                : LovaszHost.TaskScale(new ReadOnlySpan<int>(args.ClassCounts, args.Groups * shape.Classes), group, c, shape.Classes, args.Groups);
            if (scale == 0d)
            {
                // An absent class: no share of the loss, a zero gradient.
                for (int n = firstImage; args.Destination != null && n < firstImage + images; n++)
                    new Span<float>(args.Destination + ((nint)n * shape.Classes + c) * shape.Spatial, shape.Spatial).Clear();
                return 0d;
            }

            int length = (int)LovaszHost.GroupLength(args.Options, args.Hinge, shape);
            uint[] buffers = ArrayPool<uint>.Shared.Rent(Math.Max(1, 4 * length));
            try
            {
                fixed (uint* pinned = buffers)
                {
                    uint* keys = pinned, values = keys + length, spareKeys = values + length, spareValues = spareKeys + length;
                    int count = args.Hinge ? BuildHinge(firstImage, images, keys, values, out int foreground) : BuildSoftmax(firstImage, images, c, keys, values, out foreground);
                    if (RadixSort.Sort(keys, values, spareKeys, spareValues, count))
                    {
                        keys = spareKeys;
                        values = spareValues;
                    }

                    return scale * Walk(keys, values, count, foreground, firstImage, c, (float)(scale * args.Upstream));
                }
            }
            finally
            {
                ArrayPool<uint>.Shared.Return(buffers);
            }
        }

        /// <summary>Class c's errors of the group's pixels not ignored, as keys and payloads; zero gradient at the ignored ones.</summary>
        private int BuildSoftmax(int firstImage, int images, int c, uint* keys, uint* values, out int foreground)
        {
            if (Vector512.IsHardwareAccelerated)
                return BuildSoftmax<Vector512<float>, Width512>(firstImage, images, c, keys, values, out foreground);
            if (Vector256.IsHardwareAccelerated)
                return BuildSoftmax<Vector256<float>, Width256>(firstImage, images, c, keys, values, out foreground);
            return BuildSoftmax<Vector128<float>, Width128>(firstImage, images, c, keys, values, out foreground);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private int BuildSoftmax<TVec, TMath>(int firstImage, int images, int c, uint* keys, uint* values, out int foreground)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int spatial = args.Shape.Spatial, classes = args.Shape.Classes, lanes = TMath.Count, count = 0;
            float* probabilities = stackalloc float[lanes];
            float* pad = stackalloc float[3 * lanes];
            foreground = 0;
            for (int n = firstImage; n < firstImage + images; n++)
            {
                float* x = args.Input + ((nint)n * classes + c) * spatial;
                nint pixel = (nint)n * spatial;
                for (int s = 0; s < spatial; s += lanes)
                {
                    int used = Math.Min(lanes, spatial - s);
                    TVec p = Lanes.Load<TVec, TMath>(x + s, used, pad);
                    if (args.Options.FromLogits)
                        p = OverlapMath.Softmax<TVec, TMath>(p, Lanes.Load<TVec, TMath>(args.Stats + pixel + s, used, pad + lanes),
                            Lanes.Load<TVec, TMath>(args.Stats + args.Shape.Pixels + pixel + s, used, pad + 2 * lanes));
                    TMath.Store(p, ref probabilities[0]);
                    for (int l = 0; l < used; l++)
                    {
                        long label = long.CreateTruncating(args.ClassTarget[pixel + s + l]);
                        if (args.Options.IgnoreIndex is long ignored && label == ignored)
                        {
                            if (args.Destination != null)
                                args.Destination[((nint)n * classes + c) * spatial + s + l] = 0f;
                            continue;
                        }

                        bool isForeground = label == c;
                        foreground += isForeground ? 1 : 0;
                        keys[count] = LovaszMath.Key<FloatBits>(LovaszMath.SoftmaxError(probabilities[l], isForeground));
                        values[count++] = (uint)((n - firstImage) * spatial + s + l) | (isForeground ? LovaszMath.Foreground : 0u);
                    }
                }
            }

            return count;
        }

        /// <summary>The group's hinge errors of every element not ignored, as keys and payloads; zero gradient at the ignored ones.</summary>
        private int BuildHinge(int firstImage, int images, uint* keys, uint* values, out int foreground)
        {
            nint first = (nint)firstImage * args.Shape.Classes * args.Shape.Spatial;
            int length = images * args.Shape.Classes * args.Shape.Spatial, count = 0;
            float* x = args.Input + first, t = args.DenseTarget + first;
            foreground = 0;
            for (int i = 0; i < length; i++)
            {
                if (args.Options.IgnoreIndex is long ignored && t[i] == ignored)
                {
                    if (args.Destination != null)
                        args.Destination[first + i] = 0f;
                    continue;
                }

                bool isForeground = t[i] == 1f;
                foreground += isForeground ? 1 : 0;
                keys[count] = LovaszMath.Key<FloatBits>(LovaszMath.HingeError(x[i], isForeground));
                values[count++] = (uint)i | (isForeground ? LovaszMath.Foreground : 0u);
            }

            return count;
        }

        /// <summary>The sorted walk: Σ relu(e)·w in double, and <c>scale·∂(relu(e)·w)/∂input</c> at each element's place.</summary>
        private double Walk(uint* keys, uint* values, int count, int foreground, int firstImage, int c, float gradientScale)
        {
            int spatial = args.Shape.Spatial, classes = args.Shape.Classes, foregroundBefore = 0, backgroundBefore = 0;
            // Where position i of the group lands: the hinge's group is contiguous; the softmax's pixel i of class c is in plane (image, c).
            nint first = args.Hinge ? (nint)firstImage * classes * spatial : ((nint)firstImage * classes + c) * spatial;
            int span = args.Hinge ? int.MaxValue : spatial;
            nint stride = (nint)classes * spatial;
            double sum = 0d;
            for (int r = 0; r < count; r++)
            {
                uint value = values[r];
                bool isForeground = (value & LovaszMath.Foreground) != 0;
                float error = LovaszMath.Error<FloatBits>(keys[r]);
                float weight = LovaszMath.Weight(isForeground, foregroundBefore, backgroundBefore, foreground);
                foregroundBefore += isForeground ? 1 : 0;
                backgroundBefore += isForeground ? 0 : 1;
                sum += LovaszMath.Term(error, weight);
                if (args.Destination != null)
                {
                    int position = (int)(value & LovaszMath.PositionMask);
                    args.Destination[first + position / span * stride + position % span] = gradientScale * LovaszMath.Slope(error, isForeground, weight);
                }
            }

            return sum;
        }
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
