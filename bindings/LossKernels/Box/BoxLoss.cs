namespace LossKernels.Box;

/// <summary>
/// The entry points shared by every box loss (<see cref="IBoxLoss"/>): forward only, fused forward+backward,
/// and backward given the upstream gradient, each reduced (a scalar) or unreduced (one value per box pair).
/// Boxes are rows of four floats (<c>[N, 4]</c>, as frameworks store them) in <see cref="BoxFormat.Xyxy"/> or
/// <see cref="BoxFormat.Cxcywh"/>; the gradient is written with respect to the predictions and, when a
/// <c>targetGrad</c> span is given, the targets, in the same format as the boxes. Nothing is allocated.
/// </summary>
/// <remarks>
/// <para>Weighting and reduction follow mmdetection's <c>weight_reduce_loss</c> with one weight per box:
/// <c>L = reduce(w ⊙ ℓ)</c>, where Mean divides by n, or by <c>avgFactor + ε</c> (ε = 2^-23) when given. The mean
/// over zero boxes is 0, as torchvision's box losses return (not NaN as elsewhere in this library).</para>
/// <para>Aliasing: a gradient may be the very memory of its boxes (written in place) or disjoint from every
/// input; a shifted overlap throws. Inputs of 32,768 pairs or more run on up to
/// <see cref="LossKernelsSettings.MaxThreads"/> threads, with bitwise the same result for any count.</para>
/// <para>Bad arguments (a box span whose length is not a multiple of 4, a length mismatch, a too-short
/// destination, a hyperparameter out of range, an undefined format) throw <see cref="ArgumentException"/> or
/// <see cref="ArgumentOutOfRangeException"/> naming the parameter, before anything is written. NaN and infinity
/// in the boxes propagate as IEEE arithmetic says.</para>
/// </remarks>
public static unsafe partial class BoxLoss
{
    /// <summary>Forward only, reduced: returns <c>reduce(w ⊙ ℓ(prediction, target))</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-box weights, n values, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide the weighted sum by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="format">How the boxes are stored.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float? avgFactor = null, BoxFormat format = BoxFormat.Xyxy)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        double sum;
        fixed (float* p = prediction, t = target, w = weight)
            sum = BoxDriver.Run<TLoss, ForwardReduced>(loss, new BoxArgs(p, t, w, null, null, null, null, 0f, n, format));
        return Reduce(sum, divisor);
    }

    /// <summary>Forward only, unreduced: writes <c>output[i] = w[i] · ℓ(prediction[i], target[i])</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="output">Receives the n box losses.</param>
    /// <param name="weight">Per-box weights, n values, or empty for none.</param>
    /// <param name="format">How the boxes are stored.</param>
    public static void Forward<TLoss>(this TLoss loss, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, Span<float> output,
        ReadOnlySpan<float> weight = default, BoxFormat format = BoxFormat.Xyxy)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        CheckOutput(n, prediction, target, weight, default, output, nameof(output));
        fixed (float* p = prediction, t = target, w = weight, o = output)
            BoxDriver.Run<TLoss, ForwardUnreduced>(loss, new BoxArgs(p, t, w, null, o, null, null, 0f, n, format));
    }

    /// <summary>
    /// Fused forward+backward, reduced: one pass returns <c>L = reduce(w ⊙ ℓ)</c> and writes
    /// <c>predictionGrad = ∂(upstream · L)/∂prediction</c> (and the same for the targets into <paramref name="targetGrad"/>).
    /// </summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-box weights, n values, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of ∂(upstream · L)/∂target, or empty to skip them; may be <paramref name="target"/> itself.</param>
    /// <returns>The reduced loss L.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, Span<float> predictionGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float? avgFactor = null, float upstream = 1f,
        BoxFormat format = BoxFormat.Xyxy, Span<float> targetGrad = default)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        CheckGradients(prediction, target, weight, default, predictionGrad, targetGrad);
        double sum;
        fixed (float* p = prediction, t = target, w = weight, g = predictionGrad, tg = targetGrad)
            sum = BoxDriver.Run<TLoss, FusedReduced>(loss, new BoxArgs(p, t, w, null, null, g, tg, GradientScale(upstream, divisor), n, format));
        return Reduce(sum, divisor);
    }

    /// <summary>
    /// Fused forward+backward, unreduced: one pass writes <c>output[i] = w[i] · ℓ</c> and the gradients of
    /// <c>Σ upstream ⊙ output</c>.
    /// </summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="output">Receives the n box losses.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="upstream">The upstream gradient per box, n values, or empty for all ones.</param>
    /// <param name="weight">Per-box weights, n values, or empty for none.</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of the target gradient, or empty to skip them.</param>
    public static void ForwardBackward<TLoss>(this TLoss loss, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, Span<float> output, Span<float> predictionGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default, BoxFormat format = BoxFormat.Xyxy, Span<float> targetGrad = default)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        CheckPerBox(n, upstream, nameof(upstream));
        CheckOutput(n, prediction, target, weight, upstream, output, nameof(output));
        CheckGradients(prediction, target, weight, upstream, predictionGrad, targetGrad);
        CheckDisjoint(output.Slice(0, n), predictionGrad, targetGrad);
        fixed (float* p = prediction, t = target, w = weight, u = upstream, o = output, g = predictionGrad, tg = targetGrad)
            BoxDriver.Run<TLoss, FusedUnreduced>(loss, new BoxArgs(p, t, w, u, o, g, tg, 1f, n, format));
    }

    /// <summary>Backward only, reduced: writes <c>predictionGrad = ∂(upstream · L)/∂prediction</c> (and the target gradient when asked).</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-box weights, n values, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of the target gradient, or empty to skip them.</param>
    public static void Backward<TLoss>(this TLoss loss, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, float upstream, Span<float> predictionGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float? avgFactor = null, BoxFormat format = BoxFormat.Xyxy,
        Span<float> targetGrad = default)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        CheckGradients(prediction, target, weight, default, predictionGrad, targetGrad);
        fixed (float* p = prediction, t = target, w = weight, g = predictionGrad, tg = targetGrad)
            BoxDriver.Run<TLoss, BackwardOnly>(loss, new BoxArgs(p, t, w, null, null, g, tg, GradientScale(upstream, divisor), n, format));
    }

    /// <summary>Backward only, unreduced: writes the gradients of <c>Σ upstream ⊙ (w ⊙ ℓ)</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="upstream">The upstream gradient per box, n values.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="weight">Per-box weights, n values, or empty for none.</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of the target gradient, or empty to skip them.</param>
    public static void Backward<TLoss>(this TLoss loss, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, ReadOnlySpan<float> upstream, Span<float> predictionGrad,
        ReadOnlySpan<float> weight = default, BoxFormat format = BoxFormat.Xyxy, Span<float> targetGrad = default)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        ThrowHelper.IfLengthDiffers(n, upstream.Length, nameof(upstream));
        CheckGradients(prediction, target, weight, upstream, predictionGrad, targetGrad);
        fixed (float* p = prediction, t = target, w = weight, u = upstream, g = predictionGrad, tg = targetGrad)
            BoxDriver.Run<TLoss, BackwardOnly>(loss, new BoxArgs(p, t, w, u, null, g, tg, 1f, n, format));
    }

    /// <summary>The reduced loss: the sum over the divisor, and 0 for the mean over no boxes (torchvision).</summary>
    internal static float Reduce(double sum, double divisor) => divisor == 0d ? 0f : (float)(sum / divisor);

    internal static float GradientScale(float upstream, double divisor) => divisor == 0d ? 0f : (float)(upstream / divisor);

    /// <summary>Checks the loss, the box spans and the weights; returns the number of boxes n.</summary>
    private static int CheckInputs<TLoss>(in TLoss loss, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, ReadOnlySpan<float> weight, BoxFormat format)
        where TLoss : struct, IBoxLoss
    {
        loss.Validate();
        CheckFormat(format);
        int n = BoxCount(prediction.Length, nameof(prediction));
        ThrowHelper.IfLengthDiffers(prediction.Length, target.Length, nameof(target));
        CheckPerBox(n, weight, nameof(weight));
        return n;
    }

    internal static void CheckFormat(BoxFormat format)
    {
        if (format is not (BoxFormat.Xyxy or BoxFormat.Cxcywh))
            ThrowHelper.OutOfRange(nameof(format), (int)format, "a defined BoxFormat");
    }

    /// <summary>The number of rows of four in a span or view of <paramref name="length"/> floats.</summary>
    internal static int BoxCount(long length, string paramName)
    {
        if (length % 4 != 0)
            ThrowHelper.Argument(paramName, $"{paramName} holds {length} floats, not a whole number of [x, y, x, y] rows of 4.");
        if (length / 4 > int.MaxValue)
            ThrowHelper.Argument(paramName, $"{paramName} holds {length / 4} boxes; at most {int.MaxValue} are supported.");
        return (int)(length / 4);
    }

    private static void CheckPerBox(int n, ReadOnlySpan<float> values, string paramName)
    {
        if (!values.IsEmpty)
            ThrowHelper.IfLengthDiffers(n, values.Length, paramName);
    }

    private static void CheckOutput(int n, ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> upstream, Span<float> output, string paramName)
    {
        ThrowHelper.IfTooShort(n, output.Length, paramName);
        ReadOnlySpan<float> written = output.Slice(0, n);
        if (prediction.Overlaps(written) || target.Overlaps(written) || weight.Overlaps(written))
            ThrowHelper.Argument(paramName, $"{paramName} must not overlap the boxes or the weights.");
        ThrowHelper.IfPartialOverlap(upstream, written, paramName);
    }

    /// <summary>Gradient spans: long enough, each the memory of its own boxes or disjoint from every input, and disjoint from each other.</summary>
    private static void CheckGradients(ReadOnlySpan<float> prediction, ReadOnlySpan<float> target, ReadOnlySpan<float> weight, ReadOnlySpan<float> upstream,
        Span<float> predictionGrad, Span<float> targetGrad)
    {
        ThrowHelper.IfTooShort(prediction.Length, predictionGrad.Length, nameof(predictionGrad));
        ReadOnlySpan<float> written = predictionGrad.Slice(0, prediction.Length);
        ThrowHelper.IfPartialOverlap(prediction, written, nameof(predictionGrad));
        if (target.Overlaps(written) || weight.Overlaps(written) || upstream.Overlaps(written))
            ThrowHelper.Argument(nameof(predictionGrad), "predictionGrad must not overlap the targets, weights or upstream.");
        if (targetGrad.IsEmpty)
            return;
        ThrowHelper.IfTooShort(target.Length, targetGrad.Length, nameof(targetGrad));
        ReadOnlySpan<float> targetWritten = targetGrad.Slice(0, target.Length);
        ThrowHelper.IfPartialOverlap(target, targetWritten, nameof(targetGrad));
        if (prediction.Overlaps(targetWritten) || weight.Overlaps(targetWritten) || upstream.Overlaps(targetWritten) || written.Overlaps(targetWritten))
            ThrowHelper.Argument(nameof(targetGrad), "targetGrad must not overlap the predictions, weights, upstream or predictionGrad.");
    }

    private static void CheckDisjoint(ReadOnlySpan<float> output, Span<float> predictionGrad, Span<float> targetGrad)
    {
        if (output.Overlaps(predictionGrad) || output.Overlaps(targetGrad))
            ThrowHelper.Argument(nameof(output), "output must not overlap a gradient.");
    }
}
