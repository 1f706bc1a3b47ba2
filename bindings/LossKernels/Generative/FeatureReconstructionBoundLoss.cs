using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>
/// <see cref="FeatureReconstructionLoss"/> bound for the catalog: <c>input</c> and <c>target</c> features of one shape [N, …]; a scalar loss
/// (mean or sum over the N images), and the fused and backward runs write <c>grad.input</c>.
/// </summary>
internal sealed class FeatureReconstructionBoundLoss : BoundLoss
{
    internal readonly FeatureReconstructionLoss loss;
    internal readonly float[] input, target;
    internal readonly int images;
    internal readonly Reduction reduction;
    internal readonly float upstream;

    public FeatureReconstructionBoundLoss(FeatureReconstructionLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs,
        LossTensor? upstream, LossDevice? device)
        : base([], inputs["input"].Length)
    {
        this.loss = loss;
        LossTensor x = inputs["input"], t = inputs["target"];
        if (x.Shape.Length == 0 || !x.Shape.SequenceEqual(t.Shape))
            throw new ArgumentException($"input and target must be features of one shape [N, …]; got [{string.Join(", ", x.Shape)}] and [{string.Join(", ", t.Shape)}].", "target");
        input = x.RequireFloats("input");
        target = t.RequireFloats("target");
        images = x.Shape[0];
        reduction = parameters.Reduction();
        (this.upstream, _) = CatalogUpstream.Split(upstream, reduction, 1);
        Place(device, device?.FeatureReconstruction(this));
    }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        if (mode == LossMode.Forward)
            Loss[0] = loss.Forward(input, target, images, reduction);
        else if (mode == LossMode.Fused)
            Loss[0] = loss.ForwardBackward(input, target, images, InputGradient, reduction, upstream);
        else
            loss.Backward(input, target, images, upstream, InputGradient, reduction);
    }

    /// <summary>Both features read once, the gradient written once.</summary>
    public override long BytesMoved(LossMode mode) => 4L * input.Length * (mode == LossMode.Forward ? 2 : 3);
}

/// <summary>A <see cref="FeatureReconstructionBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLFeatureReconstructionRun(FeatureReconstructionBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.input, bound.target, [], [], null)
{
    public override void Run(LossMode mode)
    {
        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, Target, bound.images, bound.reduction);
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, bound.images, Gradient, bound.reduction, bound.upstream);
        else
            bound.loss.Backward(Input, Target, bound.images, bound.upstream, Gradient, bound.reduction);
        Device.Finish();
    }
}
