using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>
/// <see cref="TotalVariationLoss"/> bound for the catalog: <c>input</c> [N, C, H, W] (or [C, H, W], one image); the loss is [N] (none) or a
/// scalar, and the fused and backward runs write <c>grad.input</c>.
/// </summary>
internal sealed class TotalVariationBoundLoss : BoundLoss
{
    internal readonly TotalVariationLoss loss;
    internal readonly float[] input;
    internal readonly int images, channels, height, width;
    internal readonly Reduction reduction;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamImages;

    public TotalVariationBoundLoss(TotalVariationLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream,
        LossDevice? device)
        : base(ShapeOfLoss(parameters, inputs["input"]), inputs["input"].Length)
    {
        this.loss = loss;
        LossTensor x = inputs["input"];
        int[] shape = x.Shape.Length == 3 ? [1, .. x.Shape] : x.Shape;
        (images, channels, height, width) = (shape[0], shape[1], shape[2], shape[3]);
        input = x.RequireFloats("input");
        reduction = parameters.Reduction();
        (upstreamScalar, upstreamImages) = CatalogUpstream.Split(upstream, reduction, images);
        Place(device, device?.TotalVariation(this));
    }

    private static int[] ShapeOfLoss(LossParameters parameters, LossTensor x)
    {
        if (x.Shape.Length is not (3 or 4))
            throw new ArgumentException($"input must be [N, C, H, W] or [C, H, W], got [{string.Join(", ", x.Shape)}].", "input");
        return parameters.Reduction() != Reduction.None ? [] : x.Shape.Length == 4 ? [x.Shape[0]] : [];
    }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        bool unreduced = reduction == Reduction.None;
        switch (mode)
        {
            case LossMode.Forward when unreduced:
                loss.Forward(input, images, channels, height, width, Values);
                break;
            case LossMode.Forward:
                Loss[0] = loss.Forward(input, images, channels, height, width, reduction);
                break;
            case LossMode.Fused when unreduced:
                loss.ForwardBackward(input, images, channels, height, width, Values, InputGradient, upstreamImages);
                break;
            case LossMode.Fused:
                Loss[0] = loss.ForwardBackward(input, images, channels, height, width, InputGradient, reduction, upstreamScalar);
                break;
            case LossMode.Backward when unreduced:
                loss.Backward(input, images, channels, height, width, upstreamImages, InputGradient);
                break;
            default:
                loss.Backward(input, images, channels, height, width, upstreamScalar, InputGradient, reduction);
                break;
        }
    }

    /// <summary>Where the unreduced values go: the N values (one, for a [C, H, W] input, whose loss is a scalar).</summary>
    private Span<float> Values => Loss.AsSpan(0, images);

    /// <summary>The input read once (its neighbours from cache), the gradient written once, and N values.</summary>
    public override long BytesMoved(LossMode mode) => 4L * input.Length + (mode == LossMode.Forward ? 0 : 4L * input.Length) + 4L * images;
}

/// <summary>A <see cref="TotalVariationBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLTotalVariationRun(TotalVariationBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.input, [], [], bound.upstreamImages, bound.reduction == Reduction.None ? bound.images : null)
{
    public override void Run(LossMode mode)
    {
        TotalVariationLoss loss = bound.loss;
        DeviceBuffer<float>? gradient = mode == LossMode.Forward ? null : Gradient;
        if (bound.reduction == Reduction.None)
        {
            loss.Unreduced(Input, bound.images, bound.channels, bound.height, bound.width, mode == LossMode.Backward ? null : Output, gradient,
                gradient is null ? null : Upstream);
            // A [C, H, W] input's one value is a scalar, which the catalog keeps on the host.
            if (bound.LossShape.Length == 0 && mode != LossMode.Backward)
                Output!.Download(bound.Loss.AsSpan(0, 1));
            return;
        }

        float value = gradient is null
            ? loss.Forward(Input, bound.images, bound.channels, bound.height, bound.width, bound.reduction)
            : loss.ForwardBackward(Input, bound.images, bound.channels, bound.height, bound.width, gradient, bound.reduction, bound.upstreamScalar);
        if (mode != LossMode.Backward)
            bound.Loss[0] = value;
    }
}
