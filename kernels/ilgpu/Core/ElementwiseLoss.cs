using ILGPU;
using ILGPU.Runtime;

namespace LossKernels.ILGPU;

/// <summary>
/// The entry points of every elementwise loss (<see cref="IElementwiseLoss"/>) on an engine's own ILGPU memory: the
/// six of <see cref="ElementwiseLoss"/> with <see cref="ArrayView{T}"/>s in place of spans, run by the loss's own
/// <c>Evaluate</c> compiled for the views' accelerator (<see cref="ElementwisePass{TLoss}"/> in <see cref="ItemKernel"/>).
/// </summary>
/// <remarks>
/// <para>Each overload computes what its span overload computes (formulas, weights, reduction, avgFactor, in-place
/// gradients), on the accelerator that holds the views; results agree with the CPU kernels within float rounding and
/// are bitwise the same from run to run on one accelerator (fixed chunks, partial sums added on the host in index
/// order in double).</para>
/// <para>Reduced calls return the loss and so wait for the stream. Unreduced calls queue the kernel on
/// it and return. The stream defaults to the accelerator's default stream.</para>
/// <para>Checked before any launch, with nothing written: every view on the input's accelerator and not disposed
/// (<see cref="ArgumentException"/> or <see cref="ObjectDisposedException"/>), lengths and overlaps as for spans,
/// and the loss's hyperparameters. An absent optional view is <c>default</c>.</para>
/// <para>After the first call on an accelerator (which compiles the kernel and makes the scratch), a call allocates
/// nothing of its own on the host.</para>
/// </remarks>
public static class IlgpuElementwiseLoss
{
    /// <summary>Forward only, reduced: returns <c>reduce(w ⊙ ℓ(input, target))</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, float? avgFactor = null, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, input.Length, avgFactor);
        var views = new ElementwiseViews(input, target, weight, default, default, default, 0f, input.Length, Passes.ForwardReduced | Weighting(weight));
        return (float)(Launch(loss, views, accelerator, stream) / divisor);
    }

    /// <summary>Forward only, unreduced: queues <c>output[i] = w[i] · ℓ(input[i], target[i])</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="output">Receives the n element losses.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Forward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> output,
        ArrayView<float> weight = default, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        CheckDestination(accelerator, input, target, weight, output, nameof(output));
        var views = new ElementwiseViews(input, target, weight, default, output, default, 0f, input.Length, Passes.ForwardUnreduced | Weighting(weight));
        Launch(loss, views, accelerator, stream);
    }

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>inputGrad = ∂(upstream · L)/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss L.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> inputGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float? avgFactor = null, float upstream = 1f, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, input.Length, avgFactor);
        CheckDestination(accelerator, input, target, weight, inputGrad, nameof(inputGrad));
        var views = new ElementwiseViews(input, target, weight, default, default, inputGrad, (float)(upstream / divisor), input.Length,
            Passes.FusedReduced | Weighting(weight));
        return (float)(Launch(loss, views, accelerator, stream) / divisor);
    }

    /// <summary>Fused forward+backward, unreduced: queues <c>output[i] = w[i] · ℓ</c> and <c>inputGrad[i] = upstream[i] · w[i] · ∂ℓ/∂x</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="output">Receives the n element losses.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">The upstream gradient per element, n elements, or default for all ones.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> output,
        ArrayView<float> inputGrad, ArrayView<float> upstream = default, ArrayView<float> weight = default, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        long n = input.Length;
        ViewChecks.Optional(upstream, accelerator, n, nameof(upstream));
        CheckDestination(accelerator, input, target, weight, output, nameof(output));
        CheckDestination(accelerator, input, target, weight, inputGrad, nameof(inputGrad));
        ViewChecks.IfPartialOverlap(upstream, inputGrad, n, nameof(inputGrad));
        ViewChecks.IfPartialOverlap(upstream, output, n, nameof(output));
        ViewChecks.IfOverlaps(output, n, inputGrad, n, nameof(inputGrad), nameof(output));
        var views = new ElementwiseViews(input, target, weight, upstream, output, inputGrad, 1f, n, Passes.FusedUnreduced | Weighting(weight) | Upstreaming(upstream));
        Launch(loss, views, accelerator, stream);
    }

    /// <summary>Backward only, reduced: queues <c>inputGrad = ∂(upstream · L)/∂input</c> for <c>L = reduce(w ⊙ ℓ(input, target))</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, float upstream, ArrayView<float> inputGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float? avgFactor = null, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, input.Length, avgFactor);
        CheckDestination(accelerator, input, target, weight, inputGrad, nameof(inputGrad));
        var views = new ElementwiseViews(input, target, weight, default, default, inputGrad, (float)(upstream / divisor), input.Length, Passes.Backward | Weighting(weight));
        Launch(loss, views, accelerator, stream);
    }

    /// <summary>Backward only, unreduced: queues <c>inputGrad[i] = upstream[i] · w[i] · ∂ℓ/∂x</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The upstream gradient per element, n elements; may be the same memory as <paramref name="inputGrad"/>.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> upstream, ArrayView<float> inputGrad,
        ArrayView<float> weight = default, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        long n = input.Length;
        ViewChecks.Required(upstream, accelerator, n, nameof(upstream));
        CheckDestination(accelerator, input, target, weight, inputGrad, nameof(inputGrad));
        ViewChecks.IfPartialOverlap(upstream, inputGrad, n, nameof(inputGrad));
        var views = new ElementwiseViews(input, target, weight, upstream, default, inputGrad, 1f, n, Passes.Backward | Weighting(weight) | PassFlags.HasUpstream);
        Launch(loss, views, accelerator, stream);
    }

    private static double Launch<TLoss>(in TLoss loss, in ElementwiseViews views, Accelerator accelerator, AcceleratorStream? stream)
        where TLoss : struct, IElementwiseLoss =>
        ItemKernel.Launch(new ElementwisePass<TLoss>(loss, views), accelerator, stream ?? accelerator.DefaultStream);

    private static PassFlags Weighting(ArrayView<float> weight) => ViewChecks.IsPresent(weight) ? PassFlags.Weighted : PassFlags.None;

    private static PassFlags Upstreaming(ArrayView<float> upstream) => ViewChecks.IsPresent(upstream) ? PassFlags.HasUpstream : PassFlags.None;

    /// <summary>The target's gradient, reduced: queues <c>targetGrad = upstream · ∂L/∂target</c> (the loss's <c>EvaluateTarget</c>).</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the n gradient elements; may be <paramref name="target"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void TargetBackward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, float upstream, ArrayView<float> targetGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float? avgFactor = null, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseTargetLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, input.Length, avgFactor);
        CheckDestination(accelerator, input, target, weight, targetGrad, nameof(targetGrad));
        var views = new ElementwiseViews(target, input, weight, default, default, targetGrad, (float)(upstream / divisor), input.Length, Passes.Backward | Weighting(weight));
        Launch(new TargetSide<TLoss>(loss), views, accelerator, stream);
    }

    /// <summary>The target's gradient, unreduced: queues <c>targetGrad[i] = upstream[i] · w[i] · ∂ℓ/∂t</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The upstream gradient per element, n elements.</param>
    /// <param name="targetGrad">Receives the n gradient elements; may be <paramref name="target"/> itself.</param>
    /// <param name="weight">Per-element weights, n elements, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void TargetBackward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> upstream, ArrayView<float> targetGrad,
        ArrayView<float> weight = default, AcceleratorStream? stream = null)
        where TLoss : struct, IElementwiseTargetLoss
    {
        Accelerator accelerator = CheckInputs(loss, input, target, weight);
        long n = input.Length;
        ViewChecks.Required(upstream, accelerator, n, nameof(upstream));
        CheckDestination(accelerator, input, target, weight, targetGrad, nameof(targetGrad));
        ViewChecks.IfPartialOverlap(upstream, targetGrad, n, nameof(targetGrad));
        var views = new ElementwiseViews(target, input, weight, upstream, default, targetGrad, 1f, n, Passes.Backward | Weighting(weight) | PassFlags.HasUpstream);
        Launch(new TargetSide<TLoss>(loss), views, accelerator, stream);
    }

    private static Accelerator CheckInputs<TLoss>(in TLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> weight)
        where TLoss : struct, IElementwiseLoss
    {
        loss.Validate();
        Accelerator accelerator = ViewChecks.AcceleratorOf(input, nameof(input));
        ViewChecks.Required(target, accelerator, input.Length, nameof(target));
        ViewChecks.Optional(weight, accelerator, input.Length, nameof(weight));
        return accelerator;
    }

    private static void CheckDestination(Accelerator accelerator, ArrayView<float> input, ArrayView<float> target, ArrayView<float> weight,
        ArrayView<float> destination, string paramName)
    {
        long n = input.Length;
        ViewChecks.Destination(destination, accelerator, n, paramName);
        ViewChecks.IfPartialOverlap(input, destination, n, paramName);
        ViewChecks.IfPartialOverlap(target, destination, n, paramName);
        ViewChecks.IfPartialOverlap(weight, destination, n, paramName);
    }
}
