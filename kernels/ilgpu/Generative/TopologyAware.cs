using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.Generative;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="TopologyAwareLoss"/> on an engine's ILGPU memory: the logits' <see cref="BinaryCrossEntropyWithLogitsLoss"/> pass and a
/// <see cref="FeatureReconstructionLoss"/> pass per layer (<see cref="IlgpuElementwiseLoss"/>), on one stream.
/// </summary>
public static class IlgpuTopologyAwareLoss
{
    /// <summary>Fused forward+backward: the span overload's L, parts and gradients.</summary>
    /// <param name="loss">The loss, μ and its feature norm.</param>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="logitsGrad">Receives n floats; may be the logits' view.</param>
    /// <param name="layers">The feature layers, each with its gradient.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its parts.</returns>
    public static TopologyAwareResult ForwardBackward(this TopologyAwareLoss loss, ArrayView<float> logits, ArrayView<float> mask, ArrayView<float> logitsGrad,
        ReadOnlySpan<FeatureViewLayer> layers, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        if (!ViewChecks.IsPresent(logitsGrad))
            ThrowHelper.Argument(nameof(logitsGrad), "logitsGrad is required (got default(ArrayView)).");
        return Run(loss, logits, mask, logitsGrad, layers, reduction, upstream, stream);
    }

    /// <summary>Forward only.</summary>
    /// <param name="loss">The loss, μ and its feature norm.</param>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="layers">The feature layers.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its parts.</returns>
    public static TopologyAwareResult Forward(this TopologyAwareLoss loss, ArrayView<float> logits, ArrayView<float> mask, ReadOnlySpan<FeatureViewLayer> layers,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        Run(loss, logits, mask, default, layers, reduction, 1f, stream);

    /// <summary>Backward only.</summary>
    /// <param name="loss">The loss, μ and its feature norm.</param>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives n floats.</param>
    /// <param name="layers">The feature layers, each with its gradient.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this TopologyAwareLoss loss, ArrayView<float> logits, ArrayView<float> mask, float upstream, ArrayView<float> logitsGrad,
        ReadOnlySpan<FeatureViewLayer> layers, Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        ForwardBackward(loss, logits, mask, logitsGrad, layers, reduction, upstream, stream);

    private static TopologyAwareResult Run(TopologyAwareLoss loss, ArrayView<float> logits, ArrayView<float> mask, ArrayView<float> logitsGrad,
        ReadOnlySpan<FeatureViewLayer> layers, Reduction reduction, float upstream, AcceleratorStream? stream)
    {
        ViewChecks.AcceleratorOf(logits, nameof(logits));
        bool backward = ViewChecks.IsPresent(logitsGrad);
        var parts = new IlgpuFeatureReconstructionLoss.ViewLayers(default, layers, !loss.FeatureMean, stream);
        var ops = default(ViewBufferOps);
        TopologyAwareChecks.Check<IlgpuFeatureReconstructionLoss.ViewLayers, ArrayView<float>, ViewBufferOps>(ref parts, ref ops, logits, mask, logitsGrad, reduction,
            backward);
        var bce = new BinaryCrossEntropyWithLogitsLoss();
        float crossEntropy = backward
            ? bce.ForwardBackward(logits, mask, logitsGrad.SubView(0, logits.Length), reduction, upstream: upstream, stream: stream)
            : bce.Forward(logits, mask, reduction, stream: stream);
        float topology = FeatureLayersDriver.Run<IlgpuFeatureReconstructionLoss.ViewLayers, ArrayView<float>>(ref parts, reduction, upstream * loss.Mu, backward, default);
        return loss.Result(crossEntropy, topology);
    }
}

/// <summary>A <see cref="TopologyAwareBoundLoss"/> on an ILGPU accelerator: the logits and the mask as the run's input and target, the features beside them.</summary>
internal sealed class IlgpuTopologyAwareRun : IlgpuRun
{
    private readonly TopologyAwareBoundLoss bound;
    private readonly ArrayView<float> featuresGrad;
    private readonly FeatureViewLayer[] layers;

    public IlgpuTopologyAwareRun(TopologyAwareBoundLoss bound, IlgpuDevice device)
        : base(device, bound.logits, bound.mask, [], [], null)
    {
        this.bound = bound;
        featuresGrad = Allocate<float>(bound.features.Length);
        layers = [new FeatureViewLayer(Upload(bound.features), Upload(bound.targetFeatures), featuresGrad, bound.images)];
        device.Accelerator.Synchronize();
    }

    public override void Run(LossMode mode)
    {
        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(Input, Target, layers, bound.reduction, Stream).Loss;
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, Gradient, layers, bound.reduction, bound.upstream, Stream).Loss;
        else
            bound.loss.Backward(Input, Target, bound.upstream, Gradient, layers, bound.reduction, Stream);
        Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        featuresGrad.CopyToCPU(bound.FeaturesGradient);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        Fill(featuresGrad, value);
        Device.Accelerator.Synchronize();
    }
}
