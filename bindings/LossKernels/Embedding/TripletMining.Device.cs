using LossKernels.OpenCL;

namespace LossKernels.Embedding;

public readonly partial struct TripletMiningLoss
{
    /// <summary>Fused forward+backward on an OpenCL device: the span overload's L, triplet count and gradient, from <c>kernels/opencl/embedding.cl</c>.</summary>
    /// <param name="embeddings">B·D floats.</param>
    /// <param name="labels">B int64 labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="gradient">Receives B·D floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public TripletMiningResult ForwardBackward(DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int dim, DeviceBuffer<float> gradient,
        Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        return TripletMiningDeviceLoss.Run(this, embeddings, labels, dim, gradient, reduction, upstream);
    }

    /// <summary>Forward only on an OpenCL device.</summary>
    /// <param name="embeddings">B·D floats.</param>
    /// <param name="labels">B int64 labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public TripletMiningResult Forward(DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int dim, Reduction reduction = Reduction.Mean) =>
        TripletMiningDeviceLoss.Run(this, embeddings, labels, dim, null, reduction, 1f);

    /// <summary>Backward only on an OpenCL device.</summary>
    /// <param name="embeddings">B·D floats.</param>
    /// <param name="labels">B int64 labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="gradient">Receives B·D floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int dim, float upstream, DeviceBuffer<float> gradient,
        Reduction reduction = Reduction.Mean)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        TripletMiningDeviceLoss.Run(this, embeddings, labels, dim, gradient, reduction, upstream);
    }
}

/// <summary>
/// <see cref="TripletMiningLoss"/> on OpenCL: the CPU driver's passes as kernels (rows prepared, every distance, an anchor per work-item
/// mining into its row of the coefficient matrix, the matrix made symmetric, a row per work-item for the gradient) on the device's
/// scratch slots 0 (E), 4 (squares and norms), 2 (distances) and 3 (coefficients); per-anchor losses and counts added on the host in
/// anchor order.
/// </summary>
internal static unsafe class TripletMiningDeviceLoss
{
    private const int Prepare = 2, Distances = 3, Mine = 4, Symmetrize = 5, GradientKernel = 6;

    /// <summary>Side of the square work-groups of the matrix kernels.</summary>
    private const int Tile = 16;

    /// <summary>Work-items per group of the row kernels.</summary>
    private const int RowGroup = 64;

    public static TripletMiningResult Run(in TripletMiningLoss loss, DeviceBuffer<float> embeddings, DeviceBuffer<long> labels, int dim,
        DeviceBuffer<float>? gradient, Reduction reduction, float upstream)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(labels);
        embeddings.ThrowIfDisposed();
        OpenCLDevice device = embeddings.Device;
        int rows = TripletMiningDriver.CheckArguments(loss, embeddings.Length, labels.Length, dim, reduction);
        DeviceChecks.Buffer(labels, device, rows, nameof(labels));
        if (gradient is not null)
        {
            DeviceChecks.Buffer(gradient, device, -1, nameof(gradient));
            ThrowHelper.IfTooShort(embeddings.Length, gradient.Length, nameof(gradient));
            DeviceChecks.IfSame(gradient, labels, nameof(gradient), nameof(labels));
        }

        if (rows == 0)
            return default;
        long matrix = (long)rows * rows * sizeof(float);
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            KernelSet kernels = device.Kernels(EmbeddingDeviceLoss.Program, EmbeddingDeviceLoss.Names);
            nint e = device.Scratch(0, (long)embeddings.Length * sizeof(float));
            // ‖e_i‖² then ‖x_i‖ in one buffer; not slot 1: Oclgrind flags a kernel's reads of values an earlier kernel of the same
            // call wrote into a slot that a host write (the overlap losses' table) filled before, although they read back right.
            nint squares = device.Scratch(4, 2L * rows * sizeof(float));
            nint distances = device.Scratch(2, matrix);
            nint coefficients = gradient is null ? 0 : device.Scratch(3, matrix);
            nint partials = device.Partials(rows);
            nint counts = device.Counters(rows);
            {
                bool normalized = loss.Normalized;
                nint kernel = kernels.Kernel(Prepare);
                Arguments(kernel, embeddings.Handle, e, squares);
                Values(kernel, 3, rows, dim, normalized ? 1 : 0);
                LaunchRows(device, kernel, rows);

                kernel = kernels.Kernel(Distances);
                Arguments(kernel, e, squares, distances);
                Values(kernel, 3, rows, dim, (int)loss.Distance);
                LaunchMatrix(device, kernel, rows);

                kernel = kernels.Kernel(Mine);
                Arguments(kernel, distances, labels.Handle, coefficients, partials, counts);
                uint argument = 5;
                KernelSet.SetValue(kernel, argument++, rows);
                KernelSet.SetValue(kernel, argument++, (int)loss.Mining);
                KernelSet.SetValue(kernel, argument++, loss.Margin);
                KernelSet.SetValue(kernel, argument++, loss.SoftMargin ? 1 : 0);
                KernelSet.SetValue(kernel, argument, (int)loss.Distance);
                LaunchRows(device, kernel, rows);

                double total = device.SumPartials(rows);
                long count = 0;
                foreach (int anchorCount in device.ReadCounters(rows))
                    count += anchorCount;
                bool mean = reduction == Reduction.Mean;
                var result = new TripletMiningResult(count == 0 ? 0f : (float)(mean ? total / count : total), count);
                if (gradient is null)
                    return result;

                if (count == 0)
                {
                    // No triplet: the gradient is 0, as the CPU writes it (a zero scale would turn infinite embeddings into NaN).
                    device.Zero(gradient.Handle, embeddings.Length);
                    device.Finish();
                    return result;
                }

                kernel = kernels.Kernel(Symmetrize);
                Arguments(kernel, coefficients);
                KernelSet.SetValue(kernel, 1, rows);
                LaunchMatrix(device, kernel, rows);

                kernel = kernels.Kernel(GradientKernel);
                Arguments(kernel, e, squares, coefficients, gradient.Handle);
                Values(kernel, 4, rows, dim);
                KernelSet.SetValue(kernel, 6, (float)(mean ? upstream / (double)count : upstream));
                KernelSet.SetValue(kernel, 7, loss.Distance == TripletDistance.Cosine ? 1 : 0);
                KernelSet.SetValue(kernel, 8, normalized ? 1 : 0);
                LaunchRows(device, kernel, rows);
                device.Finish();
                return result;
            }
        }
    }

    /// <summary>Sets buffer arguments 0, 1, … of <paramref name="kernel"/>.</summary>
    internal static void Arguments(nint kernel, params ReadOnlySpan<nint> buffers)
    {
        for (int i = 0; i < buffers.Length; i++)
            KernelSet.SetBuffer(kernel, (uint)i, buffers[i]);
    }

    /// <summary>Sets int arguments from <paramref name="first"/> on.</summary>
    internal static void Values(nint kernel, uint first, params ReadOnlySpan<int> values)
    {
        for (int i = 0; i < values.Length; i++)
            KernelSet.SetValue(kernel, first + (uint)i, values[i]);
    }

    /// <summary>Launches <paramref name="rows"/> work-items (rounded up to whole groups of 64: kernels check their index).</summary>
    internal static void LaunchRows(OpenCLDevice device, nint kernel, int rows)
    {
        nuint local = RowGroup, global = ((nuint)rows + RowGroup - 1) / RowGroup * RowGroup;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
    }

    private static void LaunchMatrix(OpenCLDevice device, nint kernel, int rows)
    {
        nuint side = ((nuint)rows + Tile - 1) / Tile * Tile;
        nuint* global = stackalloc nuint[2] { side, side };
        nuint* local = stackalloc nuint[2] { Tile, Tile };
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 2, null, global, local, 0, null, null), "clEnqueueNDRangeKernel");
    }
}
