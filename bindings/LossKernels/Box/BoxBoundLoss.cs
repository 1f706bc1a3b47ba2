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
    private readonly TLoss loss;
    private readonly Reduction reduction;
    private readonly float? avgFactor;
    private readonly BoxFormat format;
    private readonly float[] prediction;
    private readonly float[] target;
    private readonly float[] weight;
    private readonly float upstreamScalar;
    private readonly float[] upstreamElements;

    public BoxBoundLoss(TLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, OpenCLDevice? device,
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
        if (device is not null)
            Device = new DeviceTensors(device, prediction, target, weight, upstreamElements, reduction == Reduction.None ? boxes : null, targetGradient: true);
    }

    private float[] TargetGradient => SecondGradient!;

    public override void Run(LossMode mode)
    {
        if (Device is not null)
        {
            RunOnDevice(mode, Device);
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

    private void RunOnDevice(LossMode mode, DeviceTensors d)
    {
        switch (mode, reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(d.Input, d.Target, d.Output!, d.Weight, format);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(d.Input, d.Target, reduction, d.Weight, avgFactor, format);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(d.Input, d.Target, d.Output!, d.Gradient, d.Upstream, d.Weight, format, d.TargetGradient);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(d.Input, d.Target, d.Gradient, reduction, d.Weight, avgFactor, upstreamScalar, format, d.TargetGradient);
                break;
            case (LossMode.Backward, Reduction.None):
                loss.Backward(d.Input, d.Target, d.Upstream!, d.Gradient, d.Weight, format, d.TargetGradient);
                break;
            default:
                loss.Backward(d.Input, d.Target, upstreamScalar, d.Gradient, reduction, d.Weight, avgFactor, format, d.TargetGradient);
                break;
        }

        d.Device.Finish();
    }
}

/// <summary>
/// <c>fcos_centerness_loss</c>: logits [N] and (l, t, r, b) targets [N, 4]. Each run first computes the centerness
/// targets (<see cref="FcosCenterness.Targets(ReadOnlySpan{float}, Span{float})"/>, on the same backend) and then
/// runs <see cref="FcosCenternessLoss"/> against them, as mmdetection's FCOS head does.
/// </summary>
internal sealed class CenternessBoundLoss : ElementwiseBoundLoss<FcosCenternessLoss>
{
    private readonly float[] ltrb;
    private readonly DeviceBuffer<float>? deviceLtrb;

    public CenternessBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, OpenCLDevice? device)
        : base(default, parameters, WithCenternessTargets(inputs), upstream, device)
    {
        ltrb = inputs["target"].RequireFloats("target");
        if (device is not null)
        {
            deviceLtrb = device.Allocate<float>(ltrb.Length);
            deviceLtrb.Upload(ltrb);
        }
    }

    /// <summary>The targets read 16 bytes and write 4 per location, then the loss moves what any elementwise loss moves.</summary>
    public override long BytesMoved(LossMode mode) => base.BytesMoved(mode) + 20L * target.Length;

    public override void Dispose()
    {
        deviceLtrb?.Dispose();
        base.Dispose();
    }

    private protected override void Prepare()
    {
        if (deviceLtrb is null)
            FcosCenterness.Targets(ltrb, target);
        else
            FcosCenterness.Targets(deviceLtrb, Device!.Target);
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
