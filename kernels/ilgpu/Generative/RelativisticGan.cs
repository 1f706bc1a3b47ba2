using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Generative;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="RelativisticGanLoss"/> on an engine's ILGPU memory: the span overload's passes (<see cref="IlgpuGanLoss"/>'s elementwise
/// kernels with each half's shift). A gradient may be its own logits' view; the real gradient must not overlap the fake logits or
/// gradient, nor the fake gradient the real logits.
/// </summary>
public static class IlgpuRelativisticGanLoss
{
    /// <summary>Fused forward+backward: L, its halves, and ∂(upstream·L)/∂ of both logits.</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <param name="realGrad">Receives n_r floats.</param>
    /// <param name="fakeGrad">Receives n_f floats.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its halves.</returns>
    public static RelativisticGanResult ForwardBackward(this RelativisticGanLoss loss, ArrayView<float> realLogits, ArrayView<float> fakeLogits,
        ArrayView<float> realGrad, ArrayView<float> fakeGrad, float upstream = 1f, AcceleratorStream? stream = null)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(realLogits, nameof(realLogits));
        ViewChecks.Required(fakeLogits, accelerator, -1, nameof(fakeLogits));
        ViewChecks.Destination(realGrad, accelerator, realLogits.Length, nameof(realGrad));
        ViewChecks.Destination(fakeGrad, accelerator, fakeLogits.Length, nameof(fakeGrad));
        ViewChecks.IfPartialOverlap(realLogits, realGrad, realLogits.Length, nameof(realGrad));
        ViewChecks.IfOverlaps(fakeLogits, fakeLogits.Length, realGrad, realLogits.Length, nameof(realGrad), nameof(fakeLogits));
        ViewChecks.IfPartialOverlap(fakeLogits, fakeGrad, fakeLogits.Length, nameof(fakeGrad));
        ViewChecks.IfOverlaps(realLogits, realLogits.Length, fakeGrad, fakeLogits.Length, nameof(fakeGrad), nameof(realLogits));
        ViewChecks.IfOverlaps(realGrad, realLogits.Length, fakeGrad, fakeLogits.Length, nameof(fakeGrad), nameof(realGrad));
        var steps = new ViewSteps(realLogits, fakeLogits, realGrad.SubView(0, realLogits.Length), fakeGrad.SubView(0, fakeLogits.Length), stream);
        return RelativisticSteps.Run(loss, ref steps, true, upstream);
    }

    /// <summary>Backward only: ∂(upstream·L)/∂ of both logits (the fused call's passes).</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="realGrad">Receives n_r floats.</param>
    /// <param name="fakeGrad">Receives n_f floats.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this RelativisticGanLoss loss, ArrayView<float> realLogits, ArrayView<float> fakeLogits, float upstream, ArrayView<float> realGrad,
        ArrayView<float> fakeGrad, AcceleratorStream? stream = null) =>
        ForwardBackward(loss, realLogits, fakeLogits, realGrad, fakeGrad, upstream, stream);

    /// <summary>Forward only.</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its halves.</returns>
    public static RelativisticGanResult Forward(this RelativisticGanLoss loss, ArrayView<float> realLogits, ArrayView<float> fakeLogits,
        AcceleratorStream? stream = null)
    {
        var steps = new ViewSteps(realLogits, fakeLogits, default, default, stream);
        return RelativisticSteps.Run(loss, ref steps, false, 1f);
    }

    /// <summary>The steps on ILGPU views.</summary>
    private readonly struct ViewSteps(ArrayView<float> real, ArrayView<float> fake, ArrayView<float> realGrad, ArrayView<float> fakeGrad,
        AcceleratorStream? stream) : IRelativisticSteps
    {
        public int Length(bool isReal) => (int)(isReal ? real.Length : fake.Length);

        public float Sum(GanLoss sum, bool isReal, bool ofGradient) =>
            sum.Forward(ofGradient ? (isReal ? realGrad : fakeGrad) : isReal ? real : fake, Reduction.Sum, stream);

        public float Half(GanLoss half, bool isReal, bool gradient, float upstream) => gradient
            ? half.ForwardBackward(isReal ? real : fake, isReal ? realGrad : fakeGrad, Reduction.Mean, upstream, stream)
            : half.Forward(isReal ? real : fake, Reduction.Mean, stream);

        public void Shift(GanLoss affine, bool isReal)
        {
            ArrayView<float> gradient = isReal ? realGrad : fakeGrad;
            affine.Backward(gradient, RelativisticSteps.AffineUpstream, gradient, Reduction.Sum, stream);
        }
    }
}

/// <summary>A <see cref="RelativisticGanBoundLoss"/> on an ILGPU accelerator: the real logits as the run's input, the fake ones beside them.</summary>
internal sealed class IlgpuRelativisticGanRun : IlgpuRun
{
    private readonly RelativisticGanBoundLoss bound;
    private readonly ArrayView<float> fake, fakeGrad;

    public IlgpuRelativisticGanRun(RelativisticGanBoundLoss bound, IlgpuDevice device)
        : base(device, bound.real, bound.real, [], [], null)
    {
        this.bound = bound;
        fake = Upload(bound.fake);
        fakeGrad = Allocate<float>(bound.fake.Length);
        device.Accelerator.Synchronize();
    }

    public override void Run(LossMode mode)
    {
        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, fake, Stream).Loss;
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, fake, Gradient, fakeGrad, bound.upstream, Stream).Loss;
        else
            bound.loss.Backward(Input, fake, bound.upstream, Gradient, fakeGrad, Stream);

        Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        fakeGrad.CopyToCPU(bound.FakeGradient);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        Fill(fakeGrad, value);
        Device.Accelerator.Synchronize();
    }
}
