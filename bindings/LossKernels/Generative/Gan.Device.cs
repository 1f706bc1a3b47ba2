using LossKernels.OpenCL;

namespace LossKernels.Generative;

public readonly partial struct GanLoss
{
    /// <summary>Fused forward+backward on an OpenCL device, reduced: the span overload's L and gradient, from <c>gan_loss</c> in <c>kernels/opencl/generative.cl</c>.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L.</returns>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> inputGrad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        Terms().ForwardBackward(input, input, inputGrad, reduction, upstream: upstream);

    /// <summary>Fused forward+backward on an OpenCL device, unreduced (queued).</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values; not the gradient's buffer.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    /// <param name="upstream">n values, or null for ones.</param>
    public void ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> output, DeviceBuffer<float> inputGrad, DeviceBuffer<float>? upstream = null) =>
        Terms().ForwardBackward(input, input, output, inputGrad, upstream);

    /// <summary>Forward only on an OpenCL device, reduced.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(DeviceBuffer<float> input, Reduction reduction = Reduction.Mean) => Terms().Forward(input, input, reduction);

    /// <summary>Forward only on an OpenCL device, unreduced (queued).</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values.</param>
    public void Forward(DeviceBuffer<float> input, DeviceBuffer<float> output) => Terms().Forward(input, input, output);

    /// <summary>Backward only on an OpenCL device, reduced.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> input, float upstream, DeviceBuffer<float> inputGrad, Reduction reduction = Reduction.Mean) =>
        Terms().Backward(input, input, upstream, inputGrad, reduction);

    /// <summary>Backward only on an OpenCL device, unreduced (queued).</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">n values.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    public void Backward(DeviceBuffer<float> input, DeviceBuffer<float> upstream, DeviceBuffer<float> inputGrad) =>
        Terms().Backward(input, input, upstream, inputGrad);
}
