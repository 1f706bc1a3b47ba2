using System.Numerics.Tensors;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

public readonly partial struct CrossEntropyLoss
{
    /// <summary>Positions of an [N, C, d…] sample whose log-softmax one stack chunk holds.</summary>
    private const int TargetChunk = 256;

    /// <summary>
    /// The probability targets' gradient, reduced: <c>targetGrad_c = −upstream·(1 − ε)·w_c·log_softmax(x)_c / divisor</c>, the derivative
    /// of the loss the soft-target <see cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, int, Span{float}, Reduction, ReadOnlySpan{float}, float, int)"/>
    /// returns with respect to its targets (PyTorch smooths them as t·(1 − ε) + ε/C, so (1 − ε) is their derivative; the z-loss does
    /// not depend on them), as autograd gives it for targets that require a gradient (distillation against a learned distribution).
    /// A pass of its own, beside the logits': it reads the logits only, never the targets.
    /// </summary>
    /// <param name="logits">N rows of C logits ([N, C, d…] with <paramref name="spatialSize"/>).</param>
    /// <param name="targetProbabilities">The target probabilities, as many: their values do not enter the gradient; the length is checked.</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="targetProbabilities"/> or <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over the N·d positions, as PyTorch for probability targets) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: the positions per sample of an [N, C, d1, …] input; 1 for [N, C].</param>
    public void TargetBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, float upstream, Span<float> targetGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, int spatialSize = 1)
    {
        int positions = CheckTarget(logits, targetProbabilities, classes, default, targetGrad, weight, spatialSize);
        double divisor = reduction switch
        {
            Reduction.Mean => positions,
            Reduction.Sum => 1d,
            Reduction.None => ThrowNone(),
            _ => ThrowUndefined(reduction),
        };
        WriteTargetGradient(logits, classes, targetGrad, (float)(upstream / divisor), default, weight, spatialSize);
    }

    /// <summary>The probability targets' gradient, unreduced: <c>targetGrad_c = −upstream_r·(1 − ε)·w_c·log_softmax(x)_c</c> at each position r.</summary>
    /// <param name="logits">N rows of C logits ([N, C, d…] with <paramref name="spatialSize"/>).</param>
    /// <param name="targetProbabilities">The target probabilities, as many (only their length is read).</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">One upstream gradient per position (N·d).</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="targetProbabilities"/> or <paramref name="logits"/> itself.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: the positions per sample of an [N, C, d1, …] input; 1 for [N, C].</param>
    public void TargetBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, ReadOnlySpan<float> upstream, Span<float> targetGrad,
        ReadOnlySpan<float> weight = default, int spatialSize = 1)
    {
        int positions = CheckTarget(logits, targetProbabilities, classes, upstream, targetGrad, weight, spatialSize);
        ThrowHelper.IfLengthDiffers(positions, upstream.Length, nameof(upstream));
        WriteTargetGradient(logits, classes, targetGrad, 1f, upstream, weight, spatialSize);
    }

    /// <summary>The probability targets' gradient, reduced, on an OpenCL device (<c>cross_entropy_target_grad</c>: a work-item per position); the span overload's formula.</summary>
    /// <param name="logits">N·C logits on the device ([N, C, d…] with <paramref name="spatialSize"/>).</param>
    /// <param name="targetProbabilities">The target probabilities on the same device (only their length is read).</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="targetProbabilities"/> or <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over the N·d positions) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: the positions per sample of an [N, C, d1, …] input; 1 for [N, C].</param>
    public void TargetBackward(DeviceBuffer<float> logits, DeviceBuffer<float> targetProbabilities, int classes, float upstream, DeviceBuffer<float> targetGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, int spatialSize = 1)
    {
        RequireReduced(reduction);
        TargetOnDevice(logits, targetProbabilities, classes, upstream, null, targetGrad, weight, spatialSize, reduction);
    }

    /// <summary>The probability targets' gradient, unreduced, on an OpenCL device: <c>targetGrad_c = −upstream_r·(1 − ε)·w_c·log_softmax(x)_c</c>.</summary>
    /// <param name="logits">N·C logits on the device ([N, C, d…] with <paramref name="spatialSize"/>).</param>
    /// <param name="targetProbabilities">The target probabilities on the same device (only their length is read).</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">One upstream gradient per position (N·d) on the same device.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="targetProbabilities"/> or <paramref name="logits"/> itself.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">D = d1·d2·…: the positions per sample of an [N, C, d1, …] input; 1 for [N, C].</param>
    public void TargetBackward(DeviceBuffer<float> logits, DeviceBuffer<float> targetProbabilities, int classes, DeviceBuffer<float> upstream, DeviceBuffer<float> targetGrad,
        DeviceBuffer<float>? weight = null, int spatialSize = 1)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        TargetOnDevice(logits, targetProbabilities, classes, 1f, upstream, targetGrad, weight, spatialSize, Reduction.None);
    }

    private unsafe void TargetOnDevice(DeviceBuffer<float> logits, DeviceBuffer<float> targetProbabilities, int classes, float upstreamScalar, DeviceBuffer<float>? upstream,
        DeviceBuffer<float> targetGrad, DeviceBuffer<float>? weight, int spatialSize, Reduction reduction)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targetProbabilities);
        ArgumentNullException.ThrowIfNull(targetGrad);
        Validate();
        OpenCLDevice device = logits.Device;
        logits.ThrowIfDisposed();
        int positions = SoftPositions(logits.Length, classes, spatialSize);
        DeviceChecks.Buffer(targetProbabilities, device, logits.Length, nameof(targetProbabilities));
        DeviceChecks.Buffer(weight, device, classes, nameof(weight));
        DeviceChecks.Buffer(upstream, device, positions, nameof(upstream));
        DeviceChecks.Buffer(targetGrad, device, -1, nameof(targetGrad));
        ThrowHelper.IfTooShort(logits.Length, targetGrad.Length, nameof(targetGrad));
        DeviceChecks.IfSame(targetGrad, weight, nameof(targetGrad), nameof(weight));
        DeviceChecks.IfSame(targetGrad, upstream, nameof(targetGrad), nameof(upstream));
        if (positions == 0)
            return;
        double divisor = reduction == Reduction.Mean ? positions : 1d;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            nint kernel = CrossEntropyProgram.On(device).Kernel(CrossEntropyProgram.TargetGradientKernel);
            KernelSet.SetBuffer(kernel, 0, logits.Handle);
            KernelSet.SetBuffer(kernel, 1, weight?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, 2, upstream?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, 3, targetGrad.Handle);
            KernelSet.SetValue(kernel, 4, positions);
            KernelSet.SetValue(kernel, 5, classes);
            KernelSet.SetValue(kernel, 6, spatialSize);
            KernelSet.SetValue(kernel, 7, (float)(-(1f - LabelSmoothing) * upstreamScalar / divisor));
            nuint local = 64;
            nuint global = ((nuint)positions + local - 1) / local * local;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
        }
    }

    /// <summary>The soft-target checks; returns the number of positions N·D. The gradient may be the targets or the logits, never a shifted part of either.</summary>
    private int CheckTarget(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, ReadOnlySpan<float> upstream, Span<float> targetGrad,
        ReadOnlySpan<float> weight, int spatialSize)
    {
        Validate();
        int positions = SoftPositions(logits.Length, classes, spatialSize);
        ThrowHelper.IfLengthDiffers(logits.Length, targetProbabilities.Length, nameof(targetProbabilities));
        if (!weight.IsEmpty)
            ThrowHelper.IfLengthDiffers(classes, weight.Length, nameof(weight));
        ThrowHelper.IfTooShort(logits.Length, targetGrad.Length, nameof(targetGrad));
        ReadOnlySpan<float> written = targetGrad.Slice(0, logits.Length);
        ThrowHelper.IfPartialOverlap(logits, written, nameof(targetGrad));
        ThrowHelper.IfPartialOverlap(targetProbabilities, written, nameof(targetGrad));
        ThrowHelper.IfOverlaps(weight, written, nameof(targetGrad), nameof(weight));
        ThrowHelper.IfOverlaps(upstream, written, nameof(targetGrad), nameof(upstream));
        return positions;
    }

    /// <summary>
    /// log_softmax over the class axis into <paramref name="targetGrad"/>, each value times −(1 − ε)·w_c·scale·upstream_r, in chunks of
    /// rows or of an [N, C, D] sample's positions on the worker threads (<see cref="ChunkedRun"/>); every value is written by one item,
    /// whose work does not depend on the thread count.
    /// </summary>
    private unsafe void WriteTargetGradient(ReadOnlySpan<float> logits, int classes, Span<float> targetGrad, float scale, ReadOnlySpan<float> upstream,
        ReadOnlySpan<float> weight, int spatialSize)
    {
        int positions = logits.Length / classes;
        if (positions == 0)
            return;
        int chunksPerSample = spatialSize == 1 ? 1 : (spatialSize + TargetChunk - 1) / TargetChunk;
        int items = spatialSize == 1 ? positions : positions / spatialSize * chunksPerSample;
        int parallelThreshold = logits.Length >= ElementwiseDriver.ParallelThreshold ? 0 : int.MaxValue;
        fixed (float* x = logits, g = targetGrad, u = upstream, w = weight)
        {
            var pass = new TargetPass(x, g, u, w, classes, spatialSize, chunksPerSample, -(1f - LabelSmoothing) * scale);
            ChunkedRun.Run(pass, items, parallelThreshold, spatialSize == 1 ? Math.Max(1, (1 << 16) / classes) : 1);
        }
    }

    /// <summary>
    /// The items of <see cref="WriteTargetGradient"/>: [N, C] rows through the <see cref="LogSoftmax"/> row kernel, each scaled while it
    /// is in cache; or chunks of up to <see cref="TargetChunk"/> positions of an [N, C, D] sample, whose max, Σe^(x − max) and lse sit on
    /// the stack while the chunk walks the class axis in order.
    /// </summary>
    private readonly unsafe struct TargetPass(float* logits, float* gradient, float* upstream, float* weight, int classes, int spatial, int chunksPerSample, float factor)
        : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint item = start; item < start + length; item++)
            {
                if (spatial == 1)
                    Row(item);
                else
                    Chunk((int)(item / chunksPerSample), (int)(item % chunksPerSample) * TargetChunk);
            }

            return 0d;
        }

        private void Row(nint r)
        {
            var row = new Span<float>(gradient + r * classes, classes);
            LogSoftmax.Forward(new ReadOnlySpan<float>(logits + r * classes, classes), classes, row);
            if (weight != null)
                TensorPrimitives.Multiply(row, new ReadOnlySpan<float>(weight, classes), row);
            TensorPrimitives.Multiply(row, upstream == null ? factor : factor * upstream[r], row);
        }

        /// <summary>Class <paramref name="c"/>'s logits of <paramref name="count"/> positions from <paramref name="offset"/> (the class-0 logit of the first).</summary>
        private ReadOnlySpan<float> Logits(nint offset, int c, int count) => new(logits + offset + (nint)c * spatial, count);

        private void Chunk(int n, int start)
        {
            int count = Math.Min(TargetChunk, spatial - start);
            nint sample = (nint)n * classes * spatial;
            Span<float> max = stackalloc float[count], lse = stackalloc float[count], term = stackalloc float[count];
            Logits(sample + start, 0, count).CopyTo(max);
            for (int c = 1; c < classes; c++)
                TensorPrimitives.Max(max, Logits(sample + start, c, count), max);
            lse.Clear();
            for (int c = 0; c < classes; c++)
            {
                TensorPrimitives.Subtract(Logits(sample + start, c, count), max, term);
                TensorPrimitives.Exp(term, term);
                TensorPrimitives.Add(lse, term, lse);
            }

            TensorPrimitives.Log(lse, lse);
            TensorPrimitives.Add(lse, max, lse);
            for (int c = 0; c < classes; c++)
            {
                var values = new Span<float>(gradient + sample + (nint)c * spatial + start, count);
                TensorPrimitives.Subtract(Logits(sample + start, c, count), lse, values);
                float classFactor = weight == null ? factor : factor * weight[c];
                if (upstream != null)
                    TensorPrimitives.Multiply(values, new ReadOnlySpan<float>(upstream + (nint)n * spatial + start, count), values);
                TensorPrimitives.Multiply(values, classFactor, values);
            }
        }
    }
}
