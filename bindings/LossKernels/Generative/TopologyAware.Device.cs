using LossKernels.Classification;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

public readonly partial struct TopologyAwareLoss
{
    /// <summary>
    /// Fused forward+backward on an OpenCL device: the span overload's L, parts and gradients (<c>binary_cross_entropy_with_logits</c> of
    /// <c>kernels/opencl/classification.cl</c> and a <c>mse</c> pass per layer).
    /// </summary>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="logitsGrad">Receives n floats; may be the logits' buffer.</param>
    /// <param name="layers">The feature layers, each with its gradient.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its parts.</returns>
    public TopologyAwareResult ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<float> mask, DeviceBuffer<float> logitsGrad,
        ReadOnlySpan<FeatureDeviceLayer> layers, Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        ArgumentNullException.ThrowIfNull(logitsGrad);
        return Run(logits, mask, logitsGrad, layers, reduction, upstream);
    }

    /// <summary>Forward only on an OpenCL device.</summary>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="layers">The feature layers.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L and its parts.</returns>
    public TopologyAwareResult Forward(DeviceBuffer<float> logits, DeviceBuffer<float> mask, ReadOnlySpan<FeatureDeviceLayer> layers, Reduction reduction = Reduction.Mean) =>
        Run(logits, mask, null, layers, reduction, 1f);

    /// <summary>Backward only on an OpenCL device.</summary>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives n floats.</param>
    /// <param name="layers">The feature layers, each with its gradient.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> logits, DeviceBuffer<float> mask, float upstream, DeviceBuffer<float> logitsGrad, ReadOnlySpan<FeatureDeviceLayer> layers,
        Reduction reduction = Reduction.Mean) =>
        ForwardBackward(logits, mask, logitsGrad, layers, reduction, upstream);

    private TopologyAwareResult Run(DeviceBuffer<float> logits, DeviceBuffer<float> mask, DeviceBuffer<float>? logitsGrad, ReadOnlySpan<FeatureDeviceLayer> layers,
        Reduction reduction, float upstream)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(mask);
        bool backward = logitsGrad is not null;
        var parts = new FeatureReconstructionLoss.DeviceLayers(default, layers, perImageSum: !FeatureMean);
        var ops = default(OpenCLBufferOps);
        TopologyAwareChecks.Check<FeatureReconstructionLoss.DeviceLayers, DeviceBuffer<float>?, OpenCLBufferOps>(ref parts, ref ops, logits, mask, logitsGrad, reduction,
            backward);
        var bce = new BinaryCrossEntropyWithLogitsLoss();
        float crossEntropy = backward ? bce.ForwardBackward(logits, mask, logitsGrad!, reduction, upstream: upstream) : bce.Forward(logits, mask, reduction);
        float topology = FeatureLayersDriver.Run<FeatureReconstructionLoss.DeviceLayers, DeviceBuffer<float>?>(ref parts, reduction, upstream * Mu, backward, default);
        return Result(crossEntropy, topology);
    }
}
