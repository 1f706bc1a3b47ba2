using ILGPU;
using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.Regression;

namespace LossKernels.ILGPU;

/// <summary><see cref="FeatureReconstructionLoss"/> on an engine's ILGPU memory: one layer's <see cref="MseLoss"/> or <see cref="L1Loss"/> pass (<see cref="IlgpuElementwiseLoss"/>).</summary>
public static class IlgpuFeatureReconstructionLoss
{
    /// <summary>Fused forward+backward on one layer: L and ∂(upstream·L)/∂input.</summary>
    /// <param name="loss">The loss and its norm.</param>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="inputGrad">Receives as many floats; may be the input's view.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float ForwardBackward(this FeatureReconstructionLoss loss, ArrayView<float> input, ArrayView<float> target, int images, ArrayView<float> inputGrad,
        Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        float scale = FeatureReconstructionLoss.Scale(input.Length, images, reduction, out Reduction inner);
        return loss.P == 1
            ? scale * default(L1Loss).ForwardBackward(input, target, inputGrad, inner, upstream: upstream * scale, stream: stream)
            : scale * default(MseLoss).ForwardBackward(input, target, inputGrad, inner, upstream: upstream * scale, stream: stream);
    }

    /// <summary>Forward only on one layer.</summary>
    /// <param name="loss">The loss and its norm.</param>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float Forward(this FeatureReconstructionLoss loss, ArrayView<float> input, ArrayView<float> target, int images,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null)
    {
        float scale = FeatureReconstructionLoss.Scale(input.Length, images, reduction, out Reduction inner);
        return scale * (loss.P == 1 ? default(L1Loss).Forward(input, target, inner, stream: stream) : default(MseLoss).Forward(input, target, inner, stream: stream));
    }

    /// <summary>Backward only on one layer: ∂(upstream·L)/∂input (one <c>mse</c> or <c>l1</c> backward pass).</summary>
    /// <param name="loss">The loss and its norm.</param>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives as many floats; may be the input's view.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this FeatureReconstructionLoss loss, ArrayView<float> input, ArrayView<float> target, int images, float upstream,
        ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null)
    {
        float scale = FeatureReconstructionLoss.Scale(input.Length, images, reduction, out Reduction inner);
        if (loss.P == 1)
            default(L1Loss).Backward(input, target, upstream * scale, inputGrad, inner, stream: stream);
        else
            default(MseLoss).Backward(input, target, upstream * scale, inputGrad, inner, stream: stream);
    }
}

/// <summary>A <see cref="FeatureReconstructionBoundLoss"/> on an ILGPU accelerator.</summary>
internal sealed class IlgpuFeatureReconstructionRun(FeatureReconstructionBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.input, bound.target, [], [], null)
{
    public override void Run(Catalog.LossMode mode)
    {
        if (mode == Catalog.LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, Target, bound.images, bound.reduction, Stream);
        else if (mode == Catalog.LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, bound.images, Gradient, bound.reduction, bound.upstream, Stream);
        else
            bound.loss.Backward(Input, Target, bound.images, bound.upstream, Gradient, bound.reduction, Stream);
        Finish();
    }
}
