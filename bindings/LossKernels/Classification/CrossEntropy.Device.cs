using LossKernels.OpenCL;

namespace LossKernels.Classification;

public readonly partial struct CrossEntropyLoss
{
    private const int RowGroup = 256;
    private const int TargetGroup = 64;

    /// <summary>Forward only, reduced, on an OpenCL device (<c>kernels/opencl/cross_entropy.cl</c>).</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A target outside [0, C) other than <see cref="IgnoreIndex"/>: found on the device, named by its first position.</exception>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public float Forward(DeviceBuffer<float> logits, DeviceBuffer<long> target, Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, int spatialSize = 1) =>
        RunOnDevice(logits, target, null, 0, weight, null, null, null, reduction, 1f, spatialSize);

    /// <summary>Forward only, unreduced, on the device: N row losses into <paramref name="output"/>.</summary>
    /// <inheritdoc cref="Forward(DeviceBuffer{float}, DeviceBuffer{long}, Reduction, DeviceBuffer{float}?, int)"/>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public void Forward(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float> output, DeviceBuffer<float>? weight = null, int spatialSize = 1) =>
        RunOnDevice(logits, target, null, 0, weight, null, output, null, Reduction.None, 1f, spatialSize);

    /// <summary>Fused forward+backward, reduced, on the device; <paramref name="logitsGrad"/> may be <paramref name="logits"/> itself.</summary>
    /// <inheritdoc cref="Forward(DeviceBuffer{float}, DeviceBuffer{long}, Reduction, DeviceBuffer{float}?, int)"/>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public float ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float> logitsGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, float upstream = 1f, int spatialSize = 1) =>
        RunOnDevice(logits, target, null, 0, weight, null, null, logitsGrad, reduction, upstream, spatialSize);

    /// <summary>Fused forward+backward, unreduced, on the device.</summary>
    /// <inheritdoc cref="Forward(DeviceBuffer{float}, DeviceBuffer{long}, Reduction, DeviceBuffer{float}?, int)"/>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N upstream gradients, or null for ones.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public void ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float> output, DeviceBuffer<float> logitsGrad,
        DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null, int spatialSize = 1) =>
        RunOnDevice(logits, target, null, 0, weight, upstream, output, logitsGrad, Reduction.None, 1f, spatialSize);

    /// <summary>Backward only, reduced, on the device.</summary>
    /// <inheritdoc cref="Forward(DeviceBuffer{float}, DeviceBuffer{long}, Reduction, DeviceBuffer{float}?, int)"/>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public void Backward(DeviceBuffer<float> logits, DeviceBuffer<long> target, float upstream, DeviceBuffer<float> logitsGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, int spatialSize = 1) =>
        RunOnDevice(logits, target, null, 0, weight, null, null, logitsGrad, reduction, upstream, spatialSize);

    /// <summary>Soft targets on the device, fused and reduced (the same formulas as the span overload).</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="targetProbabilities">N·C target probabilities on the same device.</param>
    /// <param name="classes">C.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over N) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public float ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<float> targetProbabilities, int classes, DeviceBuffer<float> logitsGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float upstream = 1f, int spatialSize = 1) =>
        RunOnDevice(logits, null, targetProbabilities, classes, weight, null, null, logitsGrad, reduction, upstream, spatialSize);

    /// <summary>Soft targets on the device, forward only, reduced.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="targetProbabilities">N·C target probabilities on the same device.</param>
    /// <param name="classes">C.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over N) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public float Forward(DeviceBuffer<float> logits, DeviceBuffer<float> targetProbabilities, int classes, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, int spatialSize = 1) =>
        RunOnDevice(logits, null, targetProbabilities, classes, weight, null, null, null, reduction, 1f, spatialSize);

    /// <summary>Soft targets on the device, fused and unreduced.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="targetProbabilities">N·C target probabilities on the same device.</param>
    /// <param name="classes">C.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements, or null for the losses alone.</param>
    /// <param name="upstream">N upstream gradients, or null for ones.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public void ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<float> targetProbabilities, int classes, DeviceBuffer<float> output,
        DeviceBuffer<float>? logitsGrad, DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null, int spatialSize = 1) =>
        RunOnDevice(logits, null, targetProbabilities, classes, weight, upstream, output, logitsGrad, Reduction.None, 1f, spatialSize);

    /// <summary>Soft targets on the device, backward only, reduced.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="targetProbabilities">N·C target probabilities on the same device.</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over N) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …]), the positions per sample; 1 for [N, C].</param>
    public void Backward(DeviceBuffer<float> logits, DeviceBuffer<float> targetProbabilities, int classes, float upstream, DeviceBuffer<float> logitsGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, int spatialSize = 1) =>
        RunOnDevice(logits, null, targetProbabilities, classes, weight, null, null, logitsGrad, reduction, upstream, spatialSize);

    /// <summary>Hard targets (<paramref name="target"/>) or soft ones (<paramref name="softTarget"/> with <paramref name="softClasses"/>).</summary>
    private float RunOnDevice(DeviceBuffer<float> logits, DeviceBuffer<long>? target, DeviceBuffer<float>? softTarget, int softClasses,
        DeviceBuffer<float>? weight, DeviceBuffer<float>? upstream, DeviceBuffer<float>? output, DeviceBuffer<float>? gradient, Reduction reduction, float upstreamScalar,
        int spatialSize) =>
        RunOnDevice(logits, target, softTarget, softClasses, null, null, null, weight, upstream, output, gradient, reduction, upstreamScalar, spatialSize);

    /// <summary>
    /// The one launch path: hard targets (<paramref name="target"/>), soft ones (<paramref name="softTarget"/> of <paramref name="softClasses"/>),
    /// or distribution focal labels (<paramref name="labels"/>, with <paramref name="rowWeight"/> and the mean's <paramref name="divisorOverride"/>);
    /// hard targets with <paramref name="rowWeight"/> are the pixel-weighted cross entropy (the weight scales each position's target share).
    /// </summary>
    internal unsafe float RunOnDevice(DeviceBuffer<float> logits, DeviceBuffer<long>? target, DeviceBuffer<float>? softTarget, int softClasses,
        DeviceBuffer<float>? labels, DeviceBuffer<float>? rowWeight, double? divisorOverride,
        DeviceBuffer<float>? weight, DeviceBuffer<float>? upstream, DeviceBuffer<float>? output, DeviceBuffer<float>? gradient, Reduction reduction, float upstreamScalar,
        int spatialSize, (float Alpha, float Gamma)? focal = null)
    {
        ArgumentNullException.ThrowIfNull(logits);
        Validate();
        if (spatialSize <= 0)
            ThrowHelper.OutOfRange(nameof(spatialSize), spatialSize, "> 0");
        OpenCLDevice device = logits.Device;
        int rows, classes;
        if (rowWeight is not null && labels is null && target is null)
            ThrowHelper.Argument(nameof(rowWeight), "Row weights weigh hard targets or distribution focal labels.");
        if (labels is not null)
        {
            rows = labels.Length;
            if (rows == 0 ? logits.Length != 0 : logits.Length % rows != 0)
                ThrowHelper.Argument(nameof(logits), $"logits hold {logits.Length} values, not a whole number of rows for {rows} labels.");
            classes = rows == 0 ? 1 : logits.Length / rows;
            DeviceChecks.Buffer(labels, device, -1, "label");
            if (rowWeight is not null)
            {
                DeviceChecks.Buffer(rowWeight, device, -1, "weight");
                ThrowHelper.IfLengthDiffers(rows, rowWeight.Length, "weight");
            }
        }
        else if (softTarget is not null)
        {
            (rows, classes) = (SoftPositions(logits.Length, softClasses, spatialSize), softClasses);
            DeviceChecks.Buffer(softTarget, device, -1, "targetProbabilities");
            ThrowHelper.IfLengthDiffers(logits.Length, softTarget.Length, "targetProbabilities");
        }
        else
        {
            ArgumentNullException.ThrowIfNull(target);
            rows = target.Length;
            if (rows % spatialSize != 0)
                ThrowHelper.Argument(nameof(target), $"target holds {rows} indices, not a whole number of samples of {spatialSize} positions.");
            if (rows == 0 ? logits.Length != 0 : logits.Length % rows != 0)
                ThrowHelper.Argument(nameof(logits), $"logits hold {logits.Length} values, not a whole number of rows for {rows} targets.");
            classes = rows == 0 ? 0 : logits.Length / rows;
            if (rows > 0 && classes == 0)
                ThrowHelper.Argument(nameof(logits), "logits are empty but there are targets: C must be at least 1.");
            DeviceChecks.Buffer(target, device, -1, nameof(target));
            if (rowWeight is not null)
            {
                DeviceChecks.Buffer(rowWeight, device, -1, "pixelWeight");
                ThrowHelper.IfLengthDiffers(rows, rowWeight.Length, "pixelWeight");
            }
        }

        if (weight is not null)
        {
            DeviceChecks.Buffer(weight, device, -1, nameof(weight));
            ThrowHelper.IfLengthDiffers(classes, weight.Length, nameof(weight));
        }

        if (upstream is not null)
        {
            DeviceChecks.Buffer(upstream, device, -1, nameof(upstream));
            ThrowHelper.IfLengthDiffers(rows, upstream.Length, nameof(upstream));
        }

        if (output is not null)
        {
            DeviceChecks.Buffer(output, device, -1, nameof(output));
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
        }

        if (gradient is not null)
        {
            DeviceChecks.Buffer(gradient, device, -1, nameof(gradient));
            ThrowHelper.IfTooShort(logits.Length, gradient.Length, "logitsGrad");
        }

        // The rows read the targets, weights and upstream after the gradient is written, and the losses are written last.
        DeviceChecks.IfSame(gradient, softTarget, "logitsGrad", "targetProbabilities");
        DeviceChecks.IfSame(gradient, labels, "logitsGrad", "label");
        DeviceChecks.IfSame(gradient, rowWeight, "logitsGrad", nameof(weight));
        DeviceChecks.IfSame(gradient, weight, "logitsGrad", nameof(weight));
        DeviceChecks.IfSame(gradient, upstream, "logitsGrad", nameof(upstream));
        DeviceChecks.IfSame(output, gradient, nameof(output), "logitsGrad");
        DeviceChecks.IfSame(output, logits, nameof(output), nameof(logits));
        DeviceChecks.IfSame(output, softTarget, nameof(output), "targetProbabilities");
        DeviceChecks.IfSame(output, labels, nameof(output), "label");
        DeviceChecks.IfSame(output, weight, nameof(output), nameof(weight));
        DeviceChecks.IfSame(output, upstream, nameof(output), nameof(upstream));
        if (reduction == Reduction.None && output is null)
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one loss per row: use the overload that takes an output buffer.");
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "a defined Reduction");
        if (rows == 0)
            return reduction == Reduction.Mean ? (float)(0d / (divisorOverride ?? 0d)) : 0f;

        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            KernelSet kernels = CrossEntropyProgram.On(device);
            nint partials = device.Partials(rows);
            double divisor = reduction == Reduction.Mean ? divisorOverride ?? rows : 1d;
            if (target is not null)
            {
                double kept = CheckTargets(device, kernels, target, focal is null ? weight : null, rows, classes, partials, reduction);
                divisor = reduction == Reduction.Mean && divisorOverride is double factor ? factor : kept;
            }

            if (labels is not null)
                CheckLabels(device, kernels, labels, rows, classes);
            // A work-group per row and a work-item per position suit GPUs. CPU devices (PoCL) run barriers slowly and vectorize
            // neither the group's loops nor a work-item's scalar loop: there a row is one work-item's walk in float16 vectors, short
            // rows with hard or continuous targets go sixteen to a work-item, a row per lane, and so do neighbouring positions.
            bool positions = spatialSize > 1;
            bool cpuDevice = device.RunsPerWorkItem;
            bool rowLanes = !positions && cpuDevice && softTarget is null && focal is null && classes <= CrossEntropyProgram.RowLanesMaxClasses;
            nint kernel = kernels.Kernel(positions ? (cpuDevice ? CrossEntropyProgram.PositionLanesKernel : CrossEntropyProgram.PositionsKernel)
                : rowLanes ? CrossEntropyProgram.RowLanesKernel
                : cpuDevice ? CrossEntropyProgram.RowVectorsKernel : CrossEntropyProgram.RowsKernel);
            uint argument = 0;
            KernelSet.SetBuffer(kernel, argument++, logits.Handle);
            KernelSet.SetBuffer(kernel, argument++, target?.Handle ?? 0);
            if (!rowLanes)
                KernelSet.SetBuffer(kernel, argument++, softTarget?.Handle ?? 0);
            if (!positions)
                KernelSet.SetBuffer(kernel, argument++, labels?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, rowWeight?.Handle ?? 0);

            KernelSet.SetBuffer(kernel, argument++, weight?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, upstream?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, output?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, gradient?.Handle ?? 0);
            KernelSet.SetValue(kernel, argument++, rows);
            KernelSet.SetValue(kernel, argument++, classes);
            if (positions)
                KernelSet.SetValue(kernel, argument++, spatialSize);
            KernelSet.SetValue(kernel, argument++, IgnoreIndex);
            KernelSet.SetValue(kernel, argument++, LabelSmoothing);
            KernelSet.SetValue(kernel, argument++, LseSquareScale);
            KernelSet.SetValue(kernel, argument++, (float)(upstreamScalar / divisor));
            if (!positions && !rowLanes)
            {
                KernelSet.SetValue(kernel, argument++, focal?.Alpha ?? 0f);
                KernelSet.SetValue(kernel, argument++, focal?.Gamma ?? 0f);
                KernelSet.SetValue(kernel, argument++, focal is null ? 0 : 1);
            }

            KernelSet.SetBuffer(kernel, argument, partials);
            // Rows: a work-group per row. Otherwise a work-item per position, row, sixteen rows or sixteen positions of a sample, in
            // groups of TargetGroup.
            bool itemEach = positions || cpuDevice;
            const int Lanes = CrossEntropyProgram.Lanes;
            nuint items = positions && cpuDevice ? (nuint)(rows / spatialSize) * (nuint)((spatialSize + Lanes - 1) / Lanes)
                : rowLanes ? ((nuint)rows + Lanes - 1) / Lanes : (nuint)rows;
            nuint group = itemEach ? TargetGroup : GroupSize(classes, kernels.MaxWorkGroupSize(CrossEntropyProgram.RowsKernel));
            nuint size = itemEach ? (items + TargetGroup - 1) / TargetGroup * TargetGroup : (nuint)rows * group;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &size, &group, 0, null, null), "clEnqueueNDRangeKernel");
            return reduction == Reduction.None ? 0f : (float)(device.SumPartials(rows) / divisor);
        }
    }

    /// <summary>Checks the targets on the device (the first bad position through the error flag) and returns the divisor of a mean: Σ w_y over the rows not ignored, added in index order.</summary>
    private unsafe double CheckTargets(OpenCLDevice device, KernelSet kernels, DeviceBuffer<long> target, DeviceBuffer<float>? weight, int rows, int classes,
        nint partials, Reduction reduction)
    {
        nint check = kernels.Kernel(CrossEntropyProgram.TargetsKernel);
        KernelSet.SetBuffer(check, 0, target.Handle);
        KernelSet.SetBuffer(check, 1, weight?.Handle ?? 0);
        KernelSet.SetValue(check, 2, rows);
        KernelSet.SetValue(check, 3, classes);
        KernelSet.SetValue(check, 4, IgnoreIndex);
        KernelSet.SetBuffer(check, 5, partials);
        KernelSet.SetBuffer(check, 6, device.FaultFlag);
        nuint local = TargetGroup;
        nuint global = ((nuint)rows + TargetGroup - 1) / TargetGroup * TargetGroup;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, check, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
        if (device.TakeFault() is int position)
        {
            long value = 0;
            target.Download(new Span<long>(ref value), position);
            ClassTargets.ThrowOutOfRange(position, value, classes, IgnoreIndex);
        }

        return reduction == Reduction.Mean ? device.SumPartials(rows) : 1d;
    }

    /// <summary>Checks distribution focal labels on the device: the first outside [0, C − 1] (or NaN) throws, named by its position.</summary>
    private static unsafe void CheckLabels(OpenCLDevice device, KernelSet kernels, DeviceBuffer<float> labels, int rows, int classes)
    {
        nint check = kernels.Kernel(CrossEntropyProgram.LabelsKernel);
        KernelSet.SetBuffer(check, 0, labels.Handle);
        KernelSet.SetValue(check, 1, rows);
        KernelSet.SetValue(check, 2, classes);
        KernelSet.SetBuffer(check, 3, device.FaultFlag);
        nuint local = TargetGroup;
        nuint global = ((nuint)rows + TargetGroup - 1) / TargetGroup * TargetGroup;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, check, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
        if (device.TakeFault() is int position)
        {
            float value = 0f;
            labels.Download(new Span<float>(ref value), position);
            ThrowHelper.OutOfRange("label", value, $"in [0, {classes - 1}] (the row of position {position})");
        }
    }

    /// <summary>A power of two with about four classes per work-item, at most the kernel's limit and <see cref="RowGroup"/> (its local arrays).</summary>
    private static nuint GroupSize(int classes, int limit)
    {
        int size = 1;
        while (size < RowGroup && size * 4 < classes && size * 2 <= limit)
            size *= 2;
        return (nuint)size;
    }
}
