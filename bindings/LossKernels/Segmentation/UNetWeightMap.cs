using System.Buffers;
using System.Numerics;

namespace LossKernels.Segmentation;

/// <summary>
/// U-Net's weight map (Ronneberger et al. 2015), what its users compute beside <see cref="PixelWeightedCrossEntropyLoss"/>:
/// from instance labels <c>[N, H, W]</c> (0 = background, any other value an instance id, ids need not be contiguous),
/// <c>w(x) = w_c(x) + w0·exp(−(d1(x) + d2(x))² / (2σ²))</c> on background pixels and <c>w_c(x)</c> on instance pixels, with d1
/// and d2 the Euclidean distances to the nearest and the second-nearest instance. w_c balances the two classes of each image:
/// <c>P/(2·count)</c> for background and for foreground pixels (P the image's pixels), or the two values given.
/// </summary>
/// <remarks>
/// <para>Exact distances: per instance, the separable squared Euclidean distance transform of Felzenszwalb &amp; Huttenlocher
/// (two passes of lower envelopes of parabolas, linear in the pixels), the two smallest kept per pixel: O(K·H·W) for K
/// instances. Images run in parallel on up to <see cref="LossKernelsSettings.MaxThreads"/> threads; the result does not depend
/// on the thread count. An image with fewer than two instances has no border term (d2 is infinite); one with no instances,
/// none at all.</para>
/// <para>The paper defines the map and its w0 = 10, σ ≈ 5 pixels; implementations differ in w_c (the paper: "the weight map to
/// balance the class frequencies"): this one weighs each class so that both contribute half of the image's total.</para>
/// </remarks>
public static class UNetWeightMap
{
    /// <summary>Computes the weight map.</summary>
    /// <param name="instances">[N, H, W] instance labels: 0 background, any other value an instance.</param>
    /// <param name="batch">N.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="weight">Receives N·H·W weights.</param>
    /// <param name="w0">The border weight w0 (≥ 0; the paper's 10).</param>
    /// <param name="sigma">σ in pixels (&gt; 0; the paper's 5).</param>
    /// <param name="classWeights">Empty to balance the class frequencies per image, or the two weights (background, foreground).</param>
    public static void Compute(ReadOnlySpan<long> instances, int batch, int height, int width, Span<float> weight, float w0 = 10f, float sigma = 5f,
        ReadOnlySpan<float> classWeights = default) =>
        Run(instances, batch, height, width, weight, w0, sigma, classWeights);

    /// <inheritdoc cref="Compute(ReadOnlySpan{long}, int, int, int, Span{float}, float, float, ReadOnlySpan{float})"/>
    public static void Compute(ReadOnlySpan<int> instances, int batch, int height, int width, Span<float> weight, float w0 = 10f, float sigma = 5f,
        ReadOnlySpan<float> classWeights = default) =>
        Run(instances, batch, height, width, weight, w0, sigma, classWeights);

    private static unsafe void Run<TLabel>(ReadOnlySpan<TLabel> instances, int batch, int height, int width, Span<float> weight, float w0, float sigma,
        ReadOnlySpan<float> classWeights)
        where TLabel : unmanaged, IBinaryInteger<TLabel>
    {
        if (batch < 0)
            ThrowHelper.OutOfRange(nameof(batch), batch, ">= 0");
        if (height < 1)
            ThrowHelper.OutOfRange(nameof(height), height, ">= 1");
        if (width < 1)
            ThrowHelper.OutOfRange(nameof(width), width, ">= 1");
        long pixels = (long)batch * height * width;
        ThrowHelper.IfLengthDiffers(pixels, instances.Length, nameof(instances));
        ThrowHelper.IfTooShort(pixels, weight.Length, nameof(weight));
        ThrowHelper.IfNegative(w0, nameof(w0));
        ThrowHelper.IfNotPositive(sigma, nameof(sigma));
        if (!classWeights.IsEmpty)
            ThrowHelper.IfLengthDiffers(2, classWeights.Length, nameof(classWeights));
        float background = classWeights.IsEmpty ? float.NaN : classWeights[0], foreground = classWeights.IsEmpty ? float.NaN : classWeights[1];
        fixed (TLabel* labels = instances)
        fixed (float* output = weight)
        {
            var images = new Images<TLabel>(labels, output, height, width, w0, sigma, background, foreground);
            ChunkedRun.Run(images, batch, pixels >= ElementwiseDriver.ParallelThreshold ? 0 : int.MaxValue, 1);
        }
    }

    /// <summary>One image per item.</summary>
    private readonly unsafe struct Images<TLabel>(TLabel* labels, float* output, int height, int width, float w0, float sigma, float background, float foreground)
        : IRangeKernel
        where TLabel : unmanaged, IBinaryInteger<TLabel>
    {
        public double RunRange(nint start, nint length)
        {
            int pixels = height * width;
            int line = Math.Max(height, width);
            double[] rented = ArrayPool<double>.Shared.Rent(3 * pixels + 4 * line + 1);
            long[] ids = ArrayPool<long>.Shared.Rent(pixels);
            try
            {
                for (nint image = start; image < start + length; image++)
                    Image(image * pixels, rented, ids);
            }
            finally
            {
                ArrayPool<long>.Shared.Return(ids);
                ArrayPool<double>.Shared.Return(rented);
            }

            return 0d;
        }

        private void Image(nint offset, double[] scratch, long[] ids)
        {
            int pixels = height * width, line = Math.Max(height, width);
            Span<double> nearest = scratch.AsSpan(0, pixels), second = scratch.AsSpan(pixels, pixels), field = scratch.AsSpan(2 * pixels, pixels);
            // The line buffer, the envelope's boundaries (line + 1) followed by its heights (line), and its positions.
            Span<double> row = scratch.AsSpan(3 * pixels, line), envelope = scratch.AsSpan(3 * pixels + line, 2 * line + 1);
            Span<double> parabolas = scratch.AsSpan(3 * pixels + 3 * line + 1, line);
            nearest.Fill(double.PositiveInfinity);
            second.Fill(double.PositiveInfinity);
            // The distinct instance ids, in ascending order.
            int count = 0, instancePixels = 0;
            for (int i = 0; i < pixels; i++)
            {
                long id = long.CreateTruncating(labels[offset + i]);
                if (id != 0)
                {
                    ids[count++] = id;
                    instancePixels++;
                }
            }

            Span<long> distinct = ids.AsSpan(0, count);
            distinct.Sort();
            for (int k = 0; k < distinct.Length; k++)
            {
                if (k > 0 && distinct[k] == distinct[k - 1])
                    continue;
                long id = distinct[k];
                for (int i = 0; i < pixels; i++)
                    field[i] = long.CreateTruncating(labels[offset + i]) == id ? 0d : double.PositiveInfinity;
                SquaredDistances(field, height, width, row, envelope, parabolas);
                for (int i = 0; i < pixels; i++)
                {
                    double d = field[i];
                    if (d < nearest[i])
                    {
                        second[i] = nearest[i];
                        nearest[i] = d;
                    }
                    else if (d < second[i])
                    {
                        second[i] = d;
                    }
                }
            }

            double backgroundWeight = float.IsNaN(background) ? pixels / (2d * Math.Max(pixels - instancePixels, 1)) : background;
            double foregroundWeight = float.IsNaN(foreground) ? pixels / (2d * Math.Max(instancePixels, 1)) : foreground;
            double scale = 1d / (2d * sigma * sigma);
            for (int i = 0; i < pixels; i++)
            {
                if (long.CreateTruncating(labels[offset + i]) != 0)
                {
                    output[offset + i] = (float)foregroundWeight;
                    continue;
                }

                double sum = Math.Sqrt(nearest[i]) + Math.Sqrt(second[i]);
                output[offset + i] = (float)(backgroundWeight + (double.IsInfinity(sum) ? 0d : w0 * Math.Exp(-sum * sum * scale)));
            }
        }

        /// <summary>The exact squared Euclidean distance transform of <paramref name="field"/> (0 on the object, ∞ elsewhere), in place: columns, then rows.</summary>
        private static void SquaredDistances(Span<double> field, int height, int width, Span<double> line, Span<double> envelope, Span<double> parabolas)
        {
            for (int x = 0; x < width; x++)
            {
                for (int y = 0; y < height; y++)
                    line[y] = field[y * width + x];
                LowerEnvelope(line[..height], envelope, parabolas);
                for (int y = 0; y < height; y++)
                    field[y * width + x] = line[y];
            }

            for (int y = 0; y < height; y++)
            {
                Span<double> values = field.Slice(y * width, width);
                values.CopyTo(line);
                LowerEnvelope(line[..width], envelope, parabolas);
                line[..width].CopyTo(values);
            }
        }

        /// <summary>
        /// One dimension of Felzenszwalb &amp; Huttenlocher's transform, in place: d(q) = min_p (q − p)² + f(p), as the lower
        /// envelope of the parabolas rooted at the finite samples (<paramref name="parabolas"/>: their positions and heights,
        /// kept apart from f so that f can be overwritten; <paramref name="envelope"/>: the boundaries between them).
        /// </summary>
        private static void LowerEnvelope(Span<double> f, Span<double> envelope, Span<double> parabolas)
        {
            int n = f.Length, k = -1;
            Span<double> positions = parabolas[..n], heights = envelope[(n + 1)..];
            for (int q = 0; q < n; q++)
            {
                if (double.IsPositiveInfinity(f[q]))
                    continue;
                double s = double.NegativeInfinity;
                while (k >= 0)
                {
                    double p = positions[k];
                    s = (f[q] + (double)q * q - (heights[k] + p * p)) / (2d * (q - p));
                    if (s > envelope[k])
                        break;
                    k--;
                }

                k++;
                positions[k] = q;
                heights[k] = f[q];
                envelope[k] = k == 0 ? double.NegativeInfinity : s;
                envelope[k + 1] = double.PositiveInfinity;
            }

            if (k < 0)
                return;
            for (int q = 0, j = 0; q < n; q++)
            {
                while (envelope[j + 1] < q)
                    j++;
                double offset = q - positions[j];
                f[q] = offset * offset + heights[j];
            }
        }
    }
}
