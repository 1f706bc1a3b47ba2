using System.Buffers;

namespace LossKernels.Embedding;

/// <summary>
/// <see cref="DiscriminativeLoss"/> on the CPU, in passes over pooled scratch: the <see cref="InstanceMap"/>; per piece the sums of its
/// pixels' embeddings (double, in pixel order), added per instance in piece order into the means; per pixel its pull (h² and the
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
            fixed (int* pixelInstance = map.PixelInstance, order = map.Order, rows = map.Instances, pieces = map.Pieces)
            fixed (double* sums = pieceSums)
            {
                var views = new Views(x, pixelInstance, order, rows, pieces, sums, pull, table, instances, images, channels, pixels);
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
    private readonly struct Views(float* x, int* pixelInstance, int* order, int* rows, int* pieces, double* sums, float* pull, float* table, int instances,
        int images, int channels, int pixels)
    {
        public DiscriminativeLossResult Run(in DiscriminativeLoss loss, float* gradient, Reduction reduction, float upstream, int pieceCount)
        {
            int stride = channels + 1;
            float* means = table, spread = means + (nint)instances * channels, coefficients = spread + (nint)instances * stride;
            float* terms = coefficients + (nint)instances * stride;
            long elements = (long)images * channels * pixels;
            int threshold = elements >= 1 << 16 ? 0 : int.MaxValue;
            var pieceSums = new PieceKernel(x, order, rows, pieces, sums, pull, means, channels, pixels);
            ChunkedRun.Run(pieceSums with { Spread = false }, pieceCount, threshold, chunkLength: 1);
            ChunkedRun.Run(new GatherKernel(rows, sums, means, channels, channels, divide: true), instances, threshold, chunkLength: 64);
            ChunkedRun.Run(new PullKernel(loss.DeltaV, x, pixelInstance, means, pull, channels, pixels), images * pixels, threshold);
            ChunkedRun.Run(pieceSums with { Spread = true, First = gradient == null ? channels : 0 }, pieceCount, threshold, chunkLength: 1);
            ChunkedRun.Run(new GatherKernel(rows, sums, spread, stride, stride, divide: false), instances, threshold, chunkLength: 64);
            float scale = reduction == Reduction.Mean ? (float)(upstream / (double)images) : upstream;
            var instanceKernel = new InstanceKernel(loss, rows, means, spread, coefficients, terms, channels, scale, gradient != null);
            ChunkedRun.Run(instanceKernel, instances, instances >= 256 ? 0 : int.MaxValue, chunkLength: 16);
            if (gradient != null)
                ChunkedRun.Run(new GradientKernel(x, gradient, pixelInstance, pull, means, coefficients, channels, pixels), (int)elements, threshold);
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
    /// Per piece, channel by channel from <see cref="First"/>: the sum over its pixels of x (the means' pass), or of v's factor times
    /// (x − μ) and at e = E of h² (<see cref="Spread"/>), in double and pixel order, into the piece's row of partial sums.
    /// </summary>
    private readonly struct PieceKernel(float* x, int* order, int* rows, int* pieces, double* sums, float* pull, float* means, int channels, int pixels) : IRangeKernel
    {
        public bool Spread { get; init; }

        public int First { get; init; }

        public double RunRange(nint start, nint length)
        {
            int stride = channels + 1;
            for (nint p = start; p < start + length; p++)
            {
                int* piece = pieces + p * InstanceMap.PieceStride;
                int begin = piece[0], end = piece[1], instance = piece[2];
                nint image = rows[instance * InstanceMap.InstanceStride + InstanceMap.Image];
                float* pixelPull = pull + 2 * image * pixels;
                double* row = sums + p * stride;
                int last = Spread ? channels : channels - 1;
                for (int e = First; e <= last; e++)
                {
                    double sum = 0d;
                    if (e == channels)
                    {
                        for (int k = begin; k < end; k++)
                            sum += pixelPull[2 * order[k]];
                    }
                    else
                    {
                        float* channel = x + (image * channels + e) * pixels;
                        if (!Spread)
                        {
                            for (int k = begin; k < end; k++)
                                sum += channel[order[k]];
                        }
                        else
                        {
                            float mean = means[(nint)instance * channels + e];
                            for (int k = begin; k < end; k++)
                                sum += pixelPull[2 * order[k] + 1] * (channel[order[k]] - mean);
                        }
                    }

                    row[e] = sum;
                }
            }

            return 0d;
        }
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

    /// <summary>Per pixel not ignored: the squared distance to its mean (a fused chain over the channels) and its pull: h², then v's factor.</summary>
    private readonly struct PullKernel(float deltaV, float* x, int* pixelInstance, float* means, float* pull, int channels, int pixels) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint q = start; q < start + length; q++)
            {
                int instance = pixelInstance[q];
                if (instance < 0)
                    continue;
                nint image = q / pixels, i = q - image * pixels;
                float* pixel = x + image * channels * pixels + i;
                float* mean = means + (nint)instance * channels;
                float squared = 0f;
                for (int e = 0; e < channels; e++)
                {
                    float difference = pixel[(nint)e * pixels] - mean[e];
                    squared = MathF.FusedMultiplyAdd(difference, difference, squared);
                }

                pull[2 * q] = DiscriminativeMath.Pull(squared, deltaV, out float factor);
                pull[2 * q + 1] = factor;
            }

            return 0d;
        }
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

    /// <summary>Per element: the pixel factor times v_i plus K_c, 0 for ignored pixels; each element read and written once (in place works).</summary>
    private readonly struct GradientKernel(float* x, float* gradient, int* pixelInstance, float* pull, float* means, float* coefficients, int channels, int pixels)
        : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            int stride = channels + 1;
            nint row = start / pixels, i = start - row * pixels;
            for (nint q = start; q < start + length; q++)
            {
                nint image = row / channels;
                int e = (int)(row - image * channels);
                nint pixel = image * pixels + i;
                int instance = pixelInstance[pixel];
                if (instance < 0)
                {
                    gradient[q] = 0f;
                }
                else
                {
                    float* coefficient = coefficients + (nint)instance * stride;
                    float difference = x[q] - means[(nint)instance * channels + e];
                    gradient[q] = MathF.FusedMultiplyAdd(coefficient[channels] * pull[2 * pixel + 1], difference, coefficient[e]);
                }

                if (++i == pixels)
                {
                    i = 0;
                    row++;
                }
            }

            return 0d;
        }
    }
}
