using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// <c>binary_cross_entropy_with_logits</c> bound for the catalog with a <c>pos_weight</c> tensor of C values broadcast over the
/// last axis of <c>input</c> (PyTorch's form); on the CPU or a device. A one-value <c>pos_weight</c> binds the elementwise loss.
/// </summary>
internal sealed class PosWeightBoundLoss : BoundLoss
{
    private readonly PosWeightedBinaryCrossEntropyLoss loss = new();
    private readonly Reduction reduction;
    private readonly float[] input;
    private readonly float[] target;
    private readonly float[] posWeight;
    private readonly float[] weight;
    private readonly float upstreamScalar;
    private readonly float[] upstreamElements;
    private readonly DeviceBuffer<float>? devicePosWeight;

    public PosWeightBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, OpenCLDevice? device)
        : base(parameters.Reduction() == Reduction.None ? inputs["input"].Shape : [], inputs["input"].Length)
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
        if (device is null)
            return;
        Device = new DeviceTensors(device, input, target, weight, upstreamElements, reduction == Reduction.None ? input.Length : null);
        devicePosWeight = device.Allocate<float>(posWeight.Length);
        devicePosWeight.Upload(posWeight);
    }

    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        if (Device is not DeviceTensors d)
        {
            if (reduction == Reduction.None)
                loss.ForwardBackward(input, target, posWeight, Loss, gradient ? InputGradient : default, upstreamElements, weight);
            else if (gradient)
                Loss[0] = loss.ForwardBackward(input, target, posWeight, InputGradient, reduction, weight, upstreamScalar);
            else
                Loss[0] = loss.Forward(input, target, posWeight, reduction, weight);
            return;
        }

        if (reduction == Reduction.None)
            loss.ForwardBackward(d.Input, d.Target, devicePosWeight!, d.Output!, gradient ? d.Gradient : null, d.Upstream, d.Weight);
        else
            Loss[0] = loss.ForwardBackward(d.Input, d.Target, devicePosWeight!, gradient ? d.Gradient : null, reduction, d.Weight, upstreamScalar);
        d.Device.Finish();
    }

    /// <summary>Input and target read once (weights when given), the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = input.Length;
        long read = (2 + (weight.Length > 0 ? 1 : 0)) * 4 * n;
        return read + (mode == LossMode.Forward ? 0 : 4 * n) + (reduction == Reduction.None ? 4 * n : 0);
    }

    public override void Dispose()
    {
        devicePosWeight?.Dispose();
        base.Dispose();
    }
}
