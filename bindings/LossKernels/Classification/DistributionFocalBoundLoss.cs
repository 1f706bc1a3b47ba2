using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary><see cref="DistributionFocalLoss"/> bound for the catalog: <c>input</c> [N, C] logits, <c>target</c> [N] labels, optional <c>weight</c> [N]; on the CPU or a device.</summary>
internal sealed class DistributionFocalBoundLoss : BoundLoss
{
    private readonly DistributionFocalLoss loss = new();
    private readonly Reduction reduction;
    private readonly float? avgFactor;
    private readonly float[] logits;
    private readonly float[] label;
    private readonly float[] weight;
    private readonly float upstreamScalar;
    private readonly float[] upstreamRows;

    public DistributionFocalBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, OpenCLDevice? device)
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
        if (device is not null)
            Device = new DeviceTensors(device, logits, label, weight, upstreamRows, reduction == Reduction.None ? label.Length : null);
    }

    public override void Run(LossMode mode)
    {
        DeviceTensors? d = Device;
        if (d is null)
        {
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

            return;
        }

        switch (mode, reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.ForwardBackward(d.Input, d.Target, d.Output!, null, null, d.Weight);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(d.Input, d.Target, reduction, d.Weight, avgFactor);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(d.Input, d.Target, d.Output!, d.Gradient, d.Upstream, d.Weight);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(d.Input, d.Target, d.Gradient, reduction, d.Weight, avgFactor, upstreamScalar);
                break;
            default:
                loss.Backward(d.Input, d.Target, upstreamScalar, d.Gradient, reduction, d.Weight, avgFactor);
                break;
        }

        d.Device.Finish();
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
