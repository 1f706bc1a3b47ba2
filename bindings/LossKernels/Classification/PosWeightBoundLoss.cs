using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// <c>binary_cross_entropy_with_logits</c> bound for the catalog with a <c>pos_weight</c> tensor of C values broadcast over the
/// last axis of <c>input</c> (PyTorch's form); on the CPU or a device. A one-value <c>pos_weight</c> binds the elementwise loss. With
/// <c>target_grad</c>, fused and backward runs also write <c>grad.target</c> (a pass of its own after the input's).
/// </summary>
internal sealed class PosWeightBoundLoss : BoundLoss
{
    internal readonly PosWeightedBinaryCrossEntropyLoss loss = new();
    internal readonly Reduction reduction;
    internal readonly float[] input;
    internal readonly float[] target;
    internal readonly float[] posWeight;
    internal readonly float[] weight;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamElements;

    public PosWeightBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base(parameters.Reduction() == Reduction.None ? inputs["input"].Shape : [], inputs["input"].Length,
            secondInputName: parameters.Bool("target_grad", false) ? "target" : null)
    {
        reduction = parameters.Reduction();
        if (parameters.OptionalFloat("avg_factor") is not null)
            throw new ArgumentException("avg_factor is not supported with a per-class pos_weight.", "avg_factor");
        if (parameters.OptionalFloat("pos_weight") is not null)
            throw new ArgumentException("Give pos_weight as a tensor input or as a parameter, not both.", "pos_weight");
        input = inputs["input"].RequireFloats("input");
        target = inputs["target"].RequireFloats("target");
        posWeight = inputs["pos_weight"].RequireFloats("pos_weight");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamElements) = CatalogUpstream.Split(upstream, reduction, input.Length);
        Place(device, device?.PosWeight(this));
    }

    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        if (DeviceRun is not null)
            DeviceRun.Run(mode);
        else if (reduction == Reduction.None)
            loss.ForwardBackward(input, target, posWeight, Loss, gradient ? InputGradient : default, upstreamElements, weight);
        else if (gradient)
            Loss[0] = loss.ForwardBackward(input, target, posWeight, InputGradient, reduction, weight, upstreamScalar);
        else
            Loss[0] = loss.Forward(input, target, posWeight, reduction, weight);
        if (DeviceRun is not null || !gradient || SecondGradient is null)
            return;
        if (reduction == Reduction.None)
            loss.TargetBackward(input, target, posWeight, upstreamElements, SecondGradient, weight);
        else
            loss.TargetBackward(input, target, posWeight, upstreamScalar, SecondGradient, reduction, weight);
    }

    /// <summary>Whether runs write the target's gradient.</summary>
    internal bool WritesTarget => SecondGradient is not null;

    /// <summary>Input and target read once (weights when given), the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = input.Length;
        long read = (2 + (weight.Length > 0 ? 1 : 0)) * 4 * n;
        long written = mode == LossMode.Forward ? 0 : (WritesTarget ? 8 : 4) * n;
        return read + written + (reduction == Reduction.None ? 4 * n : 0);
    }
}

/// <summary>A <see cref="PosWeightBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLPosWeightRun(PosWeightBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.input, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.input.Length : null,
        bound.WritesTarget, extra: bound.posWeight)
{
    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Target, Extra!, Output!, gradient ? Gradient : null, Upstream, Weight);
        else
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, Extra!, gradient ? Gradient : null, bound.reduction, Weight, bound.upstreamScalar);
        if (gradient && TargetGradient is not null)
        {
            if (bound.reduction == Reduction.None)
                bound.loss.TargetBackward(Input, Target, Extra!, Upstream!, TargetGradient, Weight);
            else
                bound.loss.TargetBackward(Input, Target, Extra!, bound.upstreamScalar, TargetGradient, bound.reduction, Weight);
        }

        Device.Finish();
    }
}
