namespace LossKernels;

/// <summary>
/// The entry points shared by every elementwise loss (<see cref="IElementwiseLoss"/>): forward only,
/// fused forward+backward, and backward given the upstream gradient, each reduced (a scalar) or
/// unreduced (a span). The loss value carries its hyperparameters; these methods carry the data:
/// caller-owned spans in, the gradient written, the loss returned, nothing allocated.
/// </summary>
/// <remarks>
/// <para>Weighting and reduction follow mmdetection's <c>weight_reduce_loss</c>:
/// <c>L = reduce(w ⊙ ℓ(x, t))</c>, where <c>reduce</c> is the sum, or for <see cref="Reduction.Mean"/> the
/// sum divided by the element count n, or by <c>avgFactor + ε</c> (ε = 2^-23, float32 epsilon) when an
/// average factor is given. An empty weight span means unweighted. The gradient written is
/// <c>∂(u·L)/∂x = u · s · w ⊙ ∂ℓ/∂x</c>, with u the upstream gradient and s = 1/n, 1/(avgFactor + ε) or 1.</para>
/// <para>Aliasing: a gradient or output span may be the very memory of an input (the gradient then
/// overwrites the input in place) or disjoint from it; a shifted overlap throws.</para>
/// <para>Threads: inputs of 262,144 elements or more are split over up to
/// <see cref="LossKernelsSettings.MaxThreads"/> threads; results are bitwise the same for any count.</para>
/// <para>Bad arguments (length mismatch, a too-short destination, a hyperparameter out of range, a
/// reduction that does not fit the overload) throw <see cref="ArgumentException"/> or
/// <see cref="ArgumentOutOfRangeException"/> naming the parameter, before anything is written.
/// NaN and infinity in the data propagate as IEEE arithmetic says.</para>
/// </remarks>
public static unsafe partial class ElementwiseLoss
{
    /// <summary>float32 epsilon, added to <c>avgFactor</c> as mmdetection does to avoid dividing by zero.</summary>
    public const float AvgFactorEpsilon = 1.1920929e-07f;

    /// <summary>Forward only, reduced: returns <c>reduce(w ⊙ ℓ(input, target))</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>; <see cref="Reduction.None"/> needs the overload with an output span.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide the weighted sum by <c>avgFactor + ε</c> instead of n (mmdetection). Not allowed with <see cref="Reduction.Sum"/>.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float? avgFactor = null)
        where TLoss : struct, IElementwiseLoss
    {
        double divisor = CheckReduced(loss, input, target, weight, reduction, avgFactor);
        double sum;
        fixed (float* x = input, t = target, w = weight)
            sum = ElementwiseDriver.Run<TLoss, ForwardReduced>(loss, new ElementwiseArgs(x, t, w, null, null, null, 0f, input.Length));
        return (float)(sum / divisor);
    }

    /// <summary>Forward only, unreduced (<c>reduction='none'</c>): writes <c>output[i] = w[i] · ℓ(input[i], target[i])</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="output">Receives the n element losses.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    public static void Forward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target,
        Span<float> output, ReadOnlySpan<float> weight = default)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        CheckDestination(input, target, weight, output, nameof(output));
        fixed (float* x = input, t = target, w = weight, o = output)
            ElementwiseDriver.Run<TLoss, ForwardUnreduced>(loss, new ElementwiseArgs(x, t, w, null, o, null, 0f, input.Length));
    }

    /// <summary>
    /// Fused forward+backward, reduced: one pass returns <c>L = reduce(w ⊙ ℓ(input, target))</c> and writes
    /// <c>inputGrad = ∂(upstream · L)/∂input</c>.
    /// </summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <returns>The reduced loss L.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float? avgFactor = null, float upstream = 1f)
        where TLoss : struct, IElementwiseLoss
    {
        double divisor = CheckReduced(loss, input, target, weight, reduction, avgFactor);
        CheckDestination(input, target, weight, inputGrad, nameof(inputGrad));
        double sum;
        fixed (float* x = input, t = target, w = weight, g = inputGrad)
            sum = ElementwiseDriver.Run<TLoss, FusedReduced>(loss, new ElementwiseArgs(x, t, w, null, null, g, (float)(upstream / divisor), input.Length));
        return (float)(sum / divisor);
    }

    /// <summary>
    /// Fused forward+backward, unreduced: one pass writes <c>output[i] = w[i] · ℓ(input[i], target[i])</c> and
    /// <c>inputGrad[i] = upstream[i] · w[i] · ∂ℓ/∂x(input[i], target[i])</c>, the gradient of <c>Σ upstream ⊙ output</c>.
    /// </summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="output">Receives the n element losses.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">The upstream gradient per element, n elements, or empty for all ones.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    public static void ForwardBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, Span<float> output, Span<float> inputGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        CheckOptional(input.Length, upstream, nameof(upstream));
        CheckDestination(input, target, weight, output, nameof(output));
        CheckDestination(input, target, weight, inputGrad, nameof(inputGrad));
        ThrowHelper.IfPartialOverlap(upstream, output.Slice(0, input.Length), nameof(output));
        ThrowHelper.IfPartialOverlap(upstream, inputGrad, nameof(inputGrad));
        if (output.Slice(0, input.Length).Overlaps(inputGrad.Slice(0, input.Length)))
            ThrowHelper.Argument(nameof(inputGrad), "inputGrad must not overlap output.");
        fixed (float* x = input, t = target, w = weight, u = upstream, o = output, g = inputGrad)
            ElementwiseDriver.Run<TLoss, FusedUnreduced>(loss, new ElementwiseArgs(x, t, w, u, o, g, 1f, input.Length));
    }

    /// <summary>Backward only, reduced: writes <c>inputGrad = ∂(upstream · L)/∂input</c> for <c>L = reduce(w ⊙ ℓ(input, target))</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    public static void Backward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, float upstream, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float? avgFactor = null)
        where TLoss : struct, IElementwiseLoss
    {
        double divisor = CheckReduced(loss, input, target, weight, reduction, avgFactor);
        CheckDestination(input, target, weight, inputGrad, nameof(inputGrad));
        fixed (float* x = input, t = target, w = weight, g = inputGrad)
            ElementwiseDriver.Run<TLoss, BackwardOnly>(loss, new ElementwiseArgs(x, t, w, null, null, g, (float)(upstream / divisor), input.Length));
    }

    /// <summary>Backward only, unreduced: writes <c>inputGrad[i] = upstream[i] · w[i] · ∂ℓ/∂x(input[i], target[i])</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The upstream gradient per element, n elements; may be the same memory as <paramref name="inputGrad"/>.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    public static void Backward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> upstream, Span<float> inputGrad,
        ReadOnlySpan<float> weight = default)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        ThrowHelper.IfLengthDiffers(input.Length, upstream.Length, nameof(upstream));
        CheckDestination(input, target, weight, inputGrad, nameof(inputGrad));
        ThrowHelper.IfPartialOverlap(upstream, inputGrad, nameof(inputGrad));
        fixed (float* x = input, t = target, w = weight, u = upstream, g = inputGrad)
            ElementwiseDriver.Run<TLoss, BackwardOnly>(loss, new ElementwiseArgs(x, t, w, u, null, g, 1f, input.Length));
    }

    /// <summary>The divisor of a reduced loss: n or <c>avgFactor + ε</c> for Mean, 1 for Sum.</summary>
    internal static double ReductionDivisor(Reduction reduction, long length, float? avgFactor)
    {
        switch (reduction)
        {
            case Reduction.Mean:
                if (avgFactor is float factor)
                {
                    ThrowHelper.IfNegative(factor, nameof(avgFactor));
                    return (double)factor + AvgFactorEpsilon;
                }

                return length;
            case Reduction.Sum:
                if (avgFactor is not null)
                    ThrowHelper.Argument(nameof(avgFactor), "avgFactor can only be used with Reduction.Mean (as mmdetection).");
                return 1d;
            case Reduction.None:
                ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one value per element: use the overload that takes an output span.");
                return 0d;
            default:
                ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "a defined Reduction");
                return 0d;
        }
    }

    private static double CheckReduced<TLoss>(in TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> weight, Reduction reduction, float? avgFactor)
        where TLoss : struct, IElementwiseLoss
    {
        CheckInputs(loss, input, target, weight);
        return ReductionDivisor(reduction, input.Length, avgFactor);
    }

    private static void CheckInputs<TLoss>(in TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> weight)
        where TLoss : struct, IElementwiseLoss
    {
        loss.Validate();
        ThrowHelper.IfLengthDiffers(input.Length, target.Length, nameof(target));
        CheckOptional(input.Length, weight, nameof(weight));
    }

    private static void CheckOptional(int length, ReadOnlySpan<float> span, string paramName)
    {
        if (!span.IsEmpty)
            ThrowHelper.IfLengthDiffers(length, span.Length, paramName);
    }

    private static void CheckDestination(ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> weight, Span<float> destination, string paramName)
    {
        ThrowHelper.IfTooShort(input.Length, destination.Length, paramName);
        ReadOnlySpan<float> written = destination.Slice(0, input.Length);
        ThrowHelper.IfPartialOverlap(input, written, paramName);
        ThrowHelper.IfPartialOverlap(target, written, paramName);
        ThrowHelper.IfPartialOverlap(weight, written, paramName);
    }
}
