using ILGPU;
using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.Regression;

namespace LossKernels.ILGPU;

/// <summary>One layer of a call over several layers on ILGPU memory, as <see cref="FeatureLayer"/>.</summary>
/// <param name="Input">φ_l(ŷ), N·C·H·W floats.</param>
/// <param name="Target">φ_l(y), as many floats.</param>
/// <param name="InputGrad">Receives weight_l times the layer's gradient (default for a forward call); may be the input's view.</param>
/// <param name="Images">N.</param>
/// <param name="Weight">The layer's weight w_l.</param>
public readonly record struct FeatureViewLayer(ArrayView<float> Input, ArrayView<float> Target, ArrayView<float> InputGrad, int Images, float Weight = 1f);

/// <summary><see cref="FeatureReconstructionLoss"/> on an engine's ILGPU memory: one layer's <see cref="MseLoss"/> or <see cref="L1Loss"/> pass (<see cref="IlgpuElementwiseLoss"/>).</summary>
public static class IlgpuFeatureReconstructionLoss
{
    /// <summary>Fused forward+backward over several layers: the span overload's L and gradients, each layer one pass.</summary>
    /// <param name="loss">The loss and its norm.</param>
    /// <param name="layers">The layers.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>, for every layer.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="layerLosses">Receives each layer's L_l when not empty.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float ForwardBackward(this FeatureReconstructionLoss loss, ReadOnlySpan<FeatureViewLayer> layers, Reduction reduction = Reduction.Mean,
        float upstream = 1f, Span<float> layerLosses = default, AcceleratorStream? stream = null)
    {
        var parts = new ViewLayers(loss, layers, false, stream);
        var ops = default(ViewBufferOps);
        FeatureLayersDriver.Check<ViewLayers, ArrayView<float>, ViewBufferOps>(ref parts, ref ops, reduction, true, layerLosses.Length, []);
        return FeatureLayersDriver.Run<ViewLayers, ArrayView<float>>(ref parts, reduction, upstream, true, layerLosses);
    }

    /// <summary>Forward only over several layers.</summary>
    /// <param name="loss">The loss and its norm.</param>
    /// <param name="layers">The layers.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="layerLosses">Receives each layer's L_l when not empty.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float Forward(this FeatureReconstructionLoss loss, ReadOnlySpan<FeatureViewLayer> layers, Reduction reduction = Reduction.Mean,
        Span<float> layerLosses = default, AcceleratorStream? stream = null)
    {
        var parts = new ViewLayers(loss, layers, false, stream);
        var ops = default(ViewBufferOps);
        FeatureLayersDriver.Check<ViewLayers, ArrayView<float>, ViewBufferOps>(ref parts, ref ops, reduction, false, layerLosses.Length, []);
        return FeatureLayersDriver.Run<ViewLayers, ArrayView<float>>(ref parts, reduction, 1f, false, layerLosses);
    }

    /// <summary>The layers on ILGPU views, each the single-layer call on <paramref name="stream"/>; <paramref name="perImageSum"/> as the span layers'.</summary>
    internal readonly ref struct ViewLayers(FeatureReconstructionLoss loss, ReadOnlySpan<FeatureViewLayer> layers, bool perImageSum, AcceleratorStream? stream)
        : IFeatureLayers<ArrayView<float>>
    {
        private readonly ReadOnlySpan<FeatureViewLayer> layers = layers;

        public int Layers => layers.Length;

        public FeatureLayerParts<ArrayView<float>> Layer(int layer)
        {
            FeatureViewLayer l = layers[layer];
            return new(l.Input, l.Target, l.InputGrad, l.Images, FeatureLayersDriver.Weight(l.Weight, default(ViewBufferOps).Length(l.Input), l.Images, perImageSum));
        }

        public float Run(int layer, Reduction reduction, float upstream, bool backward)
        {
            FeatureViewLayer l = layers[layer];
            return backward
                ? loss.ForwardBackward(l.Input, l.Target, l.Images, l.InputGrad, reduction, upstream, stream)
                : loss.Forward(l.Input, l.Target, l.Images, reduction, stream);
        }
    }

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
