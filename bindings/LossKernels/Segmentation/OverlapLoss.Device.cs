using System.Buffers;
using LossKernels.Classification;
using LossKernels.OpenCL;

namespace LossKernels.Segmentation;

/// <summary>
/// The overlap losses on an OpenCL device (<c>kernels/opencl/segmentation.cl</c>): the same entry points as the span
/// overloads of <see cref="OverlapLoss"/>, on <see cref="DeviceBuffer{T}"/>s. Multiclass targets are int64 class indices,
/// checked on the device first (the first bad position throws, nothing written); the class weights stay on the host, where
/// the loss is evaluated from the sums.
/// </summary>
/// <remarks>
/// Launches: the per-pixel softmax statistics (multiclass from logits), the sums (one work-group per image, block of 4,096
/// pixels and class, its partial added in work-item order), then on the host the partials in index order, the loss and the
/// coefficient table, and with a gradient one more launch that writes it. Every call waits for its result.
/// </remarks>
public static unsafe class OverlapLossDevice
{
    private const int Block = 4096;

    /// <summary>Forward only on the device: the loss.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <returns>The loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<long> target, SegmentationShape shape, ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target ?? throw new ArgumentNullException(nameof(target)), null, null, shape, weight, 1f);

    /// <summary>Forward only on the device, multilabel or binary: the loss.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] float targets.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <returns>The loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, SegmentationShape shape, ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, null, target ?? throw new ArgumentNullException(nameof(target)), null, shape, weight, 1f);

    /// <summary>Fused forward+backward on the device: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, float upstream = 1f)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target ?? throw new ArgumentNullException(nameof(target)), null, inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, weight, upstream);

    /// <summary>Fused forward+backward on the device, multilabel or binary.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] float targets.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, float upstream = 1f)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, null, target ?? throw new ArgumentNullException(nameof(target)), inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, weight, upstream);

    /// <summary>Backward only on the device: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    public static void Backward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<long> target, float upstream, DeviceBuffer<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target ?? throw new ArgumentNullException(nameof(target)), null, inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, weight, upstream);

    /// <summary>Backward only on the device, multilabel or binary.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] float targets.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    public static void Backward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, float upstream, DeviceBuffer<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, null, target ?? throw new ArgumentNullException(nameof(target)), inputGrad ?? throw new ArgumentNullException(nameof(inputGrad)), shape, weight, upstream);

    private static float Run<TLoss>(in TLoss loss, DeviceBuffer<float> input, DeviceBuffer<long>? labels, DeviceBuffer<float>? dense, DeviceBuffer<float>? gradient,
        SegmentationShape shape, ReadOnlySpan<float> weight, float upstream)
        where TLoss : struct, IOverlapLoss
    {
        ArgumentNullException.ThrowIfNull(input);
        OverlapHost.Check(loss, shape, input.Length, dense is not null, dense?.Length ?? labels!.Length, weight.Length);
        OpenCLDevice device = input.Device;
        DeviceChecks.Buffer(labels, device, -1, "target");
        DeviceChecks.Buffer(dense, device, -1, "target");
        DeviceChecks.Buffer(gradient, device, -1, "inputGrad");
        input.ThrowIfDisposed();
        if (gradient is not null)
        {
            ThrowHelper.IfTooShort(input.Length, gradient.Length, "inputGrad");
            DeviceChecks.IfSame(gradient, dense, "inputGrad", "target");
        }

        OverlapOptions options = loss.Options;
        if (labels is not null)
            ClassTargets.Check(labels, shape.Classes, options.IgnoreIndex);
        int classes = shape.Classes, spatial = shape.Spatial, pixels = (int)shape.Pixels;
        int blocks = (spatial + Block - 1) / Block, groups = shape.Batch * blocks * classes;
        int sumCount = groups * OverlapSums.Count, coefficientCount = OverlapHost.Groups(options, shape) * classes * OverlapDriver.CoefficientCount;
        double[] partials = ArrayPool<double>.Shared.Rent(Math.Max(1, sumCount));
        float[] coefficients = ArrayPool<float>.Shared.Rent(Math.Max(1, coefficientCount));
        try
        {
            lock (device.Gate)
            {
                device.ThrowIfDisposed();
                KernelSet kernels = SegmentationProgram.Kernels(device);
                bool softmax = labels is not null && options.FromLogits;
                nint stats = softmax ? device.Scratch(0, 2L * sizeof(float) * Math.Max(pixels, 1)) : 0;
                if (softmax)
                    SegmentationProgram.SoftmaxStatistics(device, kernels, input, shape, stats);

                if (groups > 0)
                {
                    // GPUs: a work-group per (block, class, image); CPU devices: a work-item each.
                    bool vectors = device.RunsPerWorkItem;
                    nint sums = kernels.Kernel(vectors ? SegmentationProgram.OverlapSums16 : SegmentationProgram.OverlapSums);
                    uint argument = SetInputs(sums, input, labels, dense, stats);
                    KernelSet.SetValue(sums, argument++, classes);
                    KernelSet.SetValue(sums, argument++, spatial);
                    KernelSet.SetValue(sums, argument++, blocks);
                    KernelSet.SetValue(sums, argument++, options.FromLogits ? 1 : 0);
                    KernelSet.SetValue(sums, argument++, options.IgnoreIndex is null ? 0 : 1);
                    KernelSet.SetValue(sums, argument++, options.IgnoreIndex ?? 0L);
                    KernelSet.SetBuffer(sums, argument, device.Partials(sumCount));
                    nuint group = vectors ? 1u : SegmentationProgram.Group;
                    nuint* local = stackalloc nuint[] { group, 1, 1 };
                    nuint* global = stackalloc nuint[] { (nuint)blocks * group, (nuint)classes, (nuint)shape.Batch };
                    OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, sums, 3, null, global, local, 0, null, null), "clEnqueueNDRangeKernel");
                    device.ReadPartials(partials.AsSpan(0, sumCount));
                }

                Span<float> table = gradient is null ? default : coefficients.AsSpan(0, coefficientCount);
                double value = OverlapHost.Evaluate(loss, partials.AsSpan(0, sumCount), blocks, shape, weight, upstream, table);
                if (gradient is not null && pixels > 0)
                {
                    nint kernel = kernels.Kernel(device.RunsPerWorkItem ? SegmentationProgram.OverlapGradient16 : SegmentationProgram.OverlapGradient);
                    uint argument = SetInputs(kernel, input, labels, dense, stats);
                    KernelSet.SetBuffer(kernel, argument++, device.UploadScratch(1, table));
                    KernelSet.SetValue(kernel, argument++, classes);
                    KernelSet.SetValue(kernel, argument++, spatial);
                    KernelSet.SetValue(kernel, argument++, pixels);
                    KernelSet.SetValue(kernel, argument++, options.PerImage ? 1 : 0);
                    KernelSet.SetValue(kernel, argument++, options.FromLogits ? 1 : 0);
                    KernelSet.SetValue(kernel, argument++, options.IgnoreIndex is null ? 0 : 1);
                    KernelSet.SetValue(kernel, argument++, options.IgnoreIndex ?? 0L);
                    KernelSet.SetBuffer(kernel, argument, gradient.Handle);
                    SegmentationProgram.Launch(device, kernel, SegmentationProgram.PixelItems(device, shape));
                    OpenCLException.ThrowIfFailed(OpenCLNative.clFinish(device.Queue), "clFinish");
                }

                return (float)value;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(coefficients);
            ArrayPool<double>.Shared.Return(partials);
        }
    }

    /// <summary>Sets the four leading buffer arguments every overlap kernel but the statistics takes; returns the next index.</summary>
    private static uint SetInputs(nint kernel, DeviceBuffer<float> input, DeviceBuffer<long>? labels, DeviceBuffer<float>? dense, nint stats)
    {
        KernelSet.SetBuffer(kernel, 0, input.Handle);
        KernelSet.SetBuffer(kernel, 1, labels?.Handle ?? 0);
        KernelSet.SetBuffer(kernel, 2, dense?.Handle ?? 0);
        KernelSet.SetBuffer(kernel, 3, stats);
        return 4;
    }
}
