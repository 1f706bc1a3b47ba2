namespace LossKernels.Generative;

/// <summary>
/// One layer of a <see cref="ContentStyleLoss"/> call: the generated image's features at that layer (N images of C channels), where
/// their gradient goes, and the layer's content target, its style target, or both (a layer both terms read, as Johnson et al.'s relu2_2,
/// gets the sum of their gradients). The memory is the caller's; keep the array of layers between calls and a call allocates nothing.
/// </summary>
/// <param name="Input">φ_l(ŷ), N·C·H·W floats.</param>
/// <param name="InputGrad">Receives ∂(upstream·L)/∂φ_l(ŷ), N·C·H·W floats (empty for a forward call).</param>
/// <param name="Images">N.</param>
/// <param name="Channels">C (read by the style term).</param>
/// <param name="ContentTarget">φ_l(y) of the content image, N·C·H·W floats; empty: no content term at this layer.</param>
/// <param name="ContentWeight">The layer's content weight.</param>
/// <param name="StyleGram">The style image's Gram at this layer, C² or N·C² floats (<see cref="GramStyleLoss.ComputeGram(ReadOnlySpan{float}, int, int, Span{float})"/>); empty: no style term.</param>
/// <param name="StyleWeight">The layer's style weight.</param>
public readonly record struct ContentStyleLayer(ReadOnlyMemory<float> Input, Memory<float> InputGrad, int Images, int Channels,
    ReadOnlyMemory<float> ContentTarget = default, float ContentWeight = 1f, ReadOnlyMemory<float> StyleGram = default, float StyleWeight = 1f);

/// <summary>The generated image a <see cref="ContentStyleLoss"/> call regularizes with total variation, [N, C, H, W], and its gradient.</summary>
/// <param name="Pixels">ŷ, N·C·H·W floats.</param>
/// <param name="PixelsGrad">Receives ∂(upstream·L)/∂ŷ's total variation part, N·C·H·W floats (empty for a forward call).</param>
/// <param name="Images">N.</param>
/// <param name="Channels">C.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
public readonly record struct ContentStyleImage(ReadOnlyMemory<float> Pixels, Memory<float> PixelsGrad, int Images, int Channels, int Height, int Width);

/// <summary>A <see cref="ContentStyleLoss"/> call's value and its parts, each before its α, β or γ: <c>Loss = α·Content + β·Style + γ·TotalVariation</c>.</summary>
/// <param name="Loss">L.</param>
/// <param name="Content">Σ_l w_l·ℓ_content,l over the layers with a content target.</param>
/// <param name="Style">Σ_l v_l·ℓ_style,l over the layers with a style target.</param>
/// <param name="TotalVariation">TV(ŷ), or 0 without an image.</param>
public readonly record struct ContentStyleResult(float Loss, float Content, float Style, float TotalVariation);

/// <summary>
/// The style-transfer objective of Gatys et al. 2016 and Johnson et al. 2016 over a set of layers in one call:
/// <c>L = α·Σ_l w_l·ℓ_content,l + β·Σ_l v_l·ℓ_style,l + γ·TV(ŷ)</c>, with ℓ_content the <see cref="FeatureReconstructionLoss"/>
/// (‖φ_l(ŷ) − φ_l(y)‖_p^p/(C·H·W) per image), ℓ_style the <see cref="GramStyleLoss"/> (‖G(φ_l(ŷ)) − A_l‖²_F in Johnson's or Gatys's
/// scaling) and TV the <see cref="TotalVariationLoss"/> of the generated image, each reduced by the mean (or the sum) over images.
/// Gradients: each layer's <c>α·w_l·∂ℓ_content,l + β·v_l·∂ℓ_style,l</c> with respect to its features (the two summed where a layer has
/// both), and <c>γ·∂TV/∂ŷ</c> with respect to the image, times the upstream gradient; the engine backpropagates the features' through
/// its network and adds the image's.
/// </summary>
/// <remarks>
/// <para>Reference: the PyTorch examples' fast neural style (Johnson: <c>content_weight·mse_loss(features_y.relu2_2, features_x.relu2_2)</c>
/// plus <c>style_weight·Σ mse_loss(gram(ft_y), gm_s)</c>) and Gatys's optimization loop, with kornia's <c>TotalVariation</c> as the
/// regularizer; here each term is the single-layer loss's, so <c>mse_loss</c>'s division by C² in the examples' style term is a layer
/// weight v_l = 1/C² away. Differences: the terms are reported apart (<see cref="ContentStyleResult"/>); the targets are constants
/// (detached features and Grams); the mean or the sum over images only.</para>
/// <para>The work: per layer the content pass writes the gradient, then the style's D·F product adds to it (its product chains start
/// from the content's values); the image's TV pass writes its gradient. Every layer and the image are checked before the first is run.
/// A layer's gradient may be its own features' memory when it has no style term; no gradient may touch memory another layer or the
/// image reads or writes. The same bits for any thread count; nothing allocated per call after the first (the Gram scratch is pooled).</para>
/// </remarks>
public readonly partial struct ContentStyleLoss
{
    /// <summary>α = β = γ = 1, the content on the squared L2 norm, the style in Johnson's scaling, anisotropic TV.</summary>
    public ContentStyleLoss()
        : this(1f, 1f, 1f)
    {
    }

    /// <summary>With the given weights and terms.</summary>
    /// <param name="contentWeight">α (finite).</param>
    /// <param name="styleWeight">β (finite).</param>
    /// <param name="totalVariationWeight">γ (finite).</param>
    /// <param name="content">The content term's loss (its p).</param>
    /// <param name="style">The style term's loss (its normalization).</param>
    /// <param name="totalVariation">The regularizer (its norm).</param>
    /// <exception cref="ArgumentOutOfRangeException">A weight is not finite.</exception>
    public ContentStyleLoss(float contentWeight, float styleWeight, float totalVariationWeight, FeatureReconstructionLoss content = default,
        GramStyleLoss style = default, TotalVariationLoss totalVariation = default)
    {
        ThrowHelper.IfNotFinite(contentWeight, nameof(contentWeight));
        ThrowHelper.IfNotFinite(styleWeight, nameof(styleWeight));
        ThrowHelper.IfNotFinite(totalVariationWeight, nameof(totalVariationWeight));
        totalVariation.Validate();
        ContentWeight = contentWeight;
        StyleWeight = styleWeight;
        TotalVariationWeight = totalVariationWeight;
        Content = content;
        Style = style;
        TotalVariation = totalVariation;
    }

    /// <summary>α.</summary>
    public float ContentWeight { get; }

    /// <summary>β.</summary>
    public float StyleWeight { get; }

    /// <summary>γ.</summary>
    public float TotalVariationWeight { get; }

    /// <summary>The content term's loss.</summary>
    public FeatureReconstructionLoss Content { get; }

    /// <summary>The style term's loss.</summary>
    public GramStyleLoss Style { get; }

    /// <summary>The regularizer.</summary>
    public TotalVariationLoss TotalVariation { get; }

    /// <summary>Fused forward+backward: L, its parts, every layer's gradient and the image's.</summary>
    /// <param name="layers">The layers (each with a gradient).</param>
    /// <param name="image">The generated image and its gradient; default: no total variation term.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> over images (the papers') or <see cref="Reduction.Sum"/>, for every term.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its parts.</returns>
    public ContentStyleResult ForwardBackward(ReadOnlySpan<ContentStyleLayer> layers, ContentStyleImage image = default, Reduction reduction = Reduction.Mean,
        float upstream = 1f)
    {
        var parts = new SpanParts(this, layers, image);
        var ops = default(SpanBufferOps);
        return ContentStyleDriver.Run<SpanParts, ReadOnlyMemory<float>, SpanBufferOps>(this, ref parts, ref ops, reduction, upstream, backward: true);
    }

    /// <summary>Forward only.</summary>
    /// <param name="layers">The layers (their gradients are not used).</param>
    /// <param name="image">The generated image; default: no total variation term.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L and its parts.</returns>
    public ContentStyleResult Forward(ReadOnlySpan<ContentStyleLayer> layers, ContentStyleImage image = default, Reduction reduction = Reduction.Mean)
    {
        var parts = new SpanParts(this, layers, image);
        var ops = default(SpanBufferOps);
        return ContentStyleDriver.Run<SpanParts, ReadOnlyMemory<float>, SpanBufferOps>(this, ref parts, ref ops, reduction, 1f, backward: false);
    }

    /// <summary>Backward only: every gradient (the style's needs its Gram, so the work is the fused call's).</summary>
    /// <param name="layers">The layers (each with a gradient).</param>
    /// <param name="image">The generated image and its gradient; default: no total variation term.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<ContentStyleLayer> layers, ContentStyleImage image, float upstream, Reduction reduction = Reduction.Mean) =>
        ForwardBackward(layers, image, reduction, upstream);

    /// <summary>A fused call's checks without its work (the catalog's binding).</summary>
    internal void Check(ReadOnlySpan<ContentStyleLayer> layers, ContentStyleImage image, Reduction reduction)
    {
        var parts = new SpanParts(this, layers, image);
        var ops = default(SpanBufferOps);
        ContentStyleDriver.Check<SpanParts, ReadOnlyMemory<float>, SpanBufferOps>(this, ref parts, ref ops, reduction, backward: true);
    }

    /// <summary>The terms on spans: the single-layer losses' CPU passes.</summary>
    private readonly ref struct SpanParts(ContentStyleLoss loss, ReadOnlySpan<ContentStyleLayer> layers, ContentStyleImage image)
        : IContentStyleParts<ReadOnlyMemory<float>>
    {
        private readonly ReadOnlySpan<ContentStyleLayer> layers = layers;

        public int Layers => layers.Length;

        public bool HasImage => !image.Pixels.IsEmpty || image.Images > 0;

        public ContentStyleParts<ReadOnlyMemory<float>> Layer(int layer)
        {
            ContentStyleLayer l = layers[layer];
            return new(l.Input, l.InputGrad, l.Images, l.Channels, !l.ContentTarget.IsEmpty, l.ContentTarget, l.ContentWeight, !l.StyleGram.IsEmpty, l.StyleGram,
                l.StyleWeight);
        }

        public ContentStyleImageParts<ReadOnlyMemory<float>> Image() => new(image.Pixels, image.PixelsGrad, image.Images, image.Channels, image.Height, image.Width);

        public float Content(int layer, Reduction reduction, float upstream, bool backward)
        {
            ContentStyleLayer l = layers[layer];
            return backward
                ? loss.Content.ForwardBackward(l.Input.Span, l.ContentTarget.Span, l.Images, l.InputGrad.Span, reduction, upstream)
                : loss.Content.Forward(l.Input.Span, l.ContentTarget.Span, l.Images, reduction);
        }

        public float Style(int layer, Reduction reduction, float upstream, bool backward, bool accumulate)
        {
            ContentStyleLayer l = layers[layer];
            GramStyleShape shape = GramStyleShape.OfCall(l.Input.Length, l.StyleGram.Length, l.Images, l.Channels, reduction);
            Span<float> gradient = backward ? l.InputGrad.Span.Slice(0, l.Input.Length) : default;
            return loss.Style.Run(l.Input.Span, l.StyleGram.Span, shape, gradient, reduction, upstream, accumulate);
        }

        public float TotalVariation(Reduction reduction, float upstream, bool backward)
        {
            ReadOnlySpan<float> pixels = image.Pixels.Span;
            return backward
                ? loss.TotalVariation.ForwardBackward(pixels, image.Images, image.Channels, image.Height, image.Width, image.PixelsGrad.Span, reduction, upstream)
                : loss.TotalVariation.Forward(pixels, image.Images, image.Channels, image.Height, image.Width, reduction);
        }
    }
}

/// <summary>A <see cref="ContentStyleLoss"/> layer on one backend's buffers: its features and gradient, extents, and terms with their targets and weights.</summary>
internal readonly record struct ContentStyleParts<TBuffer>(TBuffer Input, TBuffer InputGrad, int Images, int Channels, bool Content, TBuffer ContentTarget,
    float ContentWeight, bool Style, TBuffer StyleGram, float StyleWeight);

/// <summary>A <see cref="ContentStyleLoss"/> call's image on one backend's buffers.</summary>
internal readonly record struct ContentStyleImageParts<TBuffer>(TBuffer Pixels, TBuffer PixelsGrad, int Images, int Channels, int Height, int Width);

/// <summary>
/// A <see cref="ContentStyleLoss"/> call on one backend: its layers and image as buffers the driver checks (with the backend's
/// <see cref="IBufferOps{TBuffer}"/>), and each term's single-layer loss, run by <see cref="ContentStyleDriver"/>.
/// </summary>
internal interface IContentStyleParts<TBuffer>
{
    /// <summary>The layers.</summary>
    int Layers { get; }

    /// <summary>Whether the call has an image (a total variation term).</summary>
    bool HasImage { get; }

    /// <summary>Layer <paramref name="layer"/>.</summary>
    ContentStyleParts<TBuffer> Layer(int layer);

    /// <summary>The image (when <see cref="HasImage"/>).</summary>
    ContentStyleImageParts<TBuffer> Image();

    /// <summary>The layer's content loss, and with <paramref name="backward"/> its gradient written with the given upstream.</summary>
    float Content(int layer, Reduction reduction, float upstream, bool backward);

    /// <summary>The layer's style loss, and with <paramref name="backward"/> its gradient written, or added to the gradient's values.</summary>
    float Style(int layer, Reduction reduction, float upstream, bool backward, bool accumulate);

    /// <summary>The image's total variation, and with <paramref name="backward"/> its gradient written.</summary>
    float TotalVariation(Reduction reduction, float upstream, bool backward);
}

/// <summary>
/// <see cref="ContentStyleLoss"/>'s one call, written once for every backend: every layer and the image checked, then each layer's content
/// term (its gradient written), its style term (its gradient added where the layer has a content term, else written), and the image's
/// total variation; the weights folded into each term's upstream, the parts added in double in layer order.
/// </summary>
internal static class ContentStyleDriver
{
    public static ContentStyleResult Run<TParts, TBuffer, TOps>(in ContentStyleLoss loss, scoped ref TParts parts, scoped ref TOps ops, Reduction reduction,
        float upstream, bool backward)
        where TParts : IContentStyleParts<TBuffer>, allows ref struct
        where TOps : IBufferOps<TBuffer>, allows ref struct
    {
        Check<TParts, TBuffer, TOps>(loss, ref parts, ref ops, reduction, backward);
        double content = 0, style = 0;
        for (int l = 0; l < parts.Layers; l++)
        {
            ContentStyleParts<TBuffer> layer = parts.Layer(l);
            if (layer.Content)
                content += (double)layer.ContentWeight * parts.Content(l, reduction, upstream * loss.ContentWeight * layer.ContentWeight, backward);
            if (layer.Style)
                style += (double)layer.StyleWeight * parts.Style(l, reduction, upstream * loss.StyleWeight * layer.StyleWeight, backward, accumulate: layer.Content);
        }

        double tv = parts.HasImage ? parts.TotalVariation(reduction, upstream * loss.TotalVariationWeight, backward) : 0d;
        double total = loss.ContentWeight * content + loss.StyleWeight * style + loss.TotalVariationWeight * tv;
        return new ContentStyleResult((float)total, (float)content, (float)style, (float)tv);
    }

    /// <summary>
    /// Every layer's and the image's extents, and that no gradient touches what another part reads or writes (a layer's gradient may be its
    /// own features' memory when it has no style term, which reads them while the gradient is written); before anything runs.
    /// </summary>
    public static void Check<TParts, TBuffer, TOps>(in ContentStyleLoss loss, scoped ref TParts parts, scoped ref TOps ops, Reduction reduction, bool backward)
        where TParts : IContentStyleParts<TBuffer>, allows ref struct
        where TOps : IBufferOps<TBuffer>, allows ref struct
    {
        const string Layers = "layers";
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.Argument(nameof(reduction), "The content and style loss reduces by the mean or the sum over images.");
        for (int l = 0; l < parts.Layers; l++)
        {
            ContentStyleParts<TBuffer> layer = parts.Layer(l);
            if (!ops.IsPresent(layer.Input) && (layer.Content || layer.Style) && layer.Images > 0)
                ThrowHelper.Argument(Layers, $"layer {l} has no features.");
            foreach (TBuffer buffer in (ReadOnlySpan<TBuffer>)[layer.Input, layer.ContentTarget, layer.StyleGram, layer.InputGrad])
            {
                if (ops.IsPresent(buffer))
                    ops.Validate(buffer);
            }

            if (layer.Content)
            {
                FeatureReconstructionLoss.Scale(ops.Length(layer.Input), layer.Images, reduction, out _);
                ThrowHelper.IfLengthDiffers(ops.Length(layer.Input), ops.Length(layer.ContentTarget), Layers);
                ThrowHelper.IfNotFinite(layer.ContentWeight, Layers);
            }

            if (layer.Style)
            {
                GramStyleShape.OfCall(ops.Length(layer.Input), ops.Length(layer.StyleGram), layer.Images, layer.Channels, reduction);
                ThrowHelper.IfNotFinite(layer.StyleWeight, Layers);
            }

            if (!backward || !(layer.Content || layer.Style) || ops.Length(layer.Input) == 0)
                continue;
            ThrowHelper.IfTooShort(ops.Length(layer.Input), ops.Length(layer.InputGrad), Layers);
            TBuffer written = ops.Prefix(layer.InputGrad, ops.Length(layer.Input));
            long? inPlace = ops.Offset(layer.Input, written);
            if (inPlace is not null && (layer.Style || inPlace != 0))
                ThrowHelper.Argument(Layers, $"layer {l}'s gradient overlaps its features: it may be their memory only without a style term (which reads them while it is written).");
            for (int other = 0; other < parts.Layers; other++)
            {
                ContentStyleParts<TBuffer> read = parts.Layer(other);
                bool overlaps = Shares(ref ops, read.ContentTarget, written) || Shares(ref ops, read.StyleGram, written)
                    || (other != l && (Shares(ref ops, read.Input, written) || Shares(ref ops, ops.Prefix(read.InputGrad, ops.Length(read.Input)), written)));
                if (overlaps)
                    ThrowHelper.Argument(Layers, $"layer {l}'s gradient overlaps layer {other}'s features, targets or gradient.");
            }

            if (parts.HasImage && (Shares(ref ops, parts.Image().Pixels, written) || Shares(ref ops, parts.Image().PixelsGrad, written)))
                ThrowHelper.Argument(Layers, $"layer {l}'s gradient overlaps the image or its gradient.");
        }

        if (!parts.HasImage)
            return;
        ContentStyleImageParts<TBuffer> image = parts.Image();
        foreach (TBuffer buffer in (ReadOnlySpan<TBuffer>)[image.Pixels, image.PixelsGrad])
        {
            if (ops.IsPresent(buffer))
                ops.Validate(buffer);
        }

        var shape = new TotalVariationShape(image.Images, image.Channels, image.Height, image.Width);
        ThrowHelper.IfLengthDiffers(shape.Elements, ops.Length(image.Pixels), "image");
        TotalVariationDriver.Check(loss.TotalVariation, ops.Length(image.Pixels), shape);
        if (!backward)
            return;
        ThrowHelper.IfTooShort(ops.Length(image.Pixels), ops.Length(image.PixelsGrad), "image");
        TBuffer pixelsGrad = ops.Prefix(image.PixelsGrad, ops.Length(image.Pixels));
        if (Shares(ref ops, image.Pixels, pixelsGrad))
            ThrowHelper.Argument("image", "The image's gradient must not overlap the image (each pixel's gradient reads its neighbours).");
        for (int l = 0; l < parts.Layers; l++)
        {
            ContentStyleParts<TBuffer> read = parts.Layer(l);
            if (Shares(ref ops, read.Input, pixelsGrad) || Shares(ref ops, read.ContentTarget, pixelsGrad) || Shares(ref ops, read.StyleGram, pixelsGrad))
                ThrowHelper.Argument("image", $"The image's gradient overlaps layer {l}'s features or targets.");
        }
    }

    private static bool Shares<TOps, TBuffer>(scoped ref TOps ops, TBuffer read, TBuffer written)
        where TOps : IBufferOps<TBuffer>, allows ref struct =>
        ops.Offset(read, written) is not null;
}
