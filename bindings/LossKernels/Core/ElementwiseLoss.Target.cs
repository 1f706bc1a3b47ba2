namespace LossKernels;

public static unsafe partial class ElementwiseLoss
{
    /// <summary>
    /// The target's gradient, reduced: writes <c>targetGrad = upstream · ∂L/∂target</c> with L the loss
    /// <see cref="ForwardBackward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Reduction, ReadOnlySpan{float}, float?, float)"/>
    /// returns (the same weights and divisor). PyTorch gives it when the target requires a gradient (distillation against a
    /// learned distribution, a symmetric loss between two heads). One pass of its own: call it beside the input's.
    /// </summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the n gradient elements; may be <paramref name="target"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    public static void TargetBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, float upstream, Span<float> targetGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float? avgFactor = null)
        where TLoss : struct, IElementwiseTargetLoss
    {
        double divisor = CheckReduced(loss, input, target, weight, reduction, avgFactor);
        CheckDestination(input, target, weight, targetGrad, nameof(targetGrad));
        fixed (float* x = input, t = target, w = weight, g = targetGrad)
            ElementwiseDriver.Run<TargetSide<TLoss>, BackwardOnly>(new TargetSide<TLoss>(loss), new ElementwiseArgs(t, x, w, null, null, g, (float)(upstream / divisor), input.Length));
    }

    /// <summary>The target's gradient, unreduced: <c>targetGrad[i] = upstream[i] · w[i] · ∂ℓ/∂t</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The upstream gradient per element, n elements.</param>
    /// <param name="targetGrad">Receives the n gradient elements; may be <paramref name="target"/> itself.</param>
    /// <param name="weight">Per-element weights, n elements, or empty for none.</param>
    public static void TargetBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, ReadOnlySpan<float> upstream, Span<float> targetGrad,
        ReadOnlySpan<float> weight = default)
        where TLoss : struct, IElementwiseTargetLoss
    {
        CheckInputs(loss, input, target, weight);
        ThrowHelper.IfLengthDiffers(input.Length, upstream.Length, nameof(upstream));
        CheckDestination(input, target, weight, targetGrad, nameof(targetGrad));
        ThrowHelper.IfPartialOverlap(upstream, targetGrad, nameof(targetGrad));
        fixed (float* x = input, t = target, w = weight, u = upstream, g = targetGrad)
            ElementwiseDriver.Run<TargetSide<TLoss>, BackwardOnly>(new TargetSide<TLoss>(loss), new ElementwiseArgs(t, x, w, u, null, g, 1f, input.Length));
    }
}
