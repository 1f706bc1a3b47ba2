using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>
/// <see cref="ContentStyleLoss"/> bound for the catalog on one layer that both terms read (Johnson et al.'s relu2_2): <c>input</c> features
/// [N, C, …], optionally its content target <c>content_target</c> (the input's shape) and the style's Gram <c>style_gram</c> [1 or N, C, C],
/// and optionally the generated <c>image</c> [N', C', H, W] for the total variation term; a scalar loss, and the fused and backward runs
/// write <c>grad.input</c> (the content's and the style's gradients summed) and <c>grad.image</c>.
/// </summary>
internal sealed class ContentStyleBoundLoss : BoundLoss
{
    internal readonly ContentStyleLoss loss;
    internal readonly float[] input;
    internal readonly float[]? contentTarget, styleGram, image;
    internal readonly int images, channels;
    internal readonly int[] imageShape = [0, 0, 0, 0];
    internal readonly Reduction reduction;
    internal readonly float upstream;
    private readonly ContentStyleLayer[] layers;
    private readonly ContentStyleImage generated;

    public ContentStyleBoundLoss(ContentStyleLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream,
        LossDevice? device)
        : base([], GradientsOf(inputs))
    {
        this.loss = loss;
        LossTensor x = inputs["input"];
        (input, images, channels) = GramStyleBoundLoss.Features(x);
        if (inputs.TryGetValue("content_target", out LossTensor? content))
        {
            if (!content.Shape.SequenceEqual(x.Shape))
                throw new ArgumentException($"content_target must have the input's shape [{string.Join(", ", x.Shape)}]; got [{string.Join(", ", content.Shape)}].", "content_target");
            contentTarget = content.RequireFloats("content_target");
        }

        if (inputs.TryGetValue("style_gram", out LossTensor? gram))
            styleGram = GramStyleBoundLoss.Gram(gram, images, channels, "style_gram");

        if (inputs.TryGetValue("image", out LossTensor? pixels))
        {
            if (pixels.Shape.Length != 4)
                throw new ArgumentException($"image must be [N, C, H, W]; got [{string.Join(", ", pixels.Shape)}].", "image");
            image = pixels.RequireFloats("image");
            imageShape = pixels.Shape;
        }

        reduction = parameters.Reduction();
        (this.upstream, _) = CatalogUpstream.Split(upstream, reduction, 1);
        layers = [new ContentStyleLayer(input, InputGradient, images, channels, contentTarget, 1f, styleGram, 1f)];
        generated = image is null ? default : new ContentStyleImage(image, ImageGradient, imageShape[0], imageShape[1], imageShape[2], imageShape[3]);
        // Every extent checked as a call checks them, without a run's work.
        loss.Check(layers, generated, reduction);
        Place(device, device?.ContentStyle(this));
    }

    /// <summary>The input's gradient, and the image's when there is one.</summary>
    private static (string, int)[] GradientsOf(IReadOnlyDictionary<string, LossTensor> inputs) =>
        inputs.TryGetValue("image", out LossTensor? image) ? [("input", inputs["input"].Length), ("image", image.Length)] : [("input", inputs["input"].Length)];

    internal float[]? ImageGradient => Gradients.GetValueOrDefault("image");

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        if (mode == LossMode.Forward)
            Loss[0] = loss.Forward(layers, generated, reduction).Loss;
        else if (mode == LossMode.Fused)
            Loss[0] = loss.ForwardBackward(layers, generated, reduction, upstream).Loss;
        else
            loss.Backward(layers, generated, upstream, reduction);
    }

    /// <summary>
    /// The features read once per term (twice by the style's Gram and product) and the content target once, the gradient written once (and
    /// read again where the style adds to the content's); the image read and its gradient written once.
    /// </summary>
    public override long BytesMoved(LossMode mode)
    {
        bool backward = mode != LossMode.Forward;
        long features = input.Length * ((contentTarget is null ? 0 : 2) + (styleGram is null ? 0 : backward ? 2 : 1))
            + (backward ? input.Length * (contentTarget is not null && styleGram is not null ? 2 : 1) : 0);
        long pixels = image is null ? 0 : image.Length * (backward ? 2 : 1);
        return 4L * (features + pixels + (styleGram?.Length ?? 0));
    }
}

/// <summary>A <see cref="ContentStyleBoundLoss"/> on an OpenCL device: the features and the content target as the run's input and target, the rest uploaded beside them.</summary>
internal sealed class OpenCLContentStyleRun : OpenCLRun
{
    private readonly ContentStyleBoundLoss bound;
    private readonly DeviceBuffer<float>? image, imageGrad;
    private readonly ContentStyleDeviceLayer[] layers;
    private readonly ContentStyleDeviceImage? generated;

    public OpenCLContentStyleRun(ContentStyleBoundLoss bound, OpenCLDevice device)
        : base(device, bound.input, bound.contentTarget ?? bound.input, [], [], null, extra: bound.styleGram)
    {
        this.bound = bound;
        image = bound.image is null ? null : Upload(bound.image);
        imageGrad = bound.image is null ? null : device.Allocate<float>(bound.image.Length);
        layers = [new ContentStyleDeviceLayer(Input, Gradient, bound.images, bound.channels, bound.contentTarget is null ? null : Target, 1f, Extra, 1f)];
        generated = image is null ? null : new ContentStyleDeviceImage(image, imageGrad, bound.imageShape[0], bound.imageShape[1], bound.imageShape[2], bound.imageShape[3]);
    }

    public override void Run(LossMode mode)
    {
        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(layers, generated, bound.reduction).Loss;
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(layers, generated, bound.reduction, bound.upstream).Loss;
        else
            bound.loss.Backward(layers, generated, bound.upstream, bound.reduction);
        Device.Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        imageGrad?.Download(bound.ImageGradient!);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        Fill(imageGrad, value);
    }

    public override void Dispose()
    {
        base.Dispose();
        image?.Dispose();
        imageGrad?.Dispose();
    }
}
