using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="NllLoss"/> on an engine's ILGPU memory: the targets checked (and Σ w_y, the mean's divisor, summed) by the cross-entropy
/// family's check, a thread per row for ℓ_r = −w_y·x[r, y], then a thread per element for the gradient (−s·w_y·upstream_r at [r, y],
/// 0 elsewhere), launched after the rows have read the input so that it may be written in place.
/// </summary>
public static class IlgpuNllLoss
{
    /// <summary>Forward only, reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N int64 class indices (checked on the device).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over Σ w_y) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward(this NllLoss loss, ArrayView<float> input, ArrayView<long> target, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        Run(loss, input, target, weight, default, default, default, reduction, 1f, stream);

    /// <summary>Fused forward+backward, reduced; <paramref name="inputGrad"/> may be <paramref name="input"/> itself.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N int64 class indices.</param>
    /// <param name="inputGrad">Receives N·C gradient elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this NllLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, input, target, weight, default, default, inputGrad, reduction, upstream, stream);

    /// <summary>Unreduced: N row losses, and the gradient when <paramref name="inputGrad"/> is given.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N int64 class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="inputGrad">Receives N·C gradient elements, or default.</param>
    /// <param name="upstream">N upstream gradients, or default for ones.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this NllLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> output, ArrayView<float> inputGrad,
        ArrayView<float> upstream = default, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        Run(loss, input, target, weight, upstream, output, inputGrad, Reduction.None, 1f, stream);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N int64 class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this NllLoss loss, ArrayView<float> input, ArrayView<long> target, float upstream, ArrayView<float> inputGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        Run(loss, input, target, weight, default, default, inputGrad, reduction, upstream, stream);

    private static float Run(NllLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> weight, ArrayView<float> upstream,
        ArrayView<float> output, ArrayView<float> gradient, Reduction reduction, float upstreamScalar, AcceleratorStream? stream)
    {
        Accelerator accelerator = ViewChecks.ClassRows(input, target, weight, upstream, output, gradient, 0, out int rows, out int classes);
        bool storeLoss = ViewChecks.IsPresent(output), storeGradient = ViewChecks.IsPresent(gradient);

        if (reduction == Reduction.None && !storeLoss)
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one loss per row: use the overload that takes an output view.");
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "a defined Reduction");
        if (rows == 0)
            return reduction == Reduction.Mean ? float.NaN : 0f;

        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
        {
            double targetWeights = RowChecks.CheckTargets(state, queue, target, weight, classes, loss.IgnoreIndex, countRows: false);
            double divisor = reduction == Reduction.Mean ? targetWeights : 1d;
            var rowsPass = new NllRows(input, target, weight, output, classes, loss.IgnoreIndex, reduction == Reduction.None ? PassFlags.None : PassFlags.Reduce);
            double total = ItemKernel.Launch(rowsPass, accelerator, queue);
            if (storeGradient)
                ItemKernel.Launch(new NllGradient(target, weight, upstream, gradient, classes, loss.IgnoreIndex, upstreamScalar / divisor), accelerator, queue);
            return reduction == Reduction.None ? 0f : (float)(total / divisor);
        }
    }

    /// <summary>ℓ_r = −w_y·x[r, y] (0 for an ignored row), a thread per row; stored for 'none'.</summary>
    internal readonly struct NllRows(ArrayView<float> input, ArrayView<long> target, ArrayView<float> classWeight, ArrayView<float> output, int classes,
        long ignoreIndex, PassFlags flags) : IItemPass
    {
        private readonly ArrayView<float> input = input;
        private readonly ArrayView<long> target = target;
        private readonly ArrayView<float> classWeight = classWeight;
        private readonly ArrayView<float> output = output;
        private readonly int classes = classes;
        private readonly long ignoreIndex = ignoreIndex;
        private readonly int weighted = ViewChecks.IsPresent(classWeight) ? 1 : 0;
        private readonly int storeLoss = ViewChecks.IsPresent(output) ? 1 : 0;

        public long Length => target.Length;

        public PassFlags Flags { get; } = flags;

        public float Run(long r)
        {
            long y = target[r];
            float value = 0f;
            if (y != ignoreIndex)
                value = (float)(-(double)(weighted != 0 ? classWeight[y] : 1f) * input[r * classes + y]);
            if (storeLoss != 0)
                output[r] = value;
            return value;
        }
    }

    /// <summary>The whole [N, C] gradient, a thread per element: −s·w_y·upstream_r at [r, y], 0 elsewhere and on ignored rows.</summary>
    internal readonly struct NllGradient(ArrayView<long> target, ArrayView<float> classWeight, ArrayView<float> upstream, ArrayView<float> gradient, int classes,
        long ignoreIndex, double scale) : IItemPass
    {
        private readonly ArrayView<long> target = target;
        private readonly ArrayView<float> classWeight = classWeight;
        private readonly ArrayView<float> upstream = upstream;
        private readonly ArrayView<float> gradient = gradient;
        private readonly int classes = classes;
        private readonly long ignoreIndex = ignoreIndex;
        private readonly double scale = scale;
        private readonly int weighted = ViewChecks.IsPresent(classWeight) ? 1 : 0;
        private readonly int hasUpstream = ViewChecks.IsPresent(upstream) ? 1 : 0;

        public long Length => (long)target.Length * classes;

        public PassFlags Flags => PassFlags.None;

        public float Run(long i)
        {
            long r = i / classes;
            long y = target[r];
            gradient[i] = y != ignoreIndex && y == i - r * classes
                ? (float)(-(weighted != 0 ? classWeight[y] : 1f) * scale * (hasUpstream != 0 ? upstream[r] : 1f))
                : 0f;
            return 0f;
        }
    }
}
