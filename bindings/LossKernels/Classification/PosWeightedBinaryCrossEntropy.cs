using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// Binary cross entropy with logits and a positive weight per class, PyTorch's <c>pos_weight</c> tensor broadcast over the last
/// axis: the input is rows of C elements, and element c of every row uses w₊ = <c>posWeight[c]</c> in
/// <c>ℓ = (1 − t)·x + (1 + (w₊ − 1)·t)·softplus(−x)</c>, gradient <c>(1 − t) − (1 + (w₊ − 1)·t)·σ(−x)</c>
/// (<see cref="BinaryCrossEntropyWithLogitsLoss"/>'s formula, whose own w₊ is one scalar).
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.binary_cross_entropy_with_logits(input [..., C], target, weight, pos_weight [C], reduction)</c>.
/// No differences. A separate type, so that its overloads never take the place of the elementwise ones.
/// </remarks>
public readonly struct PosWeightedBinaryCrossEntropyLoss
{
    /// <summary>Fused forward+backward, reduced.</summary>
    /// <param name="input">Logits, a whole number of rows of C = <paramref name="posWeight"/>.Length.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights ≥ 0.</param>
    /// <param name="inputGrad">Receives the gradient; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over every element) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, or empty for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> posWeight, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float upstream = 1f) =>
        RunWithClassWeights(input, target, posWeight, default, inputGrad, default, weight, reduction, upstream, gradient: true);

    /// <summary>Forward only, reduced, with a positive weight per class.</summary>
    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Reduction, ReadOnlySpan{float}, float)"/>
    public float Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> posWeight, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default) =>
        RunWithClassWeights(input, target, posWeight, default, default, default, weight, reduction, 1f, gradient: false);

    /// <summary>Unreduced with a positive weight per class: element losses, and the gradient when <paramref name="inputGrad"/> is not empty.</summary>
    /// <param name="input">Logits, a whole number of rows of C.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights ≥ 0.</param>
    /// <param name="output">Receives the element losses.</param>
    /// <param name="inputGrad">Receives the gradient, or empty; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">Per-element upstream gradients, or empty for ones.</param>
    /// <param name="weight">Per-element weights, or empty for none.</param>
    public void ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> posWeight, Span<float> output, Span<float> inputGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default) =>
        RunWithClassWeights(input, target, posWeight, output, inputGrad, upstream, weight, Reduction.None, 1f, gradient: !inputGrad.IsEmpty);

    /// <summary>
    /// The target's gradient, reduced: <c>targetGrad = upstream · w · ((w₊ − 1)·softplus(−x) − x) / divisor</c>, the derivative of the loss
    /// <see cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Reduction, ReadOnlySpan{float}, float)"/>
    /// returns with respect to <paramref name="target"/>, as PyTorch's autograd gives it. A pass of its own: call it beside the input's.
    /// </summary>
    /// <param name="input">Logits, a whole number of rows of C = <paramref name="posWeight"/>.Length.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights ≥ 0.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="target"/> or <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over every element) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, or empty for none.</param>
    public void TargetBackward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> posWeight, float upstream, Span<float> targetGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default)
    {
        RequireReduced(reduction);
        RunWithClassWeights(input, target, posWeight, default, targetGrad, default, weight, reduction, upstream, gradient: true, targetSide: true);
    }

    /// <summary>The target's gradient, unreduced: <c>targetGrad[i] = upstream[i] · w[i] · ((w₊ − 1)·softplus(−x) − x)</c>.</summary>
    /// <param name="input">Logits, a whole number of rows of C = <paramref name="posWeight"/>.Length.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights ≥ 0.</param>
    /// <param name="upstream">Per-element upstream gradients, as many as the input.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="target"/> or <paramref name="input"/> itself.</param>
    /// <param name="weight">Per-element weights, or empty for none.</param>
    public void TargetBackward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> posWeight, ReadOnlySpan<float> upstream, Span<float> targetGrad,
        ReadOnlySpan<float> weight = default)
    {
        ThrowHelper.IfLengthDiffers(input.Length, upstream.Length, nameof(upstream));
        RunWithClassWeights(input, target, posWeight, default, targetGrad, upstream, weight, Reduction.None, 1f, gradient: true, targetSide: true);
    }

    /// <summary>Fused forward+backward (or forward alone when <paramref name="inputGrad"/> is null) with a positive weight per class, on an OpenCL device (<c>kernels/opencl/bce_pos_weight.cl</c>).</summary>
    /// <param name="input">Logits on the device, a whole number of rows of C.</param>
    /// <param name="target">Targets on the same device.</param>
    /// <param name="posWeight">C positive weights on the same device.</param>
    /// <param name="inputGrad">Receives the gradient, or null; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights on the device, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> posWeight, DeviceBuffer<float>? inputGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float upstream = 1f) =>
        RunWithClassWeights(input, target, posWeight, null, inputGrad, null, weight, reduction, upstream);

    /// <summary>Unreduced with a positive weight per class on the device: element losses, and the gradient when <paramref name="inputGrad"/> is given.</summary>
    /// <param name="input">Logits on the device.</param>
    /// <param name="target">Targets on the same device.</param>
    /// <param name="posWeight">C positive weights on the same device.</param>
    /// <param name="output">Receives the element losses.</param>
    /// <param name="inputGrad">Receives the gradient, or null.</param>
    /// <param name="upstream">Per-element upstream gradients, or null for ones.</param>
    /// <param name="weight">Per-element weights, or null.</param>
    public void ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> posWeight, DeviceBuffer<float> output,
        DeviceBuffer<float>? inputGrad, DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null) =>
        RunWithClassWeights(input, target, posWeight, output, inputGrad, upstream, weight, Reduction.None, 1f);

    /// <summary>The target's gradient, reduced, on an OpenCL device: <c>targetGrad = upstream · w · ((w₊ − 1)·softplus(−x) − x) / divisor</c>.</summary>
    /// <param name="input">Logits on the device, a whole number of rows of C.</param>
    /// <param name="target">Targets on the same device.</param>
    /// <param name="posWeight">C positive weights on the same device.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="target"/> or <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights on the device, or null.</param>
    public void TargetBackward(DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> posWeight, float upstream, DeviceBuffer<float> targetGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null)
    {
        RequireReduced(reduction);
        ArgumentNullException.ThrowIfNull(targetGrad);
        RunWithClassWeights(input, target, posWeight, null, targetGrad, null, weight, reduction, upstream, targetSide: true);
    }

    /// <summary>The target's gradient, unreduced, on an OpenCL device: <c>targetGrad[i] = upstream[i] · w[i] · ((w₊ − 1)·softplus(−x) − x)</c>.</summary>
    /// <param name="input">Logits on the device, a whole number of rows of C.</param>
    /// <param name="target">Targets on the same device.</param>
    /// <param name="posWeight">C positive weights on the same device.</param>
    /// <param name="upstream">Per-element upstream gradients on the same device.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="target"/> or <paramref name="input"/> itself.</param>
    /// <param name="weight">Per-element weights on the device, or null.</param>
    public void TargetBackward(DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> posWeight, DeviceBuffer<float> upstream, DeviceBuffer<float> targetGrad,
        DeviceBuffer<float>? weight = null)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        ArgumentNullException.ThrowIfNull(targetGrad);
        RunWithClassWeights(input, target, posWeight, null, targetGrad, upstream, weight, Reduction.None, 1f, targetSide: true);
    }

    /// <summary>Throws for <see cref="Reduction.None"/> and undefined values, as the elementwise losses' reduced overloads do.</summary>
    private static void RequireReduced(Reduction reduction) => ElementwiseLoss.ReductionDivisor(reduction, 1, null);

    private static readonly string[] PosWeightKernel = ["bce_pos_weight"];

    private unsafe float RunWithClassWeights(DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> posWeight, DeviceBuffer<float>? output,
        DeviceBuffer<float>? gradient, DeviceBuffer<float>? upstream, DeviceBuffer<float>? weight, Reduction reduction, float upstreamScalar, bool targetSide = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(posWeight);
        int n = input.Length, classes = posWeight.Length;
        if (classes == 0 || n % classes != 0)
            ThrowHelper.Argument(nameof(posWeight), $"posWeight holds {classes} values; the input's {n} must be whole rows of them.");
        OpenCLDevice device = input.Device;
        DeviceChecks.Buffer(target, device, n, nameof(target));
        DeviceChecks.Buffer(weight, device, n, nameof(weight));
        DeviceChecks.Buffer(upstream, device, n, nameof(upstream));
        DeviceChecks.Buffer(posWeight, device, classes, nameof(posWeight));
        DeviceChecks.Buffer(output, device, -1, nameof(output));
        string gradientName = targetSide ? "targetGrad" : "inputGrad";
        DeviceChecks.Buffer(gradient, device, -1, gradientName);
        input.ThrowIfDisposed();
        if (output is not null)
            ThrowHelper.IfTooShort(n, output.Length, nameof(output));
        if (gradient is not null)
            ThrowHelper.IfTooShort(n, gradient.Length, gradientName);
        DeviceChecks.IfSame(output, gradient, nameof(output), gradientName);
        DeviceChecks.IfSame(output, posWeight, nameof(output), nameof(posWeight));
        DeviceChecks.IfSame(gradient, posWeight, gradientName, nameof(posWeight));
        double divisor = reduction == Reduction.None ? 1d : ElementwiseLoss.ReductionDivisor(reduction, n, null);
        if (n == 0)
            return (float)(0d / divisor);
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            nint kernel = device.Kernels(new ProgramKey("bce_pos_weight", null, OpenCLReductionVariant.Auto), PosWeightKernel).Kernel(0);
            const int Group = 64;
            nuint local = Group;
            nuint global = ((nuint)n + Group - 1) / Group * Group;
            int groups = (int)(global / local);
            nint partials = device.Partials(groups);
            uint argument = 0;
            KernelSet.SetBuffer(kernel, argument++, input.Handle);
            KernelSet.SetBuffer(kernel, argument++, target.Handle);
            KernelSet.SetBuffer(kernel, argument++, posWeight.Handle);
            KernelSet.SetBuffer(kernel, argument++, weight?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, upstream?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, output?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, gradient?.Handle ?? 0);
            KernelSet.SetValue(kernel, argument++, n);
            KernelSet.SetValue(kernel, argument++, classes);
            KernelSet.SetValue(kernel, argument++, (float)(upstreamScalar / divisor));
            KernelSet.SetValue(kernel, argument++, targetSide ? 1 : 0);
            KernelSet.SetBuffer(kernel, argument, partials);
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            return reduction == Reduction.None ? 0f : (float)(device.SumPartials(groups) / divisor);
        }
    }

    private unsafe float RunWithClassWeights(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> posWeight, Span<float> output,
        Span<float> inputGrad, ReadOnlySpan<float> upstream, ReadOnlySpan<float> weight, Reduction reduction, float upstreamScalar, bool gradient, bool targetSide = false)
    {
        int classes = posWeight.Length;
        if (classes == 0 || input.Length % classes != 0)
            ThrowHelper.Argument(nameof(posWeight), $"posWeight holds {classes} values; the input's {input.Length} must be whole rows of them.");
        foreach (float value in posWeight)
            ThrowHelper.IfNegative(value, nameof(posWeight));
        ThrowHelper.IfLengthDiffers(input.Length, target.Length, nameof(target));
        if (!weight.IsEmpty)
            ThrowHelper.IfLengthDiffers(input.Length, weight.Length, nameof(weight));
        bool unreduced = reduction == Reduction.None;
        double divisor = unreduced ? 1d : ElementwiseLoss.ReductionDivisor(reduction, input.Length, null);
        bool storeOutput = unreduced && !targetSide;
        if (storeOutput)
        {
            ThrowHelper.IfTooShort(input.Length, output.Length, nameof(output));
            if (!upstream.IsEmpty)
                ThrowHelper.IfLengthDiffers(input.Length, upstream.Length, nameof(upstream));
            CheckWritten(input, target, posWeight, weight, upstream, output.Slice(0, input.Length), nameof(output));
        }

        if (gradient)
        {
            string gradientName = targetSide ? "targetGrad" : nameof(inputGrad);
            ThrowHelper.IfTooShort(input.Length, inputGrad.Length, gradientName);
            CheckWritten(input, target, posWeight, weight, upstream, inputGrad.Slice(0, input.Length), gradientName);
            if (storeOutput)
                ThrowHelper.IfOverlaps(output.Slice(0, input.Length), inputGrad.Slice(0, input.Length), nameof(inputGrad), nameof(output));
        }

        double sum = 0d;
        fixed (float* x = input, t = target, p = posWeight, w = weight, u = upstream, o = output, g = inputGrad)
        {
            float scale = (float)(upstreamScalar / divisor);
            int rows = input.Length / classes;
            for (int r = 0; r < rows; r++)
            {
                nint offset = (nint)r * classes;
                var row = new ClassRow(x + offset, t + offset, p, w == null ? null : w + offset, u == null ? null : u + offset,
                    storeOutput ? o + offset : null, gradient ? g + offset : null, scale, targetSide);
                sum += Vector512.IsHardwareAccelerated && classes >= Vector512<float>.Count ? row.Run<Vector512<float>, Width512>(classes)
                    : Vector256.IsHardwareAccelerated && classes >= Vector256<float>.Count ? row.Run<Vector256<float>, Width256>(classes)
                    : classes >= Vector128<float>.Count ? row.Run<Vector128<float>, Width128>(classes)
                    : row.RunPadded(classes);
            }
        }

        return unreduced ? 0f : (float)(sum / divisor);
    }

    /// <summary>
    /// An output or gradient against the inputs: each element is read before it is written, so the same memory as an elementwise
    /// input is in place, but a shifted overlap is not, nor any overlap with the C weights every row reads.
    /// </summary>
    private static void CheckWritten(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> posWeight, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> upstream, ReadOnlySpan<float> written, string paramName)
    {
        ThrowHelper.IfPartialOverlap(input, written, paramName);
        ThrowHelper.IfPartialOverlap(target, written, paramName);
        ThrowHelper.IfPartialOverlap(weight, written, paramName);
        ThrowHelper.IfPartialOverlap(upstream, written, paramName);
        ThrowHelper.IfOverlaps(posWeight, written, paramName, nameof(posWeight));
    }

    /// <summary>
    /// One row of C elements with its pointers (null when absent); the tail is an overlapping last vector loaded first. The gradient
    /// written is the input's, or the target's (<paramref name="targetSide"/>: its loss is not stored).
    /// </summary>
    private readonly unsafe struct ClassRow(float* x, float* t, float* posWeight, float* weight, float* upstream, float* output, float* gradient, float scale, bool targetSide)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public double Run<TVec, TMath>(int classes)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count, tail = classes - count, remainder = classes % count;
            TVec tailX = TMath.Load(ref x[tail]);
            TVec sum = TMath.Create(0f);
            for (int j = 0; j <= classes - count; j += count)
                sum = TMath.Add(sum, Step<TVec, TMath>(TMath.Load(ref x[j]), j));
            if (remainder != 0)
                sum = TMath.Add(sum, TMath.KeepLanes(Step<TVec, TMath>(tailX, tail), count - remainder, count));
            return TMath.Sum(sum);
        }

        /// <summary>Fewer than four classes: one Vector128 over zero-padded copies.</summary>
        public double RunPadded(int classes)
        {
            const int Lanes = 4;
            float* px = stackalloc float[Lanes], pt = stackalloc float[Lanes], pp = stackalloc float[Lanes], pw = stackalloc float[Lanes];
            float* pu = stackalloc float[Lanes], po = stackalloc float[Lanes], pg = stackalloc float[Lanes];
            for (int c = 0; c < Lanes; c++)
            {
                px[c] = c < classes ? x[c] : 0f;
                pt[c] = c < classes ? t[c] : 0f;
                pp[c] = c < classes ? posWeight[c] : 1f;
                pw[c] = c < classes && weight != null ? weight[c] : 1f;
                pu[c] = c < classes && upstream != null ? upstream[c] : 1f;
            }

            var padded = new ClassRow(px, pt, pp, pw, pu, po, gradient != null ? pg : null, scale, targetSide);
            double sum = 0d;
            Vector128<float> values = padded.Step<Vector128<float>, Width128>(Vector128.Load(px), 0);
            for (int c = 0; c < classes; c++)
            {
                if (output != null)
                    output[c] = po[c];
                if (gradient != null)
                    gradient[c] = pg[c];
                sum += values[c];
            }

            return sum;
        }

        /// <summary>The vector at class offset j: weighted loss returned (and stored for 'none'), gradient stored.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private TVec Step<TVec, TMath>(TVec input, int j)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            TVec loss = BinaryCrossEntropyWithLogitsLoss.Weighted<TVec, TMath>(input, TMath.Load(ref t[j]), TMath.Load(ref posWeight[j]), out TVec slope);
            if (targetSide)
                slope = BinaryCrossEntropyWithLogitsLoss.WeightedTarget<TVec, TMath>(input, TMath.Load(ref posWeight[j]));
            loss = ElementwiseStep.Apply<TVec, TMath>(loss, slope, weight != null ? TMath.Load(ref weight[j]) : default, upstream != null ? TMath.Load(ref upstream[j]) : default,
                weight != null, upstream != null, TMath.Create(scale), gradient != null, out TVec scaled);
            if (output != null)
                TMath.Store(loss, ref output[j]);
            if (gradient != null)
                TMath.Store(scaled, ref gradient[j]);
            return loss;
        }
    }
}
