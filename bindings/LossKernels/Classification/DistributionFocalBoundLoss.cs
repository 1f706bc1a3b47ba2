using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary><see cref="DistributionFocalLoss"/> bound for the catalog: <c>input</c> [N, C] logits, <c>target</c> [N] labels, optional <c>weight</c> [N]; on the CPU or a device.</summary>
internal sealed class DistributionFocalBoundLoss : BoundLoss
{
    internal readonly DistributionFocalLoss loss = new();
    internal readonly Reduction reduction;
    internal readonly float? avgFactor;
    internal readonly float[] logits;
    internal readonly float[] label;
    internal readonly float[] weight;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamRows;

    public DistributionFocalBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base(parameters.Reduction() == Reduction.None ? [inputs["input"].Shape[0]] : [], inputs["input"].Length)
    {
        reduction = parameters.Reduction();
        avgFactor = parameters.OptionalFloat("avg_factor");
        LossTensor input = inputs["input"];
        if (input.Shape.Length != 2)
            throw new ArgumentException($"distribution_focal_loss takes input [N, C], got [{string.Join(", ", input.Shape)}].", "input");
        logits = input.RequireFloats("input");
        label = inputs["target"].RequireFloats("target");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamRows) = CatalogUpstream.Split(upstream, reduction, label.Length);
        Place(device, device?.DistributionFocal(this));
    }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        switch (mode, reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(logits, label, Loss, weight);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(logits, label, reduction, weight, avgFactor);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(logits, label, Loss, InputGradient, upstreamRows, weight);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(logits, label, InputGradient, reduction, weight, avgFactor, upstreamScalar);
                break;
            default:
                loss.Backward(logits, label, upstreamScalar, InputGradient, reduction, weight, avgFactor);
                break;
        }
    }

    /// <summary>Logits read once, labels (and weights) per row, the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = logits.Length, rows = label.Length;
        long read = 4 * n + 4 * rows * (weight.Length > 0 ? 2 : 1);
        long rowOutput = reduction == Reduction.None ? 4 * rows : 0;
        return mode == LossMode.Forward ? read + rowOutput : read + 4 * n + rowOutput;
    }
}

/// <summary>A <see cref="DistributionFocalBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLDistributionFocalRun(DistributionFocalBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.logits, bound.label, bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.label.Length : null)
{
    public override void Run(LossMode mode)
    {
        DistributionFocalLoss loss = bound.loss;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.ForwardBackward(Input, Target, Output!, null, null, Weight);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Target, bound.reduction, Weight, bound.avgFactor);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(Input, Target, Output!, Gradient, Upstream, Weight);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Target, Gradient, bound.reduction, Weight, bound.avgFactor, bound.upstreamScalar);
                break;
            default:
                loss.Backward(Input, Target, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.avgFactor);
                break;
        }

        Device.Finish();
    }
}
