using LossKernels.Catalog;

namespace LossKernels.Segmentation;

/// <summary>
/// An overlap loss bound for the catalog: <c>input</c> [N, C, d…], <c>target</c> (int64 class indices [N, d…] for the
/// multiclass mode, else floats shaped like the input), optional <c>weight</c> [C]; the loss is a scalar.
/// </summary>
internal sealed class OverlapBoundLoss<TLoss> : BoundLoss
    where TLoss : struct, IOverlapLoss
{
    internal readonly TLoss loss;
    internal readonly SegmentationShape shape;
    internal readonly float[] input;
    internal readonly long[] classTarget;
    internal readonly float[] denseTarget;
    internal readonly float[] weight;
    internal readonly float upstream;

    public OverlapBoundLoss(TLoss loss, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base([], inputs["input"].Length)
    {
        this.loss = loss;
        LossTensor x = inputs["input"], t = inputs["target"];
        if (x.Shape.Length < 2)
            throw new ArgumentException($"This loss takes input [N, C, d1, …], got [{string.Join(", ", x.Shape)}].", "input");
        shape = new SegmentationShape(x.Shape[0], x.Shape[1], x.Shape[2..].Aggregate(1, (a, b) => a * b));
        input = x.RequireFloats("input");
        bool dense = loss.Options.Mode != SegmentationMode.Multiclass;
        int[] expected = dense ? x.Shape : [x.Shape[0], .. x.Shape[2..]];
        if (!t.Shape.SequenceEqual(expected))
            throw new ArgumentException($"target [{string.Join(", ", t.Shape)}] must be [{string.Join(", ", expected)}] in this mode.", "target");
        classTarget = dense ? [] : t.RequireIntegers("target");
        denseTarget = dense ? t.RequireFloats("target") : [];
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        this.upstream = CatalogUpstream.Split(upstream, Reduction.Mean, input.Length).Scalar;
        OverlapHost.Check(loss, shape, input.Length, dense, dense ? denseTarget.Length : classTarget.Length, weight.Length);
        Place(device, device?.Overlap(this));
    }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
            DeviceRun.Run(mode);
        else if (loss.Options.Mode == SegmentationMode.Multiclass)
            Loss[0] = mode switch
            {
                LossMode.Forward => loss.Forward(input, classTarget, shape, weight),
                LossMode.Fused => loss.ForwardBackward(input, classTarget, InputGradient, shape, weight, upstream),
                _ => Backward(),
            };
        else
            Loss[0] = mode switch
            {
                LossMode.Forward => loss.Forward(input, denseTarget, shape, weight),
                LossMode.Fused => loss.ForwardBackward(input, denseTarget, InputGradient, shape, weight, upstream),
                _ => Backward(),
            };
    }

    /// <summary>The backward entry point; the loss already written stays.</summary>
    private float Backward()
    {
        if (loss.Options.Mode == SegmentationMode.Multiclass)
            loss.Backward(input, classTarget, upstream, InputGradient, shape, weight);
        else
            loss.Backward(input, denseTarget, upstream, InputGradient, shape, weight);
        return Loss[0];
    }

    /// <summary>Two sweeps over the input and target (sums, then gradient), the gradient written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long targetBytes = classTarget.Length * 8L + denseTarget.Length * 4L;
        long sweep = input.Length * 4L + targetBytes;
        return mode == LossMode.Forward ? sweep : 2 * sweep + input.Length * 4L;
    }
}

/// <summary>An <see cref="OverlapBoundLoss{TLoss}"/> on an OpenCL device (the class weights stay on the host).</summary>
internal sealed class OpenCLOverlapRun<TLoss>(OverlapBoundLoss<TLoss> bound, OpenCL.OpenCLDevice device)
    : OpenCLRun(device, bound.input, bound.denseTarget, [], [], null, classes: bound.classTarget.Length > 0 ? bound.classTarget : null)
    where TLoss : struct, IOverlapLoss
{
    public override void Run(LossMode mode)
    {
        TLoss loss = bound.loss;
        bool dense = loss.Options.Mode != SegmentationMode.Multiclass;
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = dense ? loss.Forward(Input, Target, bound.shape, bound.weight) : loss.Forward(Input, Classes!, bound.shape, bound.weight);
                break;
            case LossMode.Fused:
                bound.Loss[0] = dense ? loss.ForwardBackward(Input, Target, Gradient, bound.shape, bound.weight, bound.upstream)
                    : loss.ForwardBackward(Input, Classes!, Gradient, bound.shape, bound.weight, bound.upstream);
                break;
            default:
                if (dense)
                    loss.Backward(Input, Target, bound.upstream, Gradient, bound.shape, bound.weight);
                else
                    loss.Backward(Input, Classes!, bound.upstream, Gradient, bound.shape, bound.weight);
                break;
        }
    }
}
