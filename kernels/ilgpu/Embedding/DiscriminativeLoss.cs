using System.Buffers;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Embedding;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="DiscriminativeLoss"/> on an engine's ILGPU memory: the ids read to the host and mapped there (<see cref="InstanceMap"/>,
/// uploaded in one copy), then the CPU driver's passes as item kernels (a piece and channel per thread for the sums, an instance per
/// thread for the means and for <see cref="DiscriminativeMath.Instance"/>, a pixel per thread for the pulls, an element per thread for
/// the gradient) on the accelerator's scratch; the instances' terms are added on the host in instance order.
/// </summary>
public static class IlgpuDiscriminativeLoss
{
    /// <summary>Fused forward+backward: L, its terms, and ∂(upstream·L)/∂embeddings.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S int64 instance ids.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="gradient">Receives N·E·S floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static DiscriminativeLossResult ForwardBackward(this DiscriminativeLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int images,
        int channels, ArrayView<float> gradient, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        if (!ViewChecks.IsPresent(gradient))
            ThrowHelper.Argument(nameof(gradient), "gradient is required (got default(ArrayView)).");
        return Run(loss, embeddings, labels, images, channels, gradient, reduction, upstream, stream);
    }

    /// <summary>Forward only: L and its terms.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S int64 instance ids.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static DiscriminativeLossResult Forward(this DiscriminativeLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int images, int channels,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        Run(loss, embeddings, labels, images, channels, default, reduction, 1f, stream);

    /// <summary>Backward only: ∂(upstream·L)/∂embeddings.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S int64 instance ids.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="gradient">Receives N·E·S floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this DiscriminativeLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int images, int channels, float upstream,
        ArrayView<float> gradient, Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        ForwardBackward(loss, embeddings, labels, images, channels, gradient, reduction, upstream, stream);

    private static DiscriminativeLossResult Run(DiscriminativeLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int images, int channels,
        ArrayView<float> gradient, Reduction reduction, float upstream, AcceleratorStream? stream)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(embeddings, nameof(embeddings));
        int pixels = DiscriminativeDriver.CheckArguments(loss, embeddings.Length, labels.Length, images, channels, reduction);
        ViewChecks.Required(labels, accelerator, labels.Length, nameof(labels));
        bool wantGradient = ViewChecks.IsPresent(gradient);
        if (wantGradient)
        {
            ViewChecks.Destination(gradient, accelerator, embeddings.Length, nameof(gradient));
            ViewChecks.IfPartialOverlap(embeddings, gradient, embeddings.Length, nameof(gradient));
        }

        if (embeddings.Length == 0)
            return default;
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        int pixelCount = (int)labels.Length;
        long[] ids = ArrayPool<long>.Shared.Rent(pixelCount);
        float[] termsHost = [];
        InstanceMap map = default;
        bool mapped = false;
        try
        {
            lock (state.Gate)
            {
                labels.CopyToCPU(queue, ref ids[0], pixelCount);
                map = InstanceMap.Build(ids.AsSpan(0, pixelCount), images, pixels, loss);
                mapped = true;
                int instances = map.InstanceTotal, stride = channels + 1;
                ArrayView<int> tables = Upload(state, queue, map, pixelCount, out DiscriminativeTables offsets);
                ArrayView<float> sums = state.Scratch(1, Math.Max(map.PieceTotal * (long)stride, 1));
                ArrayView<float> pulls = state.Scratch(2, 2L * pixelCount);
                ArrayView<float> table = state.Scratch(3, Math.Max(instances * (3L * stride + 3), 1));
                var v = new DiscriminativeViews(embeddings, tables, offsets, sums, pulls, table, instances, map.PieceTotal, channels, pixels);
                ItemKernel.Launch(new DiscriminativePiecePass(v, spread: 0, first: 0), accelerator, queue);
                ItemKernel.Launch(new DiscriminativeGatherPass(v, spread: 0), accelerator, queue);
                ItemKernel.Launch(new DiscriminativePullPass(v, loss.DeltaV), accelerator, queue);
                ItemKernel.Launch(new DiscriminativePiecePass(v, spread: 1, first: wantGradient ? 0 : channels), accelerator, queue);
                ItemKernel.Launch(new DiscriminativeGatherPass(v, spread: 1), accelerator, queue);
                float scale = reduction == Reduction.Mean ? (float)(upstream / (double)images) : upstream;
                ItemKernel.Launch(new DiscriminativeInstancePass(v, loss, scale, wantGradient ? 1 : 0), accelerator, queue);
                termsHost = ArrayPool<float>.Shared.Rent(Math.Max(3 * instances, 1));
                if (instances > 0)
                    v.Terms.CopyToCPU(queue, ref termsHost[0], 3L * instances);
                if (wantGradient)
                {
                    ItemKernel.Launch(new DiscriminativeGradientPass(v, gradient), accelerator, queue);
                    queue.Synchronize();
                }

                return DiscriminativeDriver.Reduce(loss, termsHost.AsSpan(0, 3 * instances), images, reduction);
            }
        }
        finally
        {
            if (termsHost.Length > 0)
                ArrayPool<float>.Shared.Return(termsHost);
            if (mapped)
                map.Return();
            ArrayPool<long>.Shared.Return(ids);
        }
    }

    /// <summary>The map's four int arrays in one upload (one host copy in flight), as views of scratch slot 0.</summary>
    private static ArrayView<int> Upload(LossAccelerator state, AcceleratorStream queue, in InstanceMap map, int pixelCount, out DiscriminativeTables offsets)
    {
        (int order, int instances, int pieces) = map.PackedOffsets(pixelCount);
        offsets = new DiscriminativeTables(order, instances, pieces);
        // Padding after the last array, so that an empty one is still a view inside the upload.
        int total = map.PackedLength(pixelCount) + 1;
        int[] packed = ArrayPool<int>.Shared.Rent(total);
        try
        {
            map.Pack(pixelCount, packed);
            packed[total - 1] = 0;
            return state.UploadScratch(0, queue, MemoryMarshal.Cast<int, float>(packed.AsSpan(0, total))).Cast<int>();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(packed);
        }
    }
}

/// <summary>Where each of the map's arrays starts in the uploaded ints (the pixels' instances start at 0).</summary>
internal readonly record struct DiscriminativeTables(int Order, int Instances, int Pieces);

/// <summary>The views and sizes every discriminative pass reads.</summary>
internal readonly struct DiscriminativeViews
{
    public readonly ArrayView<float> X, Sums, Pulls, Means, Spread, Coefficients, Terms;
    public readonly ArrayView<int> PixelInstance, Order, Instances, Pieces;
    public readonly int InstanceCount, PieceCount, Channels, Pixels;

    public DiscriminativeViews(ArrayView<float> x, ArrayView<int> tables, DiscriminativeTables offsets, ArrayView<float> sums, ArrayView<float> pulls,
        ArrayView<float> table, int instances, int pieces, int channels, int pixels)
    {
        int stride = channels + 1;
        X = x;
        Sums = sums;
        Pulls = pulls;
        PixelInstance = tables.SubView(0, Math.Max(offsets.Order, 1));
        Order = tables.SubView(offsets.Order, Math.Max(offsets.Instances - offsets.Order, 1));
        Instances = tables.SubView(offsets.Instances, Math.Max(offsets.Pieces - offsets.Instances, 1));
        Pieces = tables.SubView(offsets.Pieces, Math.Max(pieces * InstanceMap.PieceStride, 1));
        Means = table.SubView(0, Math.Max((long)instances * channels, 1));
        Spread = table.SubView((long)instances * channels, Math.Max((long)instances * stride, 1));
        Coefficients = table.SubView((long)instances * (channels + stride), Math.Max((long)instances * stride, 1));
        Terms = table.SubView((long)instances * (channels + 2 * stride), Math.Max(3L * instances, 1));
        InstanceCount = instances;
        PieceCount = pieces;
        Channels = channels;
        Pixels = pixels;
    }

    public int Row(int instance, int field) => Instances[instance * InstanceMap.InstanceStride + field];
}

/// <summary>Piece p, channel e (from <c>first</c>): the sum over its pixels of x, or of the pull factor times (x − μ) and h² at e = E, in pixel order.</summary>
internal readonly struct DiscriminativePiecePass(DiscriminativeViews views, int spread, int first) : IItemPass
{
    private readonly DiscriminativeViews v = views;
    private readonly int spread = spread, first = first;

    public long Length => (long)v.PieceCount * (v.Channels + 1);

    public PassFlags Flags => PassFlags.None;

    public float Run(long index)
    {
        int stride = v.Channels + 1;
        int p = (int)(index / stride), e = (int)(index - (long)p * stride);
        if (e < first || (spread == 0 && e == v.Channels))
            return 0f;
        int begin = v.Pieces[p * InstanceMap.PieceStride], end = v.Pieces[p * InstanceMap.PieceStride + 1], instance = v.Pieces[p * InstanceMap.PieceStride + 2];
        long image = v.Row(instance, InstanceMap.Image);
        long pixelBase = image * v.Pixels, channel = (image * v.Channels + e) * v.Pixels;
        float sum = 0f;
        if (e == v.Channels)
        {
            for (int k = begin; k < end; k++)
                sum += v.Pulls[2 * (pixelBase + v.Order[k])];
        }
        else if (spread == 0)
        {
            for (int k = begin; k < end; k++)
                sum += v.X[channel + v.Order[k]];
        }
        else
        {
            float mean = v.Means[(long)instance * v.Channels + e];
            for (int k = begin; k < end; k++)
                sum += v.Pulls[2 * (pixelBase + v.Order[k]) + 1] * (v.X[channel + v.Order[k]] - mean);
        }

        v.Sums[index] = sum;
        return 0f;
    }
}

/// <summary>Instance g, entry e: its pieces' sums added in piece order, into the means (over the count) or the spread.</summary>
internal readonly struct DiscriminativeGatherPass(DiscriminativeViews views, int spread) : IItemPass
{
    private readonly DiscriminativeViews v = views;
    private readonly int spread = spread;

    private int Width => spread != 0 ? v.Channels + 1 : v.Channels;

    public long Length => (long)v.InstanceCount * Width;

    public PassFlags Flags => PassFlags.None;

    public float Run(long index)
    {
        int width = Width;
        int g = (int)(index / width), e = (int)(index - (long)g * width);
        int first = v.Row(g, InstanceMap.FirstPiece), count = v.Row(g, InstanceMap.PieceCount);
        float sum = 0f;
        for (int p = first; p < first + count; p++)
            sum += v.Sums[(long)p * (v.Channels + 1) + e];
        if (spread != 0)
            v.Spread[index] = sum;
        else
            v.Means[index] = sum / v.Row(g, InstanceMap.Count);
        return 0f;
    }
}

/// <summary>A pixel not ignored: its squared distance to its mean and its pull (h², then the factor of v_i).</summary>
internal readonly struct DiscriminativePullPass(DiscriminativeViews views, float deltaV) : IItemPass
{
    private readonly DiscriminativeViews v = views;
    private readonly float deltaV = deltaV;

    public long Length => v.PixelInstance.Length;

    public PassFlags Flags => PassFlags.None;

    public float Run(long q)
    {
        int instance = v.PixelInstance[q];
        if (instance < 0)
            return 0f;
        long image = q / v.Pixels, i = q - image * v.Pixels;
        float squared = 0f;
        for (int e = 0; e < v.Channels; e++)
        {
            float difference = v.X[(image * v.Channels + e) * v.Pixels + i] - v.Means[(long)instance * v.Channels + e];
            squared = IlgpuMath.MultiplyAdd(difference, difference, squared);
        }

        v.Pulls[2 * q] = DiscriminativeMath.Pull(squared, deltaV, out float factor);
        v.Pulls[2 * q + 1] = factor;
        return 0f;
    }
}

/// <summary>An instance: <see cref="DiscriminativeMath.Instance"/>, its three terms stored for the host.</summary>
internal readonly struct DiscriminativeInstancePass(DiscriminativeViews views, DiscriminativeLoss loss, float scale, int gradient) : IItemPass
{
    private readonly DiscriminativeViews v = views;
    private readonly float deltaV = loss.DeltaV, twoDeltaD = 2f * loss.DeltaD, alpha = loss.Alpha, beta = loss.Beta, gamma = loss.Gamma, scale = scale;
    private readonly int gradient = gradient;

    public long Length => v.InstanceCount;

    public PassFlags Flags => PassFlags.None;

    public float Run(long g)
    {
        var instances = new ViewInstances(v);
        int instance = (int)g;
        DiscriminativeMath.Instance(ref instances, instance, v.Row(instance, InstanceMap.ImageFirst), v.Row(instance, InstanceMap.ImageInstances), deltaV,
            twoDeltaD, alpha, beta, gamma, scale, gradient != 0, out float variance, out float distance, out float regularizer);
        v.Terms[3 * g] = variance;
        v.Terms[3 * g + 1] = distance;
        v.Terms[3 * g + 2] = regularizer;
        return 0f;
    }
}

internal readonly struct ViewInstances(DiscriminativeViews views) : IDiscriminativeInstances
{
    private readonly DiscriminativeViews v = views;

    public int Channels => v.Channels;

    public int Count(int instance) => v.Row(instance, InstanceMap.Count);

    public float Mean(int instance, int channel) => v.Means[(long)instance * v.Channels + channel];

    public float Spread(int instance, int channel) => v.Spread[(long)instance * (v.Channels + 1) + channel];

    public float Coefficient(int instance, int channel) => v.Coefficients[(long)instance * (v.Channels + 1) + channel];

    public void SetCoefficient(int instance, int channel, float value) => v.Coefficients[(long)instance * (v.Channels + 1) + channel] = value;
}

/// <summary>An element: the pixel factor times v_i plus K_c, 0 for an ignored pixel.</summary>
internal readonly struct DiscriminativeGradientPass(DiscriminativeViews views, ArrayView<float> gradient) : IItemPass
{
    private readonly DiscriminativeViews v = views;
    private readonly ArrayView<float> gradient = gradient;

    public long Length => v.PixelInstance.Length * v.Channels;

    public PassFlags Flags => PassFlags.None;

    public float Run(long q)
    {
        long row = q / v.Pixels, i = q - row * v.Pixels;
        long image = row / v.Channels;
        int e = (int)(row - image * v.Channels);
        long pixel = image * v.Pixels + i;
        int instance = v.PixelInstance[pixel];
        if (instance < 0)
        {
            gradient[q] = 0f;
            return 0f;
        }

        long coefficients = (long)instance * (v.Channels + 1);
        float difference = v.X[q] - v.Means[(long)instance * v.Channels + e];
        gradient[q] = IlgpuMath.MultiplyAdd(v.Coefficients[coefficients + v.Channels] * v.Pulls[2 * pixel + 1], difference, v.Coefficients[coefficients + e]);
        return 0f;
    }
}

/// <summary><see cref="DiscriminativeLoss"/> bound for the catalog, on an ILGPU accelerator.</summary>
internal sealed class IlgpuDiscriminativeRun(DiscriminativeBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.embeddings, [], [], [], null, classes: bound.labels)
{
    public override void Run(LossMode mode)
    {
        switch (mode)
        {
            case LossMode.Forward:
                bound.Store(bound.loss.Forward(Input, Classes, bound.images, bound.channels, bound.reduction, Stream));
                break;
            case LossMode.Fused:
                bound.Store(bound.loss.ForwardBackward(Input, Classes, bound.images, bound.channels, Gradient, bound.reduction, bound.upstream, Stream));
                break;
            default:
                bound.loss.Backward(Input, Classes, bound.images, bound.channels, bound.upstream, Gradient, bound.reduction, Stream);
                break;
        }
    }
}
