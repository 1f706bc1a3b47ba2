using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// <see cref="GhmcLoss"/> bound for the catalog: <c>input</c> logits, <c>target</c>, optional <c>weight</c> (mmdetection's
/// label weights). The moving-average state starts at zero before every run, so that each run is a first call.
/// </summary>
internal sealed class GhmcBoundLoss : BoundLoss
{
    internal readonly GhmcLoss loss;
    internal readonly Reduction reduction;
    internal readonly float[] input;
    internal readonly float[] target;
    internal readonly float[] weight;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamElements;
    internal readonly float[] state;

    public GhmcBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base(parameters.Reduction() == Reduction.None ? inputs["input"].Shape : [], inputs["input"].Length)
    {
        loss = new GhmcLoss(parameters.Int32("bins", 10), parameters.Float("momentum", 0f));
        reduction = parameters.Reduction();
        input = inputs["input"].RequireFloats("input");
        target = inputs["target"].RequireFloats("target");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamElements) = CatalogUpstream.Split(upstream, reduction, input.Length);
        state = new float[loss.Bins];
        Place(device, device?.Ghmc(this));
    }

    public override void Run(LossMode mode)
    {
        Array.Clear(state);
        if (DeviceRun is not null)
            DeviceRun.Run(mode);
        else if (reduction == Reduction.None)
            loss.ForwardBackward(input, target, Loss, InputGradient, upstreamElements, weight, state);
        else if (mode != LossMode.Forward)
            Loss[0] = loss.ForwardBackward(input, target, InputGradient, reduction, weight, state, upstreamScalar);
        else
            Loss[0] = loss.Forward(input, target, reduction, weight, state);
    }

    /// <summary>Two passes over logits and targets (histogram, then loss), the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = input.Length;
        long read = (4 + (weight.Length > 0 ? 2 : 0)) * 4 * n;
        return read + (mode == LossMode.Forward ? 0 : 4 * n) + (reduction == Reduction.None ? 4 * n : 0);
    }
}

/// <summary>A <see cref="GhmcBoundLoss"/> on an OpenCL device (the moving-average state stays on the host).</summary>
internal sealed class OpenCLGhmcRun(GhmcBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.input, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.input.Length : null)
{
    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Target, Output!, gradient ? Gradient : null, Upstream, Weight, bound.state);
        else
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, gradient ? Gradient : null, bound.reduction, Weight, bound.state, bound.upstreamScalar);
        Device.Finish();
    }
}
