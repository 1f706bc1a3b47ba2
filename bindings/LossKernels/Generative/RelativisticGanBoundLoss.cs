using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>
/// <see cref="RelativisticGanLoss"/> bound for the catalog: <c>real_logits</c> and <c>fake_logits</c> (any shapes); a scalar loss, and the fused
/// and backward runs write <c>grad.real_logits</c> and <c>grad.fake_logits</c>.
/// </summary>
internal sealed class RelativisticGanBoundLoss : BoundLoss
{
    internal readonly RelativisticGanLoss loss;
    internal readonly float[] real, fake;
    internal readonly float upstream;

    public RelativisticGanBoundLoss(RelativisticGanLoss loss, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base([], [("real_logits", inputs["real_logits"].Length), ("fake_logits", inputs["fake_logits"].Length)])
    {
        this.loss = loss;
        real = inputs["real_logits"].RequireFloats("real_logits");
        fake = inputs["fake_logits"].RequireFloats("fake_logits");
        (this.upstream, _) = CatalogUpstream.Split(upstream, Reduction.Mean, 1);
        Place(device, device?.RelativisticGan(this));
    }

    internal float[] FakeGradient => Gradients["fake_logits"];

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        if (mode == LossMode.Forward)
            Loss[0] = loss.Forward(real, fake).Loss;
        else if (mode == LossMode.Fused)
            Loss[0] = loss.ForwardBackward(real, fake, InputGradient, FakeGradient, upstream).Loss;
        else
            loss.Backward(real, fake, upstream, InputGradient, FakeGradient);
    }

    /// <summary>
    /// The logits read for the means and for the halves, the gradients written; without detached means, the gradients read for their sums
    /// and read and written again for the means' share.
    /// </summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = real.Length + (long)fake.Length;
        return 4L * (mode == LossMode.Forward ? 2 * n : loss.DetachMeans ? 3 * n : 6 * n);
    }
}

/// <summary>A <see cref="RelativisticGanBoundLoss"/> on an OpenCL device: the real logits as the run's input, the fake ones beside them.</summary>
internal sealed class OpenCLRelativisticGanRun : OpenCLRun
{
    private readonly RelativisticGanBoundLoss bound;
    private readonly DeviceBuffer<float> fake, fakeGrad;

    public OpenCLRelativisticGanRun(RelativisticGanBoundLoss bound, OpenCLDevice device)
        : base(device, bound.real, bound.real, [], [], null)
    {
        this.bound = bound;
        fake = Upload(bound.fake);
        fakeGrad = device.Allocate<float>(bound.fake.Length);
    }

    public override void Run(LossMode mode)
    {
        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, fake).Loss;
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, fake, Gradient, fakeGrad, bound.upstream).Loss;
        else
            bound.loss.Backward(Input, fake, bound.upstream, Gradient, fakeGrad);

        Device.Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        fakeGrad.Download(bound.FakeGradient);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        Fill(fakeGrad, value);
    }

    public override void Dispose()
    {
        base.Dispose();
        fake.Dispose();
        fakeGrad.Dispose();
    }
}
