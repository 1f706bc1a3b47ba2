namespace LossKernels.Segmentation;

/// <summary>How a segmentation loss reads its target and turns logits into probabilities (segmentation_models_pytorch's modes).</summary>
public enum SegmentationMode
{
    /// <summary>One class per pixel: target <c>[N, d…]</c> class indices, probabilities by a softmax over the C classes.</summary>
    Multiclass,

    /// <summary>Independent classes: target floats shaped like the input <c>[N, C, d…]</c>, probabilities by a sigmoid per element.</summary>
    Multilabel,

    /// <summary>One foreground class: <see cref="Multilabel"/> with C = 1.</summary>
    Binary,
}

/// <summary>The shape of a segmentation call: an input <c>[N, C, d1, …]</c> with <see cref="Spatial"/> = d1·d2·… pixels per image.</summary>
/// <param name="Batch">N, the images (≥ 0).</param>
/// <param name="Classes">C, the classes or channels (≥ 1).</param>
/// <param name="Spatial">d1·d2·…, the pixels per image (≥ 1).</param>
public readonly record struct SegmentationShape(int Batch, int Classes, int Spatial)
{
    /// <summary>N·C·d1·…: the input's length.</summary>
    public long InputLength => (long)Batch * Classes * Spatial;

    /// <summary>N·d1·…: the pixels of the batch (the class-index target's length).</summary>
    public long Pixels => (long)Batch * Spatial;

    internal void Validate(int maxClasses)
    {
        if (Batch < 0)
            ThrowHelper.OutOfRange("shape", Batch, "a batch N ≥ 0");
        if (Classes < 1 || Classes > maxClasses)
            ThrowHelper.OutOfRange("shape", Classes, $"C in [1, {maxClasses}]");
        if (Spatial < 1)
            ThrowHelper.OutOfRange("shape", Spatial, "d1·d2·… ≥ 1");
        if (InputLength > int.MaxValue)
            ThrowHelper.OutOfRange("shape", InputLength, $"N·C·d1·… ≤ {int.MaxValue}");
    }
}

/// <summary>
/// What every overlap loss (Dice, Tversky, focal Tversky, generalized Dice) shares: the mode, whether the input is logits,
/// where the per-class sums run (the whole batch, or each image), and the ignored target value. <c>default</c> is smp's
/// default: multiclass from logits, sums over the batch, nothing ignored.
/// </summary>
public readonly record struct OverlapOptions
{
    /// <summary>The options.</summary>
    /// <param name="mode">How the target is read and the input turned into probabilities.</param>
    /// <param name="fromLogits">True: the input is logits (softmax or sigmoid by <paramref name="mode"/>); false: probabilities, used as they are.</param>
    /// <param name="perImage">False: per-class sums over the batch and the pixels (smp's convention); true: per image (MONAI's default, <c>batch=False</c>), then the mean over images too.</param>
    /// <param name="ignoreIndex">A target value whose pixels (multiclass) or elements (multilabel, binary) are left out of every sum; null for none (smp's default).</param>
    public OverlapOptions(SegmentationMode mode = SegmentationMode.Multiclass, bool fromLogits = true, bool perImage = false, long? ignoreIndex = null)
    {
        Mode = mode;
        FromLogits = fromLogits;
        PerImage = perImage;
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>How the target is read and the input turned into probabilities.</summary>
    public SegmentationMode Mode { get; init; }

    /// <summary>True (the default, also of <c>default(OverlapOptions)</c>): the input is logits; false: probabilities.</summary>
    public bool FromLogits
    {
        get => !probabilities;
        init => probabilities = !value;
    }

    /// <summary>Sums per image (then the mean over images too) instead of over the batch.</summary>
    public bool PerImage { get; init; }

    /// <summary>The ignored target value, or null.</summary>
    public long? IgnoreIndex { get; init; }

    /// <summary>Stored inverted, so that the all-zero default means logits.</summary>
    private readonly bool probabilities;

    internal void Validate()
    {
        if (Mode is not (SegmentationMode.Multiclass or SegmentationMode.Multilabel or SegmentationMode.Binary))
            ThrowHelper.OutOfRange(nameof(Mode), (int)Mode, "a defined SegmentationMode");
    }
}

/// <summary>
/// The layout of the per-class sums an overlap loss is a function of, for each group (the batch, or one image) and class c,
/// over the pixels not ignored, with p the probability and t the target of class c: <c>[group, class, OverlapSum]</c>.
/// </summary>
public enum OverlapSum
{
    /// <summary>Σ p·t: the soft intersection (TP).</summary>
    Intersection,

    /// <summary>Σ p.</summary>
    Prediction,

    /// <summary>Σ t.</summary>
    Target,

    /// <summary>Σ p².</summary>
    PredictionSquares,

    /// <summary>Σ t².</summary>
    TargetSquares,
}
