using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels.Segmentation;

/// <summary>
/// One overlap-loss call on the CPU: pointers into the caller's pinned spans and scratch, and the shape. Class targets are
/// <typeparamref name="TIndex"/> indices (<see cref="ClassTarget"/>); multilabel and binary targets are floats (<see cref="DenseTarget"/>).
/// </summary>
internal readonly unsafe struct OverlapArgs<TIndex>(float* input, TIndex* classTarget, float* denseTarget, float* gradient, double* partials,
    float* coefficients, SegmentationShape shape, OverlapOptions options)
    where TIndex : unmanaged, IBinaryInteger<TIndex>
{
    public readonly float* Input = input;
    public readonly TIndex* ClassTarget = classTarget;
    public readonly float* DenseTarget = denseTarget;
    public readonly float* Gradient = gradient;

    /// <summary>Sweep 1's output: [chunk, class, 5] sums.</summary>
    public readonly double* Partials = partials;

    /// <summary>Sweep 2's input: [group, class, 3] = ∂L/∂I, ∂L/∂P and 2·∂L/∂P₂, times the upstream gradient.</summary>
    public readonly float* Coefficients = coefficients;
    public readonly SegmentationShape Shape = shape;
    public readonly OverlapOptions Options = options;

    /// <summary>Chunks per image: runs of <see cref="OverlapDriver.ChunkPixels"/> pixels, never across images.</summary>
    public int ChunksPerImage => (Shape.Spatial + OverlapDriver.ChunkPixels - 1) / OverlapDriver.ChunkPixels;

    public int Chunks => Shape.Batch * ChunksPerImage;
}

/// <summary>
/// The CPU's two sweeps of the overlap losses (<see cref="IOverlapLoss"/>). Sweep 1 reads the input and target once and
/// writes, per chunk of one image's pixels, the five per-class sums; sweep 2 reads them again and writes the gradient from
/// the host's coefficients. Each sweep works on TVec's lane count of neighbouring pixels at a time (their values of a class
/// are contiguous, the classes <c>d1·…</c> apart), the softmax over the classes per lane; a last partial vector is a
/// zero-padded copy whose padding lanes are masked out. Chunks depend on the shape alone and are added in index order, so
/// every thread count gives the same bits.
/// </summary>
internal static unsafe class OverlapDriver
{
    /// <summary>Pixels per chunk: a function of nothing.</summary>
    public const int ChunkPixels = 16384;

    /// <summary>The most classes a call takes: the per-class accumulators and softmax values live on the stack.</summary>
    public const int MaxClasses = 512;

    /// <summary>Coefficients per group and class in sweep 2's table.</summary>
    public const int CoefficientCount = 3;

    /// <summary>Vectors of pixels per block: a class's float lane sums over a block are added into the chunk's double sums.</summary>
    private const int BlockVectors = 32;

    /// <summary>The most floats of a block's per-class buffers (C·vectors·lanes each): the block shrinks for many classes.</summary>
    private const int BlockFloats = 8192;

    /// <summary>Sweep 1: fills <see cref="OverlapArgs{TIndex}.Partials"/>.</summary>
    public static void Sums<TIndex>(in OverlapArgs<TIndex> args)
        where TIndex : unmanaged, IBinaryInteger<TIndex> =>
        ChunkedRun.Run(new Sweep<TIndex, SumsPass>(args), args.Chunks, Threshold(args), 1);

    /// <summary>Sweep 2: writes the gradient.</summary>
    public static void Gradient<TIndex>(in OverlapArgs<TIndex> args)
        where TIndex : unmanaged, IBinaryInteger<TIndex> =>
        ChunkedRun.Run(new Sweep<TIndex, GradientPass>(args), args.Chunks, Threshold(args), 1);

    private static int Threshold<TIndex>(in OverlapArgs<TIndex> args)
        where TIndex : unmanaged, IBinaryInteger<TIndex> =>
        args.Shape.InputLength >= ElementwiseDriver.ParallelThreshold ? 0 : int.MaxValue;

    private interface IPass
    {
        static abstract bool Gradient { get; }
    }

    private readonly struct SumsPass : IPass
    {
        public static bool Gradient => false;
    }

    private readonly struct GradientPass : IPass
    {
        public static bool Gradient => true;
    }

    private readonly struct Sweep<TIndex, TPass>(OverlapArgs<TIndex> args) : IRangeKernel
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TPass : struct, IPass
    {
        private readonly OverlapArgs<TIndex> args = args;

        public double RunRange(nint start, nint length)
        {
            for (nint chunk = start; chunk < start + length; chunk++)
            {
                if (Vector512.IsHardwareAccelerated)
                    Chunk<Vector512<float>, Width512>((int)chunk);
                else if (Vector256.IsHardwareAccelerated)
                    Chunk<Vector256<float>, Width256>((int)chunk);
                else
                    Chunk<Vector128<float>, Width128>((int)chunk);
            }

            return 0d;
        }

        /// <summary>
        /// One chunk of one image's pixels, in blocks of up to <see cref="BlockVectors"/> vectors of pixels (fewer when the
        /// classes would not fit the stack buffer): each pass over a block runs class by class, so that a class's pixels
        /// are read in memory order and the five accumulators stay in registers.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Chunk<TVec, TMath>(int chunk)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Shape.Classes, spatial = args.Shape.Spatial, count = TMath.Count;
            int image = chunk / args.ChunksPerImage;
            int from = chunk % args.ChunksPerImage * ChunkPixels, to = Math.Min(spatial, from + ChunkPixels);
            nint imageOffset = (nint)image * classes * spatial;
            bool dense = args.DenseTarget != null;
            int blockVectors = Math.Clamp(BlockFloats / (classes * count), 1, BlockVectors), blockPixels = blockVectors * count;
            // Per block: softmax values (or gradients) [class, vector, lane]; padded copies of a block that ends in a partial vector;
            // per vector: the lanes' labels, lane masks, and the softmax's max, sum and 1/sum or Σp·g.
            float* values = stackalloc float[classes * blockPixels];
            float* padInput = stackalloc float[classes * blockPixels];
            float* padTarget = stackalloc float[dense ? classes * blockPixels : 0];
            float* padGradient = stackalloc float[args.Gradient != null ? classes * blockPixels : 0];
            float* labels = stackalloc float[blockPixels];
            float* lanes = stackalloc float[blockPixels];
            float* rows = stackalloc float[2 * blockPixels];
            double* sums = args.Partials + (nint)chunk * classes * OverlapSums.Count;
            if (!TPass.Gradient)
                new Span<double>(sums, classes * OverlapSums.Count).Clear();
            float* coefficients = TPass.Gradient ? args.Coefficients + (nint)(args.Options.PerImage ? image : 0) * classes * CoefficientCount : null;
            // Multiclass from logits with a gradient: sweep 1 stores the softmax into the gradient, which sweep 2 reads instead of the logits.
            bool stored = args.Gradient != null && !dense && args.Options.FromLogits;
            for (int s = from; s < to; s += blockPixels)
            {
                int used = Math.Min(blockPixels, to - s), vectors = (used + count - 1) / count;
                float* gradient = TPass.Gradient || stored ? args.Gradient + imageOffset + s : null;
                var block = new Block(TPass.Gradient && stored ? gradient : args.Input + imageOffset + s, dense ? args.DenseTarget + imageOffset + s : null,
                    gradient, spatial, vectors, values, labels, lanes, rows);
                if (used < vectors * count)
                {
                    // A block that ends in a partial vector works on zero-padded copies of stride vectors·count, its padding lanes masked out.
                    int stride = vectors * count;
                    Pad(block.Input, padInput, spatial, stride, classes, used);
                    if (dense)
                        Pad(block.Target, padTarget, spatial, stride, classes, used);
                    block = new Block(padInput, dense ? padTarget : null, gradient != null ? padGradient : null, stride, vectors, values, labels, lanes, rows);
                }

                Prepare<TVec, TMath>(block, (nint)image * spatial + s, used);
                if (TPass.Gradient)
                {
                    Gradients<TVec, TMath>(block, coefficients);
                    if (block.Gradient == padGradient)
                        CopyOut(padGradient, args.Gradient + imageOffset + s, vectors * count, spatial, classes, used);
                }
                else
                {
                    Accumulate<TVec, TMath>(block, sums);
                    if (block.Gradient == padGradient && stored)
                        CopyOut(padGradient, args.Gradient + imageOffset + s, vectors * count, spatial, classes, used);
                }
            }
        }

        /// <summary>Copies the <paramref name="used"/> pixels of each class into a zero-padded block of stride <paramref name="stride"/>.</summary>
        private static void Pad(float* source, float* destination, nint sourceStride, int stride, int classes, int used)
        {
            for (int c = 0; c < classes; c++)
            {
                for (int j = 0; j < stride; j++)
                    destination[c * stride + j] = j < used ? source[c * sourceStride + j] : 0f;
            }
        }

        /// <summary>Writes the <paramref name="used"/> pixels of each class of a padded gradient block.</summary>
        private static void CopyOut(float* source, float* destination, int stride, nint destinationStride, int classes, int used)
        {
            for (int c = 0; c < classes; c++)
                new ReadOnlySpan<float>(source + c * stride, used).CopyTo(new Span<float>(destination + c * destinationStride, used));
        }

        /// <summary>
        /// The block's per-vector state: lane masks (padding lanes off), the lanes' class indices as floats (−1 for an ignored
        /// pixel or a padding lane), and for the multiclass mode from logits the softmax: e^(x − max) per class into the
        /// values, 1/Σe per vector.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Prepare<TVec, TMath>(in Block block, nint pixel, int used)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count, vectors = block.Vectors;
            TVec all = TMath.Equal(TMath.Create(0f), TMath.Create(0f));
            for (int v = 0; v < vectors; v++)
                TMath.Store(TMath.KeepLanes(all, 0, Math.Min(count, used - v * count)), ref block.Lanes[v * count]);
            if (block.Target != null)
                return;
            for (int j = 0; j < vectors * count; j++)
            {
                float label = -1f;
                if (j < used)
                {
                    long value = long.CreateTruncating(args.ClassTarget[pixel + j]);
                    if (!(args.Options.IgnoreIndex is long ignored && value == ignored))
                        label = value;
                }

                block.Labels[j] = label;
            }

            if (args.Options.FromLogits && !TPass.Gradient)
                Softmax<TVec, TMath>(block);
        }

        /// <summary>e^(x − max) of every class into the values and 1/Σe per vector into the first row of the block's rows (NaN where a logit is NaN).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Softmax<TVec, TMath>(in Block block)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Shape.Classes, count = TMath.Count, vectors = block.Vectors;
            float* max = block.Rows, sum = block.Rows + vectors * count;
            for (int v = 0; v < vectors; v++)
            {
                Prefetch(block.Input, (vectors + v) * count);
                TMath.Store(TMath.Load(ref block.Input[v * count]), ref max[v * count]);
            }

            for (int c = 1; c < classes; c++)
            {
                float* x = block.At(block.Input, c);
                for (int v = 0; v < vectors; v++)
                {
                    Prefetch(x, (vectors + v) * count);
                    TMath.Store(TMath.Max(TMath.Load(ref max[v * count]), TMath.Load(ref x[v * count])), ref max[v * count]);
                }
            }

            for (int v = 0; v < vectors; v++)
                TMath.Store(TMath.Create(0f), ref sum[v * count]);
            for (int c = 0; c < classes; c++)
            {
                float* x = block.At(block.Input, c), e = block.Values + (nint)c * vectors * count;
                for (int v = 0; v < vectors; v++)
                {
                    TVec exp = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(TMath.Load(ref x[v * count]), TMath.Load(ref max[v * count])));
                    TMath.Store(exp, ref e[v * count]);
                    TMath.Store(TMath.Add(TMath.Load(ref sum[v * count]), exp), ref sum[v * count]);
                }
            }

            for (int v = 0; v < vectors; v++)
                TMath.Store(TMath.Divide(TMath.Create(1f), TMath.Load(ref sum[v * count])), ref max[v * count]);
        }

        /// <summary>p and t of class <paramref name="c"/> for vector <paramref name="v"/> of the block, zero where left out; <paramref name="kept"/> the lane mask; <paramref name="slope"/> ∂p/∂x of the sigmoid (1 otherwise).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private TVec Probability<TVec, TMath>(in Block block, int c, int v, out TVec target, out TVec kept, out TVec slope)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            if (block.Target == null)
            {
                slope = TMath.Create(1f);
                TVec labels = TMath.Load(ref block.Labels[v * count]);
                kept = TMath.GreaterThan(labels, TMath.Create(-0.5f));
                target = TMath.And(TMath.Equal(labels, TMath.Create(c)), TMath.Create(1f));
                // Sweep 2 reads the softmax that sweep 1 stored (from logits) or the given probabilities.
                TVec p = args.Options.FromLogits && !TPass.Gradient
                    ? TMath.Multiply(TMath.Load(ref block.Values[((nint)c * block.Vectors + v) * count]), TMath.Load(ref block.Rows[v * count]))
                    : TMath.Load(ref block.At(block.Input, c)[v * count]);
                return TMath.And(kept, p);
            }

            TVec raw = TMath.Load(ref block.At(block.Target, c)[v * count]);
            TVec lanes = TMath.Load(ref block.Lanes[v * count]);
            kept = args.Options.IgnoreIndex is long ignored ? TMath.Select(TMath.Equal(raw, TMath.Create(ignored)), TMath.Create(0f), lanes) : lanes;
            target = TMath.And(kept, raw);
            return TMath.And(kept, OverlapMath.Elementwise<TVec, TMath>(TMath.Load(ref block.At(block.Input, c)[v * count]), args.Options.FromLogits, out slope));
        }

        /// <summary>Sweep 1 over a block: per class, the five sums of its vectors in registers, then added into the chunk's doubles.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Accumulate<TVec, TMath>(in Block block, double* sums)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            for (int c = 0; c < args.Shape.Classes; c++)
            {
                TVec intersection = TMath.Create(0f), prediction = intersection, targets = intersection, predictionSquares = intersection, targetSquares = intersection;
                float* e = block.Values + (nint)c * block.Vectors * count, stored = block.Gradient != null ? block.At(block.Gradient, c) : null;
                for (int v = 0; v < block.Vectors; v++)
                {
                    TVec p = Probability<TVec, TMath>(block, c, v, out TVec target, out _, out _);
                    OverlapMath.Accumulate<TVec, TMath>(p, target, ref intersection, ref prediction, ref targets, ref predictionSquares, ref targetSquares);
                    // The softmax as the gradient sweep needs it, unmasked (NaN logits stay NaN there, as they do in the sums).
                    if (stored != null)
                        TMath.Store(TMath.Multiply(TMath.Load(ref e[v * count]), TMath.Load(ref block.Rows[v * count])), ref stored[v * count]);
                }

                double* at = sums + c * OverlapSums.Count;
                at[0] += TMath.Sum(intersection);
                at[1] += TMath.Sum(prediction);
                at[2] += TMath.Sum(targets);
                at[3] += TMath.Sum(predictionSquares);
                at[4] += TMath.Sum(targetSquares);
            }
        }

        /// <summary>
        /// Sweep 2 over a block: ∂L/∂p per class from the coefficients, then through the sigmoid per element, or through the
        /// softmax that sweep 1 stored in the destination: g into the block's values and Σp·g per vector first, then
        /// p·(g − Σp·g) over p. Each element is read before it is written, so the gradient may be the input itself.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Gradients<TVec, TMath>(in Block block, float* coefficients)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Shape.Classes, count = TMath.Count, vectors = block.Vectors;
            bool softmax = block.Target == null && args.Options.FromLogits;
            float* dot = block.Rows + vectors * count;
            if (softmax)
            {
                for (int v = 0; v < vectors; v++)
                    TMath.Store(TMath.Create(0f), ref dot[v * count]);
            }

            for (int c = 0; c < classes; c++)
            {
                float* k = coefficients + c * CoefficientCount;
                float* destination = softmax ? block.Values + (nint)c * vectors * count : block.At(block.Gradient, c);
                for (int v = 0; v < vectors; v++)
                {
                    Prefetch(block.At(block.Input, c), (vectors + v) * count);
                    TVec p = Probability<TVec, TMath>(block, c, v, out TVec target, out TVec kept, out TVec slope);
                    TVec g = OverlapMath.ProbabilityGradient<TVec, TMath>(kept, p, target, k[0], k[1], k[2]);
                    if (softmax)
                        TMath.Store(TMath.MultiplyAdd(p, g, TMath.Load(ref dot[v * count])), ref dot[v * count]);
                    else if (block.Target != null)
                        g = TMath.Multiply(g, slope);
                    TMath.Store(g, ref destination[v * count]);
                }
            }

            if (!softmax)
                return;
            for (int c = 0; c < classes; c++)
            {
                float* g = block.Values + (nint)c * vectors * count, p = block.At(block.Input, c), destination = block.At(block.Gradient, c);
                for (int v = 0; v < vectors; v++)
                {
                    // p unmasked: an ignored pixel has g = 0 and Σp·g = 0.
                    TMath.Store(OverlapMath.SoftmaxChain<TVec, TMath>(TMath.Load(ref p[v * count]), TMath.Load(ref g[v * count]), TMath.Load(ref dot[v * count])),
                        ref destination[v * count]);
                }
            }
        }
    }

    /// <summary>
    /// Asks for the line of the next block that is <paramref name="offset"/> floats into <paramref name="run"/> (a class's pixels
    /// of this block, <paramref name="offset"/> past a whole block): the C runs d1·… apart outnumber the streams the hardware
    /// prefetcher follows. A hint past the image's end reads nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(float* run, int offset)
    {
        if (Sse.IsSupported)
            Sse.Prefetch0(run + offset);
    }

    /// <summary>
    /// A block of neighbouring pixels of one image: where its input, target and gradient start (class c's pixels
    /// <see cref="Stride"/>·c further), its vector count, and the stack buffers of its per-vector state.
    /// </summary>
    private readonly unsafe struct Block(float* input, float* target, float* gradient, nint stride, int vectors, float* values, float* labels, float* lanes, float* rows)
    {
        public readonly float* Input = input;
        public readonly float* Target = target;
        public readonly float* Gradient = gradient;
        public readonly nint Stride = stride;
        public readonly int Vectors = vectors;

        /// <summary>[class, vector, lane]: e^(x − max) of the softmax.</summary>
        public readonly float* Values = values;
        public readonly float* Labels = labels;
        public readonly float* Lanes = lanes;

        /// <summary>Two rows of per-vector values: 1/Σe (after the max), then the sum or Σp·g.</summary>
        public readonly float* Rows = rows;

        /// <summary>Class <paramref name="c"/>'s first pixel of the block in <paramref name="tensor"/> (input, target or gradient).</summary>
        public float* At(float* tensor, int c) => tensor + c * Stride;
    }
}
