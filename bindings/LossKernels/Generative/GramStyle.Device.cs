using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

public readonly partial struct GramStyleLoss
{
    /// <summary>The Gram matrices of <paramref name="images"/> images' features on an OpenCL device (<c>gram_matrix</c> of <c>kernels/opencl/generative.cl</c>), as the span overload's.</summary>
    /// <param name="features">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 1).</param>
    /// <param name="gram">Receives N·C² floats; not the features' buffer.</param>
    public void ComputeGram(DeviceBuffer<float> features, int images, int channels, DeviceBuffer<float> gram)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(gram);
        features.ThrowIfDisposed();
        GramStyleShape shape = GramStyleShape.Of(features.Length, images, channels, nameof(features));
        DeviceChecks.Buffer(gram, features.Device, -1, nameof(gram));
        ThrowHelper.IfTooShort((long)shape.GramLength * images, gram.Length, nameof(gram));
        DeviceChecks.IfSame(gram, features, nameof(gram), nameof(features));
        GramStyleDeviceLoss.Gram(features.Device, features.Handle, gram.Handle, shape, GramStyleMath.GramScale(Normalization, channels, shape.Spatial));
    }

    /// <summary>Fused forward+backward on an OpenCL device: the span overload's L and gradient.</summary>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 1).</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; not the input's or the target's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L.</returns>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> targetGram, int images, int channels, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        ArgumentNullException.ThrowIfNull(inputGrad);
        return GramStyleDeviceLoss.Run(this, input, targetGram, images, channels, inputGrad, reduction, upstream, accumulate: false);
    }

    /// <summary>Forward only on an OpenCL device.</summary>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(DeviceBuffer<float> input, DeviceBuffer<float> targetGram, int images, int channels, Reduction reduction = Reduction.Mean) =>
        GramStyleDeviceLoss.Run(this, input, targetGram, images, channels, null, reduction, 1f, accumulate: false);

    /// <summary>Backward only on an OpenCL device.</summary>
    /// <param name="input">F(ŷ), N·C·H·W floats.</param>
    /// <param name="targetGram">A, C² or N·C² floats.</param>
    /// <param name="images">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> input, DeviceBuffer<float> targetGram, int images, int channels, float upstream, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean) =>
        ForwardBackward(input, targetGram, images, channels, inputGrad, reduction, upstream);
}

/// <summary>
/// <see cref="GramStyleLoss"/> on OpenCL, three launches: <c>gram_matrix</c> (16×16 tiles of every image's Gram, the features through
/// local memory), <c>gram_style_slopes</c> (per entry the squared difference, added per group of 64 in item order and the groups on the host
/// in order, and the backward's matrix D) and <c>gram_style_backward</c> (16×16 tiles of D·F). The Grams and D live in device scratch,
/// reused between calls. Each Gram and gradient entry is one fma chain in index order, as the CPU's SYRK and SGEMM compute it.
/// </summary>
internal static unsafe class GramStyleDeviceLoss
{
    /// <summary>The side of a tile (the kernels' GRAM_TILE).</summary>
    private const int Tile = 16;

    /// <summary>Work-items per group of the slopes (the kernel's GRAM_GROUP).</summary>
    private const int Group = 64;

    /// <summary>Slots of its own: Oclgrind's uninitialized-value checker flagged the backward's reads of D when these were slots another loss's kernels had used.</summary>
    private const int GramSlot = 8, SlopesSlot = 9;

    /// <summary>The loss, and with a gradient its backward: written, or with <paramref name="accumulate"/> added to the gradient's values.</summary>
    public static float Run(in GramStyleLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> targetGram, int images, int channels, DeviceBuffer<float>? gradient,
        Reduction reduction, float upstream, bool accumulate)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(targetGram);
        input.ThrowIfDisposed();
        OpenCLDevice device = input.Device;
        DeviceChecks.Buffer(targetGram, device, -1, nameof(targetGram));
        GramStyleShape shape = GramStyleShape.OfCall(input.Length, targetGram.Length, images, channels, reduction);
        if (gradient is not null)
        {
            DeviceChecks.Buffer(gradient, device, -1, "inputGrad");
            ThrowHelper.IfTooShort(input.Length, gradient.Length, "inputGrad");
            DeviceChecks.IfSame(gradient, input, "inputGrad", nameof(input));
            DeviceChecks.IfSame(gradient, targetGram, "inputGrad", nameof(targetGram));
        }

        if (shape.Images == 0)
            return reduction == Reduction.Mean ? float.NaN : 0f;
        int entries = checked(shape.Images * shape.GramLength);
        float scale = GramStyleMath.GramScale(loss.Normalization, channels, shape.Spatial);
        double perImage = reduction == Reduction.Mean ? 1d / shape.Images : 1d;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            KernelSet kernels = GenerativeProgram.Kernels(device);
            nint gram = device.Scratch(GramSlot, (long)entries * sizeof(float));
            nint slopes = gradient is null ? 0 : device.Scratch(SlopesSlot, (long)entries * sizeof(float));
            LaunchGram(device, kernels.Kernel(GenerativeProgram.GramMatrix), input.Handle, gram, shape, scale);

            nint kernel = kernels.Kernel(GenerativeProgram.GramStyleSlopes);
            int groups = (entries + Group - 1) / Group;
            uint argument = 0;
            KernelSet.SetBuffer(kernel, argument++, gram);
            KernelSet.SetBuffer(kernel, argument++, targetGram.Handle);
            KernelSet.SetBuffer(kernel, argument++, slopes);
            KernelSet.SetValue(kernel, argument++, channels);
            KernelSet.SetValue(kernel, argument++, shape.TargetImages == 1 ? 0 : 1);
            KernelSet.SetValue(kernel, argument++, GramStyleMath.SlopeFactor(loss.Normalization, channels, shape.Spatial, upstream, perImage));
            KernelSet.SetValue(kernel, argument++, entries);
            KernelSet.SetBuffer(kernel, argument, device.Partials(groups));
            Enqueue(device, kernel, 1, [(nuint)groups * Group], [Group]);

            if (gradient is not null)
            {
                kernel = kernels.Kernel(GenerativeProgram.GramStyleBackward);
                KernelSet.SetBuffer(kernel, 0, slopes);
                KernelSet.SetBuffer(kernel, 1, input.Handle);
                KernelSet.SetBuffer(kernel, 2, gradient.Handle);
                KernelSet.SetValue(kernel, 3, channels);
                KernelSet.SetValue(kernel, 4, shape.Spatial);
                KernelSet.SetValue(kernel, 5, accumulate ? 1 : 0);
                Enqueue(device, kernel, 3, [Round(shape.Spatial), Round(channels), (nuint)shape.Images], [Tile, Tile, 1]);
            }

            double sum = device.SumPartials(groups);
            device.Finish();
            return (float)(GramStyleMath.LossWeight(loss.Normalization, channels, shape.Spatial) * sum * perImage);
        }
    }

    /// <summary>Every image's Gram into <paramref name="gram"/> (a standalone call: under the device's gate, finished on return).</summary>
    public static void Gram(OpenCLDevice device, nint features, nint gram, GramStyleShape shape, float scale)
    {
        if (shape.Images == 0)
            return;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            LaunchGram(device, GenerativeProgram.Kernels(device).Kernel(GenerativeProgram.GramMatrix), features, gram, shape, scale);
            device.Finish();
        }
    }

    private static void LaunchGram(OpenCLDevice device, nint kernel, nint features, nint gram, GramStyleShape shape, float scale)
    {
        KernelSet.SetBuffer(kernel, 0, features);
        KernelSet.SetBuffer(kernel, 1, gram);
        KernelSet.SetValue(kernel, 2, shape.Channels);
        KernelSet.SetValue(kernel, 3, shape.Spatial);
        KernelSet.SetValue(kernel, 4, scale);
        Enqueue(device, kernel, 3, [Round(shape.Channels), Round(shape.Channels), (nuint)shape.Images], [Tile, Tile, 1]);
    }

    /// <summary><paramref name="extent"/> rounded up to whole tiles.</summary>
    private static nuint Round(int extent) => ((nuint)extent + Tile - 1) / Tile * Tile;

    private static void Enqueue(OpenCLDevice device, nint kernel, uint dimensions, ReadOnlySpan<nuint> global, ReadOnlySpan<nuint> local)
    {
        fixed (nuint* g = global, l = local)
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, dimensions, null, g, l, 0, null, null), "clEnqueueNDRangeKernel");
    }
}

/// <summary>A <see cref="GramStyleBoundLoss"/> on an OpenCL device: the input and the style (its features or its Gram) uploaded once.</summary>
internal sealed class OpenCLGramStyleRun(GramStyleBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.input, bound.styleFeatures ?? bound.targetGram, [], [], null, extra: bound.styleFeatures is null ? null : new float[bound.targetGram.Length])
{
    public override void Run(LossMode mode)
    {
        DeviceBuffer<float> targetGram = Target;
        if (bound.styleFeatures is not null)
        {
            bound.loss.ComputeGram(Target, bound.styleImages, bound.channels, Extra!);
            targetGram = Extra!;
        }

        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, targetGram, bound.images, bound.channels, bound.reduction);
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, targetGram, bound.images, bound.channels, Gradient, bound.reduction, bound.upstream);
        else
            bound.loss.Backward(Input, targetGram, bound.images, bound.channels, bound.upstream, Gradient, bound.reduction);
    }
}
