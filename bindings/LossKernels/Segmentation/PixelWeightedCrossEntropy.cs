using LossKernels.Classification;
using LossKernels.OpenCL;

namespace LossKernels.Segmentation;

/// <summary>
/// U-Net's pixel-weighted cross entropy (Ronneberger et al. 2015): cross entropy over the classes of each position of an
/// <c>[N, C, d1, …]</c> input, each position's loss multiplied by its weight w(x) from a weight map <c>[N, d1, …]</c> (such as
/// <see cref="UNetWeightMap"/>'s): <c>ℓ_i = w_i·c_{y_i}·(lse_i − x_{i,y_i})</c> with c the optional class weights; gradient
/// <c>w_i·c_y·(softmax_i − onehot(y_i))</c>. Positions whose target is <see cref="IgnoreIndex"/> contribute 0.
/// <see cref="Reduction.Mean"/> divides Σ ℓ by the number of positions not ignored (Σ c_y with class weights), or by
/// <c>avgFactor + ε</c>; the pixel weights are not in the divisor.
/// </summary>
/// <remarks>
/// <para>PyTorch has no single call for it: the equivalent is <c>(w * F.cross_entropy(x, y, weight=c, ignore_index=i,
/// reduction='none')).sum() / (y != i).sum()</c> (the U-Net paper's energy, averaged over the kept pixels). The weight is fused
/// into the cross-entropy kernel (<see cref="CrossEntropyLoss"/>'s: it scales the position's target share), not a second
/// pass. No label smoothing or z-loss (U-Net has neither). An empty <c>pixelWeight</c> means all ones.</para>
/// <para>Targets int64 or int32; a target outside [0, C) other than the ignored value throws, naming its position, before any
/// work. Results are bitwise the same for any thread count; the gradient may overwrite the logits in place.</para>
/// </remarks>
/// <param name="ignoreIndex">The target value of positions to leave out (PyTorch's −100 by default).</param>
public readonly struct PixelWeightedCrossEntropyLoss(long ignoreIndex)
{
    /// <summary>PyTorch's default <c>ignore_index</c> of −100.</summary>
    public PixelWeightedCrossEntropyLoss()
        : this(ClassTargets.DefaultIgnoreIndex)
    {
    }

    /// <summary>The target value of positions to leave out.</summary>
    public long IgnoreIndex { get; } = ignoreIndex;

    private CrossEntropyLoss CrossEntropy => new(IgnoreIndex);

    /// <summary>Forward only, reduced: the mean (over the positions kept, or <c>avgFactor + ε</c>) or sum of the weighted position losses.</summary>
    /// <param name="logits">[N, C, d1, …] logits.</param>
    /// <param name="target">[N, d1, …] class indices.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or empty for ones.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <param name="spatialSize">d1·d2·…: positions per image (1 for [N, C]).</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: the divisor's replacement (mmdetection's <c>avg_factor</c>).</param>
    /// <returns>The loss.</returns>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, ReadOnlySpan<float> pixelWeight, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, int spatialSize = 1, float? avgFactor = null) =>
        CrossEntropy.Reduced<long, ForwardReduced>(logits, target, default, reduction, weight, 1f, spatialSize, null, pixelWeight, avgFactor);

    /// <inheritdoc cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{long}, ReadOnlySpan{float}, Reduction, ReadOnlySpan{float}, int, float?)"/>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<int> target, ReadOnlySpan<float> pixelWeight, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, int spatialSize = 1, float? avgFactor = null) =>
        CrossEntropy.Reduced<int, ForwardReduced>(logits, target, default, reduction, weight, 1f, spatialSize, null, pixelWeight, avgFactor);

    /// <summary>Forward only, unreduced: one weighted loss per position (0 where ignored).</summary>
    /// <param name="logits">[N, C, d1, …] logits.</param>
    /// <param name="target">[N, d1, …] class indices.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or empty for ones.</param>
    /// <param name="output">Receives N·d1·… losses.</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    public void Forward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, ReadOnlySpan<float> pixelWeight, Span<float> output, ReadOnlySpan<float> weight = default,
        int spatialSize = 1) =>
        CrossEntropy.Unreduced<long, ForwardUnreduced>(logits, target, output, default, default, weight, spatialSize, null, pixelWeight);

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>∂(upstream·L)/∂logits</c>.</summary>
    /// <param name="logits">[N, C, d1, …] logits.</param>
    /// <param name="target">[N, d1, …] class indices.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or empty for ones.</param>
    /// <param name="logitsGrad">Receives N·C·d1·… gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: the divisor's replacement.</param>
    /// <returns>The loss.</returns>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, ReadOnlySpan<float> pixelWeight, Span<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float upstream = 1f, int spatialSize = 1, float? avgFactor = null) =>
        CrossEntropy.Reduced<long, FusedReduced>(logits, target, logitsGrad, reduction, weight, upstream, spatialSize, null, pixelWeight, avgFactor);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{long}, ReadOnlySpan{float}, Span{float}, Reduction, ReadOnlySpan{float}, float, int, float?)"/>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<int> target, ReadOnlySpan<float> pixelWeight, Span<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float upstream = 1f, int spatialSize = 1, float? avgFactor = null) =>
        CrossEntropy.Reduced<int, FusedReduced>(logits, target, logitsGrad, reduction, weight, upstream, spatialSize, null, pixelWeight, avgFactor);

    /// <summary>Fused forward+backward, unreduced: the weighted position losses, and <c>upstream_i·∂ℓ_i/∂x</c>.</summary>
    /// <param name="logits">[N, C, d1, …] logits.</param>
    /// <param name="target">[N, d1, …] class indices.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or empty for ones.</param>
    /// <param name="output">Receives N·d1·… losses.</param>
    /// <param name="logitsGrad">Receives N·C·d1·… gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N·d1·… upstream gradients, or empty for ones.</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    public void ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, ReadOnlySpan<float> pixelWeight, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        CrossEntropy.Unreduced<long, FusedUnreduced>(logits, target, output, logitsGrad, upstream, weight, spatialSize, null, pixelWeight);

    /// <summary>Backward only, reduced: writes <c>∂(upstream·L)/∂logits</c>.</summary>
    /// <param name="logits">[N, C, d1, …] logits.</param>
    /// <param name="target">[N, d1, …] class indices.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or empty for ones.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C·d1·… gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: the divisor's replacement.</param>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, ReadOnlySpan<float> pixelWeight, float upstream, Span<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, int spatialSize = 1, float? avgFactor = null) =>
        CrossEntropy.Reduced<long, BackwardOnly>(logits, target, logitsGrad, reduction, weight, upstream, spatialSize, null, pixelWeight, avgFactor);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="logitsGrad"/> is null), reduced, on an OpenCL device (<c>cross_entropy.cl</c>, the weight read beside the target).</summary>
    /// <param name="logits">[N, C, d1, …] logits on the device.</param>
    /// <param name="target">[N, d1, …] class indices on the same device.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or null for ones.</param>
    /// <param name="logitsGrad">Receives the gradient, or null; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: the divisor's replacement.</param>
    /// <returns>The loss.</returns>
    public float ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float>? pixelWeight, DeviceBuffer<float>? logitsGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float upstream = 1f, int spatialSize = 1, float? avgFactor = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (reduction == Reduction.None)
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one loss per position: use the overload that takes an output buffer.");
        return CrossEntropy.RunOnDevice(logits, target, null, 0, null, pixelWeight, Divisor(reduction, avgFactor), weight, null, null, logitsGrad, reduction, upstream,
            spatialSize);
    }

    /// <summary>Unreduced on the device: the weighted position losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="logits">[N, C, d1, …] logits on the device.</param>
    /// <param name="target">[N, d1, …] class indices on the same device.</param>
    /// <param name="pixelWeight">[N, d1, …] position weights, or null for ones.</param>
    /// <param name="output">Receives N·d1·… losses.</param>
    /// <param name="logitsGrad">Receives the gradient, or null; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N·d1·… upstream gradients, or null for ones.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="spatialSize">d1·d2·….</param>
    public void ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float>? pixelWeight, DeviceBuffer<float> output,
        DeviceBuffer<float>? logitsGrad, DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null, int spatialSize = 1)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(output);
        CrossEntropy.RunOnDevice(logits, target, null, 0, null, pixelWeight, null, weight, upstream, output, logitsGrad, Reduction.None, 1f, spatialSize);
    }

    /// <summary>The mean's divisor override: avgFactor + ε, checked as the span overloads check it.</summary>
    internal static double? Divisor(Reduction reduction, float? avgFactor)
    {
        if (avgFactor is not float factor)
            return null;
        ThrowHelper.IfNegative(factor, nameof(avgFactor));
        if (reduction != Reduction.Mean)
            ThrowHelper.Argument(nameof(avgFactor), "avgFactor divides a mean: it needs Reduction.Mean.");
        return factor + ElementwiseLoss.AvgFactorEpsilon;
    }
}
