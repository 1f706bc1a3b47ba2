using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary><see cref="MultiMarginLoss"/> bound for the catalog: <c>input</c> [N, C], <c>target</c> [N] int64, optional <c>weight</c> [C]; on the CPU or a device.</summary>
internal sealed class MultiMarginBoundLoss : BoundLoss
{
    internal readonly MultiMarginLoss loss;
    internal readonly Reduction reduction;
    internal readonly float[] scores;
    internal readonly long[] target;
    internal readonly float[] weight;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamRows;

    public MultiMarginBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base(parameters.Reduction() == Reduction.None ? [inputs["input"].Shape[0]] : [], inputs["input"].Length)
    {
        loss = new MultiMarginLoss(parameters.Int32("p", 1), parameters.Float("margin", 1f));
        reduction = parameters.Reduction();
        LossTensor input = inputs["input"];
        if (input.Shape.Length != 2)
            throw new ArgumentException($"multi_margin_loss takes input [N, C], got [{string.Join(", ", input.Shape)}].", "input");
        scores = input.RequireFloats("input");
        target = inputs["target"].RequireIntegers("target");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamRows) = CatalogUpstream.Split(upstream, reduction, target.Length);
        Place(device, device?.MultiMargin(this));
    }

    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        if (DeviceRun is not null)
            DeviceRun.Run(mode);
        else if (reduction == Reduction.None)
            loss.ForwardBackward(scores, target, Loss, gradient ? InputGradient : default, upstreamRows, weight);
        else if (gradient)
            Loss[0] = loss.ForwardBackward(scores, target, InputGradient, reduction, weight, upstreamScalar);
        else
            Loss[0] = loss.Forward(scores, target, reduction, weight);
    }

    /// <summary>Scores read once, targets per row, the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = scores.Length, rows = target.Length;
        return 4 * n + 8 * rows + (mode == LossMode.Forward ? 0 : 4 * n) + (reduction == Reduction.None ? 4 * rows : 0);
    }
}

/// <summary>A <see cref="MultiMarginBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLMultiMarginRun(MultiMarginBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.scores, [], bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.target.Length : null, classes: bound.target)
{
    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Classes!, Output!, gradient ? Gradient : null, Upstream, Weight);
        else
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Classes!, gradient ? Gradient : null, bound.reduction, Weight, bound.upstreamScalar);
        Device.Finish();
    }
}
