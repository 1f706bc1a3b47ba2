using System.Buffers;
using System.Runtime.InteropServices;
using LossKernels.OpenCL;
using static LossKernels.Embedding.TripletMiningDeviceLoss;

namespace LossKernels.Embedding;

public readonly partial struct DiscriminativeLoss
{
    /// <summary>Fused forward+backward on an OpenCL device: the span overload's L, terms and gradient, from <c>kernels/opencl/embedding.cl</c>.</summary>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S int64 instance ids (read to the host, where they are mapped to instances).</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="gradient">Receives N·E·S floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public DiscriminativeLossResult ForwardBackward(DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int images, int channels,
        DeviceBuffer<float> gradient, Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        return DiscriminativeDeviceLoss.Run(this, embeddings, labels, images, channels, gradient, reduction, upstream);
    }

    /// <summary>Forward only on an OpenCL device.</summary>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S int64 instance ids.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public DiscriminativeLossResult Forward(DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int images, int channels,
        Reduction reduction = Reduction.Mean) =>
        DiscriminativeDeviceLoss.Run(this, embeddings, labels, images, channels, null, reduction, 1f);

    /// <summary>Backward only on an OpenCL device.</summary>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S int64 instance ids.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="gradient">Receives N·E·S floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int images, int channels, float upstream, DeviceBuffer<float> gradient,
        Reduction reduction = Reduction.Mean)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        DiscriminativeDeviceLoss.Run(this, embeddings, labels, images, channels, gradient, reduction, upstream);
    }
}

/// <summary>
/// <see cref="DiscriminativeLoss"/> on OpenCL: the ids downloaded and mapped on the host (<see cref="InstanceMap"/>, uploaded as one int
/// table to scratch slot 1, which kernels only read), then the CPU driver's passes as kernels on slots 2 (piece sums), 3 (pulls),
/// 4 (means), 5 (spread) and 6 (coefficients); the instances' terms come back as partials and are added in instance order.
/// </summary>
internal static unsafe class DiscriminativeDeviceLoss
{
    private const int Pieces = 7, Gather = 8, Pulls = 9, Instances = 10, GradientKernel = 11;

    public static DiscriminativeLossResult Run(in DiscriminativeLoss loss, DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int images, int channels,
        DeviceBuffer<float>? gradient, Reduction reduction, float upstream)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(labels);
        embeddings.ThrowIfDisposed();
        OpenCLDevice device = embeddings.Device;
        int pixels = DiscriminativeDriver.CheckArguments(loss, embeddings.Length, labels.Length, images, channels, reduction);
        DeviceChecks.Buffer(labels, device, labels.Length, nameof(labels));
        if (gradient is not null)
        {
            DeviceChecks.Buffer(gradient, device, -1, nameof(gradient));
            ThrowHelper.IfTooShort(embeddings.Length, gradient.Length, nameof(gradient));
            DeviceChecks.IfSame(gradient, labels, nameof(gradient), nameof(labels));
        }

        if (embeddings.Length == 0)
            return default;
        int pixelCount = labels.Length, stride = channels + 1;
        long[] ids = ArrayPool<long>.Shared.Rent(pixelCount);
        try
        {
            lock (device.Gate)
            {
                device.ThrowIfDisposed();
                labels.Download(ids.AsSpan(0, pixelCount));
                InstanceMap map = InstanceMap.Build(ids.AsSpan(0, pixelCount), images, pixels, loss);
                try
                {
                    int instances = map.InstanceTotal;
                    KernelSet kernels = device.Kernels(EmbeddingDeviceLoss.Program, EmbeddingDeviceLoss.Names);
                    nint tables = Upload(device, map, pixelCount, out int orderAt, out int instancesAt, out int piecesAt);
                    nint sums = device.Scratch(2, Math.Max(map.PieceTotal * (long)stride, 1) * sizeof(float));
                    nint pulls = device.Scratch(3, 2L * pixelCount * sizeof(float));
                    nint means = device.Scratch(4, Math.Max((long)instances * channels, 1) * sizeof(float));
                    nint spread = device.Scratch(5, Math.Max((long)instances * stride, 1) * sizeof(float));
                    nint coefficients = device.Scratch(6, Math.Max((long)instances * stride, 1) * sizeof(float));
                    nint terms = device.Partials(Math.Max(3 * instances, 1));
                    if (instances == 0)
                    {
                        // Every pixel ignored: the loss is 0 and the gradient kernel writes zeros.
                        if (gradient is not null)
                            LaunchGradient(device, kernels, embeddings, tables, pulls, means, coefficients, gradient, channels, pixels);
                        return default;
                    }

                    LaunchPieces(device, kernels, embeddings.Handle, tables, orderAt, instancesAt, piecesAt, pulls, means, sums, map.PieceTotal, channels, pixels,
                        spread: 0, first: 0);
                    LaunchGather(device, kernels, tables, instancesAt, sums, means, instances, channels, spread: 0);

                    nint kernel = kernels.Kernel(Pulls);
                    Arguments(kernel, embeddings.Handle, tables, means, pulls);
                    Values(kernel, 4, pixelCount, channels, pixels);
                    KernelSet.SetValue(kernel, 7, loss.DeltaV);
                    LaunchRows(device, kernel, pixelCount);

                    LaunchPieces(device, kernels, embeddings.Handle, tables, orderAt, instancesAt, piecesAt, pulls, means, sums, map.PieceTotal, channels, pixels,
                        spread: 1, first: gradient is null ? channels : 0);
                    LaunchGather(device, kernels, tables, instancesAt, sums, spread, instances, channels, spread: 1);

                    kernel = kernels.Kernel(Instances);
                    Arguments(kernel, tables);
                    KernelSet.SetValue(kernel, 1, instancesAt);
                    KernelSet.SetBuffer(kernel, 2, means);
                    KernelSet.SetBuffer(kernel, 3, spread);
                    KernelSet.SetBuffer(kernel, 4, coefficients);
                    KernelSet.SetBuffer(kernel, 5, terms);
                    Values(kernel, 6, instances, channels);
                    uint argument = 8;
                    KernelSet.SetValue(kernel, argument++, loss.DeltaV);
                    KernelSet.SetValue(kernel, argument++, 2f * loss.DeltaD);
                    KernelSet.SetValue(kernel, argument++, loss.Alpha);
                    KernelSet.SetValue(kernel, argument++, loss.Beta);
                    KernelSet.SetValue(kernel, argument++, loss.Gamma);
                    KernelSet.SetValue(kernel, argument++, reduction == Reduction.Mean ? (float)(upstream / (double)images) : upstream);
                    KernelSet.SetValue(kernel, argument, gradient is null ? 0 : 1);
                    LaunchRows(device, kernel, instances);

                    double[] termsHost = ArrayPool<double>.Shared.Rent(Math.Max(3 * instances, 1));
                    try
                    {
                        device.ReadPartials(termsHost.AsSpan(0, 3 * instances));
                        DiscriminativeLossResult result = DiscriminativeDriver.Reduce<double>(loss, termsHost.AsSpan(0, 3 * instances), images, reduction);
                        if (gradient is null)
                            return result;
                        LaunchGradient(device, kernels, embeddings, tables, pulls, means, coefficients, gradient, channels, pixels);
                        return result;
                    }
                    finally
                    {
                        ArrayPool<double>.Shared.Return(termsHost);
                    }
                }
                finally
                {
                    map.Return();
                }
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(ids);
        }
    }

    /// <summary>The map's four int arrays as one table in scratch slot 1 (the pixels' instances first), with where the other three start.</summary>
    private static nint Upload(OpenCLDevice device, in InstanceMap map, int pixelCount, out int orderAt, out int instancesAt, out int piecesAt)
    {
        (orderAt, instancesAt, piecesAt) = map.PackedOffsets(pixelCount);
        int total = map.PackedLength(pixelCount);
        int[] packed = ArrayPool<int>.Shared.Rent(total);
        try
        {
            map.Pack(pixelCount, packed);
            return device.UploadScratch(1, MemoryMarshal.Cast<int, float>(packed.AsSpan(0, total)));
        }
        finally
        {
            ArrayPool<int>.Shared.Return(packed);
        }
    }

    private static void LaunchPieces(OpenCLDevice device, KernelSet kernels, nint x, nint tables, int orderAt, int instancesAt, int piecesAt, nint pulls,
        nint means, nint sums, int pieces, int channels, int pixels, int spread, int first)
    {
        nint kernel = kernels.Kernel(Pieces);
        Arguments(kernel, x, tables);
        Values(kernel, 2, orderAt, instancesAt, piecesAt);
        KernelSet.SetBuffer(kernel, 5, pulls);
        KernelSet.SetBuffer(kernel, 6, means);
        KernelSet.SetBuffer(kernel, 7, sums);
        Values(kernel, 8, pieces, channels, pixels, spread, first);
        LaunchRows(device, kernel, pieces * (channels + 1));
    }

    private static void LaunchGradient(OpenCLDevice device, KernelSet kernels, DeviceBuffer<float> embeddings, nint tables, nint pulls, nint means,
        nint coefficients, DeviceBuffer<float> gradient, int channels, int pixels)
    {
        nint kernel = kernels.Kernel(GradientKernel);
        Arguments(kernel, embeddings.Handle, tables, pulls, means, coefficients, gradient.Handle);
        Values(kernel, 6, embeddings.Length, channels, pixels);
        LaunchRows(device, kernel, embeddings.Length);
        device.Finish();
    }

    private static void LaunchGather(OpenCLDevice device, KernelSet kernels, nint tables, int instancesAt, nint sums, nint destination, int instances,
        int channels, int spread)
    {
        nint kernel = kernels.Kernel(Gather);
        Arguments(kernel, tables);
        KernelSet.SetValue(kernel, 1, instancesAt);
        KernelSet.SetBuffer(kernel, 2, sums);
        KernelSet.SetBuffer(kernel, 3, destination);
        Values(kernel, 4, instances, channels, spread);
        LaunchRows(device, kernel, instances * (spread != 0 ? channels + 1 : channels));
    }
}
