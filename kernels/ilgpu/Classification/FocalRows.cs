using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="SoftmaxFocalLoss"/> on an engine's ILGPU memory: the cross-entropy rows (<see cref="IlgpuCrossEntropyLoss"/>) with the
/// focal factor of <see cref="CrossEntropyRowMath.Focus{TFunctions}"/>; the mean divides by the rows not ignored.
/// </summary>
public static class IlgpuSoftmaxFocalLoss
{
    /// <summary>Fused forward+backward, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C logits.</param>
    /// <param name="target">N int64 class indices (checked on the device; the first bad one throws).</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this SoftmaxFocalLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float upstream = 1f, AcceleratorStream? stream = null) =>
        (Call(loss, logits, target, weight, stream) with { Gradient = logitsGrad, Reduction = reduction, UpstreamScalar = upstream }).Run();

    /// <summary>Forward only, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C logits.</param>
    /// <param name="target">N int64 class indices.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward(this SoftmaxFocalLoss loss, ArrayView<float> logits, ArrayView<long> target, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        (Call(loss, logits, target, weight, stream) with { Reduction = reduction }).Run();

    /// <summary>Unreduced: N row losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C logits.</param>
    /// <param name="target">N int64 class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives the gradient, or default.</param>
    /// <param name="upstream">N upstream gradients, or default for ones.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this SoftmaxFocalLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> output, ArrayView<float> logitsGrad,
        ArrayView<float> upstream = default, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        (Call(loss, logits, target, weight, stream) with { Output = output, Gradient = logitsGrad, Upstream = upstream, Reduction = Reduction.None }).Run();

    /// <summary>Backward only, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C logits.</param>
    /// <param name="target">N int64 class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this SoftmaxFocalLoss loss, ArrayView<float> logits, ArrayView<long> target, float upstream, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        (Call(loss, logits, target, weight, stream) with { Gradient = logitsGrad, Reduction = reduction, UpstreamScalar = upstream, GradientOnly = true }).Run();

    private static RowCall Call(SoftmaxFocalLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> weight, AcceleratorStream? stream)
    {
        loss.Validate();
        return new RowCall(new CrossEntropyLoss(loss.IgnoreIndex), logits, stream) { Target = target, ClassWeight = weight, Focal = (loss.Alpha, loss.Gamma) };
    }
}

/// <summary>
/// <see cref="DistributionFocalLoss"/> on an engine's ILGPU memory: the cross-entropy rows with a label between two classes
/// (<see cref="RowTarget.Continuous"/>), per-row weights and avg_factor; labels checked on the device first.
/// </summary>
public static class IlgpuDistributionFocalLoss
{
    /// <summary>Fused forward+backward, reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="logits">N·C logits (C = n + 1 bins).</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights, or default.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this DistributionFocalLoss loss, ArrayView<float> logits, ArrayView<float> label, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float? avgFactor = null, float upstream = 1f, AcceleratorStream? stream = null) =>
        (Call(logits, label, weight, reduction, avgFactor, stream) with { Gradient = logitsGrad, UpstreamScalar = upstream }).Run();

    /// <summary>Forward only, reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="logits">N·C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights, or default.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward(this DistributionFocalLoss loss, ArrayView<float> logits, ArrayView<float> label, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, float? avgFactor = null, AcceleratorStream? stream = null) =>
        Call(logits, label, weight, reduction, avgFactor, stream).Run();

    /// <summary>Unreduced: N row losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="logits">N·C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives the gradient, or default.</param>
    /// <param name="upstream">N upstream gradients, or default for ones.</param>
    /// <param name="weight">N row weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this DistributionFocalLoss loss, ArrayView<float> logits, ArrayView<float> label, ArrayView<float> output,
        ArrayView<float> logitsGrad, ArrayView<float> upstream = default, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        (Call(logits, label, weight, Reduction.None, null, stream) with { Output = output, Gradient = logitsGrad, Upstream = upstream }).Run();

    /// <summary>Backward only, reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="logits">N·C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights, or default.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this DistributionFocalLoss loss, ArrayView<float> logits, ArrayView<float> label, float upstream, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float? avgFactor = null, AcceleratorStream? stream = null) =>
        (Call(logits, label, weight, reduction, avgFactor, stream) with { Gradient = logitsGrad, UpstreamScalar = upstream, GradientOnly = true }).Run();

    private static RowCall Call(ArrayView<float> logits, ArrayView<float> label, ArrayView<float> weight, Reduction reduction, float? avgFactor,
        AcceleratorStream? stream)
    {
        ViewChecks.AcceleratorOf(label, nameof(label));
        double? divisor = reduction == Reduction.None ? null : ElementwiseLoss.ReductionDivisor(reduction, label.Length, avgFactor);
        return new RowCall(new CrossEntropyLoss(), logits, stream) { Labels = label, RowWeight = weight, DivisorOverride = divisor, Reduction = reduction };
    }
}
