using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Generative;

namespace LossKernels.ILGPU;

/// <summary>One layer of a <see cref="ContentStyleLoss"/> call on an engine's ILGPU memory, as <see cref="ContentStyleLayer"/>.</summary>
/// <param name="Input">φ_l(ŷ), N·C·H·W floats.</param>
/// <param name="InputGrad">Receives the layer's gradient (default for a forward call).</param>
/// <param name="Images">N.</param>
/// <param name="Channels">C.</param>
/// <param name="ContentTarget">φ_l(y), or default: no content term at this layer.</param>
/// <param name="ContentWeight">The layer's content weight.</param>
/// <param name="StyleGram">The style's Gram, C² or N·C² floats, or default: no style term.</param>
/// <param name="StyleWeight">The layer's style weight.</param>
public readonly record struct ContentStyleViewLayer(ArrayView<float> Input, ArrayView<float> InputGrad, int Images, int Channels,
    ArrayView<float> ContentTarget = default, float ContentWeight = 1f, ArrayView<float> StyleGram = default, float StyleWeight = 1f);

/// <summary>The generated image of a <see cref="ContentStyleLoss"/> call on ILGPU memory, as <see cref="ContentStyleImage"/>.</summary>
/// <param name="Pixels">ŷ, N·C·H·W floats.</param>
/// <param name="PixelsGrad">Receives the total variation part of its gradient (default for a forward call).</param>
/// <param name="Images">N.</param>
/// <param name="Channels">C.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
public readonly record struct ContentStyleViewImage(ArrayView<float> Pixels, ArrayView<float> PixelsGrad, int Images, int Channels, int Height, int Width);

/// <summary>
/// <see cref="ContentStyleLoss"/> on an engine's ILGPU memory: each term the single-layer loss's ILGPU kernels
/// (<see cref="IlgpuFeatureReconstructionLoss"/>, <see cref="IlgpuGramStyleLoss"/>, whose D·F tiles add to the content's gradient where a
/// layer has both, and <see cref="IlgpuTotalVariationLoss"/>), on one stream.
/// </summary>
public static class IlgpuContentStyleLoss
{
    /// <summary>Fused forward+backward: the span overload's L, parts and gradients.</summary>
    /// <param name="loss">The loss, its weights and terms.</param>
    /// <param name="layers">The layers (each with a gradient).</param>
    /// <param name="image">The generated image and its gradient, or null: no total variation term.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its parts.</returns>
    public static ContentStyleResult ForwardBackward(this ContentStyleLoss loss, ReadOnlySpan<ContentStyleViewLayer> layers, ContentStyleViewImage? image = null,
        Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        var parts = new ViewParts(loss, layers, image, stream);
        var ops = default(ViewBufferOps);
        return ContentStyleDriver.Run<ViewParts, ArrayView<float>, ViewBufferOps>(loss, ref parts, ref ops, reduction, upstream, backward: true);
    }

    /// <summary>Forward only.</summary>
    /// <param name="loss">The loss, its weights and terms.</param>
    /// <param name="layers">The layers.</param>
    /// <param name="image">The generated image, or null.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its parts.</returns>
    public static ContentStyleResult Forward(this ContentStyleLoss loss, ReadOnlySpan<ContentStyleViewLayer> layers, ContentStyleViewImage? image = null,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null)
    {
        var parts = new ViewParts(loss, layers, image, stream);
        var ops = default(ViewBufferOps);
        return ContentStyleDriver.Run<ViewParts, ArrayView<float>, ViewBufferOps>(loss, ref parts, ref ops, reduction, 1f, backward: false);
    }

    /// <summary>Backward only.</summary>
    /// <param name="loss">The loss, its weights and terms.</param>
    /// <param name="layers">The layers (each with a gradient).</param>
    /// <param name="image">The generated image and its gradient, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this ContentStyleLoss loss, ReadOnlySpan<ContentStyleViewLayer> layers, ContentStyleViewImage? image, float upstream,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        ForwardBackward(loss, layers, image, reduction, upstream, stream);

    /// <summary>The terms on ILGPU views.</summary>
    private readonly ref struct ViewParts(ContentStyleLoss loss, ReadOnlySpan<ContentStyleViewLayer> layers, ContentStyleViewImage? image, AcceleratorStream? stream)
        : IContentStyleParts<ArrayView<float>>
    {
        private readonly ReadOnlySpan<ContentStyleViewLayer> layers = layers;

        public int Layers => layers.Length;

        public bool HasImage => image is not null;

        public ContentStyleParts<ArrayView<float>> Layer(int layer)
        {
            ContentStyleViewLayer l = layers[layer];
            return new(l.Input, l.InputGrad, l.Images, l.Channels, ViewChecks.IsPresent(l.ContentTarget), l.ContentTarget, l.ContentWeight,
                ViewChecks.IsPresent(l.StyleGram), l.StyleGram, l.StyleWeight);
        }

        public ContentStyleImageParts<ArrayView<float>> Image()
        {
            ContentStyleViewImage i = image!.Value;
            return new(i.Pixels, i.PixelsGrad, i.Images, i.Channels, i.Height, i.Width);
        }

        public float Content(int layer, Reduction reduction, float upstream, bool backward)
        {
            ContentStyleViewLayer l = layers[layer];
            return backward
                ? loss.Content.ForwardBackward(l.Input, l.ContentTarget, l.Images, l.InputGrad, reduction, upstream, stream)
                : loss.Content.Forward(l.Input, l.ContentTarget, l.Images, reduction, stream);
        }

        public float Style(int layer, Reduction reduction, float upstream, bool backward, bool accumulate)
        {
            ContentStyleViewLayer l = layers[layer];
            return IlgpuGramStyleLoss.Run(loss.Style, l.Input, l.StyleGram, l.Images, l.Channels, backward ? default(ViewBufferOps).Prefix(l.InputGrad, l.Input.Length) : default,
                reduction, upstream, stream, accumulate);
        }

        public float TotalVariation(Reduction reduction, float upstream, bool backward)
        {
            ContentStyleViewImage i = image!.Value;
            return backward
                ? loss.TotalVariation.ForwardBackward(i.Pixels, i.Images, i.Channels, i.Height, i.Width, i.PixelsGrad, reduction, upstream, stream)
                : loss.TotalVariation.Forward(i.Pixels, i.Images, i.Channels, i.Height, i.Width, reduction, stream);
        }
    }
}

/// <summary>A <see cref="ContentStyleBoundLoss"/> on an ILGPU accelerator: the features and the content target as the run's input and target, the rest uploaded beside them.</summary>
internal sealed class IlgpuContentStyleRun : IlgpuRun
{
    private readonly ContentStyleBoundLoss bound;
    private readonly ArrayView<float> imageGrad;
    private readonly ContentStyleViewLayer[] layers;
    private readonly ContentStyleViewImage? generated;

    public IlgpuContentStyleRun(ContentStyleBoundLoss bound, IlgpuDevice device)
        : base(device, bound.input, bound.contentTarget ?? bound.input, [], [], null, extra: bound.styleGram)
    {
        this.bound = bound;
        layers = [new ContentStyleViewLayer(Input, Gradient, bound.images, bound.channels, bound.contentTarget is null ? default : Target, 1f, Extra, 1f)];
        if (bound.image is null)
            return;
        imageGrad = Allocate<float>(bound.image.Length);
        generated = new ContentStyleViewImage(Upload(bound.image), imageGrad, bound.imageShape[0], bound.imageShape[1], bound.imageShape[2], bound.imageShape[3]);
        device.Accelerator.Synchronize();
    }

    public override void Run(LossMode mode)
    {
        if (mode == LossMode.Forward)
            bound.Loss[0] = bound.loss.Forward(layers, generated, bound.reduction, Stream).Loss;
        else if (mode == LossMode.Fused)
            bound.Loss[0] = bound.loss.ForwardBackward(layers, generated, bound.reduction, bound.upstream, Stream).Loss;
        else
            bound.loss.Backward(layers, generated, bound.upstream, bound.reduction, Stream);
        Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        if (bound.ImageGradient is float[] image)
            imageGrad.CopyToCPU(image);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        Fill(imageGrad, value);
        Device.Accelerator.Synchronize();
    }
}
