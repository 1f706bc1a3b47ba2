using LossKernels.OpenCL;

namespace LossKernels.Generative;

public readonly partial struct RelativisticGanLoss
{
    /// <summary>Fused forward+backward on an OpenCL device: the span overload's passes, as the <c>gan_*</c> functions of <c>kernels/opencl/generative.cl</c>.</summary>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <param name="realGrad">Receives n_r floats; may be the real logits' buffer.</param>
    /// <param name="fakeGrad">Receives n_f floats; may be the fake logits' buffer.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its halves.</returns>
    public RelativisticGanResult ForwardBackward(DeviceBuffer<float> realLogits, DeviceBuffer<float> fakeLogits, DeviceBuffer<float> realGrad,
        DeviceBuffer<float> fakeGrad, float upstream = 1f)
    {
        ArgumentNullException.ThrowIfNull(realLogits);
        ArgumentNullException.ThrowIfNull(fakeLogits);
        ArgumentNullException.ThrowIfNull(realGrad);
        ArgumentNullException.ThrowIfNull(fakeGrad);
        realLogits.ThrowIfDisposed();
        OpenCLDevice device = realLogits.Device;
        DeviceChecks.Buffer(fakeLogits, device, -1, nameof(fakeLogits));
        DeviceChecks.Buffer(realGrad, device, -1, nameof(realGrad));
        DeviceChecks.Buffer(fakeGrad, device, -1, nameof(fakeGrad));
        ThrowHelper.IfTooShort(realLogits.Length, realGrad.Length, nameof(realGrad));
        ThrowHelper.IfTooShort(fakeLogits.Length, fakeGrad.Length, nameof(fakeGrad));
        DeviceChecks.IfSame(realGrad, fakeLogits, nameof(realGrad), nameof(fakeLogits));
        DeviceChecks.IfSame(fakeGrad, realLogits, nameof(fakeGrad), nameof(realLogits));
        DeviceChecks.IfSame(fakeGrad, realGrad, nameof(fakeGrad), nameof(realGrad));
        var steps = new DeviceSteps(realLogits, fakeLogits, realGrad, fakeGrad);
        return RelativisticSteps.Run(this, ref steps, true, upstream);
    }

    /// <summary>Backward only on an OpenCL device: ∂(upstream·L)/∂ of both logits (the fused call's passes).</summary>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="realGrad">Receives n_r floats; may be the real logits' buffer.</param>
    /// <param name="fakeGrad">Receives n_f floats; may be the fake logits' buffer.</param>
    public void Backward(DeviceBuffer<float> realLogits, DeviceBuffer<float> fakeLogits, float upstream, DeviceBuffer<float> realGrad, DeviceBuffer<float> fakeGrad) =>
        ForwardBackward(realLogits, fakeLogits, realGrad, fakeGrad, upstream);

    /// <summary>Forward only on an OpenCL device.</summary>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <returns>L and its halves.</returns>
    public RelativisticGanResult Forward(DeviceBuffer<float> realLogits, DeviceBuffer<float> fakeLogits)
    {
        ArgumentNullException.ThrowIfNull(realLogits);
        ArgumentNullException.ThrowIfNull(fakeLogits);
        var steps = new DeviceSteps(realLogits, fakeLogits, null, null);
        return RelativisticSteps.Run(this, ref steps, false, 1f);
    }

    /// <summary>The steps on OpenCL buffers (the gradients null for a forward run).</summary>
    private readonly struct DeviceSteps(DeviceBuffer<float> real, DeviceBuffer<float> fake, DeviceBuffer<float>? realGrad, DeviceBuffer<float>? fakeGrad)
        : IRelativisticSteps
    {
        public int Length(bool isReal) => isReal ? real.Length : fake.Length;

        public float Sum(GanLoss sum, bool isReal, bool ofGradient) =>
            sum.Forward(ofGradient ? (isReal ? realGrad! : fakeGrad!) : isReal ? real : fake, Reduction.Sum);

        public float Half(GanLoss half, bool isReal, bool gradient, float upstream) => gradient
            ? half.ForwardBackward(isReal ? real : fake, isReal ? realGrad! : fakeGrad!, Reduction.Mean, upstream)
            : half.Forward(isReal ? real : fake);

        public void Shift(GanLoss affine, bool isReal)
        {
            DeviceBuffer<float> gradient = isReal ? realGrad! : fakeGrad!;
            affine.Backward(gradient, RelativisticSteps.AffineUpstream, gradient, Reduction.Sum);
        }
    }
}
