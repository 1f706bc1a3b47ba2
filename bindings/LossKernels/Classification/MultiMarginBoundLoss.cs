using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary><see cref="MultiMarginLoss"/> bound for the catalog: <c>input</c> [N, C], <c>target</c> [N] int64, optional <c>weight</c> [C]; on the CPU or a device.</summary>
internal sealed class MultiMarginBoundLoss : BoundLoss
{
    private readonly MultiMarginLoss loss;
    private readonly Reduction reduction;
    private readonly float[] scores;
    private readonly long[] target;
    private readonly float[] weight;
    private readonly float upstreamScalar;
    private readonly float[] upstreamRows;
    private readonly DeviceBuffer<long>? deviceTarget;

    public MultiMarginBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, OpenCLDevice? device)
        : base(parameters.Reduction() == Reduction.None ? [inputs["input"].Shape[0]] : [], inputs["input"].Length)
    {
        loss = new MultiMarginLoss((int)parameters.Integer("p", 1), parameters.Float("margin", 1f));
        reduction = parameters.Reduction();
        LossTensor input = inputs["input"];
        if (input.Shape.Length != 2)
            throw new ArgumentException($"multi_margin_loss takes input [N, C], got [{string.Join(", ", input.Shape)}].", "input");
        scores = input.RequireFloats("input");
        target = inputs["target"].RequireIntegers("target");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamRows) = CatalogUpstream.Split(upstream, reduction, target.Length);
        if (device is null)
            return;
        Device = new DeviceTensors(device, scores, [], weight, upstreamRows, reduction == Reduction.None ? target.Length : null);
        deviceTarget = device.Allocate<long>(target.Length);
        deviceTarget.Upload(target);
    }

    public override void Run(LossMode mode)
    {
        DeviceTensors? d = Device;
        bool gradient = mode != LossMode.Forward;
        if (d is null)
        {
            if (reduction == Reduction.None)
                loss.ForwardBackward(scores, target, Loss, gradient ? InputGradient : default, upstreamRows, weight);
            else if (gradient)
                Loss[0] = loss.ForwardBackward(scores, target, InputGradient, reduction, weight, upstreamScalar);
            else
                Loss[0] = loss.Forward(scores, target, reduction, weight);
            return;
        }

        if (reduction == Reduction.None)
            loss.ForwardBackward(d.Input, deviceTarget!, d.Output!, gradient ? d.Gradient : null, d.Upstream, d.Weight);
        else
            Loss[0] = loss.ForwardBackward(d.Input, deviceTarget!, gradient ? d.Gradient : null, reduction, d.Weight, upstreamScalar);
        d.Device.Finish();
    }

    /// <summary>Scores read once, targets per row, the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = scores.Length, rows = target.Length;
        return 4 * n + 8 * rows + (mode == LossMode.Forward ? 0 : 4 * n) + (reduction == Reduction.None ? 4 * rows : 0);
    }

    public override void Dispose()
    {
        deviceTarget?.Dispose();
        base.Dispose();
    }
}
