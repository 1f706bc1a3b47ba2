using LossKernels.OpenCL;
using LossKernels.Regression;

namespace LossKernels.Generative;

public readonly partial struct FeatureReconstructionLoss
{
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
