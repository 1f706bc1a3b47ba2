using ILGPU;
using LossKernels.Catalog;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>A <see cref="CrossEntropyBoundLoss"/> on an ILGPU accelerator (cross entropy, nll_loss, softmax focal): logits, indices or probabilities uploaded once.</summary>
internal sealed class IlgpuCrossEntropyRun(CrossEntropyBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.logits, bound.softTarget ?? [], bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.rows : null,
        bound.WritesTarget, classes: bound.softTarget is null ? bound.target : null)
{
    /// <summary>An unreduced backward is the fused call (it writes the row losses into the output it has).</summary>
    public override void Run(LossMode mode)
    {
        if (bound.focal is SoftmaxFocalLoss focal)
            RunFocal(focal, mode);
        else if (bound.negativeLogLikelihood is NllLoss nll)
            RunNll(nll, mode);
        else if (bound.softTarget is not null)
            RunSoft(mode);
        else
            RunHard(mode);
        Finish();
    }

    private void RunFocal(SoftmaxFocalLoss focal, LossMode mode)
    {
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                focal.ForwardBackward(Input, Classes, Output, default, default, Weight, Stream);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = focal.Forward(Input, Classes, bound.reduction, Weight, Stream);
                break;
            case (_, Reduction.None):
                focal.ForwardBackward(Input, Classes, Output, Gradient, Upstream, Weight, Stream);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = focal.ForwardBackward(Input, Classes, Gradient, bound.reduction, Weight, bound.upstreamScalar, Stream);
                break;
            default:
                focal.Backward(Input, Classes, bound.upstreamScalar, Gradient, bound.reduction, Weight, Stream);
                break;
        }
    }

    private void RunNll(NllLoss nll, LossMode mode)
    {
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                nll.ForwardBackward(Input, Classes, Output, default, default, Weight, Stream);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = nll.Forward(Input, Classes, bound.reduction, Weight, Stream);
                break;
            case (_, Reduction.None):
                nll.ForwardBackward(Input, Classes, Output, Gradient, Upstream, Weight, Stream);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = nll.ForwardBackward(Input, Classes, Gradient, bound.reduction, Weight, bound.upstreamScalar, Stream);
                break;
            default:
                nll.Backward(Input, Classes, bound.upstreamScalar, Gradient, bound.reduction, Weight, Stream);
                break;
        }
    }

    private void RunSoft(LossMode mode)
    {
        CrossEntropyLoss loss = bound.loss;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.ForwardBackward(Input, Target, bound.classes, Output, default, default, Weight, bound.spatial, Stream);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Target, bound.classes, bound.reduction, Weight, bound.spatial, Stream);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(Input, Target, bound.classes, Output, Gradient, Upstream, Weight, bound.spatial, Stream);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Target, bound.classes, Gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial, Stream);
                break;
            default:
                loss.Backward(Input, Target, bound.classes, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.spatial, Stream);
                break;
        }

        if (mode == LossMode.Forward || !bound.WritesTarget)
            return;
        if (bound.reduction == Reduction.None)
            loss.TargetBackward(Input, Target, bound.classes, Upstream, TargetGradient, Weight, bound.spatial, Stream);
        else
            loss.TargetBackward(Input, Target, bound.classes, bound.upstreamScalar, TargetGradient, bound.reduction, Weight, bound.spatial, Stream);
    }

    private void RunHard(LossMode mode)
    {
        CrossEntropyLoss loss = bound.loss;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(Input, Classes, Output, Weight, bound.spatial, Stream);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Classes, bound.reduction, Weight, bound.spatial, Stream);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(Input, Classes, Output, Gradient, Upstream, Weight, bound.spatial, Stream);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Classes, Gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial, Stream);
                break;
            default:
                loss.Backward(Input, Classes, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.spatial, Stream);
                break;
        }
    }
}

/// <summary>A <see cref="DistributionFocalBoundLoss"/> on an ILGPU accelerator.</summary>
internal sealed class IlgpuDistributionFocalRun(DistributionFocalBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.logits, bound.label, bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.label.Length : null)
{
    public override void Run(LossMode mode)
    {
        DistributionFocalLoss loss = bound.loss;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.ForwardBackward(Input, Target, Output, default, default, Weight, Stream);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Target, bound.reduction, Weight, bound.avgFactor, Stream);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(Input, Target, Output, Gradient, Upstream, Weight, Stream);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Target, Gradient, bound.reduction, Weight, bound.avgFactor, bound.upstreamScalar, Stream);
                break;
            default:
                loss.Backward(Input, Target, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.avgFactor, Stream);
                break;
        }

        Finish();
    }
}

/// <summary>A <see cref="MultiMarginBoundLoss"/> on an ILGPU accelerator.</summary>
internal sealed class IlgpuMultiMarginRun(MultiMarginBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.scores, [], bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.target.Length : null, classes: bound.target)
{
    public override void Run(LossMode mode)
    {
        ArrayView<float> gradient = mode != LossMode.Forward ? Gradient : default;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Classes, Output, gradient, Upstream, Weight, Stream);
        else
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Classes, gradient, bound.reduction, Weight, bound.upstreamScalar, Stream);
        Finish();
    }
}
