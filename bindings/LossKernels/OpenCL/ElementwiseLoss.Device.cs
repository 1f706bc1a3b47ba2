using LossKernels.OpenCL;

namespace LossKernels;

/// <summary>The device overloads: the same entry points with buffers on an OpenCL device in place of spans.</summary>
/// <remarks>
/// <para>Each device overload computes what its span overload computes (formulas, weights, reduction,
/// avgFactor, in-place gradients), on the device that holds the buffers; results agree with the CPU
/// within float rounding and are bitwise the same from run to run on one device.</para>
/// <para>Reduced calls return the loss and so wait for the kernel. Unreduced calls queue the kernel and
/// return; the device's queue is in order, so a later <see cref="DeviceBuffer{T}.Download"/> or loss call
/// sees the result (<see cref="OpenCLDevice.Finish"/> waits explicitly).</para>
/// <para>Checked before launch, with nothing written: every buffer on the input's device and not disposed
/// (<see cref="ArgumentException"/> or <see cref="ObjectDisposedException"/>), lengths as for spans, and
/// the loss's hyperparameters. A gradient may be the input buffer itself; output and gradient must differ.</para>
/// </remarks>
public static partial class ElementwiseLoss
{
    /// <summary>Forward only, reduced, on the device: returns <c>reduce(w ⊙ ℓ(input, target))</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float? avgFactor = null)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        double divisor = ReductionDivisor(reduction, input.Length, avgFactor);
        double sum = ElementwiseLauncher.Run(loss.Kernel, ElementwisePass.ForwardSum, input, target, weight, null, null, null, 0f);
        return (float)(sum / divisor);
    }

    /// <summary>Forward only, unreduced, on the device: queues <c>output[i] = w[i] · ℓ(input[i], target[i])</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="output">Receives the n element losses.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    public static void Forward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target,
        DeviceBuffer<float> output, DeviceBuffer<float>? weight = null)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        CheckDestination(input, output, nameof(output));
        ElementwiseLauncher.Run(loss.Kernel, ElementwisePass.ForwardNone, input, target, weight, null, output, null, 1f);
    }

    /// <summary>Fused forward+backward, reduced, on the device: returns L and writes <c>inputGrad = ∂(upstream · L)/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <returns>The reduced loss L.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float? avgFactor = null, float upstream = 1f)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        double divisor = ReductionDivisor(reduction, input.Length, avgFactor);
        CheckDestination(input, inputGrad, nameof(inputGrad));
        double sum = ElementwiseLauncher.Run(loss.Kernel, ElementwisePass.FusedSum, input, target, weight, null, null, inputGrad, (float)(upstream / divisor));
        return (float)(sum / divisor);
    }

    /// <summary>Fused forward+backward, unreduced, on the device: queues <c>output[i] = w[i] · ℓ</c> and <c>inputGrad[i] = upstream[i] · w[i] · ∂ℓ/∂x</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="output">Receives the n element losses.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">The upstream gradient per element, n elements, or null for all ones.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    public static void ForwardBackward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> output,
        DeviceBuffer<float> inputGrad, DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        CheckOptional(input, upstream, nameof(upstream));
        CheckDestination(input, output, nameof(output));
        CheckDestination(input, inputGrad, nameof(inputGrad));
        if (output.Handle == inputGrad.Handle && input.Length > 0)
            ThrowHelper.Argument(nameof(inputGrad), "inputGrad must not be the output buffer.");
        ElementwiseLauncher.Run(loss.Kernel, ElementwisePass.FusedNone, input, target, weight, upstream, output, inputGrad, 1f);
    }

    /// <summary>Backward only, reduced, on the device: queues <c>inputGrad = ∂(upstream · L)/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    public static void Backward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, float upstream, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float? avgFactor = null)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        double divisor = ReductionDivisor(reduction, input.Length, avgFactor);
        CheckDestination(input, inputGrad, nameof(inputGrad));
        ElementwiseLauncher.Run(loss.Kernel, ElementwisePass.Backward, input, target, weight, null, null, inputGrad, (float)(upstream / divisor));
    }

    /// <summary>Backward only, unreduced, on the device: queues <c>inputGrad[i] = upstream[i] · w[i] · ∂ℓ/∂x</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The upstream gradient per element, n elements; may be the <paramref name="inputGrad"/> buffer itself.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    public static void Backward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> upstream,
        DeviceBuffer<float> inputGrad, DeviceBuffer<float>? weight = null)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        ArgumentNullException.ThrowIfNull(upstream);
        CheckOptional(input, upstream, nameof(upstream));
        CheckDestination(input, inputGrad, nameof(inputGrad));
        ElementwiseLauncher.Run(loss.Kernel, ElementwisePass.Backward, input, target, weight, upstream, null, inputGrad, 1f);
    }

    /// <summary>The target's gradient, reduced, on the device: queues <c>targetGrad = upstream · ∂L/∂target</c> (the kernel <c>{Function}_target</c>).</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the n gradient elements; may be <paramref name="target"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    public static void TargetBackward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, float upstream, DeviceBuffer<float> targetGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float? avgFactor = null)
        where TLoss : struct, IElementwiseTargetLoss
    {
        CheckInputs(loss, input, target, weight);
        double divisor = ReductionDivisor(reduction, input.Length, avgFactor);
        CheckDestination(input, targetGrad, nameof(targetGrad));
        ElementwiseLauncher.Run(new TargetSide<TLoss>(loss).Kernel, ElementwisePass.Backward, target, input, weight, null, null, targetGrad, (float)(upstream / divisor));
    }

    /// <summary>The target's gradient, unreduced, on the device: queues <c>targetGrad[i] = upstream[i] · w[i] · ∂ℓ/∂t</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The upstream gradient per element, n elements.</param>
    /// <param name="targetGrad">Receives the n gradient elements; may be <paramref name="target"/> itself.</param>
    /// <param name="weight">Per-element weights, n elements, or null for none.</param>
    public static void TargetBackward<TLoss>(this TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> upstream,
        DeviceBuffer<float> targetGrad, DeviceBuffer<float>? weight = null)
        where TLoss : struct, IElementwiseTargetLoss
    {
        CheckInputs(loss, input, target, weight);
        ArgumentNullException.ThrowIfNull(upstream);
        CheckOptional(input, upstream, nameof(upstream));
        CheckDestination(input, targetGrad, nameof(targetGrad));
        ElementwiseLauncher.Run(new TargetSide<TLoss>(loss).Kernel, ElementwisePass.Backward, target, input, weight, upstream, null, targetGrad, 1f);
    }

    private static void CheckInputs<TLoss>(in TLoss loss, DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float>? weight)
        where TLoss : struct, IElementwiseLoss
    {
        loss.Validate();
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        input.ThrowIfDisposed();
        CheckOnDevice(input, target, nameof(target));
        ThrowHelper.IfLengthDiffers(input.Length, target.Length, nameof(target));
        CheckOptional(input, weight, nameof(weight));
    }

    private static void CheckOptional(DeviceBuffer<float> input, DeviceBuffer<float>? buffer, string paramName)
    {
        if (buffer is null)
            return;
        CheckOnDevice(input, buffer, paramName);
        ThrowHelper.IfLengthDiffers(input.Length, buffer.Length, paramName);
    }

    private static void CheckDestination(DeviceBuffer<float> input, DeviceBuffer<float> destination, string paramName)
    {
        ArgumentNullException.ThrowIfNull(destination, paramName);
        CheckOnDevice(input, destination, paramName);
        ThrowHelper.IfTooShort(input.Length, destination.Length, paramName);
    }

    private static void CheckOnDevice(DeviceBuffer<float> input, DeviceBuffer<float> buffer, string paramName)
    {
        if (!ReferenceEquals(buffer.Device, input.Device))
            ThrowHelper.Argument(paramName, $"{paramName} lives on {buffer.Device.Info.Name} (a different OpenCLDevice than input's); every buffer of a call must be on one device.");
        buffer.ThrowIfDisposed();
    }
}
