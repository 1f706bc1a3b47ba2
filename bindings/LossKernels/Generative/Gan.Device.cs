using LossKernels.OpenCL;

namespace LossKernels.Generative;

public readonly partial struct GanLoss
{
    /// <summary>Fused forward+backward on an OpenCL device, reduced: the span overload's L and gradient, from the <c>gan_*</c> form functions of <c>kernels/opencl/generative.cl</c>.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L.</returns>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> inputGrad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        Dispatch<DeviceFusedReduced, float>(new(input, inputGrad, reduction, upstream));

    /// <summary>Fused forward+backward on an OpenCL device, unreduced (queued).</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values; not the gradient's buffer.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    /// <param name="upstream">n values, or null for ones.</param>
    public void ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> output, DeviceBuffer<float> inputGrad, DeviceBuffer<float>? upstream = null) =>
        Dispatch<DeviceFusedUnreduced, float>(new(input, output, inputGrad, upstream));

    /// <summary>Forward only on an OpenCL device, reduced.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(DeviceBuffer<float> input, Reduction reduction = Reduction.Mean) => Dispatch<DeviceForwardReduced, float>(new(input, reduction));

    /// <summary>Forward only on an OpenCL device, unreduced (queued).</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values.</param>
    public void Forward(DeviceBuffer<float> input, DeviceBuffer<float> output) => Dispatch<DeviceForwardUnreduced, float>(new(input, output));

    /// <summary>Backward only on an OpenCL device, reduced.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> input, float upstream, DeviceBuffer<float> inputGrad, Reduction reduction = Reduction.Mean) =>
        Dispatch<DeviceBackwardReduced, float>(new(input, upstream, inputGrad, reduction));

    /// <summary>Backward only on an OpenCL device, unreduced (queued).</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">n values.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's buffer.</param>
    public void Backward(DeviceBuffer<float> input, DeviceBuffer<float> upstream, DeviceBuffer<float> inputGrad) =>
        Dispatch<DeviceBackwardUnreduced, float>(new(input, upstream, inputGrad));

    private readonly struct DeviceFusedReduced(DeviceBuffer<float> input, DeviceBuffer<float> inputGrad, Reduction reduction, float upstream) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss => terms.ForwardBackward(input, input, inputGrad, reduction, upstream: upstream);
    }

    private readonly struct DeviceFusedUnreduced(DeviceBuffer<float> input, DeviceBuffer<float> output, DeviceBuffer<float> inputGrad, DeviceBuffer<float>? upstream)
        : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.ForwardBackward(input, input, output, inputGrad, upstream);
            return 0f;
        }
    }

    private readonly struct DeviceForwardReduced(DeviceBuffer<float> input, Reduction reduction) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss => terms.Forward(input, input, reduction);
    }

    private readonly struct DeviceForwardUnreduced(DeviceBuffer<float> input, DeviceBuffer<float> output) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Forward(input, input, output);
            return 0f;
        }
    }

    private readonly struct DeviceBackwardReduced(DeviceBuffer<float> input, float upstream, DeviceBuffer<float> inputGrad, Reduction reduction) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Backward(input, input, upstream, inputGrad, reduction);
            return 0f;
        }
    }

    private readonly struct DeviceBackwardUnreduced(DeviceBuffer<float> input, DeviceBuffer<float> upstream, DeviceBuffer<float> inputGrad) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Backward(input, input, upstream, inputGrad);
            return 0f;
        }
    }
}
