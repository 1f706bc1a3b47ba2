using LossKernels.Catalog;

namespace LossKernels.Generative;

/// <summary>
/// <see cref="GramStyleLoss"/> bound for the catalog: <c>input</c> features [N, C, …] against either the style's features <c>target</c>
/// [N or 1, C, …] (any spatial extent; their Gram computed on each run, as a caller that does not keep it) or its Gram <c>target_gram</c>
/// [N or 1, C, C]; a scalar loss (mean or sum over the N images), and the fused and backward runs write <c>grad.input</c>.
/// </summary>
internal sealed class GramStyleBoundLoss : BoundLoss
{
    internal readonly GramStyleLoss loss;
    internal readonly float[] input;
    internal readonly float[]? styleFeatures;
    internal readonly float[] targetGram;
    internal readonly int images, channels, styleImages;
    internal readonly Reduction reduction;
    internal readonly float upstream;

    public GramStyleBoundLoss(GramStyleLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream,
        LossDevice? device)
        : base([], inputs["input"].Length)
    {
        this.loss = loss;
        LossTensor x = inputs["input"];
        (input, images, channels) = Features(x);
        bool hasFeatures = inputs.TryGetValue("target", out LossTensor? style), hasGram = inputs.TryGetValue("target_gram", out LossTensor? gram);
        if (hasFeatures == hasGram)
            throw new ArgumentException("gram_style_loss takes the style as either 'target' (its features) or 'target_gram' (its Gram), one of them.", "target");
        if (style is not null)
        {
            if (style.Shape.Length != x.Shape.Length || style.Shape[1] != channels || (style.Shape[0] != 1 && style.Shape[0] != images))
                throw new ArgumentException($"target must be the style's features [1 or N, C, …] of C = {channels}; got [{string.Join(", ", style.Shape)}].", "target");
            styleFeatures = style.RequireFloats("target");
            styleImages = style.Shape[0];
            targetGram = new float[styleImages * channels * channels];
            loss.ComputeGram(styleFeatures, styleImages, channels, targetGram);
        }
        else
        {
            targetGram = Gram(gram!, images, channels, "target_gram");
            styleImages = gram!.Shape[0];
        }

        reduction = parameters.Reduction();
        (this.upstream, _) = CatalogUpstream.Split(upstream, reduction, 1);
        // The span API checks every extent; binding with a gradient-free forward run would cost a full Gram, so check only the shapes here.
        GramStyleShape.OfCall(input.Length, targetGram.Length, images, channels, reduction);
        Place(device, device?.GramStyle(this));
    }

    /// <summary>A features tensor [N, C, …] (at least three extents): its floats, N and C.</summary>
    internal static (float[] Values, int Images, int Channels) Features(LossTensor x)
    {
        if (x.Shape.Length < 3)
            throw new ArgumentException($"input must be features [N, C, H, W] (or [N, C, H·W]); got [{string.Join(", ", x.Shape)}].", "input");
        return (x.RequireFloats("input"), x.Shape[0], x.Shape[1]);
    }

    /// <summary>A Gram tensor [1 or N, C, C] of the features' N and C: its floats.</summary>
    internal static float[] Gram(LossTensor gram, int images, int channels, string name)
    {
        if (gram.Shape.Length != 3 || gram.Shape[1] != channels || gram.Shape[2] != channels || (gram.Shape[0] != 1 && gram.Shape[0] != images))
            throw new ArgumentException($"{name} must be [1 or N, C, C] of C = {channels}; got [{string.Join(", ", gram.Shape)}].", name);
        return gram.RequireFloats(name);
    }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        if (styleFeatures is not null)
            loss.ComputeGram(styleFeatures, styleImages, channels, targetGram);
        if (mode == LossMode.Forward)
            Loss[0] = loss.Forward(input, targetGram, images, channels, reduction);
        else if (mode == LossMode.Fused)
            Loss[0] = loss.ForwardBackward(input, targetGram, images, channels, InputGradient, reduction, upstream);
        else
            loss.Backward(input, targetGram, images, channels, upstream, InputGradient, reduction);
    }

    /// <summary>The features read twice (the Gram, the backward's product) and the gradient written once; the style's once.</summary>
    public override long BytesMoved(LossMode mode) =>
        4L * (input.Length * (mode == LossMode.Forward ? 1 : 3) + (styleFeatures?.Length ?? 0) + targetGram.Length);

    /// <summary>The multiply-adds' flops of a run: the Gram's lower triangle C·(C + 1)/2·H·W per image, the backward's C²·H·W, twice (a multiply and an add).</summary>
    public double Flops(LossMode mode)
    {
        double spatial = images == 0 ? 0 : (double)input.Length / images / channels;
        double gram = (double)channels * (channels + 1) * spatial * images, product = 2d * channels * channels * spatial * images;
        double style = styleFeatures is null ? 0 : (double)channels * (channels + 1) * styleFeatures.Length / channels;
        return gram + style + (mode == LossMode.Forward ? 0 : product);
    }
}
