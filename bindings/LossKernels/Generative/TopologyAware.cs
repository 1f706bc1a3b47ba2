using LossKernels.Classification;

namespace LossKernels.Generative;

/// <summary>A <see cref="TopologyAwareLoss"/> call's value and its parts: <c>Loss = CrossEntropy + μ·Topology</c>.</summary>
/// <param name="Loss">L.</param>
/// <param name="CrossEntropy">The pixels' binary cross entropy with logits.</param>
/// <param name="Topology">Σ_l w_l·ℓ_l over the feature layers, before μ.</param>
public readonly record struct TopologyAwareResult(float Loss, float CrossEntropy, float Topology);

/// <summary>
/// The topology-aware loss of Mosinska et al. 2018 (thin-structure delineation): the mask logits' binary cross entropy plus μ times the
/// distance between the feature maps (VGG's, in the paper) of the predicted probabilities σ(x) and of the true mask:
/// <c>L = BCE(x, m) + μ·Σ_l w_l·ℓ_l</c>, with <c>ℓ_l = ‖φ_l(σ(x)) − φ_l(m)‖²</c> per image (the paper's squared norm, summed over the
/// layer's channels and positions), or that over C·H·W (<see cref="FeatureMean"/>: <c>F.mse_loss</c> per layer); the BCE the mean over
/// pixels and the feature terms the mean over images (or both sums). Gradients: to the logits <c>(σ(x) − m)/count</c> (the BCE's part;
/// /count for the mean), and to each layer's predicted features <c>μ·w_l·2(φ_l(σ(x)) − φ_l(m))/N</c> (/(N·C·H·W) with
/// <see cref="FeatureMean"/>), times the upstream gradient; the engine chains the features' back through its network and σ, and adds that to
/// the logits' gradient.
/// </summary>
/// <remarks>
/// <para>Reference: the paper's <c>L_bce + μ·L_top</c> with <c>L_top = Σ_n Σ_m ‖l_n^m(y) − l_n^m(f(x))‖²</c>, written in PyTorch as
/// <c>F.binary_cross_entropy_with_logits(x, m) + mu·Σ_l w_l·((phi_l(sigmoid(x)) − phi_l(m))**2).sum() / N</c> for the golden cases.
/// Differences: the network φ is the engine's, so this returns the features' gradient rather than the logits' total; the mask's features
/// are constants (the paper's too); the mean or the sum only.</para>
/// <para>The work: one elementwise <see cref="BinaryCrossEntropyWithLogitsLoss"/> pass over the pixels and one
/// <see cref="FeatureReconstructionLoss"/> pass per layer (threads, the same bits for any thread count, nothing allocated per call). Every
/// argument is checked before the first pass; the logits' gradient may be the logits' memory, a layer's gradient its features' memory.</para>
/// </remarks>
public readonly partial struct TopologyAwareLoss
{
    /// <summary>μ = 1, the paper's squared norms.</summary>
    public TopologyAwareLoss()
        : this(1f)
    {
    }

    /// <summary>With the given weight and feature norm.</summary>
    /// <param name="mu">μ, the feature terms' weight (finite, ≥ 0).</param>
    /// <param name="featureMean">Divide each layer's squared norm by its C·H·W (<c>F.mse_loss</c>) rather than take it whole (the paper's).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mu"/> is negative or not finite.</exception>
    public TopologyAwareLoss(float mu, bool featureMean = false)
    {
        ThrowHelper.IfNegative(mu, nameof(mu));
        Mu = mu;
        FeatureMean = featureMean;
    }

    /// <summary>μ.</summary>
    public float Mu { get; }

    /// <summary>Whether each layer's term is its mean over C·H·W rather than its squared norm.</summary>
    public bool FeatureMean { get; }

    /// <summary>Fused forward+backward: L, its parts, the logits' gradient and every layer's.</summary>
    /// <param name="logits">x, the mask logits (any shape, n values).</param>
    /// <param name="mask">m, n values in [0, 1].</param>
    /// <param name="logitsGrad">Receives n floats; may be <paramref name="logits"/> itself.</param>
    /// <param name="layers">φ_l(σ(x)) and φ_l(m) per layer, each with its weight and gradient.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (the BCE over pixels, the features over images) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its parts.</returns>
    public TopologyAwareResult ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> mask, Span<float> logitsGrad, ReadOnlySpan<FeatureLayer> layers,
        Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        Run(logits, mask, logitsGrad, layers, reduction, upstream, backward: true);

    /// <summary>Forward only.</summary>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="layers">The feature layers (their gradients are not used).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L and its parts.</returns>
    public TopologyAwareResult Forward(ReadOnlySpan<float> logits, ReadOnlySpan<float> mask, ReadOnlySpan<FeatureLayer> layers, Reduction reduction = Reduction.Mean) =>
        Run(logits, mask, default, layers, reduction, 1f, backward: false);

    /// <summary>Backward only: the logits' and every layer's gradient.</summary>
    /// <param name="logits">x, n values.</param>
    /// <param name="mask">m, n values.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives n floats.</param>
    /// <param name="layers">The feature layers, each with its gradient.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<float> mask, float upstream, Span<float> logitsGrad, ReadOnlySpan<FeatureLayer> layers,
        Reduction reduction = Reduction.Mean) =>
        Run(logits, mask, logitsGrad, layers, reduction, upstream, backward: true);

    /// <summary>L = BCE + μ·topology, and its parts.</summary>
    internal TopologyAwareResult Result(float crossEntropy, float topology) => new((float)(crossEntropy + (double)Mu * topology), crossEntropy, topology);

    private TopologyAwareResult Run(ReadOnlySpan<float> logits, ReadOnlySpan<float> mask, Span<float> logitsGrad, ReadOnlySpan<FeatureLayer> layers, Reduction reduction,
        float upstream, bool backward)
    {
        var parts = new FeatureReconstructionLoss.SpanLayers(default, layers, perImageSum: !FeatureMean);
        var ops = default(SpanBufferOps);
        TopologyAwareChecks.Reduction(reduction);
        ThrowHelper.IfLengthDiffers(logits.Length, mask.Length, "mask");
        if (backward && !logits.IsEmpty)
        {
            ThrowHelper.IfTooShort(logits.Length, logitsGrad.Length, nameof(logitsGrad));
            ReadOnlySpan<float> written = logitsGrad.Slice(0, logits.Length);
            ThrowHelper.IfPartialOverlap(logits, written, nameof(logitsGrad));
            ThrowHelper.IfOverlaps(mask, written, nameof(logitsGrad), nameof(mask));
            for (int l = 0; l < layers.Length; l++)
            {
                FeatureLayer layer = layers[l];
                ReadOnlySpan<float> layerGrad = layer.InputGrad.Span.Slice(0, Math.Min(layer.InputGrad.Length, layer.Input.Length));
                if (layer.Input.Span.Overlaps(written) || layer.Target.Span.Overlaps(written) || layerGrad.Overlaps(written))
                    ThrowHelper.Argument(nameof(logitsGrad), $"logitsGrad overlaps layer {l}'s features or gradient.");
                if (layerGrad.Overlaps(logits) || layerGrad.Overlaps(mask))
                    ThrowHelper.Argument(nameof(layers), $"layer {l}'s gradient overlaps the logits or the mask.");
            }
        }

        FeatureLayersDriver.Check<FeatureReconstructionLoss.SpanLayers, ReadOnlyMemory<float>, SpanBufferOps>(ref parts, ref ops, reduction, backward, 0, []);
        var bce = new BinaryCrossEntropyWithLogitsLoss();
        float crossEntropy = backward ? bce.ForwardBackward(logits, mask, logitsGrad.Slice(0, logits.Length), reduction, upstream: upstream) : bce.Forward(logits, mask, reduction);
        float topology = FeatureLayersDriver.Run<FeatureReconstructionLoss.SpanLayers, ReadOnlyMemory<float>>(ref parts, reduction, upstream * Mu, backward, default);
        return Result(crossEntropy, topology);
    }
}

/// <summary>The checks every backend's <see cref="TopologyAwareLoss"/> call makes before its first pass.</summary>
internal static class TopologyAwareChecks
{
    /// <summary>Throws unless the reduction is the mean or the sum.</summary>
    public static void Reduction(Reduction reduction)
    {
        if (reduction is not (LossKernels.Reduction.Mean or LossKernels.Reduction.Sum))
            ThrowHelper.Argument(nameof(reduction), "The topology-aware loss reduces by the mean or the sum.");
    }

    /// <summary>
    /// On device buffers: the logits and the mask of one length, the logits' gradient long enough and the logits' buffer or another than
    /// the mask's and every layer's; the layers as <see cref="FeatureLayersDriver"/> checks them, their gradients other buffers than the
    /// logits', the mask's and the logits' gradient's. (The span overloads check the same with the spans' overlaps.)
    /// </summary>
    public static void Check<TLayers, TBuffer, TOps>(scoped ref TLayers layers, scoped ref TOps ops, TBuffer logits, TBuffer mask, TBuffer logitsGrad,
        Reduction reduction, bool backward)
        where TLayers : IFeatureLayers<TBuffer>, allows ref struct
        where TOps : IBufferOps<TBuffer>, allows ref struct
    {
        Reduction(reduction);
        foreach (TBuffer buffer in (ReadOnlySpan<TBuffer>)[logits, mask, logitsGrad])
        {
            if (ops.IsPresent(buffer))
                ops.Validate(buffer);
        }

        long n = ops.Length(logits);
        ThrowHelper.IfLengthDiffers(n, ops.Length(mask), "mask");
        bool writes = backward && n > 0;
        TBuffer written = ops.Prefix(logitsGrad, n);
        if (writes)
        {
            ThrowHelper.IfTooShort(n, ops.Length(logitsGrad), "logitsGrad");
            if (ops.Offset(logits, written) is long offset && offset != 0)
                ThrowHelper.Argument("logitsGrad", $"logitsGrad overlaps the logits at an offset of {offset} elements; it must be the same memory or disjoint.");
            if (ops.Offset(mask, written) is not null)
                ThrowHelper.Argument("logitsGrad", "logitsGrad must not overlap the mask.");
            for (int l = 0; l < layers.Layers; l++)
            {
                FeatureLayerParts<TBuffer> layer = layers.Layer(l);
                TBuffer layerGrad = ops.Prefix(layer.InputGrad, ops.Length(layer.Input));
                if (ops.Offset(layer.Input, written) is not null || ops.Offset(layer.Target, written) is not null || ops.Offset(layerGrad, written) is not null)
                    ThrowHelper.Argument("logitsGrad", $"logitsGrad overlaps layer {l}'s features or gradient.");
            }
        }

        FeatureLayersDriver.Check<TLayers, TBuffer, TOps>(ref layers, ref ops, reduction, backward, 0, writes ? [logits, mask, written] : [logits, mask]);
    }
}
