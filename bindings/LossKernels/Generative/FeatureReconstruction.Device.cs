using LossKernels.OpenCL;
using LossKernels.Regression;

namespace LossKernels.Generative;

/// <summary>One layer of a call over several layers on an OpenCL device, as <see cref="FeatureLayer"/>.</summary>
/// <param name="Input">φ_l(ŷ), N·C·H·W floats.</param>
/// <param name="Target">φ_l(y), as many floats.</param>
/// <param name="InputGrad">Receives weight_l times the layer's gradient (null for a forward call); may be the input's buffer.</param>
/// <param name="Images">N.</param>
/// <param name="Weight">The layer's weight w_l.</param>
public readonly record struct FeatureDeviceLayer(DeviceBuffer<float> Input, DeviceBuffer<float> Target, DeviceBuffer<float>? InputGrad, int Images, float Weight = 1f);

public readonly partial struct FeatureReconstructionLoss
{
    /// <summary>Fused forward+backward over several layers on an OpenCL device: the span overload's L and gradients, each layer one pass.</summary>
    /// <param name="layers">The layers.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>, for every layer.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="layerLosses">Receives each layer's L_l when not empty.</param>
    /// <returns>L.</returns>
    public float ForwardBackward(ReadOnlySpan<FeatureDeviceLayer> layers, Reduction reduction = Reduction.Mean, float upstream = 1f, Span<float> layerLosses = default)
    {
        var parts = new DeviceLayers(this, layers, perImageSum: false);
        var ops = default(OpenCLBufferOps);
        FeatureLayersDriver.Check<DeviceLayers, DeviceBuffer<float>?, OpenCLBufferOps>(ref parts, ref ops, reduction, true, layerLosses.Length, []);
        return FeatureLayersDriver.Run<DeviceLayers, DeviceBuffer<float>?>(ref parts, reduction, upstream, true, layerLosses);
    }

    /// <summary>Forward only over several layers on an OpenCL device.</summary>
    /// <param name="layers">The layers.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="layerLosses">Receives each layer's L_l when not empty.</param>
    /// <returns>L.</returns>
    public float Forward(ReadOnlySpan<FeatureDeviceLayer> layers, Reduction reduction = Reduction.Mean, Span<float> layerLosses = default)
    {
        var parts = new DeviceLayers(this, layers, perImageSum: false);
        var ops = default(OpenCLBufferOps);
        FeatureLayersDriver.Check<DeviceLayers, DeviceBuffer<float>?, OpenCLBufferOps>(ref parts, ref ops, reduction, false, layerLosses.Length, []);
        return FeatureLayersDriver.Run<DeviceLayers, DeviceBuffer<float>?>(ref parts, reduction, 1f, false, layerLosses);
    }

    /// <summary>The layers on OpenCL buffers, each the single-layer device call; <paramref name="perImageSum"/> as <see cref="SpanLayers"/>'.</summary>
    internal readonly ref struct DeviceLayers(FeatureReconstructionLoss loss, ReadOnlySpan<FeatureDeviceLayer> layers, bool perImageSum)
        : IFeatureLayers<DeviceBuffer<float>?>
    {
        private readonly ReadOnlySpan<FeatureDeviceLayer> layers = layers;

        public int Layers => layers.Length;

        public FeatureLayerParts<DeviceBuffer<float>?> Layer(int layer)
        {
            FeatureDeviceLayer l = layers[layer];
            return new(l.Input, l.Target, l.InputGrad, l.Images, FeatureLayersDriver.Weight(l.Weight, l.Input?.Length ?? 0, l.Images, perImageSum));
        }

        public float Run(int layer, Reduction reduction, float upstream, bool backward)
        {
            FeatureDeviceLayer l = layers[layer];
            return backward ? loss.ForwardBackward(l.Input, l.Target, l.Images, l.InputGrad!, reduction, upstream) : loss.Forward(l.Input, l.Target, l.Images, reduction);
        }
    }

    /// <summary>Fused forward+backward on one layer on an OpenCL device (<c>mse</c> or <c>l1</c> of <c>kernels/opencl/regression.cl</c>).</summary>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="inputGrad">Receives as many floats; may be the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L.</returns>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> target, int images, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        float scale = Scale(input?.Length ?? 0, images, reduction, out Reduction inner);
        return P == 1
            ? scale * default(L1Loss).ForwardBackward(input!, target, inputGrad, inner, upstream: upstream * scale)
            : scale * default(MseLoss).ForwardBackward(input!, target, inputGrad, inner, upstream: upstream * scale);
    }

    /// <summary>Forward only on one layer on an OpenCL device.</summary>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(DeviceBuffer<float> input, DeviceBuffer<float> target, int images, Reduction reduction = Reduction.Mean)
    {
        float scale = Scale(input?.Length ?? 0, images, reduction, out Reduction inner);
        return scale * (P == 1 ? default(L1Loss).Forward(input!, target, inner) : default(MseLoss).Forward(input!, target, inner));
    }

    /// <summary>Backward only on one layer on an OpenCL device: ∂(upstream·L)/∂input (one <c>mse</c> or <c>l1</c> backward pass).</summary>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives as many floats; may be the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> input, DeviceBuffer<float> target, int images, float upstream, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean)
    {
        float scale = Scale(input?.Length ?? 0, images, reduction, out Reduction inner);
        if (P == 1)
            default(L1Loss).Backward(input!, target, upstream * scale, inputGrad, inner);
        else
            default(MseLoss).Backward(input!, target, upstream * scale, inputGrad, inner);
    }
}
