using System.Buffers;

namespace LossKernels.Embedding;

/// <summary>
/// <see cref="DiscriminativeLoss"/> on the CPU, in passes over pooled scratch: the <see cref="InstanceMap"/>; per piece the sums of its
/// pixels' embeddings (four double accumulators in a fixed order), added per instance in piece order into the means; per pixel its pull (h² and the
/// factor of v_i); per piece the sums V_c and Σ h², added per instance likewise; per instance <see cref="DiscriminativeMath.Instance"/>;
/// per element the gradient. Every sum has a fixed order that depends on the shape and the ids alone: the same bits for any thread count.
/// </summary>
internal static unsafe class DiscriminativeDriver
{
    /// <summary>The most pixels a call takes (the instance rows, seven ints each, must fit an array).</summary>
    internal const int MaxPixels = int.MaxValue / InstanceMap.InstanceStride;

    public static DiscriminativeLossResult Run(in DiscriminativeLoss loss, ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int images, int channels,
        Span<float> gradient, Reduction reduction, float upstream, bool gradientWanted)
    {
        int pixels = CheckArguments(loss, embeddings.Length, labels.Length, images, channels, reduction);
        if (gradientWanted)
        {
            ThrowHelper.IfTooShort(embeddings.Length, gradient.Length, nameof(gradient));
            gradient = gradient.Slice(0, embeddings.Length);
            ThrowHelper.IfPartialOverlap(embeddings, gradient, nameof(gradient));
        }

        if (embeddings.Length == 0)
            return default;
        InstanceMap map = InstanceMap.Build(labels, images, pixels, loss);
        int instances = map.InstanceTotal, stride = channels + 1;
        double[] pieceSums = ArrayPool<double>.Shared.Rent(Math.Max(map.PieceTotal * stride, 1));
        float[] pulls = ArrayPool<float>.Shared.Rent(2 * labels.Length);
        float[] instanceScratch = ArrayPool<float>.Shared.Rent(Math.Max(instances * (3 * stride + 3), 1));
        try
        {
            fixed (float* x = embeddings, g = gradient, pull = pulls, table = instanceScratch)
            fixed (int* pixelInstance = map.PixelInstance, order = map.Order, rows = map.Instances, pieces = map.Pieces, tasks = map.TaskOrder)
            fixed (double* sums = pieceSums)
            {
                var views = new Views(x, pixelInstance, order, rows, pieces, tasks, sums, pull, table, instances, images, channels, pixels);
                return views.Run(loss, gradientWanted ? g : null, reduction, upstream, map.PieceTotal);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(instanceScratch);
            ArrayPool<float>.Shared.Return(pulls);
            ArrayPool<double>.Shared.Return(pieceSums);
            map.Return();
        }
    }

    /// <summary>Checks the options and the shape; returns S, the pixels per image.</summary>
    internal static int CheckArguments(in DiscriminativeLoss loss, long length, long labels, int images, int channels, Reduction reduction)
    {
        loss.Validate();
        if (images < 0)
            ThrowHelper.OutOfRange(nameof(images), images, ">= 0");
        if (channels <= 0)
            ThrowHelper.OutOfRange(nameof(channels), channels, "> 0");
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "Mean or Sum (for per-image losses, call once per image)");
        if (images == 0)
        {
            ThrowHelper.IfLengthDiffers(0, length, "embeddings");
            ThrowHelper.IfLengthDiffers(0, labels, nameof(labels));
            return 0;
        }

        if (labels % images != 0)
            ThrowHelper.Argument(nameof(labels), $"labels holds {labels} ids, not {images} images of equal size.");
        if (labels > MaxPixels)
            ThrowHelper.Argument(nameof(labels), $"labels holds {labels} ids; at most {MaxPixels}.");
        ThrowHelper.IfLengthDiffers(labels * channels, length, "embeddings");
        return (int)(labels / images);
    }

    /// <summary>The call's pointers and the passes over them.</summary>
    private readonly struct Views(float* x, int* pixelInstance, int* order, int* rows, int* pieces, int* tasks, double* sums, float* pull, float* table,
        int instances, int images, int channels, int pixels)
    {
        public DiscriminativeLossResult Run(in DiscriminativeLoss loss, float* gradient, Reduction reduction, float upstream, int pieceCount)
        {
            int stride = channels + 1;
            float* means = table, spread = means + (nint)instances * channels, coefficients = spread + (nint)instances * stride;
            float* terms = coefficients + (nint)instances * stride;
            long elements = (long)images * channels * pixels;
            int threshold = elements >= 1 << 16 ? 0 : int.MaxValue;
            int blocks = images * ((pixels + InstanceMap.PieceLength - 1) / InstanceMap.PieceLength);
            var pieceSums = new PieceKernel(x, order, rows, pieces, tasks, sums, pull, means, channels, pixels);
            ChunkedRun.Run(pieceSums with { Spread = false }, pieceCount, threshold, chunkLength: 1);
            ChunkedRun.Run(new GatherKernel(rows, sums, means, channels, channels, divide: true), instances, threshold, chunkLength: 64);
            ChunkedRun.Run(new PullKernel(loss.DeltaV, x, pixelInstance, means, pull, channels, pixels), blocks, threshold, chunkLength: 1);
            ChunkedRun.Run(pieceSums with { Spread = true, First = gradient == null ? channels : 0 }, pieceCount, threshold, chunkLength: 1);
            ChunkedRun.Run(new GatherKernel(rows, sums, spread, stride, stride, divide: false), instances, threshold, chunkLength: 64);
            float scale = reduction == Reduction.Mean ? (float)(upstream / (double)images) : upstream;
            var instanceKernel = new InstanceKernel(loss, rows, means, spread, coefficients, terms, channels, scale, gradient != null);
            ChunkedRun.Run(instanceKernel, instances, instances >= 256 ? 0 : int.MaxValue, chunkLength: 16);
            if (gradient != null)
                ChunkedRun.Run(new GradientKernel(x, gradient, pixelInstance, pull, means, coefficients, channels, pixels), blocks, threshold, chunkLength: 1);
            return Reduce(loss, new ReadOnlySpan<float>(terms, 3 * instances), images, reduction);
        }
    }

    /// <summary>The instances' terms (three per instance) added in instance order, over N for the mean, and the loss from them.</summary>
    internal static DiscriminativeLossResult Reduce<T>(in DiscriminativeLoss loss, ReadOnlySpan<T> terms, int images, Reduction reduction)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        double variance = 0d, distance = 0d, regularizer = 0d;
        for (int t = 0; t < terms.Length; t += 3)
        {
            variance += double.CreateTruncating(terms[t]);
            distance += double.CreateTruncating(terms[t + 1]);
            regularizer += double.CreateTruncating(terms[t + 2]);
        }

        if (reduction == Reduction.Mean)
        {
            variance /= images;
            distance /= images;
            regularizer /= images;
        }

        return new DiscriminativeLossResult((float)(loss.Alpha * variance + loss.Beta * distance + loss.Gamma * regularizer), (float)variance,
            (float)distance, (float)regularizer);
    }

    /// <summary>
    /// Per piece, in <see cref="InstanceMap.TaskOrder"/> (block by block: a block's embeddings stay in cache for all its instances),
    /// channel by channel from <see cref="First"/>: the sum over its pixels of x (the means' pass), or of v's factor times (x − μ) and
    /// at e = E of h² (<see cref="Spread"/>), in double (four accumulators in a fixed order), into the piece's row of partial sums.
    /// </summary>
    private readonly struct PieceKernel(float* x, int* order, int* rows, int* pieces, int* tasks, double* sums, float* pull, float* means, int channels,
        int pixels) : IRangeKernel
    {
        public bool Spread { get; init; }

        public int First { get; init; }

        public double RunRange(nint start, nint length)
        {
            int stride = channels + 1;
            for (nint t = start; t < start + length; t++)
            {
                nint p = tasks[t];
                int* piece = pieces + p * InstanceMap.PieceStride;
                int begin = piece[0], end = piece[1], instance = piece[2];
                nint image = rows[instance * InstanceMap.InstanceStride + InstanceMap.Image];
                float* pixelPull = pull + 2 * image * pixels;
                double* row = sums + p * stride;
                int last = Spread ? channels : channels - 1;
                for (int e = First; e <= last; e++)
                {
                    float* channel = x + (image * channels + Math.Min(e, channels - 1)) * pixels;
                    double sum = e == channels ? Sum(new SquaredPull(pixelPull), order, begin, end)
                        : !Spread ? Sum(new Embedding(channel), order, begin, end)
                        : Sum(new Spread(pixelPull, channel, means[(nint)instance * channels + e]), order, begin, end);
                    row[e] = sum;
                }
            }

            return 0d;
        }
    }

    /// <summary>A value per pixel that a piece sums.</summary>
    private interface IPixelTerm
    {
        double Value(int pixel);
    }

    /// <summary>h² of a pixel.</summary>
    private readonly struct SquaredPull(float* pull) : IPixelTerm
    {
        public double Value(int pixel) => pull[2 * pixel];
    }

    /// <summary>x of a pixel in one channel.</summary>
    private readonly struct Embedding(float* channel) : IPixelTerm
    {
        public double Value(int pixel) => channel[pixel];
    }

    /// <summary>v's factor times (x − μ) in one channel.</summary>
    private readonly struct Spread(float* pull, float* channel, float mean) : IPixelTerm
    {
        public double Value(int pixel) => pull[2 * pixel + 1] * (channel[pixel] - mean);
    }

    /// <summary>
    /// Σ over positions begin … end − 1 of the term at each position's pixel, in four double accumulators (position k into k mod 4, so
    /// that the adds do not wait on one another) added pairwise at the end: an order fixed by the positions alone.
    /// </summary>
    private static double Sum<TTerm>(TTerm term, int* order, int begin, int end)
        where TTerm : struct, IPixelTerm
    {
        double s0 = 0d, s1 = 0d, s2 = 0d, s3 = 0d;
        int k = begin;
        for (; k <= end - 4; k += 4)
        {
            s0 += term.Value(order[k]);
            s1 += term.Value(order[k + 1]);
            s2 += term.Value(order[k + 2]);
            s3 += term.Value(order[k + 3]);
        }

        for (; k < end; k++)
            s0 += term.Value(order[k]);
        return (s0 + s1) + (s2 + s3);
    }

    /// <summary>Per instance: its pieces' partial sums added in piece order, over the count for the means.</summary>
    private readonly struct GatherKernel(int* rows, double* sums, float* destination, int width, int destinationStride, bool divide) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            int sumStride = divide ? width + 1 : width;
            for (nint g = start; g < start + length; g++)
            {
                int* row = rows + g * InstanceMap.InstanceStride;
                int first = row[InstanceMap.FirstPiece], count = row[InstanceMap.PieceCount];
                for (int e = 0; e < width; e++)
                {
                    double sum = 0d;
                    for (int p = first; p < first + count; p++)
                        sum += sums[(nint)p * sumStride + e];
                    destination[g * destinationStride + e] = (float)(divide ? sum / row[InstanceMap.Count] : sum);
                }
            }

            return 0d;
        }
    }

    /// <summary>
    /// Per block of <see cref="InstanceMap.PieceLength"/> pixels of an image: each pixel's squared distance to its mean, a fused chain
    /// over the channels (accumulated channel by channel, so that each channel's row is read in order), then its pull: h², then v's factor.
    /// </summary>
    private readonly struct PullKernel(float deltaV, float* x, int* pixelInstance, float* means, float* pull, int channels, int pixels) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            float* squared = stackalloc float[InstanceMap.PieceLength];
            for (nint block = start; block < start + length; block++)
            {
                (nint image, int first, int count) = Block(block, pixels);
                int* instance = pixelInstance + image * pixels + first;
                new Span<float>(squared, count).Clear();
                for (int e = 0; e < channels; e++)
                {
                    float* row = x + (image * channels + e) * pixels + first;
                    for (int k = 0; k < count; k++)
                    {
                        if (instance[k] < 0)
                            continue;
                        float difference = row[k] - means[(nint)instance[k] * channels + e];
                        squared[k] = MathF.FusedMultiplyAdd(difference, difference, squared[k]);
                    }
                }

                float* destination = pull + 2 * (image * pixels + first);
                for (int k = 0; k < count; k++)
                {
                    if (instance[k] < 0)
                        continue;
                    destination[2 * k] = DiscriminativeMath.Pull(squared[k], deltaV, out float factor);
                    destination[2 * k + 1] = factor;
                }
            }

            return 0d;
        }
    }

    /// <summary>Block <paramref name="block"/> of the images' blocks: its image, first pixel and pixel count.</summary>
    private static (nint Image, int First, int Count) Block(nint block, int pixels)
    {
        int perImage = (pixels + InstanceMap.PieceLength - 1) / InstanceMap.PieceLength;
        nint image = block / perImage;
        int first = (int)(block - image * perImage) * InstanceMap.PieceLength;
        return (image, first, Math.Min(InstanceMap.PieceLength, pixels - first));
    }

    /// <summary>Per instance: <see cref="DiscriminativeMath.Instance"/>, its three terms kept for the in-order sum.</summary>
    private readonly struct InstanceKernel(DiscriminativeLoss loss, int* rows, float* means, float* spread, float* coefficients, float* terms, int channels,
        float scale, bool gradient) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            var instances = new Instances(rows, means, spread, coefficients, channels);
            for (nint g = start; g < start + length; g++)
            {
                int* row = rows + g * InstanceMap.InstanceStride;
                DiscriminativeMath.Instance(ref instances, (int)g, row[InstanceMap.ImageFirst], row[InstanceMap.ImageInstances], loss.DeltaV, 2f * loss.DeltaD,
                    loss.Alpha, loss.Beta, loss.Gamma, scale, gradient, out terms[3 * g], out terms[3 * g + 1], out terms[3 * g + 2]);
            }

            return 0d;
        }
    }

    private readonly struct Instances(int* rows, float* means, float* spread, float* coefficients, int channels) : IDiscriminativeInstances
    {
        public int Channels => channels;

        public int Count(int instance) => rows[instance * InstanceMap.InstanceStride + InstanceMap.Count];

        public float Mean(int instance, int channel) => means[(nint)instance * channels + channel];

        public float Spread(int instance, int channel) => spread[(nint)instance * (channels + 1) + channel];

        public float Coefficient(int instance, int channel) => coefficients[(nint)instance * (channels + 1) + channel];

        public void SetCoefficient(int instance, int channel, float value) => coefficients[(nint)instance * (channels + 1) + channel] = value;
    }

    /// <summary>
    /// Per block of an image's pixels, channel by channel: the pixel factor times v_i plus K_c, 0 for ignored pixels; each element read
    /// and written once (in place works), the block's instances and pulls kept in cache across the channels.
    /// </summary>
    private readonly struct GradientKernel(float* x, float* gradient, int* pixelInstance, float* pull, float* means, float* coefficients, int channels, int pixels)
        : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            int stride = channels + 1;
            for (nint block = start; block < start + length; block++)
            {
                (nint image, int first, int count) = Block(block, pixels);
                int* instance = pixelInstance + image * pixels + first;
                float* factors = pull + 2 * (image * pixels + first);
                for (int e = 0; e < channels; e++)
                {
                    nint offset = (image * channels + e) * pixels + first;
                    float* row = x + offset, destination = gradient + offset;
                    for (int k = 0; k < count; k++)
                    {
                        int g = instance[k];
                        if (g < 0)
                        {
                            destination[k] = 0f;
                            continue;
                        }

                        float* coefficient = coefficients + (nint)g * stride;
                        float difference = row[k] - means[(nint)g * channels + e];
                        destination[k] = MathF.FusedMultiplyAdd(coefficient[channels] * factors[2 * k + 1], difference, coefficient[e]);
                    }
                }
            }

            return 0d;
        }
    }
}
