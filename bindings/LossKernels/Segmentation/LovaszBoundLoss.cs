using LossKernels.Catalog;

namespace LossKernels.Segmentation;

/// <summary>
/// A Lovász loss bound for the catalog: <c>input</c> [N, C, d…], <c>target</c> (int64 class indices [N, d…] for
/// <c>lovasz_softmax_loss</c>, floats 0/1 shaped like the input for <c>lovasz_hinge_loss</c>); the loss is a scalar.
/// </summary>
internal sealed class LovaszBoundLoss : BoundLoss
{
    internal readonly OverlapOptions options;
    internal readonly bool hinge;
    internal readonly SegmentationShape shape;
    internal readonly float[] input;
    internal readonly long[] classTarget;
    internal readonly float[] denseTarget;
    internal readonly float upstream;

    public LovaszBoundLoss(OverlapOptions options, bool hinge, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base([], inputs["input"].Length)
    {
        this.options = options;
        this.hinge = hinge;
        LossTensor x = inputs["input"], t = inputs["target"];
        if (x.Shape.Length < 2)
            throw new ArgumentException($"This loss takes input [N, C, d1, …], got [{string.Join(", ", x.Shape)}].", "input");
        shape = new SegmentationShape(x.Shape[0], x.Shape[1], x.Shape[2..].Aggregate(1, (a, b) => a * b));
        input = x.RequireFloats("input");
        int[] expected = hinge ? x.Shape : [x.Shape[0], .. x.Shape[2..]];
        if (!t.Shape.SequenceEqual(expected))
            throw new ArgumentException($"target [{string.Join(", ", t.Shape)}] must be [{string.Join(", ", expected)}].", "target");
        classTarget = hinge ? [] : t.RequireIntegers("target");
        denseTarget = hinge ? t.RequireFloats("target") : [];
        this.upstream = CatalogUpstream.Split(upstream, Reduction.Mean, input.Length).Scalar;
        LovaszHost.Check(options, hinge, shape, input.Length, hinge ? denseTarget.Length : classTarget.Length);
        Place(device, device?.Lovasz(this));
    }

    /// <summary>The softmax form's options as the loss.</summary>
    internal LovaszSoftmaxLoss Softmax => new(options.FromLogits, options.PerImage, options.IgnoreIndex);

    /// <summary>The hinge form's options as the loss.</summary>
    internal LovaszHingeLoss Hinge => new(options.PerImage, options.IgnoreIndex, options.Mode);

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
            DeviceRun.Run(mode);
        else if (hinge)
            Loss[0] = mode switch
            {
                LossMode.Forward => Hinge.Forward(input, denseTarget, shape),
                LossMode.Fused => Hinge.ForwardBackward(input, denseTarget, InputGradient, shape, upstream),
                _ => Backward(),
            };
        else
            Loss[0] = mode switch
            {
                LossMode.Forward => Softmax.Forward(input, classTarget, shape),
                LossMode.Fused => Softmax.ForwardBackward(input, classTarget, InputGradient, shape, upstream),
                _ => Backward(),
            };
    }

    /// <summary>The backward entry point; the loss already written stays.</summary>
    private float Backward()
    {
        if (hinge)
            Hinge.Backward(input, denseTarget, upstream, InputGradient, shape);
        else
            Softmax.Backward(input, classTarget, upstream, InputGradient, shape);
        return Loss[0];
    }

    /// <summary>
    /// What the sorts must move: the input and target read, per sorted element a key and a payload written, three radix
    /// passes that read and write both, the walk's read; with a gradient, the walk's writes and the softmax's chain sweep.
    /// </summary>
    public override long BytesMoved(LossMode mode)
    {
        long targetBytes = hinge ? denseTarget.Length * 4L : classTarget.Length * 8L * (shape.Classes + 1);
        long sortBytes = input.Length * 8L * (1 + 2 * 3 + 1);
        long read = input.Length * 4L + targetBytes + sortBytes;
        return mode == LossMode.Forward ? read : read + input.Length * 4L * (hinge || !options.FromLogits ? 1 : 4);
    }
}

/// <summary>A <see cref="LovaszBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLLovaszRun(LovaszBoundLoss bound, OpenCL.OpenCLDevice device)
    : OpenCLRun(device, bound.input, bound.denseTarget, [], [], null, classes: bound.hinge ? null : bound.classTarget)
{
    public override void Run(LossMode mode)
    {
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = bound.hinge ? bound.Hinge.Forward(Input, Target, bound.shape) : bound.Softmax.Forward(Input, Classes!, bound.shape);
                break;
            case LossMode.Fused:
                bound.Loss[0] = bound.hinge ? bound.Hinge.ForwardBackward(Input, Target, Gradient, bound.shape, bound.upstream)
                    : bound.Softmax.ForwardBackward(Input, Classes!, Gradient, bound.shape, bound.upstream);
                break;
            default:
                if (bound.hinge)
                    bound.Hinge.Backward(Input, Target, bound.upstream, Gradient, bound.shape);
                else
                    bound.Softmax.Backward(Input, Classes!, bound.upstream, Gradient, bound.shape);
                break;
        }
    }
}
