using LossKernels.OpenCL;

namespace LossKernels.Classification;

public readonly partial struct DistributionFocalLoss
{
    /// <summary>Fused forward+backward, reduced, on an OpenCL device (<c>kernels/opencl/cross_entropy.cl</c>'s row kernel).</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="label">N labels in [0, C − 1] on the same device (checked there; the first bad one throws, named by its position).</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights on the device, or null.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<float> label, DeviceBuffer<float> logitsGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, float? avgFactor = null, float upstream = 1f) =>
        RunOnDevice(logits, label, weight, null, null, logitsGrad, reduction, avgFactor, upstream);

    /// <summary>Forward only, reduced, on the device.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="label">N labels in [0, C − 1] on the same device.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights on the device, or null.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    public float Forward(DeviceBuffer<float> logits, DeviceBuffer<float> label, Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null,
        float? avgFactor = null) =>
        RunOnDevice(logits, label, weight, null, null, null, reduction, avgFactor, 1f);

    /// <summary>Unreduced on the device: N row losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="label">N labels in [0, C − 1] on the same device.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements, or null.</param>
    /// <param name="upstream">N upstream gradients, or null for ones.</param>
    /// <param name="weight">N row weights on the device, or null.</param>
    public void ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<float> label, DeviceBuffer<float> output, DeviceBuffer<float>? logitsGrad,
        DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null) =>
        RunOnDevice(logits, label, weight, upstream, output, logitsGrad, Reduction.None, null, 1f);

    /// <summary>Backward only, reduced, on the device.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="label">N labels in [0, C − 1] on the same device.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights on the device, or null.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    public void Backward(DeviceBuffer<float> logits, DeviceBuffer<float> label, float upstream, DeviceBuffer<float> logitsGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, float? avgFactor = null) =>
        RunOnDevice(logits, label, weight, null, null, logitsGrad, reduction, avgFactor, upstream);

    private static float RunOnDevice(DeviceBuffer<float> logits, DeviceBuffer<float> label, DeviceBuffer<float>? weight, DeviceBuffer<float>? upstream,
        DeviceBuffer<float>? output, DeviceBuffer<float>? gradient, Reduction reduction, float? avgFactor, float upstreamScalar)
    {
        ArgumentNullException.ThrowIfNull(label);
        double? divisor = reduction == Reduction.None ? null : ElementwiseLoss.ReductionDivisor(reduction, label.Length, avgFactor);
        return new CrossEntropyLoss().RunOnDevice(logits, null, null, 0, label, weight, divisor, null, upstream, output, gradient, reduction, upstreamScalar, 1);
    }
}
