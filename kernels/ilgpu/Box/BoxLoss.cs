using ILGPU;
using ILGPU.Runtime;
using LossKernels.Box;

namespace LossKernels.ILGPU;

/// <summary>The views and scalars of one box-loss call over n pairs (absent views are default and never read).</summary>
internal readonly struct BoxViews(ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> weight, ArrayView<float> upstream,
    ArrayView<float> output, ArrayView<float> predictionGradient, ArrayView<float> targetGradient, float gradientScale, int length, PassFlags flags,
    BoxFormat format)
{
    public readonly ArrayView<float> Prediction = prediction;
    public readonly ArrayView<float> Target = target;
    public readonly ArrayView<float> Weight = weight;
    public readonly ArrayView<float> Upstream = upstream;
    public readonly ArrayView<float> Output = output;
    public readonly ArrayView<float> PredictionGradient = predictionGradient;

    /// <summary>The target gradient, written when <see cref="HasTargetGradient"/>.</summary>
    public readonly ArrayView<float> TargetGradient = targetGradient;
    public readonly float GradientScale = gradientScale;
    public readonly int Length = length;
    public readonly PassFlags Flags = flags;
    public readonly int CenterSize = format == BoxFormat.Cxcywh ? 1 : 0;
    public readonly int HasTargetGradient = ViewChecks.IsPresent(targetGradient) ? 1 : 0;

    public bool Has(PassFlags flag) => (Flags & flag) != 0;
}

/// <summary>
/// A box loss as an <see cref="IItemPass"/>, one pair per thread: the loss's <c>Evaluate</c> instantiated with
/// <see cref="IlgpuMath"/> inside <see cref="BoxStep"/>, the SIMD box driver's format conversion, weighting and scaling.
/// </summary>
internal readonly struct BoxPass<TLoss>(TLoss loss, BoxViews views) : IItemPass
    where TLoss : struct, IBoxLoss
{
    private readonly TLoss loss = loss;
    private readonly BoxViews v = views;

    public long Length => v.Length;

    public PassFlags Flags => v.Flags;

    public float Run(long i)
    {
        bool weighted = v.Has(PassFlags.Weighted), hasUpstream = v.Has(PassFlags.HasUpstream), storeGradient = v.Has(PassFlags.StoreGradient);
        float value = BoxStep.Evaluate<TLoss, float, IlgpuMath>(loss, BoxRows.Load(v.Prediction, i), BoxRows.Load(v.Target, i), weighted ? v.Weight[i] : 0f,
            hasUpstream ? v.Upstream[i] : 0f, weighted, hasUpstream, v.CenterSize != 0, v.GradientScale, storeGradient,
            out BoxVectors<float> predictionGradient, out BoxVectors<float> targetGradient);
        if (v.Has(PassFlags.StoreLoss))
            v.Output[i] = value;
        if (storeGradient)
        {
            BoxRows.Store(v.PredictionGradient, i, predictionGradient);
            if (v.HasTargetGradient != 0)
                BoxRows.Store(v.TargetGradient, i, targetGradient);
        }

        return value;
    }
}

/// <summary>Rows of four floats (<c>[N, 4]</c> boxes) in a view, as one thread reads and writes them.</summary>
internal static class BoxRows
{
    /// <summary>Row <paramref name="i"/>, all four read before anything is written (a gradient may be written over its boxes).</summary>
    public static BoxVectors<float> Load(ArrayView<float> rows, long i) => new(rows[4 * i], rows[4 * i + 1], rows[4 * i + 2], rows[4 * i + 3]);

    /// <summary>Writes row <paramref name="i"/>.</summary>
    public static void Store(ArrayView<float> rows, long i, in BoxVectors<float> row)
    {
        rows[4 * i] = row.X1;
        rows[4 * i + 1] = row.Y1;
        rows[4 * i + 2] = row.X2;
        rows[4 * i + 3] = row.Y2;
    }
}

/// <summary>
/// The entry points of every box loss (<see cref="IBoxLoss"/>) on an engine's own ILGPU memory: the six of
/// <see cref="BoxLoss"/> with <see cref="ArrayView{T}"/>s in place of spans, run by the loss's own <c>Evaluate</c> compiled
/// for the views' accelerator (<see cref="BoxPass{TLoss}"/> in <see cref="ItemKernel"/>), one box pair per thread.
/// </summary>
/// <remarks>
/// <para>The same formulas, weights, reductions (the mean over no boxes is 0), formats and in-place rules as the span
/// overloads; results agree with the CPU within float rounding and are bitwise the same from run to run on one accelerator.
/// Reduced calls return the loss and wait for the stream; unreduced ones queue the kernel. The stream defaults to the
/// accelerator's default stream.</para>
/// <para>Checked before any launch, with nothing written: every view on the predictions' accelerator and not disposed,
/// whole rows of 4, lengths, overlaps, the format and the loss's hyperparameters. <c>targetGrad</c> default skips the
/// target gradient.</para>
/// </remarks>
public static class IlgpuBoxLoss
{
    /// <summary>Forward only, reduced: returns <c>reduce(w ⊙ ℓ(prediction, target))</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-box weights, n values, or default for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="format">How the boxes are stored.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ArrayView<float> prediction, ArrayView<float> target, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, float? avgFactor = null, BoxFormat format = BoxFormat.Xyxy, AcceleratorStream? stream = null)
        where TLoss : struct, IBoxLoss
    {
        Accelerator accelerator = CheckInputs(loss, prediction, target, weight, format, out int n);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        var views = new BoxViews(prediction, target, weight, default, default, default, default, 0f, n, Passes.ForwardReduced | Weighting(weight), format);
        return BoxLoss.Reduce(Launch(loss, views, accelerator, stream), divisor);
    }

    /// <summary>Forward only, unreduced: queues <c>output[i] = w[i] · ℓ(prediction[i], target[i])</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="output">Receives the n box losses.</param>
    /// <param name="weight">Per-box weights, n values, or default for none.</param>
    /// <param name="format">How the boxes are stored.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Forward<TLoss>(this TLoss loss, ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> output,
        ArrayView<float> weight = default, BoxFormat format = BoxFormat.Xyxy, AcceleratorStream? stream = null)
        where TLoss : struct, IBoxLoss
    {
        Accelerator accelerator = CheckInputs(loss, prediction, target, weight, format, out int n);
        CheckOutput(accelerator, n, prediction, target, weight, default, output);
        var views = new BoxViews(prediction, target, weight, default, output, default, default, 0f, n, Passes.ForwardUnreduced | Weighting(weight), format);
        Launch(loss, views, accelerator, stream);
    }

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>predictionGrad = ∂(upstream · L)/∂prediction</c> (and the targets' into <paramref name="targetGrad"/>).</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-box weights, n values, or default for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of ∂(upstream · L)/∂target, or default to skip them; may be <paramref name="target"/> itself.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss L.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> predictionGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float? avgFactor = null, float upstream = 1f,
        BoxFormat format = BoxFormat.Xyxy, ArrayView<float> targetGrad = default, AcceleratorStream? stream = null)
        where TLoss : struct, IBoxLoss
    {
        Accelerator accelerator = CheckInputs(loss, prediction, target, weight, format, out int n);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        CheckGradients(accelerator, prediction, target, weight, default, predictionGrad, targetGrad);
        var views = new BoxViews(prediction, target, weight, default, default, predictionGrad, targetGrad, BoxLoss.GradientScale(upstream, divisor), n,
            Passes.FusedReduced | Weighting(weight), format);
        return BoxLoss.Reduce(Launch(loss, views, accelerator, stream), divisor);
    }

    /// <summary>Fused forward+backward, unreduced: queues <c>output[i] = w[i] · ℓ</c> and the gradients of <c>Σ upstream ⊙ output</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="output">Receives the n box losses.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="upstream">The upstream gradient per box, n values, or default for all ones.</param>
    /// <param name="weight">Per-box weights, n values, or default for none.</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of the target gradient, or default to skip them.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward<TLoss>(this TLoss loss, ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> output,
        ArrayView<float> predictionGrad, ArrayView<float> upstream = default, ArrayView<float> weight = default, BoxFormat format = BoxFormat.Xyxy,
        ArrayView<float> targetGrad = default, AcceleratorStream? stream = null)
        where TLoss : struct, IBoxLoss
    {
        Accelerator accelerator = CheckInputs(loss, prediction, target, weight, format, out int n);
        ViewChecks.Optional(upstream, accelerator, n, nameof(upstream));
        CheckOutput(accelerator, n, prediction, target, weight, upstream, output);
        CheckGradients(accelerator, prediction, target, weight, upstream, predictionGrad, targetGrad);
        ViewChecks.IfOverlaps(predictionGrad, 4L * n, output, n, nameof(output), nameof(predictionGrad));
        ViewChecks.IfOverlaps(targetGrad, 4L * n, output, n, nameof(output), nameof(targetGrad));
        var views = new BoxViews(prediction, target, weight, upstream, output, predictionGrad, targetGrad, 1f, n,
            Passes.FusedUnreduced | Weighting(weight) | Upstreaming(upstream), format);
        Launch(loss, views, accelerator, stream);
    }

    /// <summary>Backward only, reduced: queues <c>predictionGrad = ∂(upstream · L)/∂prediction</c> (and the target gradient when asked).</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (default) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-box weights, n values, or default for none.</param>
    /// <param name="avgFactor">With <see cref="Reduction.Mean"/>: divide by <c>avgFactor + ε</c> instead of n.</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of the target gradient, or default to skip them.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward<TLoss>(this TLoss loss, ArrayView<float> prediction, ArrayView<float> target, float upstream, ArrayView<float> predictionGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float? avgFactor = null, BoxFormat format = BoxFormat.Xyxy,
        ArrayView<float> targetGrad = default, AcceleratorStream? stream = null)
        where TLoss : struct, IBoxLoss
    {
        Accelerator accelerator = CheckInputs(loss, prediction, target, weight, format, out int n);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        CheckGradients(accelerator, prediction, target, weight, default, predictionGrad, targetGrad);
        var views = new BoxViews(prediction, target, weight, default, default, predictionGrad, targetGrad, BoxLoss.GradientScale(upstream, divisor), n,
            Passes.Backward | Weighting(weight), format);
        Launch(loss, views, accelerator, stream);
    }

    /// <summary>Backward only, unreduced: queues the gradients of <c>Σ upstream ⊙ (w ⊙ ℓ)</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="prediction">Predicted boxes, n rows of 4.</param>
    /// <param name="target">Target boxes, n rows of 4.</param>
    /// <param name="upstream">The upstream gradient per box, n values.</param>
    /// <param name="predictionGrad">Receives 4n gradient values; may be <paramref name="prediction"/> itself.</param>
    /// <param name="weight">Per-box weights, n values, or default for none.</param>
    /// <param name="format">How the boxes (and so the gradients) are stored.</param>
    /// <param name="targetGrad">Receives 4n values of the target gradient, or default to skip them.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward<TLoss>(this TLoss loss, ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> upstream, ArrayView<float> predictionGrad,
        ArrayView<float> weight = default, BoxFormat format = BoxFormat.Xyxy, ArrayView<float> targetGrad = default, AcceleratorStream? stream = null)
        where TLoss : struct, IBoxLoss
    {
        Accelerator accelerator = CheckInputs(loss, prediction, target, weight, format, out int n);
        ViewChecks.Required(upstream, accelerator, n, nameof(upstream));
        CheckGradients(accelerator, prediction, target, weight, upstream, predictionGrad, targetGrad);
        var views = new BoxViews(prediction, target, weight, upstream, default, predictionGrad, targetGrad, 1f, n,
            Passes.Backward | Weighting(weight) | PassFlags.HasUpstream, format);
        Launch(loss, views, accelerator, stream);
    }

    private static double Launch<TLoss>(in TLoss loss, in BoxViews views, Accelerator accelerator, AcceleratorStream? stream)
        where TLoss : struct, IBoxLoss =>
        ItemKernel.Launch(new BoxPass<TLoss>(loss, views), accelerator, stream ?? accelerator.DefaultStream);

    private static PassFlags Weighting(ArrayView<float> weight) => ViewChecks.IsPresent(weight) ? PassFlags.Weighted : PassFlags.None;

    private static PassFlags Upstreaming(ArrayView<float> upstream) => ViewChecks.IsPresent(upstream) ? PassFlags.HasUpstream : PassFlags.None;

    private static Accelerator CheckInputs<TLoss>(in TLoss loss, ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> weight, BoxFormat format, out int n)
        where TLoss : struct, IBoxLoss
    {
        loss.Validate();
        BoxLoss.CheckFormat(format);
        Accelerator accelerator = ViewChecks.AcceleratorOf(prediction, nameof(prediction));
        n = BoxLoss.BoxCount(prediction.Length, nameof(prediction));
        ViewChecks.Required(target, accelerator, prediction.Length, nameof(target));
        ViewChecks.Optional(weight, accelerator, n, nameof(weight));
        return accelerator;
    }

    private static void CheckOutput(Accelerator accelerator, int n, ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> weight,
        ArrayView<float> upstream, ArrayView<float> output)
    {
        ViewChecks.Destination(output, accelerator, n, nameof(output));
        ViewChecks.IfOverlaps(prediction, prediction.Length, output, n, nameof(output), nameof(prediction));
        ViewChecks.IfOverlaps(target, target.Length, output, n, nameof(output), nameof(target));
        ViewChecks.IfOverlaps(weight, weight.Length, output, n, nameof(output), nameof(weight));
        ViewChecks.IfPartialOverlap(upstream, output, n, nameof(output));
    }

    /// <summary>Gradient views: long enough, each the memory of its own boxes or disjoint from every input, and disjoint from each other.</summary>
    private static void CheckGradients(Accelerator accelerator, ArrayView<float> prediction, ArrayView<float> target, ArrayView<float> weight,
        ArrayView<float> upstream, ArrayView<float> predictionGrad, ArrayView<float> targetGrad)
    {
        long length = prediction.Length;
        ViewChecks.Destination(predictionGrad, accelerator, length, nameof(predictionGrad));
        ViewChecks.IfPartialOverlap(prediction, predictionGrad, length, nameof(predictionGrad));
        ViewChecks.IfOverlaps(target, length, predictionGrad, length, nameof(predictionGrad), nameof(target));
        ViewChecks.IfOverlaps(weight, weight.Length, predictionGrad, length, nameof(predictionGrad), nameof(weight));
        ViewChecks.IfOverlaps(upstream, upstream.Length, predictionGrad, length, nameof(predictionGrad), nameof(upstream));
        if (!ViewChecks.IsPresent(targetGrad))
            return;
        ViewChecks.Destination(targetGrad, accelerator, length, nameof(targetGrad));
        ViewChecks.IfPartialOverlap(target, targetGrad, length, nameof(targetGrad));
        ViewChecks.IfOverlaps(prediction, length, targetGrad, length, nameof(targetGrad), nameof(prediction));
        ViewChecks.IfOverlaps(weight, weight.Length, targetGrad, length, nameof(targetGrad), nameof(weight));
        ViewChecks.IfOverlaps(upstream, upstream.Length, targetGrad, length, nameof(targetGrad), nameof(upstream));
        ViewChecks.IfOverlaps(predictionGrad, length, targetGrad, length, nameof(targetGrad), nameof(predictionGrad));
    }
}
