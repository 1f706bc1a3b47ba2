using LossKernels.Regression;

namespace LossKernels.Generative;

/// <summary>
/// One layer's features for <see cref="FeatureReconstructionLoss"/>'s call over several layers: the prediction's and the target's features
/// at that layer (N images of C·H·W values each), the layer's weight, and where its gradient goes. The memory is the caller's; keep the
/// array of layers between calls and a call allocates nothing.
/// </summary>
/// <param name="Input">φ_l(ŷ), N·C·H·W floats.</param>
/// <param name="Target">φ_l(y), as many floats.</param>
/// <param name="InputGrad">Receives ∂(upstream·L)/∂φ_l(ŷ): weight_l times the layer's own gradient (empty for a forward call).</param>
/// <param name="Images">N.</param>
/// <param name="Weight">The layer's weight w_l.</param>
public readonly record struct FeatureLayer(ReadOnlyMemory<float> Input, ReadOnlyMemory<float> Target, Memory<float> InputGrad, int Images, float Weight = 1f);

/// <summary>
/// The feature reconstruction (perceptual, content) loss of Johnson et al. 2016 on one layer's features [N, C, H, W]:
/// per image <c>ℓ_n = ‖φ(ŷ)_n − φ(y)_n‖_p^p / (C·H·W)</c> (p = 2: the squared L2 norm; p = 1: the L1 variant), reduced by the mean over
/// images (the paper's; the same as the mean over all N·C·H·W elements) or the sum. Gradient with respect to the predicted features:
/// <c>2(φ(ŷ) − φ(y))/(C·H·W)</c> for p = 2, <c>sign(φ(ŷ) − φ(y))/(C·H·W)</c> for p = 1 (0 at 0), over N for the mean, times the upstream
/// gradient; the engine backpropagates it through its network. Over several layers (<see cref="ForwardBackward(ReadOnlySpan{FeatureLayer}, Reduction, float, Span{float})"/>)
/// L = Σ_l w_l·L_l, each layer's gradient w_l times its own.
/// </summary>
/// <remarks>
/// <para>Reference: <c>F.mse_loss(features_pred, features_target)</c> per layer (BasicSR's <c>PerceptualLoss</c> with
/// <c>criterion='l2'</c>, or <c>'l1'</c> for p = 1, and its <c>layer_weights</c>); the features are the engine's (VGG or another network).
/// Differences: <see cref="Reduction.Sum"/> over images; no <see cref="Reduction.None"/> (the per-image values are not kept: call once per
/// image for them); the target's features are constants (no gradient for them, as a detached VGG target). Where a difference is NaN the
/// p = 1 gradient is NaN (PyTorch's sign gives 0).</para>
/// <para>The work: one elementwise pass of <see cref="MseLoss"/> or <see cref="L1Loss"/> per layer (threads, the same bits for any thread
/// count, nothing allocated); the gradient may be the input's memory.</para>
/// </remarks>
public readonly partial struct FeatureReconstructionLoss
{
    /// <summary>The squared L2 norm (p = 2).</summary>
    public FeatureReconstructionLoss()
        : this(2)
    {
    }

    /// <summary>With the given norm.</summary>
    /// <param name="p">2 (the squared L2 norm) or 1 (L1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="p"/> is neither 1 nor 2.</exception>
    public FeatureReconstructionLoss(int p)
    {
        if (p is not (1 or 2))
            ThrowHelper.OutOfRange(nameof(p), p, "1 or 2");
        P = p;
    }

    /// <summary>The norm's p: 1 or 2 (0 for a default-constructed value, taken as 2).</summary>
    public int P { get; }

    /// <summary>Fused forward+backward on one layer: L and ∂(upstream·L)/∂input.</summary>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N (≥ 0; the length must be a multiple of it).</param>
    /// <param name="inputGrad">Receives as many floats; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> over images (the paper's) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L (NaN for the mean of no elements).</returns>
    public float ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, int images, Span<float> inputGrad, Reduction reduction = Reduction.Mean,
        float upstream = 1f)
    {
        float scale = Scale(input.Length, images, reduction, out Reduction inner);
        return P == 1
            ? scale * default(L1Loss).ForwardBackward(input, target, inputGrad, inner, upstream: upstream * scale)
            : scale * default(MseLoss).ForwardBackward(input, target, inputGrad, inner, upstream: upstream * scale);
    }

    /// <summary>Forward only on one layer.</summary>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, int images, Reduction reduction = Reduction.Mean)
    {
        float scale = Scale(input.Length, images, reduction, out Reduction inner);
        return scale * (P == 1 ? default(L1Loss).Forward(input, target, inner) : default(MseLoss).Forward(input, target, inner));
    }

    /// <summary>Backward only on one layer: ∂(upstream·L)/∂input.</summary>
    /// <param name="input">φ(ŷ), N·C·H·W floats.</param>
    /// <param name="target">φ(y), as many floats.</param>
    /// <param name="images">N.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives as many floats; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, int images, float upstream, Span<float> inputGrad,
        Reduction reduction = Reduction.Mean)
    {
        float scale = Scale(input.Length, images, reduction, out Reduction inner);
        if (P == 1)
            default(L1Loss).Backward(input, target, upstream * scale, inputGrad, inner);
        else
            default(MseLoss).Backward(input, target, upstream * scale, inputGrad, inner);
    }

    /// <summary>
    /// Fused forward+backward over several layers (what an engine passes after one forward of its feature network): L = Σ_l w_l·L_l, each
    /// layer's gradient written to its <see cref="FeatureLayer.InputGrad"/>. Every layer is checked before the first is run.
    /// </summary>
    /// <param name="layers">The layers.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>, for every layer.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="layerLosses">Receives each layer's L_l (unweighted) when not empty; at least as long as <paramref name="layers"/> then.</param>
    /// <returns>L.</returns>
    public float ForwardBackward(ReadOnlySpan<FeatureLayer> layers, Reduction reduction = Reduction.Mean, float upstream = 1f, Span<float> layerLosses = default)
    {
        var parts = new SpanLayers(this, layers, perImageSum: false);
        var ops = default(SpanBufferOps);
        FeatureLayersDriver.Check<SpanLayers, ReadOnlyMemory<float>, SpanBufferOps>(ref parts, ref ops, reduction, true, layerLosses.Length, []);
        return FeatureLayersDriver.Run<SpanLayers, ReadOnlyMemory<float>>(ref parts, reduction, upstream, true, layerLosses);
    }

    /// <summary>Forward only over several layers: L = Σ_l w_l·L_l.</summary>
    /// <param name="layers">The layers (their gradients are not used).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="layerLosses">Receives each layer's L_l when not empty.</param>
    /// <returns>L.</returns>
    public float Forward(ReadOnlySpan<FeatureLayer> layers, Reduction reduction = Reduction.Mean, Span<float> layerLosses = default)
    {
        var parts = new SpanLayers(this, layers, perImageSum: false);
        var ops = default(SpanBufferOps);
        FeatureLayersDriver.Check<SpanLayers, ReadOnlyMemory<float>, SpanBufferOps>(ref parts, ref ops, reduction, false, layerLosses.Length, []);
        return FeatureLayersDriver.Run<SpanLayers, ReadOnlyMemory<float>>(ref parts, reduction, 1f, false, layerLosses);
    }

    /// <summary>
    /// The factor between the elementwise pass's reduction and L: 1 for the mean (the mean over all elements), N/n for the sum over
    /// images (Σ/(C·H·W)); checks N and the reduction.
    /// </summary>
    internal static float Scale(long length, int images, Reduction reduction, out Reduction inner)
    {
        if (images < 0)
            ThrowHelper.OutOfRange(nameof(images), images, "≥ 0");
        if (images == 0 ? length != 0 : length % images != 0)
            ThrowHelper.Argument("input", $"input holds {length} values, not a whole number of images for {images} images.");
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.Argument(nameof(reduction), "The feature reconstruction loss reduces by the mean or the sum over images (call once per image for per-image values).");
        inner = reduction;
        return reduction == Reduction.Sum && length > 0 ? (float)((double)images / length) : 1f;
    }

    /// <summary>
    /// The layers on spans, each the single-layer call; with <paramref name="perImageSum"/> each layer's weight times C·H·W, so that its term is
    /// the squared norm per image (the topology-aware loss's) rather than its mean over the elements.
    /// </summary>
    internal readonly ref struct SpanLayers(FeatureReconstructionLoss loss, ReadOnlySpan<FeatureLayer> layers, bool perImageSum) : IFeatureLayers<ReadOnlyMemory<float>>
    {
        private readonly ReadOnlySpan<FeatureLayer> layers = layers;

        public int Layers => layers.Length;

        public FeatureLayerParts<ReadOnlyMemory<float>> Layer(int layer)
        {
            FeatureLayer l = layers[layer];
            return new(l.Input, l.Target, l.InputGrad, l.Images, FeatureLayersDriver.Weight(l.Weight, l.Input.Length, l.Images, perImageSum));
        }

        public float Run(int layer, Reduction reduction, float upstream, bool backward)
        {
            FeatureLayer l = layers[layer];
            return backward
                ? loss.ForwardBackward(l.Input.Span, l.Target.Span, l.Images, l.InputGrad.Span, reduction, upstream)
                : loss.Forward(l.Input.Span, l.Target.Span, l.Images, reduction);
        }
    }
}
