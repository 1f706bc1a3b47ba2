using LossKernels.OpenCL;

namespace LossKernels.Catalog;

/// <summary>
/// An <see cref="IElementwiseLoss"/> bound to input, target, optional weight and upstream, with PyTorch's
/// reduction parameters; on the CPU through the span overloads, or on an OpenCL device through the
/// buffer overloads with the data uploaded once at bind time.
/// </summary>
internal class ElementwiseBoundLoss<TLoss> : BoundLoss
    where TLoss : struct, IElementwiseLoss
{
    internal readonly TLoss loss;
    internal readonly Reduction reduction;
    internal readonly float? avgFactor;
    internal readonly float[] input;
    internal readonly float[] target;
    internal readonly float[] weight;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamElements;

    /// <summary>The divisor of a <c>"batchmean"</c> run's sum (the input's first dimension), else 1.</summary>
    private readonly float batchDivisor;

    public ElementwiseBoundLoss(TLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device,
        bool acceptsBatchMean = false, bool placeOnDevice = true, bool targetGradient = false)
        : base(parameters.Reduction(acceptsBatchMean, out _) == Reduction.None ? inputs["input"].Shape : [], inputs["input"].Length,
            secondInputName: targetGradient ? "target" : null)
    {
        this.loss = loss;
        reduction = parameters.Reduction(acceptsBatchMean, out bool batchMean);
        int[] shape = inputs["input"].Shape;
        batchDivisor = batchMean && shape.Length > 0 ? shape[0] : 1f;
        avgFactor = parameters.OptionalFloat("avg_factor");
        input = inputs["input"].RequireFloats("input");
        target = inputs["target"].RequireFloats("target");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamElements) = CatalogUpstream.Split(upstream, reduction, input.Length);
        upstreamScalar /= batchDivisor;
        if (placeOnDevice)
            Place(device, device?.Elementwise(this));
    }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
            DeviceRun.Run(mode);
        else
            RunOnCpu(mode);
        if (reduction != Reduction.None && mode != LossMode.Backward)
            Loss[0] /= batchDivisor;
    }

    /// <summary>The target's gradient, when asked for (<c>target_grad</c>): a pass of its own after the input's.</summary>
    private protected float[]? TargetGradient => SecondGradient;

    private protected virtual void RunOnCpu(LossMode mode)
    {
        switch (mode, reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(input, target, Loss, weight);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(input, target, reduction, weight, avgFactor);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(input, target, Loss, InputGradient, upstreamElements, weight);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(input, target, InputGradient, reduction, weight, avgFactor, upstreamScalar);
                break;
            case (LossMode.Backward, Reduction.None):
                loss.Backward(input, target, upstreamElements, InputGradient, weight);
                break;
            default:
                loss.Backward(input, target, upstreamScalar, InputGradient, reduction, weight, avgFactor);
                break;
        }
    }

    public override long BytesMoved(LossMode mode)
    {
        long n = input.Length;
        long streams = ReferenceEquals(target, input) ? 1 : 2;
        long read = (streams + (weight.Length > 0 ? 1 : 0)) * n;
        bool perElement = reduction == Reduction.None;
        long floats = mode switch
        {
            LossMode.Forward => read + (perElement ? n : 0),
            LossMode.Fused => read + n + (perElement ? 2 * n : 0),
            _ => read + n + (perElement ? n : 0),
        };
        // The target's pass reads what the input's reads and writes its gradient.
        if (SecondGradient is not null && mode != LossMode.Forward)
            floats += read + n + (perElement ? n : 0);
        return floats * sizeof(float);
    }
}

/// <summary>An <see cref="ElementwiseBoundLoss{TLoss}"/> on an OpenCL device: its buffer overloads, the data uploaded once.</summary>
/// <param name="bound">The bound loss.</param>
/// <param name="device">The device.</param>
/// <param name="extra">A further input a derived run needs on the device (FCOS distances), or null.</param>
/// <param name="targetGradient">Whether the run allocates the target's gradient (<see cref="ElementwiseTargetBoundLoss{TLoss}"/> with <c>target_grad</c>).</param>
internal class OpenCLElementwiseRun<TLoss>(ElementwiseBoundLoss<TLoss> bound, OpenCLDevice device, float[]? extra = null, bool targetGradient = false)
    : OpenCLRun(device, bound.input, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.input.Length : null, targetGradient, extra: extra)
    where TLoss : struct, IElementwiseLoss
{
    public override void Run(LossMode mode)
    {
        TLoss loss = bound.loss;
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(Input, Target, Output!, Weight);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = loss.Forward(Input, Target, bound.reduction, Weight, bound.avgFactor);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(Input, Target, Output!, Gradient, Upstream, Weight);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = loss.ForwardBackward(Input, Target, Gradient, bound.reduction, Weight, bound.avgFactor, bound.upstreamScalar);
                break;
            case (LossMode.Backward, Reduction.None):
                loss.Backward(Input, Target, Upstream!, Gradient, Weight);
                break;
            default:
                loss.Backward(Input, Target, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.avgFactor);
                break;
        }

        if (mode != LossMode.Forward)
            RunTarget();
        Device.Finish();
    }

    /// <summary>The target's gradient pass, for a loss that has one and a run that asks for it.</summary>
    private protected virtual void RunTarget()
    {
    }
}

/// <summary>How a catalog run takes its upstream gradient.</summary>
internal static class CatalogUpstream
{
    /// <summary>
    /// A reduced loss takes a scalar upstream (1 when absent); an unreduced one a value per element
    /// (ones when absent; a scalar is broadcast), as the golden format says.
    /// </summary>
    public static (float Scalar, float[] Elements) Split(LossTensor? upstream, Reduction reduction, int length)
    {
        float[]? data = upstream?.RequireFloats("upstream");
        if (reduction != Reduction.None)
        {
            if (data is { Length: not 1 })
                throw new ArgumentException($"A reduced loss takes a scalar upstream, got {data.Length} values.", "upstream");
            return (data?[0] ?? 1f, []);
        }

        if (data is null || data.Length == 1)
        {
            var filled = new float[length];
            Array.Fill(filled, data?[0] ?? 1f);
            return (1f, filled);
        }

        if (data.Length != length)
            throw new ArgumentException($"upstream has {data.Length} values, the loss {length}.", "upstream");
        return (1f, data);
    }
}

/// <summary>
/// An <see cref="ElementwiseBoundLoss{TLoss}"/> of a loss with a target gradient (<see cref="IElementwiseTargetLoss"/>):
/// with <c>target_grad</c> set, fused and backward runs also write <c>grad.target</c> through <c>TargetBackward</c>.
/// </summary>
internal sealed class ElementwiseTargetBoundLoss<TLoss> : ElementwiseBoundLoss<TLoss>
    where TLoss : struct, IElementwiseTargetLoss
{
    public ElementwiseTargetBoundLoss(TLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device,
        bool acceptsBatchMean = false)
        : base(loss, parameters, inputs, upstream, device, acceptsBatchMean, placeOnDevice: false, targetGradient: parameters.Bool("target_grad", false))
    {
        Place(device, device?.ElementwiseTarget(this));
    }

    /// <summary>Whether runs write the target's gradient.</summary>
    internal bool WritesTarget => TargetGradient is not null;

    private protected override void RunOnCpu(LossMode mode)
    {
        base.RunOnCpu(mode);
        if (mode == LossMode.Forward || TargetGradient is null)
            return;
        if (reduction == Reduction.None)
            loss.TargetBackward(input, target, upstreamElements, TargetGradient, weight);
        else
            loss.TargetBackward(input, target, upstreamScalar, TargetGradient, reduction, weight, avgFactor);
    }
}

/// <summary>An <see cref="ElementwiseTargetBoundLoss{TLoss}"/> on an OpenCL device: the input's passes, then the target's when asked for.</summary>
internal sealed class OpenCLElementwiseTargetRun<TLoss>(ElementwiseTargetBoundLoss<TLoss> bound, OpenCLDevice device)
    : OpenCLElementwiseRun<TLoss>(bound, device, targetGradient: bound.WritesTarget)
    where TLoss : struct, IElementwiseTargetLoss
{
    private protected override void RunTarget()
    {
        if (TargetGradient is null)
            return;
        if (bound.reduction == Reduction.None)
            bound.loss.TargetBackward(Input, Target, Upstream!, TargetGradient, Weight);
        else
            bound.loss.TargetBackward(Input, Target, bound.upstreamScalar, TargetGradient, bound.reduction, Weight, bound.avgFactor);
    }
}
