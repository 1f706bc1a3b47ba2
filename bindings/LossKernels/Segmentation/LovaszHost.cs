namespace LossKernels.Segmentation;

/// <summary>
/// What every backend of the Lovász losses does on the host: the argument checks, the tasks (one sort each: a group's class
/// for the softmax, a group for the hinge) and the scale of each task's loss and gradient.
/// </summary>
internal static class LovaszHost
{
    /// <summary>The most elements one sort may hold: the payload keeps the position in 30 bits.</summary>
    public const long MaxGroupLength = LovaszMath.PositionMask + 1L;

    /// <summary>Checks the options for the loss (<paramref name="hinge"/>: binary or multilabel from logits; else multiclass), the shape against the lengths, and the size of a group.</summary>
    public static void Check(in OverlapOptions options, bool hinge, in SegmentationShape shape, long inputLength, long targetLength)
    {
        options.Validate();
        if (hinge && options.Mode == SegmentationMode.Multiclass)
            ThrowHelper.Argument("Mode", "The Lovász hinge takes the binary or multilabel mode; the multiclass mode is the Lovász-softmax loss.");
        if (hinge && !options.FromLogits)
            ThrowHelper.Argument("FromLogits", "The Lovász hinge takes logits.");
        if (!hinge && options.Mode != SegmentationMode.Multiclass)
            ThrowHelper.Argument("Mode", "The Lovász-softmax loss takes the multiclass mode; the binary and multilabel modes are the Lovász hinge.");
        if (GroupLength(options, hinge, shape) > MaxGroupLength)
            ThrowHelper.OutOfRange("shape", GroupLength(options, hinge, shape), $"at most {MaxGroupLength} elements in one sort (set perImage)");
        OverlapHost.CheckShape(options, shape, inputLength, hinge, targetLength);
    }

    /// <summary>Throws at the first hinge target that is not 0, 1 or the ignored value, naming its position.</summary>
    public static void CheckBinary(ReadOnlySpan<float> target, long? ignoreIndex)
    {
        for (int i = 0; i < target.Length; i++)
        {
            float t = target[i];
            if (t != 0f && t != 1f && !(ignoreIndex is long ignored && t == ignored))
                ThrowNotBinary(i, t, ignoreIndex);
        }
    }

    /// <summary>The exception of a hinge target at <paramref name="position"/> that is not 0, 1 or the ignored value.</summary>
    public static void ThrowNotBinary(long position, float value, long? ignoreIndex) =>
        throw new ArgumentOutOfRangeException("target", value,
            $"Target at index {position} is {value}; the Lovász hinge takes targets 0 or 1{(ignoreIndex is long ignored ? $" or the ignored value ({ignored})" : "")}.");

    /// <summary>The sort groups: N per image, else 1.</summary>
    public static int Groups(in OverlapOptions options, in SegmentationShape shape) => OverlapHost.Groups(options, shape);

    /// <summary>Images per group.</summary>
    public static int ImagesPerGroup(in OverlapOptions options, in SegmentationShape shape) => options.PerImage ? 1 : shape.Batch;

    /// <summary>The elements of one sort: a group's pixels (softmax), or its pixels of every channel (hinge).</summary>
    public static long GroupLength(in OverlapOptions options, bool hinge, in SegmentationShape shape) =>
        (long)ImagesPerGroup(options, shape) * shape.Spatial * (hinge ? shape.Classes : 1);

    /// <summary>Tasks per group: C sorts for the softmax, one for the hinge.</summary>
    public static int TasksPerGroup(bool hinge, in SegmentationShape shape) => hinge ? 1 : shape.Classes;

    /// <summary>
    /// The share of task (group, c) of the softmax, from the per-group class counts [groups, C]: 1/(present classes · groups)
    /// for a class present in its group, 0 for an absent one.
    /// </summary>
    public static double TaskScale(ReadOnlySpan<int> classCounts, int group, int c, int classes, int groups)
    {
        ReadOnlySpan<int> counts = classCounts.Slice(group * classes, classes);
        if (counts[c] == 0)
            return 0d;
        int present = 0;
        foreach (int count in counts)
            present += count > 0 ? 1 : 0;
        return 1d / ((double)present * groups);
    }

    /// <summary>Digits of the device radix sort: four passes of 8 bits.</summary>
    public const int DeviceRadixBits = 8;

    /// <summary>
    /// The devices' chunking of a task of <paramref name="length"/> elements: <paramref name="threads"/> work-items (1 to
    /// 1,024, about 1,024 elements each) own contiguous chunks of <paramref name="chunk"/> elements. A function of the length
    /// alone, so the walk's partials add up the same way on every run.
    /// </summary>
    public static void DeviceChunks(long length, out int threads, out int chunk)
    {
        threads = (int)Math.Clamp((length + 1023) / 1024, 1, 1024);
        chunk = (int)Math.Max(1, (length + threads - 1) / threads);
    }
}
