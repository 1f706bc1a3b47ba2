using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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

    /// <summary>Vectors of pixels whose float lane sums are added into the chunk's double sums.</summary>
    private const int FlushVectors = 32;

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
            // Per class: the float lane accumulators (5 vectors), the softmax values or gradients (1 vector), and padded copies.
            float* accumulators = stackalloc float[TPass.Gradient ? 0 : classes * OverlapSums.Count * count];
            float* values = stackalloc float[classes * count];
            float* gradients = stackalloc float[TPass.Gradient ? classes * count : 0];
            float* padInput = stackalloc float[classes * count];
            float* padTarget = stackalloc float[dense ? classes * count : 0];
            float* labels = stackalloc float[count];
            double* sums = args.Partials + (nint)chunk * classes * OverlapSums.Count;
            if (!TPass.Gradient)
            {
                new Span<float>(accumulators, classes * OverlapSums.Count * count).Clear();
                new Span<double>(sums, classes * OverlapSums.Count).Clear();
            }

            float* coefficients = TPass.Gradient ? args.Coefficients + (nint)(args.Options.PerImage ? image : 0) * classes * CoefficientCount : null;
            int vectors = 0;
            for (int s = from; s < to; s += count)
            {
                int used = Math.Min(count, to - s);
                float* x = args.Input + imageOffset + s;
                float* t = dense ? args.DenseTarget + imageOffset + s : null;
                nint stride = spatial;
                if (used < count)
                {
                    Pad(x, padInput, stride, classes, used, count);
                    x = padInput;
                    if (dense)
                    {
                        Pad(t, padTarget, stride, classes, used, count);
                        t = padTarget;
                    }

                    stride = count;
                }

                TVec lanes = TMath.KeepLanes(TMath.Equal(TMath.Create(0f), TMath.Create(0f)), 0, used);
                if (!dense)
                    Labels((nint)image * spatial + s, used, count, labels);
                if (TPass.Gradient)
                {
                    Gradients<TVec, TMath>(x, stride, t, labels, lanes, coefficients, values, gradients);
                    Store<TVec, TMath>(gradients, args.Gradient + imageOffset + s, spatial, classes, used);
                }
                else
                {
                    Accumulate<TVec, TMath>(x, stride, t, labels, lanes, accumulators, values);
                    if (++vectors == FlushVectors || s + count >= to)
                    {
                        Flush<TVec, TMath>(accumulators, sums, classes);
                        vectors = 0;
                    }
                }
            }
        }

        /// <summary>Copies the <paramref name="used"/> pixels left of each class into a zero-padded block of stride <paramref name="count"/>.</summary>
        private static void Pad(float* source, float* destination, nint stride, int classes, int used, int count)
        {
            for (int c = 0; c < classes; c++)
            {
                for (int j = 0; j < count; j++)
                    destination[c * count + j] = j < used ? source[c * stride + j] : 0f;
            }
        }

        /// <summary>The lanes' class indices as floats, −1 for an ignored pixel or a padding lane.</summary>
        private void Labels(nint pixel, int used, int count, float* labels)
        {
            for (int j = 0; j < count; j++)
            {
                float label = -1f;
                if (j < used)
                {
                    long value = long.CreateTruncating(args.ClassTarget[pixel + j]);
                    if (!(args.Options.IgnoreIndex is long ignored && value == ignored))
                        label = value;
                }

                labels[j] = label;
            }
        }

        /// <summary>The softmax of the lanes' pixels over the classes into <paramref name="values"/> (multiclass from logits).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Softmax<TVec, TMath>(float* x, nint stride, int classes, float* values)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            TVec max = TMath.Load(ref x[0]);
            for (int c = 1; c < classes; c++)
                max = TMath.Max(max, TMath.Load(ref x[c * stride]));
            TVec sum = TMath.Create(0f);
            for (int c = 0; c < classes; c++)
            {
                TVec e = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(TMath.Load(ref x[c * stride]), max));
                sum = TMath.Add(sum, e);
                TMath.Store(e, ref values[c * count]);
            }

            TVec inverse = TMath.Divide(TMath.Create(1f), sum);
            for (int c = 0; c < classes; c++)
                TMath.Store(TMath.Multiply(TMath.Load(ref values[c * count]), inverse), ref values[c * count]);
        }

        /// <summary>p and t of class <paramref name="c"/> for the lanes, zero where left out; <paramref name="kept"/> the lane mask.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private TVec Probability<TVec, TMath>(float* x, nint stride, float* t, TVec labels, TVec lanes, float* values, int c, out TVec target, out TVec kept)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            TVec one = TMath.Create(1f);
            if (t == null)
            {
                kept = TMath.GreaterThan(labels, TMath.Create(-0.5f));
                target = TMath.And(TMath.Equal(labels, TMath.Create(c)), one);
                TVec p = args.Options.FromLogits ? TMath.Load(ref values[c * TMath.Count]) : TMath.Load(ref x[c * stride]);
                return TMath.And(kept, p);
            }

            TVec raw = TMath.Load(ref t[c * stride]);
            kept = args.Options.IgnoreIndex is long ignored ? TMath.Select(TMath.Equal(raw, TMath.Create(ignored)), TMath.Create(0f), lanes) : lanes;
            target = TMath.And(kept, raw);
            return TMath.And(kept, OverlapMath.Elementwise<TVec, TMath>(TMath.Load(ref x[c * stride]), args.Options.FromLogits));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Accumulate<TVec, TMath>(float* x, nint stride, float* t, float* labels, TVec lanes, float* accumulators, float* values)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Shape.Classes, count = TMath.Count;
            if (t == null && args.Options.FromLogits)
                Softmax<TVec, TMath>(x, stride, classes, values);
            TVec labelLanes = TMath.Load(ref labels[0]);
            for (int c = 0; c < classes; c++)
            {
                TVec p = Probability<TVec, TMath>(x, stride, t, labelLanes, lanes, values, c, out TVec target, out _);
                float* a = accumulators + c * OverlapSums.Count * count;
                TVec intersection = TMath.Load(ref a[0]), prediction = TMath.Load(ref a[count]), targets = TMath.Load(ref a[2 * count]);
                TVec predictionSquares = TMath.Load(ref a[3 * count]), targetSquares = TMath.Load(ref a[4 * count]);
                OverlapMath.Accumulate<TVec, TMath>(p, target, ref intersection, ref prediction, ref targets, ref predictionSquares, ref targetSquares);
                TMath.Store(intersection, ref a[0]);
                TMath.Store(prediction, ref a[count]);
                TMath.Store(targets, ref a[2 * count]);
                TMath.Store(predictionSquares, ref a[3 * count]);
                TMath.Store(targetSquares, ref a[4 * count]);
            }
        }

        /// <summary>Adds each float lane accumulator into the chunk's double sums (lanes in a fixed order) and clears it.</summary>
        private static void Flush<TVec, TMath>(float* accumulators, double* sums, int classes)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            for (int k = 0; k < classes * OverlapSums.Count; k++)
            {
                sums[k] += TMath.Sum(TMath.Load(ref accumulators[k * count]));
                TMath.Store(TMath.Create(0f), ref accumulators[k * count]);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Gradients<TVec, TMath>(float* x, nint stride, float* t, float* labels, TVec lanes, float* coefficients, float* values, float* gradients)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int classes = args.Shape.Classes, count = TMath.Count;
            bool softmax = t == null && args.Options.FromLogits;
            if (softmax)
                Softmax<TVec, TMath>(x, stride, classes, values);
            TVec labelLanes = TMath.Load(ref labels[0]);
            TVec dot = TMath.Create(0f);
            for (int c = 0; c < classes; c++)
            {
                TVec p = Probability<TVec, TMath>(x, stride, t, labelLanes, lanes, values, c, out TVec target, out TVec kept);
                float* k = coefficients + c * CoefficientCount;
                TVec g = OverlapMath.ProbabilityGradient<TVec, TMath>(kept, p, target, k[0], k[1], k[2]);
                if (softmax)
                    dot = TMath.MultiplyAdd(p, g, dot);
                else if (t != null)
                    g = OverlapMath.ElementwiseChain<TVec, TMath>(TMath.Load(ref x[c * stride]), g, args.Options.FromLogits);
                TMath.Store(g, ref gradients[c * count]);
            }

            if (!softmax)
                return;
            // The softmax's Jacobian needs every class's g first: p_c·(g_c − Σ p·g), with p unmasked (an ignored pixel has g = 0).
            for (int c = 0; c < classes; c++)
            {
                TVec p = TMath.Load(ref values[c * count]);
                TMath.Store(OverlapMath.SoftmaxChain<TVec, TMath>(p, TMath.Load(ref gradients[c * count]), dot), ref gradients[c * count]);
            }
        }

        /// <summary>Writes the lanes' gradients of every class; a partial vector writes its <paramref name="used"/> lanes only.</summary>
        private static void Store<TVec, TMath>(float* gradients, float* destination, nint stride, int classes, int used)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            for (int c = 0; c < classes; c++)
            {
                if (used == count)
                {
                    TMath.Store(TMath.Load(ref gradients[c * count]), ref destination[c * stride]);
                    continue;
                }

                for (int j = 0; j < used; j++)
                    destination[c * stride + j] = gradients[c * count + j];
            }
        }
    }
}
