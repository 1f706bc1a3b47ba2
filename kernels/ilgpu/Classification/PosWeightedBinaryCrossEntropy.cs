using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="PosWeightedBinaryCrossEntropyLoss"/> on an engine's ILGPU memory: one element per thread, its class c = i mod C
/// picking w₊ = posWeight[c], the SIMD kernel's math (<c>BinaryCrossEntropyWithLogitsLoss.Weighted</c>, <see cref="ElementwiseStep.Apply"/>).
/// </summary>
/// <remarks>The same formulas, reductions and checks as the span overloads, except that the C positive weights are on the device and not read back to be checked for sign.</remarks>
public static class IlgpuPosWeightedBinaryCrossEntropyLoss
{
    /// <summary>Fused forward+backward, reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Logits, a whole number of rows of C = <paramref name="posWeight"/>.Length.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights.</param>
    /// <param name="inputGrad">Receives the gradient; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over every element) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, or default for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this PosWeightedBinaryCrossEntropyLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> posWeight,
        ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(input, target, posWeight, default, inputGrad, default, weight, reduction, upstream, stream);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Logits, a whole number of rows of C = <paramref name="posWeight"/>.Length.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over every element) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward(this PosWeightedBinaryCrossEntropyLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> posWeight,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        Run(input, target, posWeight, default, default, default, weight, reduction, 1f, stream);

    /// <summary>Unreduced: queues the element losses, and the gradient when <paramref name="inputGrad"/> is given.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Logits, a whole number of rows of C.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights.</param>
    /// <param name="output">Receives the element losses.</param>
    /// <param name="inputGrad">Receives the gradient, or default; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">Per-element upstream gradients, or default for ones.</param>
    /// <param name="weight">Per-element weights, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this PosWeightedBinaryCrossEntropyLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> posWeight,
        ArrayView<float> output, ArrayView<float> inputGrad, ArrayView<float> upstream = default, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        Run(input, target, posWeight, output, inputGrad, upstream, weight, Reduction.None, 1f, stream);

    /// <summary>The target's gradient, reduced: <c>targetGrad = upstream · w · ((w₊ − 1)·softplus(−x) − x) / divisor</c>, as the span overload.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Logits, a whole number of rows of C = <paramref name="posWeight"/>.Length.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="target"/> or <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over every element) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Per-element weights, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void TargetBackward(this PosWeightedBinaryCrossEntropyLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> posWeight,
        float upstream, ArrayView<float> targetGrad, Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, AcceleratorStream? stream = null)
    {
        ElementwiseLoss.ReductionDivisor(reduction, 1, null);
        Run(input, target, posWeight, default, targetGrad, default, weight, reduction, upstream, stream, targetSide: true);
    }

    /// <summary>The target's gradient, unreduced: <c>targetGrad[i] = upstream[i] · w[i] · ((w₊ − 1)·softplus(−x) − x)</c>.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Logits, a whole number of rows of C.</param>
    /// <param name="target">Targets, as many.</param>
    /// <param name="posWeight">C positive weights.</param>
    /// <param name="upstream">Per-element upstream gradients.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="target"/> or <paramref name="input"/> itself.</param>
    /// <param name="weight">Per-element weights, or default for none.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void TargetBackward(this PosWeightedBinaryCrossEntropyLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> posWeight,
        ArrayView<float> upstream, ArrayView<float> targetGrad, ArrayView<float> weight = default, AcceleratorStream? stream = null)
    {
        ViewChecks.Required(upstream, ViewChecks.AcceleratorOf(input, nameof(input)), input.Length, nameof(upstream));
        Run(input, target, posWeight, default, targetGrad, upstream, weight, Reduction.None, 1f, stream, targetSide: true);
    }

    private static float Run(ArrayView<float> input, ArrayView<float> target, ArrayView<float> posWeight, ArrayView<float> output, ArrayView<float> gradient,
        ArrayView<float> upstream, ArrayView<float> weight, Reduction reduction, float upstreamScalar, AcceleratorStream? stream, bool targetSide = false)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(input, nameof(input));
        long n = input.Length;
        ViewChecks.Required(posWeight, accelerator, -1, nameof(posWeight));
        int classes = posWeight.IntLength;
        if (classes == 0 || n % classes != 0)
            ThrowHelper.Argument(nameof(posWeight), $"posWeight holds {classes} values; the input's {n} must be whole rows of them.");
        ViewChecks.Required(target, accelerator, n, nameof(target));
        ViewChecks.Optional(weight, accelerator, n, nameof(weight));
        ViewChecks.Optional(upstream, accelerator, n, nameof(upstream));
        bool unreduced = reduction == Reduction.None;
        double divisor = unreduced ? 1d : ElementwiseLoss.ReductionDivisor(reduction, n, null);
        bool storeGradient = ViewChecks.IsPresent(gradient);
        string gradientName = targetSide ? "targetGrad" : "inputGrad";
        if (unreduced && !targetSide)
        {
            ViewChecks.Destination(output, accelerator, n, nameof(output));
            foreach ((ArrayView<float> read, string name) in (ReadOnlySpan<(ArrayView<float>, string)>)[(input, nameof(input)), (target, nameof(target)),
                (posWeight, nameof(posWeight)), (weight, nameof(weight)), (gradient, "inputGrad")])
                ViewChecks.IfOverlaps(read, read.Length, output, n, nameof(output), name);
        }

        if (storeGradient)
        {
            ViewChecks.Destination(gradient, accelerator, n, gradientName);
            ViewChecks.IfPartialOverlap(input, gradient, n, gradientName);
            // The target's gradient may be the target itself: each thread reads its element before it writes it.
            if (targetSide)
                ViewChecks.IfPartialOverlap(target, gradient, n, gradientName);
            else
                ViewChecks.IfOverlaps(target, n, gradient, n, gradientName, nameof(target));
            ViewChecks.IfOverlaps(posWeight, classes, gradient, n, gradientName, nameof(posWeight));
            ViewChecks.IfOverlaps(weight, weight.Length, gradient, n, gradientName, nameof(weight));
            ViewChecks.IfPartialOverlap(upstream, gradient, n, gradientName);
        }

        PassFlags flags = (unreduced ? (targetSide ? PassFlags.None : PassFlags.StoreLoss) : PassFlags.Reduce) | (storeGradient ? PassFlags.StoreGradient : PassFlags.None)
            | (ViewChecks.IsPresent(weight) ? PassFlags.Weighted : PassFlags.None) | (ViewChecks.IsPresent(upstream) ? PassFlags.HasUpstream : PassFlags.None);
        var views = new ElementwiseViews(input, target, weight, upstream, output, gradient, (float)(upstreamScalar / divisor), n, flags);
        double sum = ItemKernel.Launch(new PosWeightPass(views, posWeight, targetSide), accelerator, stream ?? accelerator.DefaultStream);
        return unreduced ? 0f : (float)(sum / divisor);
    }

    /// <summary>One element per thread, w₊ of its class; the gradient written is the input's or, with <paramref name="targetSide"/>, the target's.</summary>
    internal readonly struct PosWeightPass(ElementwiseViews views, ArrayView<float> posWeight, bool targetSide) : IItemPass
    {
        private readonly ElementwiseViews v = views;
        private readonly ArrayView<float> posWeight = posWeight;
        // An int: ILGPU's kernel parameters must be blittable, and bool is not.
        private readonly int targetSide = targetSide ? 1 : 0;

        public long Length => v.Length;

        public PassFlags Flags => v.Flags;

        public float Run(long i)
        {
            float classWeight = posWeight[i % posWeight.Length];
            float loss = BinaryCrossEntropyWithLogitsLoss.Weighted<float, IlgpuMath>(v.Input[i], v.Target[i], classWeight, out float slope);
            if (targetSide != 0)
                slope = BinaryCrossEntropyWithLogitsLoss.WeightedTarget<float, IlgpuMath>(v.Input[i], classWeight);
            float value = ElementwiseStep.Apply<float, IlgpuMath>(loss, slope, v.WeightAt(i), v.UpstreamAt(i), v.Has(PassFlags.Weighted), v.Has(PassFlags.HasUpstream),
                v.GradientScale, v.Has(PassFlags.StoreGradient), out float gradient);
            return v.Store(i, value, gradient);
        }
    }
}

/// <summary>A <see cref="PosWeightBoundLoss"/> on an ILGPU accelerator.</summary>
internal sealed class IlgpuPosWeightRun(PosWeightBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.input, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.input.Length : null,
        bound.WritesTarget, extra: bound.posWeight)
{
    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Target, Extra, Output, gradient ? Gradient : default, Upstream, Weight, Stream);
        else if (gradient)
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, Extra, Gradient, bound.reduction, Weight, bound.upstreamScalar, Stream);
        else
            bound.Loss[0] = bound.loss.Forward(Input, Target, Extra, bound.reduction, Weight, Stream);
        if (gradient && bound.WritesTarget)
        {
            if (bound.reduction == Reduction.None)
                bound.loss.TargetBackward(Input, Target, Extra, Upstream, TargetGradient, Weight, Stream);
            else
                bound.loss.TargetBackward(Input, Target, Extra, bound.upstreamScalar, TargetGradient, bound.reduction, Weight, Stream);
        }

        Finish();
    }
}
