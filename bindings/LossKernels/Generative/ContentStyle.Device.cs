using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>One layer of a <see cref="ContentStyleLoss"/> call on an OpenCL device, as <see cref="ContentStyleLayer"/>.</summary>
/// <param name="Input">φ_l(ŷ), N·C·H·W floats.</param>
/// <param name="InputGrad">Receives the layer's gradient (null for a forward call).</param>
/// <param name="Images">N.</param>
/// <param name="Channels">C.</param>
/// <param name="ContentTarget">φ_l(y), or null: no content term at this layer.</param>
/// <param name="ContentWeight">The layer's content weight.</param>
/// <param name="StyleGram">The style's Gram, C² or N·C² floats, or null: no style term.</param>
/// <param name="StyleWeight">The layer's style weight.</param>
public readonly record struct ContentStyleDeviceLayer(DeviceBuffer<float> Input, DeviceBuffer<float>? InputGrad, int Images, int Channels,
    DeviceBuffer<float>? ContentTarget = null, float ContentWeight = 1f, DeviceBuffer<float>? StyleGram = null, float StyleWeight = 1f);

/// <summary>The generated image of a <see cref="ContentStyleLoss"/> call on an OpenCL device, as <see cref="ContentStyleImage"/>.</summary>
/// <param name="Pixels">ŷ, N·C·H·W floats.</param>
/// <param name="PixelsGrad">Receives the total variation part of its gradient (null for a forward call).</param>
/// <param name="Images">N.</param>
/// <param name="Channels">C.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
public readonly record struct ContentStyleDeviceImage(DeviceBuffer<float> Pixels, DeviceBuffer<float>? PixelsGrad, int Images, int Channels, int Height, int Width);

public readonly partial struct ContentStyleLoss
{
    /// <summary>
    /// Fused forward+backward on an OpenCL device: the span overload's L, parts and gradients, each term the single-layer loss's kernels
    /// (the style's D·F product adding to the content's gradient where a layer has both).
    /// </summary>
    /// <param name="layers">The layers (each with a gradient).</param>
    /// <param name="image">The generated image and its gradient, or null: no total variation term.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its parts.</returns>
    public ContentStyleResult ForwardBackward(ReadOnlySpan<ContentStyleDeviceLayer> layers, ContentStyleDeviceImage? image = null,
        Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        var parts = new DeviceParts(this, layers, image);
        var ops = default(OpenCLBufferOps);
        return ContentStyleDriver.Run<DeviceParts, DeviceBuffer<float>?, OpenCLBufferOps>(this, ref parts, ref ops, reduction, upstream, backward: true);
    }

    /// <summary>Forward only on an OpenCL device.</summary>
    /// <param name="layers">The layers.</param>
    /// <param name="image">The generated image, or null.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L and its parts.</returns>
    public ContentStyleResult Forward(ReadOnlySpan<ContentStyleDeviceLayer> layers, ContentStyleDeviceImage? image = null, Reduction reduction = Reduction.Mean)
    {
        var parts = new DeviceParts(this, layers, image);
        var ops = default(OpenCLBufferOps);
        return ContentStyleDriver.Run<DeviceParts, DeviceBuffer<float>?, OpenCLBufferOps>(this, ref parts, ref ops, reduction, 1f, backward: false);
    }

    /// <summary>Backward only on an OpenCL device.</summary>
    /// <param name="layers">The layers (each with a gradient).</param>
    /// <param name="image">The generated image and its gradient, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<ContentStyleDeviceLayer> layers, ContentStyleDeviceImage? image, float upstream, Reduction reduction = Reduction.Mean) =>
        ForwardBackward(layers, image, reduction, upstream);

    /// <summary>The terms on OpenCL buffers: the single-layer losses' device calls.</summary>
    private readonly ref struct DeviceParts(ContentStyleLoss loss, ReadOnlySpan<ContentStyleDeviceLayer> layers, ContentStyleDeviceImage? image)
        : IContentStyleParts<DeviceBuffer<float>?>
    {
        private readonly ReadOnlySpan<ContentStyleDeviceLayer> layers = layers;

        public int Layers => layers.Length;

        public bool HasImage => image is not null;

        public ContentStyleParts<DeviceBuffer<float>?> Layer(int layer)
        {
            ContentStyleDeviceLayer l = layers[layer];
            return new(l.Input, l.InputGrad, l.Images, l.Channels, l.ContentTarget is not null, l.ContentTarget, l.ContentWeight, l.StyleGram is not null,
                l.StyleGram, l.StyleWeight);
        }

        public ContentStyleImageParts<DeviceBuffer<float>?> Image()
        {
            ContentStyleDeviceImage i = image!.Value;
            return new(i.Pixels, i.PixelsGrad, i.Images, i.Channels, i.Height, i.Width);
        }

        public float Content(int layer, Reduction reduction, float upstream, bool backward)
        {
            ContentStyleDeviceLayer l = layers[layer];
            return backward
                ? loss.Content.ForwardBackward(l.Input, l.ContentTarget!, l.Images, l.InputGrad!, reduction, upstream)
                : loss.Content.Forward(l.Input, l.ContentTarget!, l.Images, reduction);
        }

        public float Style(int layer, Reduction reduction, float upstream, bool backward, bool accumulate)
        {
            ContentStyleDeviceLayer l = layers[layer];
            return GramStyleDeviceLoss.Run(loss.Style, l.Input, l.StyleGram!, l.Images, l.Channels, backward ? l.InputGrad : null, reduction, upstream, accumulate);
        }

        public float TotalVariation(Reduction reduction, float upstream, bool backward)
        {
            ContentStyleDeviceImage i = image!.Value;
            return backward
                ? loss.TotalVariation.ForwardBackward(i.Pixels, i.Images, i.Channels, i.Height, i.Width, i.PixelsGrad!, reduction, upstream)
                : loss.TotalVariation.Forward(i.Pixels, i.Images, i.Channels, i.Height, i.Width, reduction);
        }
    }
}

/// <summary>OpenCL buffers: whole (a call writes all of a gradient buffer it is given), sharing memory when they are one buffer, on the call's first buffer's device.</summary>
internal struct OpenCLBufferOps : IBufferOps<DeviceBuffer<float>?>
{
    private OpenCLDevice? device;

    public readonly long Length(DeviceBuffer<float>? buffer) => buffer?.Length ?? 0;

    public readonly bool IsPresent(DeviceBuffer<float>? buffer) => buffer is not null;

    public void Validate(DeviceBuffer<float>? buffer)
    {
        buffer!.ThrowIfDisposed();
        device ??= buffer.Device;
        DeviceChecks.Buffer(buffer, device, -1, "layers");
    }

    public readonly DeviceBuffer<float>? Prefix(DeviceBuffer<float>? buffer, long length) => buffer;

    public readonly long? Offset(DeviceBuffer<float>? read, DeviceBuffer<float>? written) => read is not null && ReferenceEquals(read, written) ? 0 : null;
}
