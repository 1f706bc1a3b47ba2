using LossKernels.Catalog;

namespace LossKernels.ILGPU;

/// <summary>An <see cref="ElementwiseBoundLoss{TLoss}"/> on an ILGPU accelerator: its ArrayView overloads, the data uploaded once.</summary>
/// <param name="bound">The bound loss.</param>
/// <param name="device">The device.</param>
/// <param name="extra">A further input a derived run needs on the device (FCOS distances), or null.</param>
/// <param name="targetGradient">Whether the run allocates the target's gradient (<see cref="ElementwiseTargetBoundLoss{TLoss}"/> with <c>target_grad</c>).</param>
internal class IlgpuElementwiseRun<TLoss>(ElementwiseBoundLoss<TLoss> bound, IlgpuDevice device, float[]? extra = null, bool targetGradient = false)
    : IlgpuRun(device, bound.input, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.input.Length : null, targetGradient, extra: extra)
    where TLoss : struct, IElementwiseLoss
{
    public override void Run(LossMode mode)
    {
        TLoss loss = bound.loss;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(Input, Target, Output, Weight, Stream);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Target, bound.reduction, Weight, bound.avgFactor, Stream);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(Input, Target, Output, Gradient, Upstream, Weight, Stream);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Target, Gradient, bound.reduction, Weight, bound.avgFactor, bound.upstreamScalar, Stream);
                break;
            case (LossMode.Backward, Reduction.None):
                loss.Backward(Input, Target, Upstream, Gradient, Weight, Stream);
                break;
            default:
                loss.Backward(Input, Target, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.avgFactor, Stream);
                break;
        }

        if (mode != LossMode.Forward)
            RunTarget();
        Finish();
    }

    /// <summary>The target's gradient pass, for a loss that has one and a run that asks for it.</summary>
    private protected virtual void RunTarget()
    {
    }
}

/// <summary>An <see cref="ElementwiseTargetBoundLoss{TLoss}"/> on an ILGPU accelerator: the input's passes, then the target's when asked for.</summary>
internal sealed class IlgpuElementwiseTargetRun<TLoss>(ElementwiseTargetBoundLoss<TLoss> bound, IlgpuDevice device)
    : IlgpuElementwiseRun<TLoss>(bound, device, targetGradient: bound.WritesTarget)
    where TLoss : struct, IElementwiseTargetLoss
{
    private protected override void RunTarget()
    {
        if (!bound.WritesTarget)
            return;
        if (bound.reduction == Reduction.None)
            bound.loss.TargetBackward(Input, Target, Upstream, TargetGradient, Weight, Stream);
        else
            bound.loss.TargetBackward(Input, Target, bound.upstreamScalar, TargetGradient, bound.reduction, Weight, bound.avgFactor, Stream);
    }
}
