using LossKernels.OpenCL;

namespace LossKernels.Classification;

public readonly partial struct NllLoss
{
    private const int Group = 64;

    /// <summary>Forward only, reduced, on an OpenCL device (<c>kernels/opencl/cross_entropy.cl</c>).</summary>
    /// <param name="input">N·C log-probabilities on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A target outside [0, C) other than <see cref="IgnoreIndex"/>, found on the device and named by its first position.</exception>
    public float Forward(DeviceBuffer<float> input, DeviceBuffer<long> target, Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null) =>
        RunOnDevice(input, target, weight, null, null, null, reduction, 1f);

    /// <summary>Fused forward+backward, reduced, on the device; <paramref name="inputGrad"/> may be <paramref name="input"/> itself.</summary>
    /// <param name="input">N·C log-probabilities on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="inputGrad">Receives N·C gradient elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float> inputGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, float upstream = 1f) =>
        RunOnDevice(input, target, weight, null, null, inputGrad, reduction, upstream);

    /// <summary>Forward (and, with <paramref name="inputGrad"/>, backward) unreduced on the device: N row losses.</summary>
    /// <param name="input">N·C log-probabilities on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="inputGrad">Receives N·C gradient elements, or null.</param>
    /// <param name="upstream">N upstream gradients, or null for ones.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    public void ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float> output, DeviceBuffer<float>? inputGrad,
        DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null) =>
        RunOnDevice(input, target, weight, upstream, output, inputGrad, Reduction.None, 1f);

    /// <summary>Backward only, reduced, on the device.</summary>
    /// <param name="input">N·C log-probabilities on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    public void Backward(DeviceBuffer<float> input, DeviceBuffer<long> target, float upstream, DeviceBuffer<float> inputGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null) =>
        RunOnDevice(input, target, weight, null, null, inputGrad, reduction, upstream);

    private unsafe float RunOnDevice(DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float>? weight, DeviceBuffer<float>? upstream,
        DeviceBuffer<float>? output, DeviceBuffer<float>? gradient, Reduction reduction, float upstreamScalar)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        int rows = target.Length;
        if (rows == 0 ? input.Length != 0 : input.Length % rows != 0)
            ThrowHelper.Argument(nameof(input), $"input holds {input.Length} values, not a whole number of rows for {rows} targets.");
        int classes = rows == 0 ? 0 : input.Length / rows;
        input.ThrowIfDisposed();
        OpenCLDevice device = input.Device;
        DeviceChecks.Buffer(target, device, -1, nameof(target));
        DeviceChecks.Buffer(weight, device, classes, nameof(weight));
        DeviceChecks.Buffer(upstream, device, rows, nameof(upstream));
        DeviceChecks.Buffer(output, device, -1, nameof(output));
        DeviceChecks.Buffer(gradient, device, -1, "inputGrad");
        if (output is not null)
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
        if (gradient is not null)
            ThrowHelper.IfTooShort(input.Length, gradient.Length, "inputGrad");
        DeviceChecks.IfSame(output, input, nameof(output), nameof(input));
        DeviceChecks.IfSame(output, gradient, nameof(output), "inputGrad");
        DeviceChecks.IfSame(output, weight, nameof(output), nameof(weight));
        DeviceChecks.IfSame(output, upstream, nameof(output), nameof(upstream));
        DeviceChecks.IfSame(gradient, weight, "inputGrad", nameof(weight));
        DeviceChecks.IfSame(gradient, upstream, "inputGrad", nameof(upstream));
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "a defined Reduction");
        if (rows == 0)
            return reduction == Reduction.Mean ? float.NaN : 0f;

        // The targets are checked by a launch of their own first, so that a bad one throws before the rows write anything.
        ClassTargets.Validate(target, classes, IgnoreIndex);

        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            KernelSet kernels = CrossEntropyProgram.On(device);
            nint partials = device.Partials(2 * rows);
            nint kernel = kernels.Kernel(CrossEntropyProgram.NllRowsKernel);
            uint argument = 0;
            KernelSet.SetBuffer(kernel, argument++, input.Handle);
            KernelSet.SetBuffer(kernel, argument++, target.Handle);
            KernelSet.SetBuffer(kernel, argument++, weight?.Handle ?? 0);
            KernelSet.SetValue(kernel, argument++, rows);
            KernelSet.SetValue(kernel, argument++, classes);
            KernelSet.SetValue(kernel, argument++, IgnoreIndex);
            KernelSet.SetBuffer(kernel, argument++, partials);
            KernelSet.SetBuffer(kernel, argument++, output?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument, device.FaultFlag);
            nuint local = Group;
            nuint global = ((nuint)rows + Group - 1) / Group * Group;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            if (device.TakeFault() is int position)
            {
                long value = 0;
                target.Download(new Span<long>(ref value), position);
                ClassTargets.ThrowOutOfRange(position, value, classes, IgnoreIndex);
            }

            // partials hold the target weights, then the row losses: their sums are the mean's divisor and the total.
            double divisor = reduction == Reduction.Mean ? device.SumPartials(rows) : 1d;
            double total = reduction == Reduction.None ? 0d : device.SumPartials(rows, offset: rows);
            if (gradient is not null)
            {
                // GPUs: a work-item per element, neighbours writing neighbouring addresses; CPU devices: a row per work-item.
                bool cpuDevice = device.RunsPerWorkItem;
                nint backward = kernels.Kernel(cpuDevice ? CrossEntropyProgram.NllGradientRowsKernel : CrossEntropyProgram.NllGradientKernel);
                argument = 0;
                KernelSet.SetBuffer(backward, argument++, target.Handle);
                KernelSet.SetBuffer(backward, argument++, weight?.Handle ?? 0);
                KernelSet.SetBuffer(backward, argument++, upstream?.Handle ?? 0);
                KernelSet.SetBuffer(backward, argument++, gradient.Handle);
                KernelSet.SetValue(backward, argument++, rows);
                KernelSet.SetValue(backward, argument++, classes);
                KernelSet.SetValue(backward, argument++, IgnoreIndex);
                KernelSet.SetValue(backward, argument, (float)(upstreamScalar / divisor));
                nuint items = ((nuint)(cpuDevice ? rows : input.Length) + Group - 1) / Group * Group;
                OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, backward, 1, null, &items, &local, 0, null, null), "clEnqueueNDRangeKernel");
            }

            return reduction == Reduction.None ? 0f : (float)(total / divisor);
        }
    }
}
