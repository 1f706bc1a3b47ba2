using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="CrossEntropyLoss.TargetBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, int, float, Span{float}, Reduction, ReadOnlySpan{float}, int)"/>
/// on an engine's ILGPU memory: a thread per position, which reads its C logits twice (max, Σe) and writes
/// <c>−(1 − ε)·scale·w_c·(x_c − lse)</c>; the same formula, reductions and checks as the span overloads.
/// </summary>
public static class IlgpuCrossEntropyTarget
{
    /// <summary>The probability targets' gradient, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="targetProbabilities">As many target probabilities (only their length is read).</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="targetProbabilities"/> or <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over the N·D positions) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void TargetBackward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<float> targetProbabilities, int classes, float upstream,
        ArrayView<float> targetGrad, Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null)
    {
        CrossEntropyLoss.RequireReduced(reduction);
        Run(loss, logits, targetProbabilities, classes, upstream, default, targetGrad, weight, spatialSize, reduction, stream);
    }

    /// <summary>The probability targets' gradient, unreduced: one upstream gradient per position.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="targetProbabilities">As many target probabilities (only their length is read).</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">One upstream gradient per position (N·D).</param>
    /// <param name="targetGrad">Receives the gradient; may be <paramref name="targetProbabilities"/> or <paramref name="logits"/> itself.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void TargetBackward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<float> targetProbabilities, int classes, ArrayView<float> upstream,
        ArrayView<float> targetGrad, ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null)
    {
        Run(loss, logits, targetProbabilities, classes, 1f, upstream, targetGrad, weight, spatialSize, Reduction.None, stream);
    }

    private static void Run(CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<float> targetProbabilities, int classes, float upstreamScalar,
        ArrayView<float> upstream, ArrayView<float> targetGrad, ArrayView<float> weight, int spatialSize, Reduction reduction, AcceleratorStream? stream)
    {
        loss.Validate();
        Accelerator accelerator = ViewChecks.AcceleratorOf(logits, nameof(logits));
        long length = logits.Length;
        long positions = CrossEntropyLoss.SoftPositions(length, classes, spatialSize);
        if (reduction == Reduction.None)
            ViewChecks.Required(upstream, accelerator, positions, nameof(upstream));
        ViewChecks.Required(targetProbabilities, accelerator, length, nameof(targetProbabilities));
        ViewChecks.Optional(weight, accelerator, classes, nameof(weight));
        ViewChecks.Destination(targetGrad, accelerator, length, nameof(targetGrad));
        ViewChecks.IfPartialOverlap(logits, targetGrad, length, nameof(targetGrad));
        ViewChecks.IfPartialOverlap(targetProbabilities, targetGrad, length, nameof(targetGrad));
        ViewChecks.IfOverlaps(weight, weight.Length, targetGrad, length, nameof(targetGrad), nameof(weight));
        ViewChecks.IfOverlaps(upstream, upstream.Length, targetGrad, length, nameof(targetGrad), nameof(upstream));
        double divisor = reduction == Reduction.Mean ? positions : 1d;
        var pass = new TargetPass(logits, weight, upstream, targetGrad, positions, classes, spatialSize, (float)(-(1f - loss.LabelSmoothing) * upstreamScalar / divisor),
            ViewChecks.IsPresent(weight) ? 1 : 0, ViewChecks.IsPresent(upstream) ? 1 : 0);
        ItemKernel.Launch(pass, accelerator, stream ?? accelerator.DefaultStream);
    }

    /// <summary>One position per item: its log-softmax over the class axis (D apart), times the factor, the class weight and its upstream.</summary>
    internal readonly struct TargetPass(ArrayView<float> logits, ArrayView<float> weight, ArrayView<float> upstream, ArrayView<float> gradient, long positions,
        int classes, int spatial, float factor, int weighted, int hasUpstream) : IItemPass
    {
        private readonly ArrayView<float> logits = logits, weight = weight, upstream = upstream, gradient = gradient;
        private readonly long positions = positions;
        private readonly int classes = classes, spatial = spatial;
        private readonly float factor = factor;

        // Flags as ints: ILGPU's kernel parameters must be blittable, and bool is not.
        private readonly int weighted = weighted, hasUpstream = hasUpstream;

        public long Length => positions;

        public PassFlags Flags => PassFlags.StoreGradient;

        public float Run(long i)
        {
            long sample = i / spatial;
            long start = sample * classes * spatial + (i - sample * spatial);
            float max = float.NegativeInfinity;
            for (int c = 0; c < classes; c++)
            {
                float v = logits[start + (long)c * spatial];
                max = float.IsNaN(v) || v > max ? v : max;
            }

            double sum = 0d;
            for (int c = 0; c < classes; c++)
                sum += IlgpuMath.Exp(logits[start + (long)c * spatial] - max);
            float lse = max + IlgpuMath.Log((float)sum);
            float scale = factor * (hasUpstream != 0 ? upstream[i] : 1f);
            for (int c = 0; c < classes; c++)
            {
                long at = start + (long)c * spatial;
                gradient[at] = scale * (weighted != 0 ? weight[c] : 1f) * (logits[at] - lse);
            }

            return 0f;
        }
    }
}
