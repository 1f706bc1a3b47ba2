using System.Numerics.Tensors;

namespace LossKernels.Classification;

/// <summary>
/// Distribution focal loss (Generalized Focal Loss, Li et al. 2020) on N rows of C = n + 1 logits (a box side's discretized
/// distance) and continuous labels l ∈ [0, C − 1]: with i = ⌊l⌋, w_i = i + 1 − l and w_{i+1} = l − i,
/// <c>ℓ_r = w_i·CE(x, i) + w_{i+1}·CE(x, i + 1) = (w_i + w_{i+1})·lse − w_i·x_i − w_{i+1}·x_{i+1}</c>; gradient
/// <c>∂ℓ_r/∂x_c = (w_i + w_{i+1})·softmax_c − w_i·[c = i] − w_{i+1}·[c = i + 1]</c>. Per-row weights scale ℓ_r and its gradient;
/// the mean divides by N, or by <c>avgFactor + ε</c> (mmdetection's <c>weighted_loss</c>).
/// </summary>
/// <remarks>
/// mmdetection: <c>distribution_focal_loss(pred, label)</c> / <c>DistributionFocalLoss</c> (GFL, and the DFL of YOLOv8). The same
/// values; where l = C − 1 exactly, its w_{i+1} = 0 and class i + 1 = C does not exist (mmdetection would index past the
/// row; its callers clamp l below C − 1). Labels outside [0, C − 1] or NaN throw <see cref="ArgumentOutOfRangeException"/>
/// naming the first position before any work. The kernel is <see cref="CrossEntropyLoss"/>'s row kernel with a target
/// split between two classes, on the CPU and on OpenCL; on the CPU, rows of up to four vectors of classes (GFL's and
/// YOLOv8's C = 17 among them) run a vector of rows at a time, one row per lane, with Σe and lse in float.
/// </remarks>
public readonly partial struct DistributionFocalLoss
{
    /// <summary>Forward only, reduced.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<float> label, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default,
        float? avgFactor = null) =>
        Run<ForwardReduced>(logits, label, default, default, default, weight, reduction, avgFactor, 1f);

    /// <summary>Forward only, unreduced: N row losses.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="weight">N row weights, or empty for none.</param>
    public void Forward(ReadOnlySpan<float> logits, ReadOnlySpan<float> label, Span<float> output, ReadOnlySpan<float> weight = default) =>
        Run<ForwardUnreduced>(logits, label, output, default, default, weight, Reduction.None, null, 1f);

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>logitsGrad = ∂(upstream·L)/∂logits</c>.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> label, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, float? avgFactor = null, float upstream = 1f) =>
        Run<FusedReduced>(logits, label, default, logitsGrad, default, weight, reduction, avgFactor, upstream);

    /// <summary>Fused forward+backward, unreduced.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N upstream gradients, or empty for ones.</param>
    /// <param name="weight">N row weights, or empty for none.</param>
    public void ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> label, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default) =>
        Run<FusedUnreduced>(logits, label, output, logitsGrad, upstream, weight, Reduction.None, null, 1f);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="label">N labels in [0, C − 1].</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">N row weights, or empty for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of N.</param>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<float> label, float upstream, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, float? avgFactor = null) =>
        Run<BackwardOnly>(logits, label, default, logitsGrad, default, weight, reduction, avgFactor, upstream);

    private static unsafe float Run<TMode>(ReadOnlySpan<float> logits, ReadOnlySpan<float> label, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream, ReadOnlySpan<float> weight, Reduction reduction, float? avgFactor, float upstreamScalar)
        where TMode : struct, IDriverMode
    {
        int classes = CheckShapes(logits.Length, label.Length);
        int rows = label.Length;
        if (!weight.IsEmpty)
            ThrowHelper.IfLengthDiffers(rows, weight.Length, nameof(weight));
        ReadOnlySpan<float> written = default;
        if (TMode.StoreGradient)
        {
            ThrowHelper.IfTooShort(logits.Length, logitsGrad.Length, nameof(logitsGrad));
            written = logitsGrad.Slice(0, logits.Length);
            ThrowHelper.IfPartialOverlap(logits, written, nameof(logitsGrad));
            ThrowHelper.IfOverlaps(label, written, nameof(logitsGrad), nameof(label));
            ThrowHelper.IfOverlaps(weight, written, nameof(logitsGrad), nameof(weight));
            ThrowHelper.IfOverlaps(upstream, written, nameof(logitsGrad), nameof(upstream));
        }

        if (TMode.StoreLoss)
        {
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
            if (!upstream.IsEmpty)
                ThrowHelper.IfLengthDiffers(rows, upstream.Length, nameof(upstream));
            ReadOnlySpan<float> losses = output.Slice(0, rows);
            ThrowHelper.IfOverlaps(logits, losses, nameof(output), nameof(logits));
            ThrowHelper.IfOverlaps(written, losses, nameof(output), nameof(logitsGrad));
            ThrowHelper.IfOverlaps(label, losses, nameof(output), nameof(label));
            ThrowHelper.IfOverlaps(weight, losses, nameof(output), nameof(weight));
            ThrowHelper.IfOverlaps(upstream, losses, nameof(output), nameof(upstream));
        }

        double divisor = TMode.StoreLoss ? 1d : ElementwiseLoss.ReductionDivisor(reduction, rows, avgFactor);
        // The vector min and max (NaN when any label is NaN) pass or fail every label at once; only a failure looks for the first.
        if (rows > 0 && !(TensorPrimitives.Min(label) >= 0f && TensorPrimitives.Max(label) <= classes - 1))
        {
            for (int r = 0; r < rows; r++)
            {
                if (!(label[r] >= 0f && label[r] <= classes - 1))
                    ThrowHelper.OutOfRange(nameof(label), label[r], $"in [0, {classes - 1}] (the row of position {r})");
            }
        }

        double sum;
        fixed (float* x = logits, l = label, w = weight, g = logitsGrad, o = output, u = upstream)
        {
            var args = new CrossEntropyArgs<long>(x, null, null, null, u, o, g, rows, classes, ClassTargets.DefaultIgnoreIndex, 0f, 0f,
                (float)(upstreamScalar / divisor), classes, 1, l, w);
            sum = CrossEntropyDriver.Run<long, TMode>(args);
        }

        return (float)(sum / divisor);
    }

    /// <summary>C from the logits of N rows; throws when they are not whole rows.</summary>
    private static int CheckShapes(int logits, int rows)
    {
        if (rows == 0 ? logits != 0 : logits % rows != 0)
            ThrowHelper.Argument(nameof(logits), $"logits hold {logits} values, not a whole number of rows for {rows} labels.");
        int classes = rows == 0 ? 1 : logits / rows;
        if (classes < 1)
            ThrowHelper.Argument(nameof(logits), "logits are empty but there are labels: C must be at least 1.");
        return classes;
    }
}
