using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// <see cref="GhmcLoss"/> bound for the catalog: <c>input</c> logits, <c>target</c>, optional <c>weight</c> (mmdetection's
/// label weights). The moving-average state starts at zero before every run, so that each run is a first call.
/// </summary>
internal sealed class GhmcBoundLoss : BoundLoss
{
    private readonly GhmcLoss loss;
    private readonly Reduction reduction;
    private readonly float[] input;
    private readonly float[] target;
    private readonly float[] weight;
    private readonly float upstreamScalar;
    private readonly float[] upstreamElements;
    private readonly float[] state;

    public GhmcBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, OpenCLDevice? device)
        : base(parameters.Reduction() == Reduction.None ? inputs["input"].Shape : [], inputs["input"].Length)
    {
        loss = new GhmcLoss((int)parameters.Integer("bins", 10), parameters.Float("momentum", 0f));
        reduction = parameters.Reduction();
        input = inputs["input"].RequireFloats("input");
        target = inputs["target"].RequireFloats("target");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamElements) = CatalogUpstream.Split(upstream, reduction, input.Length);
        state = new float[loss.Bins];
        if (device is not null)
            Device = new DeviceTensors(device, input, target, weight, upstreamElements, reduction == Reduction.None ? input.Length : null);
    }

    public override void Run(LossMode mode)
    {
        Array.Clear(state);
        DeviceTensors? d = Device;
        bool gradient = mode != LossMode.Forward;
        if (d is null)
        {
            if (reduction == Reduction.None)
                loss.ForwardBackward(input, target, Loss, InputGradient, upstreamElements, weight, state);
            else if (gradient)
                Loss[0] = loss.ForwardBackward(input, target, InputGradient, weight, state, reduction, upstreamScalar);
            else
                Loss[0] = loss.Forward(input, target, weight, state, reduction);
            return;
        }

        if (reduction == Reduction.None)
            loss.ForwardBackward(d.Input, d.Target, d.Output!, gradient ? d.Gradient : null, d.Upstream, d.Weight, state);
        else
            Loss[0] = loss.ForwardBackward(d.Input, d.Target, gradient ? d.Gradient : null, d.Weight, state, reduction, upstreamScalar);
        d.Device.Finish();
    }

    /// <summary>Two passes over logits and targets (histogram, then loss), the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = input.Length;
        long read = (4 + (weight.Length > 0 ? 2 : 0)) * 4 * n;
        return read + (mode == LossMode.Forward ? 0 : 4 * n) + (reduction == Reduction.None ? 4 * n : 0);
    }
}
