using LossKernels.Box;
using LossKernels.Catalog;

namespace LossKernels.ILGPU;

/// <summary>A <see cref="BoxBoundLoss{TLoss}"/> on an ILGPU accelerator: its ArrayView overloads, both gradients written.</summary>
internal sealed class IlgpuBoxRun<TLoss>(BoxBoundLoss<TLoss> bound, IlgpuDevice device)
    : IlgpuRun(device, bound.prediction, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.Boxes : null, targetGradient: true)
    where TLoss : struct, IBoxLoss
{
    public override void Run(LossMode mode)
    {
        TLoss loss = bound.loss;
        BoxFormat format = bound.format;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(Input, Target, Output, Weight, format, Stream);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Target, bound.reduction, Weight, bound.avgFactor, format, Stream);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(Input, Target, Output, Gradient, Upstream, Weight, format, TargetGradient, Stream);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Target, Gradient, bound.reduction, Weight, bound.avgFactor, bound.upstreamScalar, format, TargetGradient, Stream);
                break;
            case (LossMode.Backward, Reduction.None):
                loss.Backward(Input, Target, Upstream, Gradient, Weight, format, TargetGradient, Stream);
                break;
            default:
                loss.Backward(Input, Target, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.avgFactor, format, TargetGradient, Stream);
                break;
        }

        Finish();
    }
}

/// <summary>A <see cref="CenternessBoundLoss"/> on an ILGPU accelerator: the centerness targets computed there from the uploaded distances before every run.</summary>
internal sealed class IlgpuCenternessRun(CenternessBoundLoss bound, IlgpuDevice device) : IlgpuElementwiseRun<FcosCenternessLoss>(bound, device, bound.ltrb)
{
    public override void Run(LossMode mode)
    {
        IlgpuFcosCenterness.Targets(Extra, Target, Stream);
        base.Run(mode);
    }
}
