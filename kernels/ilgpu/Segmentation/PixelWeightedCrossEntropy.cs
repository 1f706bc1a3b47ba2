using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.Segmentation;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="PixelWeightedCrossEntropyLoss"/> on an engine's ILGPU memory: the cross-entropy rows of <see cref="IlgpuCrossEntropyLoss"/>
/// with each position's weight read beside its target (it scales the target's share), the same formulas as the span overloads.
/// </summary>
public static class IlgpuPixelWeightedCrossEntropyLoss
{
    /// <summary>Fused forward+backward (forward alone when <paramref name="logitsGrad"/> is default), reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="logits">[N, C, d1, …] logits.</param>
    /// <param name="target">[N, d1, …] class indices.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or default for ones.</param>
    /// <param name="logitsGrad">Receives the gradient, or default; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: the divisor's replacement.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward(this PixelWeightedCrossEntropyLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> pixelWeight,
        ArrayView<float> logitsGrad, Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float upstream = 1f, int spatialSize = 1,
        float? avgFactor = null, AcceleratorStream? stream = null)
    {
        if (reduction == Reduction.None)
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one loss per position: use the overload that takes an output view.");
        return new RowCall(new CrossEntropyLoss(loss.IgnoreIndex), logits, stream)
        {
            Target = target, RowWeight = pixelWeight, ClassWeight = weight, Gradient = logitsGrad, Spatial = spatialSize, Reduction = reduction,
            UpstreamScalar = upstream, DivisorOverride = PixelWeightedCrossEntropyLoss.Divisor(reduction, avgFactor),
        }.Run();
    }

    /// <summary>Unreduced: queues the weighted position losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="logits">[N, C, d1, …] logits.</param>
    /// <param name="target">[N, d1, …] class indices.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or default for ones.</param>
    /// <param name="output">Receives N·d1·… losses.</param>
    /// <param name="logitsGrad">Receives the gradient, or default; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N·d1·… upstream gradients, or default for ones.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this PixelWeightedCrossEntropyLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> pixelWeight,
        ArrayView<float> output, ArrayView<float> logitsGrad, ArrayView<float> upstream = default, ArrayView<float> weight = default, int spatialSize = 1,
        AcceleratorStream? stream = null) =>
        new RowCall(new CrossEntropyLoss(loss.IgnoreIndex), logits, stream)
        {
            Target = target, RowWeight = pixelWeight, ClassWeight = weight, Output = output, Gradient = logitsGrad, Upstream = upstream, Spatial = spatialSize,
            Reduction = Reduction.None,
        }.Run();
}

/// <summary>A <see cref="PixelWeightedCrossEntropyBoundLoss"/> on an ILGPU accelerator: the pixel weights travel in the run's second float input (<c>Target</c>), the class indices in <c>Classes</c>.</summary>
internal sealed class IlgpuPixelWeightedCrossEntropyRun(PixelWeightedCrossEntropyBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.logits, bound.pixelWeight, bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.target.Length : null,
        classes: bound.target)
{
    public override void Run(LossMode mode)
    {
        ArrayView<float> gradient = mode != LossMode.Forward ? Gradient : default;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Classes, Target, Output, gradient, Upstream, Weight, bound.spatial, Stream);
        else if (mode == LossMode.Backward)
            bound.loss.ForwardBackward(Input, Classes, Target, gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial, bound.avgFactor, Stream);
        else
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Classes, Target, gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial, bound.avgFactor, Stream);
        Finish();
    }
}
