using System.Numerics;

namespace LossKernels.Segmentation;

/// <summary>
/// The Lovász-softmax loss (Berman, Rannen Triki &amp; Blaschko 2018), multiclass: per group g (the batch, or each image) and
/// class c present in it (some pixel not ignored has target c), the errors <c>e_i = |t_i − p_i|</c> of the pixels not
/// ignored (p the softmax probability of class c, t = [y_i = c]) sorted from the largest down, and
/// <c>ℓ_{g,c} = Σ_r e_(r)·w_r</c> with <c>w_r = J_r − J_{r−1}</c> the gradient of the Lovász extension of the Jaccard loss,
/// <c>J_r = 1 − (G − F_r)/(G + B_r)</c> (G the class's pixels, F_r and B_r the foreground and background pixels among the
/// first r). <c>L = mean_g mean_{c present} ℓ_{g,c}</c>; a group without any class present contributes 0.
/// Gradient: <c>∂L/∂p_i = ∓w_{rank(i)}</c> (− on the class's pixels, 0 where e = 0), divided as the means divide, then
/// through the softmax. The gradient is the Lovász extension's, exact: equal errors keep their pixel order (a stable sort).
/// </summary>
/// <remarks>
/// <para>segmentation_models_pytorch <c>LovaszLoss(mode="multiclass", per_image, ignore_index)</c> (its
/// <c>lovasz_softmax(probas, labels, classes="present")</c> on <c>y_pred.softmax(dim=1)</c>): the same errors, order, weights
/// and means. PyTorch's default <c>torch.sort</c> leaves the order of equal errors unspecified, which changes the gradient
/// (never the loss) at ties; this is <c>torch.sort(stable=True)</c>'s order.</para>
/// <para>Differences: <see cref="OverlapOptions.FromLogits"/> = false takes probabilities as they are (smp always applies
/// the softmax); for them <c>e = 1 − p</c> on the class's pixels and <c>p</c> elsewhere, which is smp's <c>|t − p|</c> for p in
/// [0, 1]. The weights are computed without subtracting neighbours (<c>1/(G + B)</c> at a foreground pixel,
/// <c>(G − F)/((G + B)(G + B − 1))</c> at a background one), so they keep float precision where smp's float32 difference of
/// neighbouring J loses it. smp's <c>classes</c> list and <c>"all"</c> are not offered: the classes present only.</para>
/// </remarks>
public readonly struct LovaszSoftmaxLoss
{
    /// <summary>The loss.</summary>
    /// <param name="fromLogits">True: the input is logits (softmax over the classes); false: probabilities in [0, 1].</param>
    /// <param name="perImage">False: one sort per class over the batch (smp's default); true: per image, then the mean over images.</param>
    /// <param name="ignoreIndex">A class index whose pixels are left out of every sort; null for none.</param>
    public LovaszSoftmaxLoss(bool fromLogits = true, bool perImage = false, long? ignoreIndex = null) =>
        Options = new OverlapOptions(SegmentationMode.Multiclass, fromLogits, perImage, ignoreIndex);

    /// <summary>smp's defaults: from logits, over the batch, nothing ignored.</summary>
    public LovaszSoftmaxLoss()
        : this(fromLogits: true)
    {
    }

    /// <summary>Multiclass; logits or probabilities, per-image sorts and the ignored class index.</summary>
    public OverlapOptions Options { get; }
}

/// <summary>
/// The Lovász hinge loss (Berman et al. 2018), binary or multilabel: per group g (the batch, or each image) the errors
/// <c>e_i = 1 − x_i·(2t_i − 1)</c> of every element not ignored (all channels and pixels of the group together) sorted from the
/// largest down, and <c>ℓ_g = Σ_r relu(e_(r))·w_r</c>, w the Lovász extension's gradient as in <see cref="LovaszSoftmaxLoss"/>
/// with the elements of target 1 as foreground; <c>L = mean_g ℓ_g</c> (a group with every element ignored contributes 0).
/// Gradient: <c>∂L/∂x_i = −(2t_i − 1)·w_{rank(i)}</c> where e_i &gt; 0, else 0, divided by the groups.
/// </summary>
/// <remarks>
/// <para>segmentation_models_pytorch <c>LovaszLoss(mode="binary" or "multilabel", per_image, ignore_index)</c> (its
/// <c>lovasz_hinge</c>, which flattens the whole batch, or each image, channels included): the same errors, weights, means
/// and, with <c>torch.sort(stable=True)</c>, order of equal errors.</para>
/// <para>Differences: targets must be 0 or 1 (or the ignored value), as the Lovász extension of the Jaccard loss is defined
/// for binary ground truth; any other value throws (smp would read a soft target into its cumulative sums). The weights
/// keep float precision as for <see cref="LovaszSoftmaxLoss"/>. The input is always logits.</para>
/// </remarks>
public readonly struct LovaszHingeLoss
{
    /// <summary>The loss.</summary>
    /// <param name="perImage">False: one sort over the batch (smp's default); true: one per image, then the mean over images.</param>
    /// <param name="ignoreIndex">A target value whose elements are left out of every sort; null for none.</param>
    /// <param name="mode"><see cref="SegmentationMode.Binary"/> (C = 1) or <see cref="SegmentationMode.Multilabel"/>.</param>
    public LovaszHingeLoss(bool perImage = false, long? ignoreIndex = null, SegmentationMode mode = SegmentationMode.Binary) =>
        Options = new OverlapOptions(mode, true, perImage, ignoreIndex);

    /// <summary>smp's defaults: binary, over the batch, nothing ignored.</summary>
    public LovaszHingeLoss()
        : this(perImage: false)
    {
    }

    /// <summary>Binary or multilabel, from logits; per-image sorts and the ignored target value.</summary>
    public OverlapOptions Options { get; }
}

/// <summary>
/// The entry points of the Lovász losses on the CPU: forward, fused forward+backward and backward with an upstream gradient,
/// for an input <c>[N, C, d…]</c> described by a <see cref="SegmentationShape"/>. The loss is a scalar; nothing is allocated
/// after warm-up (the sort buffers come from the shared array pool).
/// </summary>
/// <remarks>
/// <para>Each group's class (softmax) or group (hinge) is one task: its errors are written as sort keys, sorted by a stable
/// 32-bit radix sort (<c>RadixSort</c>, three 11-bit passes), and walked in sorted order to give each element its weight.
/// Tasks run on up to <see cref="LossKernelsSettings.MaxThreads"/> threads and their losses are added in task order, so every
/// thread count gives the same bits. Multiclass from logits: the softmax's max and 1/Σe per pixel first; the walk writes
/// ∂L/∂p into a pooled buffer, and a last sweep chains it through the softmax (so the gradient may overwrite the input).</para>
/// <para>Bad arguments (a shape that does not match the lengths, a class index outside [0, C) that is not the ignored
/// value, a hinge target other than 0, 1 or the ignored value, a group over 2^30 elements) throw before anything is written.</para>
/// </remarks>
public static unsafe class LovaszLoss
{
    /// <summary>Forward only: the loss.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities with <c>fromLogits = false</c>).</param>
    /// <param name="target">[N, d…] class indices in [0, C) or the ignored value.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <returns>The loss.</returns>
    public static float Forward(this LovaszSoftmaxLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<long> target, SegmentationShape shape) =>
        Run(loss.Options, false, input, target, default, default, false, shape, 1f);

    /// <inheritdoc cref="Forward(LovaszSoftmaxLoss, ReadOnlySpan{float}, ReadOnlySpan{long}, SegmentationShape)"/>
    public static float Forward(this LovaszSoftmaxLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<int> target, SegmentationShape shape) =>
        Run(loss.Options, false, input, target, default, default, false, shape, 1f);

    /// <summary>Fused forward+backward: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward(this LovaszSoftmaxLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> inputGrad, SegmentationShape shape,
        float upstream = 1f) =>
        Run(loss.Options, false, input, target, default, inputGrad, true, shape, upstream);

    /// <inheritdoc cref="ForwardBackward(LovaszSoftmaxLoss, ReadOnlySpan{float}, ReadOnlySpan{long}, Span{float}, SegmentationShape, float)"/>
    public static float ForwardBackward(this LovaszSoftmaxLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<int> target, Span<float> inputGrad, SegmentationShape shape,
        float upstream = 1f) =>
        Run(loss.Options, false, input, target, default, inputGrad, true, shape, upstream);

    /// <summary>Backward only: writes <c>upstream·∂L/∂input</c> (the sort runs again: the loss keeps no state).</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    public static void Backward(this LovaszSoftmaxLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<long> target, float upstream, Span<float> inputGrad, SegmentationShape shape) =>
        Run(loss.Options, false, input, target, default, inputGrad, true, shape, upstream);

    /// <inheritdoc cref="Backward(LovaszSoftmaxLoss, ReadOnlySpan{float}, ReadOnlySpan{long}, float, Span{float}, SegmentationShape)"/>
    public static void Backward(this LovaszSoftmaxLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<int> target, float upstream, Span<float> inputGrad, SegmentationShape shape) =>
        Run(loss.Options, false, input, target, default, inputGrad, true, shape, upstream);

    /// <summary>Forward only: the loss.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <returns>The loss.</returns>
    public static float Forward(this LovaszHingeLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, SegmentationShape shape) =>
        Run<int>(loss.Options, true, input, default, target, default, false, shape, 1f);

    /// <summary>Fused forward+backward: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward(this LovaszHingeLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, Span<float> inputGrad, SegmentationShape shape,
        float upstream = 1f) =>
        Run<int>(loss.Options, true, input, default, target, inputGrad, true, shape, upstream);

    /// <summary>Backward only: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">[N, C, d…] logits.</param>
    /// <param name="target">[N, C, d…] targets 0 or 1, or the ignored value.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    public static void Backward(this LovaszHingeLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, float upstream, Span<float> inputGrad, SegmentationShape shape) =>
        Run<int>(loss.Options, true, input, default, target, inputGrad, true, shape, upstream);

    private static float Run<TIndex>(in OverlapOptions options, bool hinge, ReadOnlySpan<float> input, ReadOnlySpan<TIndex> classTarget, ReadOnlySpan<float> denseTarget,
        Span<float> inputGrad, bool writeGradient, SegmentationShape shape, float upstream)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        LovaszHost.Check(options, hinge, shape, input.Length, hinge ? denseTarget.Length : classTarget.Length);
        if (writeGradient)
        {
            ThrowHelper.IfTooShort(input.Length, inputGrad.Length, nameof(inputGrad));
            inputGrad = inputGrad[..input.Length];
            ThrowHelper.IfPartialOverlap(input, inputGrad, nameof(inputGrad));
            ThrowHelper.IfOverlaps(denseTarget, inputGrad, nameof(inputGrad), "target");
        }

        if (hinge)
            LovaszHost.CheckBinary(denseTarget, options.IgnoreIndex);
        else
            Classification.ClassTargets.Check(classTarget, shape.Classes, options.IgnoreIndex);

        return LovaszDriver.Run(options, hinge, input, classTarget, denseTarget, writeGradient ? inputGrad : default, shape, upstream);
    }
}
