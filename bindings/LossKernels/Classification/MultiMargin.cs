using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// Multi-class hinge (multi-margin) loss on N rows of C scores and class targets y: with z_c = margin − x_y + x_c,
/// <c>ℓ_r = (w_y / C)·Σ_{c≠y} max(0, z_c)^p</c>, p = 1 or 2; gradient <c>∂ℓ_r/∂x_c = (w_y / C)·p·z_c^(p−1)</c> for c ≠ y with
/// z_c &gt; 0, and <c>∂ℓ_r/∂x_y = −Σ_{c≠y} ∂ℓ_r/∂x_c</c>. The mean divides by N.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.multi_margin_loss(input [N, C], target, p, margin, weight, reduction)</c>, the same values,
/// including its z &gt; 0 test at the kink. Targets outside [0, C) throw <see cref="ArgumentOutOfRangeException"/> naming the first
/// position (PyTorch has no ignore_index here). The CPU kernel computes every class in one sweep (the target's own lane
/// included, then taken back out); the OpenCL kernel gives a row to a work-item.
/// </remarks>
public readonly struct MultiMarginLoss
{
    /// <summary>PyTorch's defaults: p = 1, margin 1.</summary>
    public MultiMarginLoss()
        : this(1, 1f)
    {
    }

    /// <summary>With the given exponent and margin.</summary>
    /// <param name="p">1 or 2.</param>
    /// <param name="margin">The margin (finite).</param>
    /// <exception cref="ArgumentOutOfRangeException">p is not 1 or 2, or the margin is not finite.</exception>
    public MultiMarginLoss(int p, float margin)
    {
        Check(p, margin, nameof(p), nameof(margin));
        P = p;
        Margin = margin;
    }

    /// <summary>The exponent p: 1 or 2.</summary>
    public int P { get; }

    /// <summary>The margin.</summary>
    public float Margin { get; }

    /// <summary>Throws when p is not 1 or 2 or the margin is not finite.</summary>
    public void Validate() => Check(P, Margin, nameof(P), nameof(Margin));

    private static void Check(int p, float margin, string pName, string marginName)
    {
        if (p is not (1 or 2))
            ThrowHelper.OutOfRange(pName, p, "1 or 2");
        if (!float.IsFinite(margin))
            ThrowHelper.OutOfRange(marginName, margin, "finite");
    }

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>inputGrad = ∂(upstream·L)/∂input</c>.</summary>
    /// <param name="input">N rows of C scores.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="inputGrad">Receives N·C gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> inputGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, float upstream = 1f) =>
        Run(input, target, default, inputGrad, default, weight, reduction, upstream, gradient: true);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input">N rows of C scores.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public float Forward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default) =>
        Run(input, target, default, default, default, weight, reduction, 1f, gradient: false);

    /// <summary>Fused forward+backward, unreduced (the gradient written when <paramref name="inputGrad"/> is not empty).</summary>
    /// <param name="input">N rows of C scores.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="inputGrad">Receives N·C gradient elements, or empty for the losses alone; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">N upstream gradients, or empty for ones.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public void ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> output, Span<float> inputGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default) =>
        Run(input, target, output, inputGrad, upstream, weight, Reduction.None, 1f, gradient: !inputGrad.IsEmpty);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="input">N rows of C scores.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, float upstream, Span<float> inputGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default) =>
        Run(input, target, default, inputGrad, default, weight, reduction, upstream, gradient: true);

    /// <summary>Fused forward+backward, reduced, on an OpenCL device (<c>kernels/opencl/cross_entropy.cl</c>: a work-item per row).</summary>
    /// <param name="input">N·C scores on the device.</param>
    /// <param name="target">N int64 class indices on the same device (checked there; the first bad one throws, named by its position).</param>
    /// <param name="inputGrad">Receives N·C gradient elements, or null for the loss alone; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float>? inputGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, float upstream = 1f) =>
        RunOnDevice(input, target, null, inputGrad, null, weight, reduction, upstream);

    /// <summary>Unreduced on the device: N row losses, and the gradient when <paramref name="inputGrad"/> is given.</summary>
    /// <param name="input">N·C scores on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="inputGrad">Receives N·C gradient elements, or null.</param>
    /// <param name="upstream">N upstream gradients, or null for ones.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    public void ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float> output, DeviceBuffer<float>? inputGrad,
        DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null) =>
        RunOnDevice(input, target, output, inputGrad, upstream, weight, Reduction.None, 1f);

    private unsafe float RunOnDevice(DeviceBuffer<float> input, DeviceBuffer<long> target, DeviceBuffer<float>? output, DeviceBuffer<float>? gradient,
        DeviceBuffer<float>? upstream, DeviceBuffer<float>? weight, Reduction reduction, float upstreamScalar)
    {
        Validate();
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        int rows = target.Length;
        if (rows == 0 ? input.Length != 0 : input.Length % rows != 0)
            ThrowHelper.Argument(nameof(input), $"input holds {input.Length} values, not a whole number of rows for {rows} targets.");
        int classes = rows == 0 ? 1 : input.Length / rows;
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
        double divisor = reduction == Reduction.None ? 1d : ElementwiseLoss.ReductionDivisor(reduction, rows, null);
        ClassTargets.Check(target, classes, ignoreIndex: null);
        if (rows == 0)
            return (float)(0d / divisor);
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            nint partials = device.Partials(rows);
            nint kernel = CrossEntropyProgram.On(device).Kernel(CrossEntropyProgram.MultiMarginKernel);
            uint argument = 0;
            KernelSet.SetBuffer(kernel, argument++, input.Handle);
            KernelSet.SetBuffer(kernel, argument++, target.Handle);
            KernelSet.SetBuffer(kernel, argument++, weight?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, upstream?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, output?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, gradient?.Handle ?? 0);
            KernelSet.SetValue(kernel, argument++, rows);
            KernelSet.SetValue(kernel, argument++, classes);
            KernelSet.SetValue(kernel, argument++, P);
            KernelSet.SetValue(kernel, argument++, Margin);
            KernelSet.SetValue(kernel, argument++, (float)(upstreamScalar / divisor));
            KernelSet.SetBuffer(kernel, argument, partials);
            const int Group = 64;
            nuint local = Group;
            nuint global = ((nuint)rows + Group - 1) / Group * Group;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            return reduction == Reduction.None ? 0f : (float)(device.SumPartials(rows) / divisor);
        }
    }

    private unsafe float Run(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> output, Span<float> inputGrad, ReadOnlySpan<float> upstream,
        ReadOnlySpan<float> weight, Reduction reduction, float upstreamScalar, bool gradient)
    {
        Validate();
        int rows = target.Length;
        if (rows == 0 ? !input.IsEmpty : input.Length % rows != 0)
            ThrowHelper.Argument(nameof(input), $"input holds {input.Length} values, not a whole number of rows for {rows} targets.");
        int classes = rows == 0 ? Math.Max(1, weight.Length) : input.Length / rows;
        if (!weight.IsEmpty)
            ThrowHelper.IfLengthDiffers(classes, weight.Length, nameof(weight));
        bool unreduced = reduction == Reduction.None;
        double divisor = unreduced ? 1d : ElementwiseLoss.ReductionDivisor(reduction, rows, null);
        if (unreduced)
        {
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
            if (output.Slice(0, rows).Overlaps(input) || (gradient && output.Slice(0, rows).Overlaps(inputGrad)))
                ThrowHelper.Argument(nameof(output), "output must not overlap input or inputGrad.");
            if (!upstream.IsEmpty)
                ThrowHelper.IfLengthDiffers(rows, upstream.Length, nameof(upstream));
        }

        if (gradient)
        {
            ThrowHelper.IfTooShort(input.Length, inputGrad.Length, nameof(inputGrad));
            ThrowHelper.IfPartialOverlap(input, inputGrad.Slice(0, input.Length), nameof(inputGrad));
        }

        ClassTargets.Check(target, classes, ignoreIndex: null);
        double sum = 0d;
        fixed (float* x = input, g = inputGrad, w = weight, o = output, u = upstream)
        fixed (long* t = target)
        {
            for (int r = 0; r < rows; r++)
            {
                float scale = (float)(upstreamScalar / divisor) * (u != null ? u[r] : 1f);
                double loss = Vector512.IsHardwareAccelerated && classes >= Vector512<float>.Count ? Row<Vector512<float>, Width512>(x, g, w, t, r, classes, gradient, scale)
                    : Vector256.IsHardwareAccelerated && classes >= Vector256<float>.Count ? Row<Vector256<float>, Width256>(x, g, w, t, r, classes, gradient, scale)
                    : classes >= Vector128<float>.Count ? Row<Vector128<float>, Width128>(x, g, w, t, r, classes, gradient, scale)
                    : NarrowRow(x, g, w, t, r, classes, gradient, scale);
                sum += loss;
                if (unreduced)
                    o[r] = (float)loss;
            }
        }

        return unreduced ? 0f : (float)(sum / divisor);
    }

    /// <summary>Vectors of a row whose lane sums are added up in float before they go into the row's double totals.</summary>
    private const int FlushVectors = 64;

    /// <summary>
    /// One row in one sweep over every class, the target's own included, then taken back out of the loss and of
    /// the sum that the target's gradient is. The tail is an overlapping last vector loaded before the sweep (in place).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe double Row<TVec, TMath>(float* input, float* inputGrad, float* weight, long* target, int r, int classes, bool gradient, float scale)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        int count = TMath.Count, remainder = classes % count, tail = classes - count;
        float* x = input + (nint)r * classes;
        float* g = inputGrad + (nint)r * classes;
        int y = (int)target[r];
        float factor = (weight != null ? weight[y] : 1f) / classes;
        float targetScore = x[y];
        TVec shift = TMath.Create(Margin - targetScore);
        TVec tailScores = TMath.Load(ref x[tail]);
        TVec losses = TMath.Create(0f), slopes = TMath.Create(0f);
        double lossTotal = 0d, slopeTotal = 0d;
        for (int j = 0, pending = 0; j <= classes - count; j += count)
        {
            Step<TVec, TMath>(TMath.Load(ref x[j]), shift, factor * scale, gradient, ref g[j], ref losses, ref slopes, 0, count);
            // The lanes go into double every FlushVectors steps: a slope repeats one value, and a long float sum of it
            // drifts one way (by 5e-5 over rows of 65,536 classes).
            if (++pending == FlushVectors)
            {
                lossTotal += TMath.Sum(losses);
                slopeTotal += TMath.Sum(slopes);
                losses = TMath.Create(0f);
                slopes = TMath.Create(0f);
                pending = 0;
            }
        }

        if (remainder != 0)
            Step<TVec, TMath>(tailScores, shift, factor * scale, gradient, ref g[tail], ref losses, ref slopes, count - remainder, count);
        return Finish(g, y, targetScore, Margin - targetScore, factor, scale, gradient, lossTotal + TMath.Sum(losses), slopeTotal + TMath.Sum(slopes));
    }

    /// <summary>h = max(0, z)^p per lane into the loss sum, and (when writing) its slope stored and summed; lanes [from, to) count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Step<TVec, TMath>(TVec scores, TVec shift, float gradientFactor, bool gradient, ref float destination, ref TVec losses, ref TVec slopes, int from, int to)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        losses = TMath.Add(losses, TMath.KeepLanes(Term<TVec, TMath>(scores, shift, TMath.Create(gradientFactor), out TVec slope), from, to));
        if (!gradient)
            return;
        TMath.Store(slope, ref destination);
        slopes = TMath.Add(slopes, TMath.KeepLanes(slope, from, to));
    }

    /// <summary>
    /// h = max(0, z)^p for z = score + shift (shift = margin − x_y), and its slope p·z^(p−1)·<paramref name="gradientFactor"/> (0 where
    /// z ≤ 0, PyTorch's test at the kink): one class of a row, for the SIMD rows and the GPU kernel alike.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TVec Term<TVec, TMath>(TVec scores, TVec shift, TVec gradientFactor, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec z = TMath.Add(scores, shift);
        TVec positive = TMath.GreaterThan(z, TMath.Create(0f));
        TVec hinge = TMath.And(positive, z);
        slope = TMath.Multiply(P == 1 ? TMath.And(positive, TMath.Create(1f)) : TMath.Multiply(TMath.Create(2f), hinge), gradientFactor);
        return P == 1 ? hinge : TMath.Multiply(hinge, hinge);
    }

    /// <summary>Takes the target's own term back out, writes the target's gradient, returns ℓ_r.</summary>
    private unsafe double Finish(float* g, int y, float targetScore, float shift, float factor, float scale, bool gradient, double losses, double slopes)
    {
        float own = OwnTerm(targetScore, shift, factor * scale, out float ownSlope);
        if (gradient)
            g[y] = -(float)(slopes - ownSlope);
        return factor * (losses - own);
    }

    /// <summary>
    /// The target's own term, which a sweep over every class counts: its h and slope as <see cref="Term{TVec, TMath}"/> computed
    /// them, z_y = x_y + (margin − x_y) in float — margin in exact arithmetic, but 0 when |x_y| swamps the margin and NaN for an
    /// infinite x_y, which the sweep counted as such — to be taken back out.
    /// </summary>
    internal float OwnTerm(float targetScore, float shift, float gradientFactor, out float ownSlope)
    {
        float z = targetScore + shift;
        float hinge = z > 0f ? z : 0f;
        ownSlope = (P == 1 ? (z > 0f ? 1f : 0f) : 2f * hinge) * gradientFactor;
        return P == 1 ? hinge : hinge * hinge;
    }

    /// <summary>Rows of fewer classes than a Vector128 holds, one class at a time.</summary>
    private unsafe double NarrowRow(float* input, float* inputGrad, float* weight, long* target, int r, int classes, bool gradient, float scale)
    {
        float* x = input + (nint)r * classes;
        float* g = inputGrad + (nint)r * classes;
        int y = (int)target[r];
        float factor = (weight != null ? weight[y] : 1f) / classes;
        float targetScore = x[y], shift = Margin - targetScore;
        double losses = 0d, slopes = 0d;
        for (int c = 0; c < classes; c++)
        {
            float z = x[c] + shift;
            float hinge = z > 0f ? z : 0f;
            losses += P == 1 ? hinge : hinge * hinge;
            float slope = (P == 1 ? (z > 0f ? 1f : 0f) : 2f * hinge) * (factor * scale);
            slopes += slope;
            if (gradient)
                g[c] = slope;
        }

        return Finish(g, y, targetScore, shift, factor, scale, gradient, losses, slopes);
    }
}
