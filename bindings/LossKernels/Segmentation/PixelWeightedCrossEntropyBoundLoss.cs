using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Segmentation;

/// <summary>
/// <see cref="PixelWeightedCrossEntropyLoss"/> bound for the catalog: <c>input</c> [N, C, d…] logits, <c>target</c> [N, d…] int64,
/// <c>pixel_weight</c> [N, d…], optional <c>weight</c> [C]; <c>ignore_index</c>, <c>reduction</c>, <c>avg_factor</c>.
/// </summary>
internal sealed class PixelWeightedCrossEntropyBoundLoss : BoundLoss
{
    internal readonly PixelWeightedCrossEntropyLoss loss;
    internal readonly Reduction reduction;
    internal readonly float? avgFactor;
    internal readonly float[] logits;
    internal readonly long[] target;
    internal readonly float[] pixelWeight;
    internal readonly float[] weight;
    internal readonly int spatial;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamRows;

    public PixelWeightedCrossEntropyBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base(parameters.Reduction() == Reduction.None ? PositionShape(inputs["input"].Shape) : [], inputs["input"].Length)
    {
        loss = new PixelWeightedCrossEntropyLoss(parameters.Integer("ignore_index", Classification.ClassTargets.DefaultIgnoreIndex));
        reduction = parameters.Reduction();
        avgFactor = parameters.OptionalFloat("avg_factor");
        LossTensor input = inputs["input"];
        if (input.Shape.Length < 2)
            throw new ArgumentException($"pixel_weighted_cross_entropy takes input [N, C, d1, …], got [{string.Join(", ", input.Shape)}].", "input");
        logits = input.RequireFloats("input");
        spatial = input.Shape[2..].Aggregate(1, (a, b) => a * b);
        int[] positions = PositionShape(input.Shape);
        foreach (string name in (string[])["target", "pixel_weight"])
        {
            if (!inputs[name].Shape.SequenceEqual(positions))
                throw new ArgumentException($"{name} [{string.Join(", ", inputs[name].Shape)}] must be [{string.Join(", ", positions)}].", name);
        }

        target = inputs["target"].RequireIntegers("target");
        pixelWeight = inputs["pixel_weight"].RequireFloats("pixel_weight");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamRows) = CatalogUpstream.Split(upstream, reduction, target.Length);
        PixelWeightedCrossEntropyLoss.Divisor(reduction, avgFactor);
        Place(device, device?.PixelWeightedCrossEntropy(this));
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
                loss.Forward(logits, target, pixelWeight, Loss, weight, spatial);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(logits, target, pixelWeight, reduction, weight, spatial, avgFactor);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(logits, target, pixelWeight, Loss, InputGradient, upstreamRows, weight, spatial);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(logits, target, pixelWeight, InputGradient, reduction, weight, upstreamScalar, spatial, avgFactor);
                break;
            default:
                loss.Backward(logits, target, pixelWeight, upstreamScalar, InputGradient, reduction, weight, spatial, avgFactor);
                break;
        }
    }

    /// <summary>One pass: the logits, the target and the weight read, the gradient written.</summary>
    public override long BytesMoved(LossMode mode) =>
        logits.Length * 4L + target.Length * 12L + (mode == LossMode.Forward ? 0 : logits.Length * 4L) + (reduction == Reduction.None ? target.Length * 4L : 0);

    private static int[] PositionShape(int[] inputShape) => inputShape.Length < 2 ? [] : [inputShape[0], .. inputShape[2..]];
}

/// <summary>A <see cref="PixelWeightedCrossEntropyBoundLoss"/> on an OpenCL device: the pixel weights travel in the run's second float input (<c>Target</c>), the class indices in <c>Classes</c>.</summary>
internal sealed class OpenCLPixelWeightedCrossEntropyRun(PixelWeightedCrossEntropyBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.logits, bound.pixelWeight, bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.target.Length : null,
        classes: bound.target)
{
    public override void Run(LossMode mode)
    {
        DeviceBuffer<float>? gradient = mode != LossMode.Forward ? Gradient : null;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Classes!, Target, Output!, gradient, Upstream, Weight, bound.spatial);
        else if (mode == LossMode.Backward)
            bound.loss.ForwardBackward(Input, Classes!, Target, gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial, bound.avgFactor);
        else
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Classes!, Target, gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial, bound.avgFactor);
        Device.Finish();
    }
}
