using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>
/// <see cref="TopologyAwareLoss"/> bound for the catalog with one feature layer: the mask logits <c>input</c> and the mask <c>target</c> (one
/// shape), the features of σ(input) <c>input_features</c> and of the mask <c>target_features</c> (one shape [N, …]); a scalar loss, and the
/// fused and backward runs write <c>grad.input</c> (the cross entropy's part) and <c>grad.input_features</c>.
/// </summary>
internal sealed class TopologyAwareBoundLoss : BoundLoss
{
    internal readonly TopologyAwareLoss loss;
    internal readonly float[] logits, mask, features, targetFeatures;
    internal readonly int images;
    internal readonly Reduction reduction;
    internal readonly float upstream;
    private readonly FeatureLayer[] layers;

    public TopologyAwareBoundLoss(TopologyAwareLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream,
        LossDevice? device)
        : base([], [("input", inputs["input"].Length), ("input_features", inputs["input_features"].Length)])
    {
        this.loss = loss;
        LossTensor x = inputs["input"], m = inputs["target"], f = inputs["input_features"], t = inputs["target_features"];
        if (!x.Shape.SequenceEqual(m.Shape))
            throw new ArgumentException($"target must have the logits' shape [{string.Join(", ", x.Shape)}]; got [{string.Join(", ", m.Shape)}].", "target");
        if (f.Shape.Length == 0 || !f.Shape.SequenceEqual(t.Shape))
            throw new ArgumentException($"input_features and target_features must be features of one shape [N, …]; got [{string.Join(", ", f.Shape)}] and [{string.Join(", ", t.Shape)}].",
                "target_features");
        logits = x.RequireFloats("input");
        mask = m.RequireFloats("target");
        features = f.RequireFloats("input_features");
        targetFeatures = t.RequireFloats("target_features");
        images = f.Shape[0];
        reduction = parameters.Reduction();
        (this.upstream, _) = CatalogUpstream.Split(upstream, reduction, 1);
        layers = [new FeatureLayer(features, targetFeatures, FeaturesGradient, images)];
        // Every argument checked as a call checks them: the forward is two elementwise passes.
        loss.Forward(logits, mask, layers, reduction);
        Place(device, device?.TopologyAware(this));
    }

    internal float[] FeaturesGradient => Gradients["input_features"];

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        if (mode == LossMode.Forward)
            Loss[0] = loss.Forward(logits, mask, layers, reduction).Loss;
        else if (mode == LossMode.Fused)
            Loss[0] = loss.ForwardBackward(logits, mask, InputGradient, layers, reduction, upstream).Loss;
        else
            loss.Backward(logits, mask, upstream, InputGradient, layers, reduction);
    }

    /// <summary>The logits, the mask and both features read once; the two gradients written once.</summary>
    public override long BytesMoved(LossMode mode) =>
        4L * (2L * logits.Length + 2L * features.Length + (mode == LossMode.Forward ? 0 : logits.Length + features.Length));
}

/// <summary>A <see cref="TopologyAwareBoundLoss"/> on an OpenCL device: the logits and the mask as the run's input and target, the features beside them.</summary>
internal sealed class OpenCLTopologyAwareRun : OpenCLRun
{
    private readonly TopologyAwareBoundLoss bound;
    private readonly DeviceBuffer<float> features, targetFeatures, featuresGrad;
    private readonly FeatureDeviceLayer[] layers;

    public OpenCLTopologyAwareRun(TopologyAwareBoundLoss bound, OpenCLDevice device)
        : base(device, bound.logits, bound.mask, [], [], null)
    {
        this.bound = bound;
        features = Upload(bound.features);
        targetFeatures = Upload(bound.targetFeatures);
        featuresGrad = device.Allocate<float>(bound.features.Length);
        layers = [new FeatureDeviceLayer(features, targetFeatures, featuresGrad, bound.images)];
    }

    public override void Run(LossMode mode)
    {
        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, Target, layers, bound.reduction).Loss;
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, Gradient, layers, bound.reduction, bound.upstream).Loss;
        else
            bound.loss.Backward(Input, Target, bound.upstream, Gradient, layers, bound.reduction);
        Device.Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        featuresGrad.Download(bound.FeaturesGradient);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        Fill(featuresGrad, value);
    }

    public override void Dispose()
    {
        base.Dispose();
        features.Dispose();
        targetFeatures.Dispose();
        featuresGrad.Dispose();
    }
}
