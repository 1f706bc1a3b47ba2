using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Box;

/// <summary>
/// An <see cref="IBoxLoss"/> bound to predicted and target boxes, optional per-box weight and upstream, with the
/// reduction parameters and the box format; on the CPU through the span overloads of <see cref="BoxLoss"/>, or on
/// an OpenCL device through its buffer overloads. Fused and backward runs write both gradients.
/// </summary>
internal sealed class BoxBoundLoss<TLoss> : BoundLoss
    where TLoss : struct, IBoxLoss
{
    internal readonly TLoss loss;
    internal readonly Reduction reduction;
    internal readonly float? avgFactor;
    internal readonly BoxFormat format;
    internal readonly float[] prediction;
    internal readonly float[] target;
    internal readonly float[] weight;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamElements;

    public BoxBoundLoss(TLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device,
        string predictionName, string targetName)
        : base(parameters.Reduction() == Reduction.None ? [BoxCatalog.Rows4(inputs[predictionName], predictionName)] : [], inputs[predictionName].Length,
            predictionName, targetName)
    {
        this.loss = loss;
        reduction = parameters.Reduction();
        avgFactor = parameters.OptionalFloat("avg_factor");
        format = BoxCatalog.Format(parameters);
        int boxes = BoxCatalog.Rows4(inputs[predictionName], predictionName);
        prediction = inputs[predictionName].RequireFloats(predictionName);
        target = inputs[targetName].RequireFloats(targetName);
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamElements) = CatalogUpstream.Split(upstream, reduction, boxes);
        Place(device, device?.Box(this));
    }

    /// <summary>The number of box pairs.</summary>
    internal int Boxes => prediction.Length / 4;

    private float[] TargetGradient => SecondGradient!;

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
                loss.Forward(prediction, target, Loss, weight, format);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(prediction, target, reduction, weight, avgFactor, format);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(prediction, target, Loss, InputGradient, upstreamElements, weight, format, TargetGradient);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(prediction, target, InputGradient, reduction, weight, avgFactor, upstreamScalar, format, TargetGradient);
                break;
            case (LossMode.Backward, Reduction.None):
                loss.Backward(prediction, target, upstreamElements, InputGradient, weight, format, TargetGradient);
                break;
            default:
                loss.Backward(prediction, target, upstreamScalar, InputGradient, reduction, weight, avgFactor, format, TargetGradient);
                break;
        }
    }

    /// <summary>Per box: 32 bytes of boxes and 4 of weight read; 4 of loss written unreduced; 32 of gradients written by fused and backward runs.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long boxes = prediction.Length / 4;
        long read = 8 * boxes + weight.Length;
        bool perBox = reduction == Reduction.None;
        long floats = mode switch
        {
            LossMode.Forward => read + (perBox ? boxes : 0),
            LossMode.Fused => read + 8 * boxes + (perBox ? 2 * boxes : 0),
            _ => read + 8 * boxes + (perBox ? boxes : 0),
        };
        return floats * sizeof(float);
    }
}

/// <summary>A <see cref="BoxBoundLoss{TLoss}"/> on an OpenCL device: its buffer overloads, both gradients written.</summary>
internal sealed class OpenCLBoxRun<TLoss>(BoxBoundLoss<TLoss> bound, OpenCLDevice device)
    : OpenCLRun(device, bound.prediction, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.Boxes : null, targetGradient: true)
    where TLoss : struct, IBoxLoss
{
    public override void Run(LossMode mode)
    {
        TLoss loss = bound.loss;
        BoxFormat format = bound.format;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(Input, Target, Output!, Weight, format);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Target, bound.reduction, Weight, bound.avgFactor, format);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(Input, Target, Output!, Gradient, Upstream, Weight, format, TargetGradient);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Target, Gradient, bound.reduction, Weight, bound.avgFactor, bound.upstreamScalar, format, TargetGradient);
                break;
            case (LossMode.Backward, Reduction.None):
                loss.Backward(Input, Target, Upstream!, Gradient, Weight, format, TargetGradient);
                break;
            default:
                loss.Backward(Input, Target, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.avgFactor, format, TargetGradient);
                break;
        }

        Device.Finish();
    }
}

/// <summary>
/// <c>fcos_centerness_loss</c>: logits [N] and (l, t, r, b) targets [N, 4]. Each run first computes the centerness
/// targets (<see cref="FcosCenterness.Targets(ReadOnlySpan{float}, Span{float})"/>, on the same backend) and then
/// runs <see cref="FcosCenternessLoss"/> against them, as mmdetection's FCOS head does.
/// </summary>
internal sealed class CenternessBoundLoss : ElementwiseBoundLoss<FcosCenternessLoss>
{
    /// <summary>The (l, t, r, b) distances, four per location.</summary>
    internal readonly float[] ltrb;

    public CenternessBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base(default, parameters, WithCenternessTargets(inputs), upstream, device, placeOnDevice: false)
    {
        ltrb = inputs["target"].RequireFloats("target");
        Place(device, device?.Centerness(this));
    }

    /// <summary>The targets read 16 bytes and write 4 per location, then the loss moves what any elementwise loss moves.</summary>
    public override long BytesMoved(LossMode mode) => base.BytesMoved(mode) + 20L * target.Length;

    public override void Run(LossMode mode)
    {
        if (DeviceRun is null)
            FcosCenterness.Targets(ltrb, target);
        base.Run(mode);
    }

    /// <summary>The inputs with <c>target</c> replaced by a buffer for the n centerness targets (filled before every run).</summary>
    private static Dictionary<string, LossTensor> WithCenternessTargets(IReadOnlyDictionary<string, LossTensor> inputs)
    {
        int n = BoxCatalog.Rows4(inputs["target"], "target");
        if (inputs["input"].Shape is not [int length] || length != n)
            throw new ArgumentException($"Input 'input' must have shape [{n}], one logit per (l, t, r, b) row.", "input");
        var centerness = new float[n];
        FcosCenterness.Targets(inputs["target"].RequireFloats("target"), centerness);
        return new Dictionary<string, LossTensor>(inputs) { ["target"] = LossTensor.FromFloats(centerness, n) };
    }
}

/// <summary>A <see cref="CenternessBoundLoss"/> on an OpenCL device: the centerness targets computed there from the uploaded distances before every run.</summary>
internal sealed class OpenCLCenternessRun(CenternessBoundLoss bound, OpenCLDevice device) : OpenCLElementwiseRun<FcosCenternessLoss>(bound, device, bound.ltrb)
{
    public override void Run(LossMode mode)
    {
        FcosCenterness.Targets(Extra!, Target);
        base.Run(mode);
    }
}
