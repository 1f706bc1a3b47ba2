using System.Numerics;

namespace LossKernels.Segmentation;

/// <summary>
/// A loss computed from the per-class sums of <see cref="OverlapSum"/> (Dice and its relatives). The library computes the sums
/// in one sweep over the input (softmax or sigmoid per pixel, never stored), calls <see cref="Evaluate"/> on the host in
/// double, and writes the input's gradient in a second sweep from the loss's derivatives with respect to the sums: for a
/// pixel of group g and class c, <c>∂L/∂p = ∂L/∂I·t + ∂L/∂P + 2·∂L/∂P₂·p</c>, chained through the softmax or sigmoid.
/// Implement it to run an overlap loss of your own on every backend.
/// </summary>
public interface IOverlapLoss
{
    /// <summary>The mode, logits or probabilities, per-image sums and ignored value.</summary>
    OverlapOptions Options { get; }

    /// <summary>Whether the loss takes per-class weights (<c>weight</c> [C]).</summary>
    bool TakesClassWeight { get; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a hyperparameter is out of range.</summary>
    void Validate();

    /// <summary>The loss from the sums, and its derivative with respect to each sum.</summary>
    /// <param name="sums">[groups, classes, 5] sums in <see cref="OverlapSum"/> order.</param>
    /// <param name="groups">1, or N with <see cref="OverlapOptions.PerImage"/>.</param>
    /// <param name="classes">C.</param>
    /// <param name="classWeight">C class weights, or empty.</param>
    /// <param name="sumGradient">Receives ∂L/∂sum in the layout of <paramref name="sums"/> (zeroed before the call).</param>
    /// <returns>The loss L.</returns>
    double Evaluate(ReadOnlySpan<double> sums, int groups, int classes, ReadOnlySpan<float> classWeight, Span<double> sumGradient);
}

/// <summary>
/// The entry points of every overlap loss (<see cref="DiceLoss"/>, <see cref="TverskyLoss"/>, <see cref="FocalTverskyLoss"/>,
/// <see cref="GeneralizedDiceLoss"/>, or an <see cref="IOverlapLoss"/> of your own) on the CPU: forward, fused
/// forward+backward and backward with an upstream gradient, for an input <c>[N, C, d…]</c> described by a
/// <see cref="SegmentationShape"/> and a target of class indices (int64 or int32, multiclass) or of floats shaped like the
/// input (multilabel, binary). The loss is a scalar (the mean the loss defines); nothing is allocated after warm-up.
/// </summary>
/// <remarks>
/// <para>Two sweeps over the input: sums first (softmax or sigmoid per pixel, never stored), then the gradient. Pixels are
/// split into fixed chunks of one image over up to <see cref="LossKernelsSettings.MaxThreads"/> threads; chunk sums are
/// added in index order, so every thread count gives the same bits. The gradient may overwrite the input in place.</para>
/// <para>Bad arguments (a shape that does not match the lengths, a mode that does not match the target, a class index
/// outside [0, C) that is not the ignored value, a hyperparameter out of range) throw before anything is written.</para>
/// </remarks>
public static unsafe class OverlapLoss
{
    /// <summary>Forward only: the loss.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities with <c>FromLogits = false</c>).</param>
    /// <param name="target">[N, d…] class indices in [0, C) or the ignored value (multiclass).</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <returns>The loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<long> target, SegmentationShape shape, ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, false, default, false, shape, weight, 1f);

    /// <inheritdoc cref="Forward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{long}, SegmentationShape, ReadOnlySpan{float})"/>
    public static float Forward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<int> target, SegmentationShape shape, ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, false, default, false, shape, weight, 1f);

    /// <summary>Forward only, multilabel or binary: the loss.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities with <c>FromLogits = false</c>).</param>
    /// <param name="target">[N, C, d…] targets in [0, 1], or the ignored value.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <returns>The loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, SegmentationShape shape, ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run<TLoss, int>(loss, input, default, target, true, default, false, shape, weight, 1f);

    /// <summary>Fused forward+backward: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, float upstream = 1f)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, false, inputGrad, true, shape, weight, upstream);

    /// <inheritdoc cref="ForwardBackward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{long}, Span{float}, SegmentationShape, ReadOnlySpan{float}, float)"/>
    public static float ForwardBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<int> target, Span<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, float upstream = 1f)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, false, inputGrad, true, shape, weight, upstream);

    /// <summary>Fused forward+backward, multilabel or binary: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] targets in [0, 1], or the ignored value.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights, or empty.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, Span<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, float upstream = 1f)
        where TLoss : struct, IOverlapLoss =>
        Run<TLoss, int>(loss, input, default, target, true, inputGrad, true, shape, weight, upstream);

    /// <summary>Backward only: writes <c>upstream·∂L/∂input</c> (the sums are computed again: the loss keeps no state).</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights, or empty.</param>
    public static void Backward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<long> target, float upstream, Span<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, false, inputGrad, true, shape, weight, upstream);

    /// <inheritdoc cref="Backward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{long}, float, Span{float}, SegmentationShape, ReadOnlySpan{float})"/>
    public static void Backward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<int> target, float upstream, Span<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, false, inputGrad, true, shape, weight, upstream);

    /// <summary>Backward only, multilabel or binary: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] targets in [0, 1], or the ignored value.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights, or empty.</param>
    public static void Backward<TLoss>(this TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<float> target, float upstream, Span<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default)
        where TLoss : struct, IOverlapLoss =>
        Run<TLoss, int>(loss, input, default, target, true, inputGrad, true, shape, weight, upstream);

    private static float Run<TLoss, TIndex>(in TLoss loss, ReadOnlySpan<float> input, ReadOnlySpan<TIndex> classTarget, ReadOnlySpan<float> denseTarget, bool dense,
        Span<float> inputGrad, bool writeGradient, SegmentationShape shape, ReadOnlySpan<float> weight, float upstream)
        where TLoss : struct, IOverlapLoss
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        OverlapHost.Check(loss, shape, input.Length, dense, dense ? denseTarget.Length : classTarget.Length, weight.Length);
        if (!dense)
            Classification.ClassTargets.Check(classTarget, shape.Classes, loss.Options.IgnoreIndex);
        if (writeGradient)
        {
            ThrowHelper.IfTooShort(input.Length, inputGrad.Length, nameof(inputGrad));
            inputGrad = inputGrad[..input.Length];
            ThrowHelper.IfPartialOverlap(input, inputGrad, nameof(inputGrad));
            ThrowHelper.IfOverlaps(denseTarget, inputGrad, nameof(inputGrad), "target");
            ThrowHelper.IfOverlaps(weight, inputGrad, nameof(inputGrad), nameof(weight));
        }

        int groups = OverlapHost.Groups(loss.Options, shape);
        int chunksPerImage = (shape.Spatial + OverlapDriver.ChunkPixels - 1) / OverlapDriver.ChunkPixels;
        double[] partials = System.Buffers.ArrayPool<double>.Shared.Rent(Math.Max(1, shape.Batch * chunksPerImage * shape.Classes * OverlapSums.Count));
        float[] coefficients = System.Buffers.ArrayPool<float>.Shared.Rent(Math.Max(1, groups * shape.Classes * OverlapDriver.CoefficientCount));
        try
        {
            fixed (float* x = input, t = denseTarget, g = inputGrad, k = coefficients)
            fixed (TIndex* labels = classTarget)
            fixed (double* sums = partials)
            {
                var args = new OverlapArgs<TIndex>(x, labels, dense ? t : null, g, sums, k, shape, loss.Options);
                OverlapDriver.Sums(args);
                double value = OverlapHost.Evaluate(loss, partials, chunksPerImage, shape, weight, upstream,
                    writeGradient ? coefficients.AsSpan(0, groups * shape.Classes * OverlapDriver.CoefficientCount) : default);
                if (writeGradient)
                    OverlapDriver.Gradient(args);
                return (float)value;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(coefficients);
            System.Buffers.ArrayPool<double>.Shared.Return(partials);
        }
    }
}
