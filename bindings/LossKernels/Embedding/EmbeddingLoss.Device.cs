using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>What <c>kernels/opencl/embedding.cl</c> needs of a loss: its kind (<c>EMBEDDING_*</c>) and hyperparameters.</summary>
internal readonly record struct EmbeddingKernelArguments(int Kind, int P, bool Swap, float Margin, float Eps)
{
    public const int Triplet = 0, Contrastive = 1, Cosine = 2, Ranking = 3, Penalty = 4;
}

/// <summary>An embedding loss that runs on OpenCL: its kernel arguments.</summary>
internal interface IOpenCLEmbeddingLoss
{
    EmbeddingKernelArguments KernelArguments { get; }
}

/// <summary>The buffers of one device call of an embedding loss (null: not given).</summary>
internal readonly record struct EmbeddingBuffers(DeviceBuffer<float> X0, DeviceBuffer<float> X1, DeviceBuffer<float>? X2, DeviceBuffer<float>? Output,
    DeviceBuffer<float>? G0, DeviceBuffer<float>? G1, DeviceBuffer<float>? G2, DeviceBuffer<float>? Upstream);

/// <summary>The OpenCL entry points' checks and launch of every embedding loss (<c>kernels/opencl/embedding.cl</c>: a work-item per row or run of short rows, or on devices that reduce in work-group trees a work-group per long row).</summary>
internal static unsafe class EmbeddingDeviceLoss
{
    /// <summary>The kernels of <c>embedding.cl</c>: the row losses' two, triplet mining's passes (<see cref="TripletMiningDeviceLoss"/>), then the discriminative loss's (<see cref="DiscriminativeDeviceLoss"/>).</summary>
    internal static readonly string[] Names =
        ["embedding_rows", "embedding_row_groups", "triplet_prepare", "triplet_distances", "triplet_mine", "triplet_symmetrize", "triplet_gradient",
            "discriminative_pieces", "discriminative_gather", "discriminative_pulls", "discriminative_instances", "discriminative_gradient"];

    /// <summary>The program of <c>embedding.cl</c>.</summary>
    internal static readonly ProgramKey Program = new("embedding", null, OpenCLReductionVariant.Auto);

    private const int ItemKernel = 0, GroupKernel = 1;

    /// <summary>Rows of this many elements or more get a work-group each on devices that reduce in work-group trees (GPUs).</summary>
    private const int GroupRowElements = 64;

    /// <summary>The largest work-group of the row-group kernel (<c>EMBEDDING_GROUP</c>).</summary>
    private const int RowGroup = 256;

    /// <summary>Elements a work-item takes about: rows shorter than this go several to an item.</summary>
    private const int ItemElements = 256;

    /// <summary>Checks a device call and runs it; returns the reduced loss (0 for <see cref="Reduction.None"/>).</summary>
    public static float Run<TLoss, TLabel>(in TLoss loss, in EmbeddingNames names, int dim, DeviceBuffer<float> x0, DeviceBuffer<float> x1, DeviceBuffer<float>? x2,
        DeviceBuffer<TLabel>? labels, DeviceBuffer<float>? output, DeviceBuffer<float>? g0, DeviceBuffer<float>? g1, DeviceBuffer<float>? g2,
        DeviceBuffer<float>? upstream, Reduction reduction, float upstreamScalar)
        where TLoss : struct, IEmbeddingLoss, IOpenCLEmbeddingLoss
        where TLabel : unmanaged
    {
        loss.Validate();
        ArgumentNullException.ThrowIfNull(x0, names.X0);
        // A one-input loss reads its input as every stream.
        if (loss.Inputs == 1)
            x1 = x0;
        ArgumentNullException.ThrowIfNull(x1, names.X1);
        x0.ThrowIfDisposed();
        OpenCLDevice device = x0.Device;
        bool three = loss.Inputs == 3;
        if (three)
            ArgumentNullException.ThrowIfNull(x2, names.X2);
        if (loss.Labelled)
            ArgumentNullException.ThrowIfNull(labels, names.Label);
        if (!EmbeddingLoss.ReductionValid(reduction))
            ThrowHelper.Argument(nameof(reduction), $"Unknown reduction {reduction}.");
        int rows = EmbeddingLoss.Rows(loss, names, ref dim, x0.Length, labels?.Length ?? 0);
        int n = x0.Length;
        DeviceChecks.Buffer(x1, device, n, names.X1);
        DeviceChecks.Buffer(three ? x2 : null, device, n, names.X2);
        DeviceChecks.Buffer(loss.Labelled ? labels : null, device, rows, names.Label);
        bool unreduced = reduction == Reduction.None;
        if (unreduced)
        {
            ArgumentNullException.ThrowIfNull(output);
            DeviceChecks.Buffer(output, device, -1, nameof(output));
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
            DeviceChecks.Buffer(upstream, device, rows, nameof(upstream));
        }

        var buffers = new EmbeddingBuffers(x0, x1, three ? x2 : null, unreduced ? output : null, g0, g0 is null || loss.Inputs == 1 ? null : g1,
            g0 is null || !three ? null : g2,
            unreduced ? upstream : null);
        CheckGradients(buffers, labels, names, n, device);
        CheckWritten(buffers.Output, "output", buffers, labels, names);
        double divisor = unreduced ? 1d : ElementwiseLoss.ReductionDivisor(reduction, rows, null);
        if (rows == 0)
            return unreduced ? 0f : (float)(0d / divisor);
        EmbeddingKernelArguments arguments = loss.KernelArguments;
        bool groups = !device.RunsPerWorkItem && dim >= GroupRowElements;
        // Short rows go many to a work-item (a function of the shape alone), so that the host adds few partials.
        int rowsPerItem = groups ? 1 : Math.Max(1, ItemElements / Math.Max(1, dim));
        int items = (int)(((long)rows + rowsPerItem - 1) / rowsPerItem);
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            nint partials = device.Partials(items);
            KernelSet kernels = device.Kernels(Program, Names);
            nint kernel = kernels.Kernel(groups ? GroupKernel : ItemKernel);
            uint argument = 0;
            KernelSet.SetBuffer(kernel, argument++, x0.Handle);
            KernelSet.SetBuffer(kernel, argument++, x1.Handle);
            KernelSet.SetBuffer(kernel, argument++, buffers.X2?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, typeof(TLabel) == typeof(float) ? labels?.Handle ?? 0 : 0);
            KernelSet.SetBuffer(kernel, argument++, typeof(TLabel) == typeof(long) ? labels?.Handle ?? 0 : 0);
            KernelSet.SetBuffer(kernel, argument++, buffers.Upstream?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, buffers.Output?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, buffers.G0?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, buffers.G1?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, buffers.G2?.Handle ?? 0);
            KernelSet.SetValue(kernel, argument++, rows);
            KernelSet.SetValue(kernel, argument++, dim);
            if (!groups)
                KernelSet.SetValue(kernel, argument++, rowsPerItem);
            KernelSet.SetValue(kernel, argument++, arguments.Kind);
            KernelSet.SetValue(kernel, argument++, arguments.P);
            KernelSet.SetValue(kernel, argument++, arguments.Swap ? 1 : 0);
            KernelSet.SetValue(kernel, argument++, arguments.Margin);
            KernelSet.SetValue(kernel, argument++, arguments.Eps);
            KernelSet.SetValue(kernel, argument++, (float)(upstreamScalar / divisor));
            KernelSet.SetBuffer(kernel, argument, partials);
            const int Group = 64;
            nuint local = groups ? GroupSize(dim, kernels.MaxWorkGroupSize(GroupKernel)) : Group;
            nuint global = groups ? (nuint)rows * local : ((nuint)items + Group - 1) / Group * Group;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            return unreduced ? 0f : (float)(device.SumPartials(items) / divisor);
        }
    }

    /// <summary>A power of two up to a quarter of the row, <see cref="RowGroup"/> and the device's limit for the kernel.</summary>
    private static nuint GroupSize(int dim, int limit)
    {
        int size = 1;
        while (size < RowGroup && size * 4 < dim && size * 2 <= limit)
            size *= 2;
        return (nuint)size;
    }

    /// <summary>Gradients: all of the loss's or none, on the device, long enough, and not the same buffer as another result, a label or the upstream (an input is allowed: in place).</summary>
    private static void CheckGradients<TLabel>(in EmbeddingBuffers buffers, DeviceBuffer<TLabel>? labels, in EmbeddingNames names, int n, OpenCLDevice device)
        where TLabel : unmanaged
    {
        if (buffers.G0 is null)
            return;
        // A one-input loss has no second input: X1 is X0 (see Run).
        if (!ReferenceEquals(buffers.X1, buffers.X0))
            ArgumentNullException.ThrowIfNull(buffers.G1, names.G1);
        if (buffers.X2 is not null)
            ArgumentNullException.ThrowIfNull(buffers.G2, names.G2);
        CheckGradient(buffers.G0, names.G0, buffers, labels, names, n, device);
        CheckGradient(buffers.G1, names.G1, buffers, labels, names, n, device);
        CheckGradient(buffers.G2, names.G2, buffers, labels, names, n, device);
        DeviceChecks.IfSame(buffers.G1, buffers.G0, names.G1, names.G0);
        DeviceChecks.IfSame(buffers.G2, buffers.G0, names.G2, names.G0);
        DeviceChecks.IfSame(buffers.G2, buffers.G1, names.G2, names.G1);
    }

    private static void CheckGradient<TLabel>(DeviceBuffer<float>? gradient, string name, in EmbeddingBuffers buffers, DeviceBuffer<TLabel>? labels,
        in EmbeddingNames names, int n, OpenCLDevice device)
        where TLabel : unmanaged
    {
        if (gradient is null)
            return;
        DeviceChecks.Buffer(gradient, device, -1, name);
        ThrowHelper.IfTooShort(n, gradient.Length, name);
        DeviceChecks.IfSame(gradient, buffers.Upstream, name, "upstream");
        DeviceChecks.IfSame(gradient, labels, name, names.Label);
    }

    /// <summary>A written buffer must not be an input, a label, the upstream or another written buffer.</summary>
    private static void CheckWritten<TLabel>(DeviceBuffer<float>? written, string name, in EmbeddingBuffers buffers, DeviceBuffer<TLabel>? labels, in EmbeddingNames names)
        where TLabel : unmanaged
    {
        if (written is null)
            return;
        DeviceChecks.IfSame(written, buffers.X0, name, names.X0);
        DeviceChecks.IfSame(written, buffers.X1, name, names.X1);
        DeviceChecks.IfSame(written, buffers.X2, name, names.X2);
        DeviceChecks.IfSame(written, labels, name, names.Label);
        DeviceChecks.IfSame(written, buffers.Upstream, name, "upstream");
        DeviceChecks.IfSame(written, buffers.G0, name, names.G0);
        DeviceChecks.IfSame(written, buffers.G1, name, names.G1);
        DeviceChecks.IfSame(written, buffers.G2, name, names.G2);
    }
}
