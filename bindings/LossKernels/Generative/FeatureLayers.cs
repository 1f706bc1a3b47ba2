namespace LossKernels.Generative;

/// <summary>
/// What the layer drivers (<see cref="FeatureLayersDriver"/>, <see cref="ContentStyleDriver"/>) need of one backend's buffers to check a call
/// over several layers: lengths, presence, the device, and which memory a gradient shares with what.
/// </summary>
internal interface IBufferOps<TBuffer>
{
    /// <summary>The buffer's floats (0 when absent).</summary>
    long Length(TBuffer buffer);

    /// <summary>Whether the buffer is given.</summary>
    bool IsPresent(TBuffer buffer);

    /// <summary>Throws when a given buffer cannot be used: disposed, or on another device than the call's first.</summary>
    void Validate(TBuffer buffer);

    /// <summary>The buffer's first <paramref name="length"/> floats (what a call writes of a gradient; the whole buffer where a backend cannot slice).</summary>
    TBuffer Prefix(TBuffer buffer, long length);

    /// <summary>Where <paramref name="written"/> starts from <paramref name="read"/>'s start when they share memory (0: the same memory), else null.</summary>
    long? Offset(TBuffer read, TBuffer written);
}

/// <summary>Spans' memory: always usable, sliced exactly, overlapping by address.</summary>
internal readonly struct SpanBufferOps : IBufferOps<ReadOnlyMemory<float>>
{
    public long Length(ReadOnlyMemory<float> buffer) => buffer.Length;

    public bool IsPresent(ReadOnlyMemory<float> buffer) => !buffer.IsEmpty;

    public void Validate(ReadOnlyMemory<float> buffer)
    {
    }

    public ReadOnlyMemory<float> Prefix(ReadOnlyMemory<float> buffer, long length) => buffer.Slice(0, (int)Math.Min(buffer.Length, length));

    public long? Offset(ReadOnlyMemory<float> read, ReadOnlyMemory<float> written) => read.Span.Overlaps(written.Span, out int offset) ? offset : null;
}

/// <summary>One <see cref="FeatureReconstructionLoss"/> layer on one backend's buffers.</summary>
internal readonly record struct FeatureLayerParts<TBuffer>(TBuffer Input, TBuffer Target, TBuffer InputGrad, int Images, float Weight);

/// <summary>A call's feature layers on one backend, and the single-layer loss each runs.</summary>
internal interface IFeatureLayers<TBuffer>
{
    /// <summary>The layers.</summary>
    int Layers { get; }

    /// <summary>Layer <paramref name="layer"/>.</summary>
    FeatureLayerParts<TBuffer> Layer(int layer);

    /// <summary>The layer's loss, and with <paramref name="backward"/> its gradient written with the given upstream.</summary>
    float Run(int layer, Reduction reduction, float upstream, bool backward);
}

/// <summary>
/// <see cref="FeatureReconstructionLoss"/> over several layers, written once for every backend (and the topology-aware loss's feature term):
/// every layer checked before the first runs, then L = Σ_l w_l·L_l in double in layer order, each layer's gradient w_l times its own.
/// </summary>
internal static class FeatureLayersDriver
{
    public static float Run<TLayers, TBuffer>(scoped ref TLayers layers, Reduction reduction, float upstream, bool backward, Span<float> layerLosses)
        where TLayers : IFeatureLayers<TBuffer>, allows ref struct
    {
        double total = 0;
        for (int l = 0; l < layers.Layers; l++)
        {
            FeatureLayerParts<TBuffer> layer = layers.Layer(l);
            float value = layers.Run(l, reduction, upstream * layer.Weight, backward);
            total += (double)layer.Weight * value;
            if (!layerLosses.IsEmpty)
                layerLosses[l] = value;
        }

        return (float)total;
    }

    /// <summary>A layer's weight, times its C·H·W (its length over N; 0 for no images) for a per-image squared norm in place of a mean over elements.</summary>
    public static float Weight(float weight, long length, int images, bool perImageSum) =>
        perImageSum ? (float)(weight * (images > 0 ? (double)length / images : 0d)) : weight;

    /// <summary>
    /// Every layer's extents and weight; with <paramref name="backward"/>, that a gradient is its own layer's input or disjoint from it and
    /// touches nothing another layer reads or writes, nor any of <paramref name="outside"/> (what the call's other parts read or write).
    /// </summary>
    public static void Check<TLayers, TBuffer, TOps>(scoped ref TLayers layers, scoped ref TOps ops, Reduction reduction, bool backward, int layerLosses,
        scoped ReadOnlySpan<TBuffer> outside)
        where TLayers : IFeatureLayers<TBuffer>, allows ref struct
        where TOps : IBufferOps<TBuffer>, allows ref struct
    {
        const string Layers = "layers";
        if (layerLosses > 0)
            ThrowHelper.IfTooShort(layers.Layers, layerLosses, "layerLosses");
        for (int l = 0; l < layers.Layers; l++)
        {
            FeatureLayerParts<TBuffer> layer = layers.Layer(l);
            foreach (TBuffer buffer in (ReadOnlySpan<TBuffer>)[layer.Input, layer.Target, layer.InputGrad])
            {
                if (ops.IsPresent(buffer))
                    ops.Validate(buffer);
            }

            long length = ops.Length(layer.Input);
            FeatureReconstructionLoss.Scale(length, layer.Images, reduction, out _);
            ThrowHelper.IfNotFinite(layer.Weight, Layers);
            ThrowHelper.IfLengthDiffers(length, ops.Length(layer.Target), Layers);
            if (!backward || length == 0)
                continue;
            ThrowHelper.IfTooShort(length, ops.Length(layer.InputGrad), Layers);
            TBuffer written = ops.Prefix(layer.InputGrad, length);
            if (ops.Offset(layer.Input, written) is long offset && offset != 0)
                ThrowHelper.Argument(Layers, $"layer {l}'s gradient overlaps its input at an offset of {offset} elements; it must be the same memory or disjoint.");
            for (int other = 0; other < layers.Layers; other++)
            {
                FeatureLayerParts<TBuffer> read = layers.Layer(other);
                bool overlaps = ops.Offset(read.Target, written) is not null
                    || (other != l && (ops.Offset(read.Input, written) is not null || ops.Offset(ops.Prefix(read.InputGrad, ops.Length(read.Input)), written) is not null));
                if (overlaps)
                    ThrowHelper.Argument(Layers, $"layer {l}'s gradient overlaps layer {other}'s features or gradient.");
            }

            foreach (TBuffer buffer in outside)
            {
                if (ops.Offset(buffer, written) is not null)
                    ThrowHelper.Argument(Layers, $"layer {l}'s gradient overlaps another input or gradient of the call.");
            }
        }
    }
}
