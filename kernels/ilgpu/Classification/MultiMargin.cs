using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="MultiMarginLoss"/> on an engine's ILGPU memory: targets checked on the device first, then a row per work-group (or per
/// thread for short rows, <see cref="RowKernel"/>) sweeping every class with the SIMD rows' own term
/// (<see cref="MultiMarginLoss.Term{TVec, TMath}"/>, the target's own class included and taken back out by
/// <see cref="MultiMarginLoss.OwnTerm"/>).
/// </summary>
public static class IlgpuMultiMarginLoss
{
    /// <summary>Fused forward+backward (or forward alone when <paramref name="inputGrad"/> is default), reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">N·C scores.</param>
    /// <param name="target">N int64 class indices (checked on the device; the first bad one throws).</param>
    /// <param name="inputGrad">Receives N·C gradient elements, or default; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this MultiMarginLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> inputGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, input, target, default, inputGrad, default, weight, reduction, upstream, stream);

    /// <summary>Unreduced: N row losses, and the gradient when <paramref name="inputGrad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">N·C scores.</param>
    /// <param name="target">N int64 class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="inputGrad">Receives N·C gradient elements, or default.</param>
    /// <param name="upstream">N upstream gradients, or default for ones.</param>
    /// <param name="weight">C class weights, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this MultiMarginLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> output, ArrayView<float> inputGrad,
        ArrayView<float> upstream = default, ArrayView<float> weight = default, AcceleratorStream? stream = null) =>
        Run(loss, input, target, output, inputGrad, upstream, weight, Reduction.None, 1f, stream);

    private static float Run(MultiMarginLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> output, ArrayView<float> gradient,
        ArrayView<float> upstream, ArrayView<float> weight, Reduction reduction, float upstreamScalar, AcceleratorStream? stream)
    {
        loss.Validate();
        Accelerator accelerator = ViewChecks.ClassRows(input, target, weight, upstream, output, gradient, 1, out int rows, out int classes);
        if (reduction == Reduction.None && !ViewChecks.IsPresent(output))
            ThrowHelper.Argument(nameof(output), "Reduction.None returns one loss per row into output.");

        double divisor = reduction == Reduction.None ? 1d : ElementwiseLoss.ReductionDivisor(reduction, rows, null);
        if (rows == 0)
            return (float)(0d / divisor);
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
        {
            RowChecks.CheckTargets(state, queue, target, default, classes, ignoreIndex: null, countRows: true);
            var pass = new MarginRows(loss, input, target, weight, upstream, output, gradient, classes, (float)(upstreamScalar / divisor));
            double sum = RowKernel.Launch(state, queue, pass, reduction != Reduction.None);
            return reduction == Reduction.None ? 0f : (float)(sum / divisor);
        }
    }

    /// <summary>One row: x_y read by every thread first, the sweep over every class, the target's own term taken back out and its gradient written by the row's first thread.</summary>
    internal readonly struct MarginRows(MultiMarginLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> classWeight, ArrayView<float> upstream,
        ArrayView<float> output, ArrayView<float> gradient, int classes, float gradientScale) : IRowPass
    {
        /// <summary>Terms a thread adds in float before adding them into its double sums (the SIMD rows flush every 64 vectors).</summary>
        private const int FlushTerms = 64;

        private readonly MultiMarginLoss loss = loss;
        private readonly ArrayView<float> input = input;
        private readonly ArrayView<long> target = target;
        private readonly ArrayView<float> classWeight = classWeight;
        private readonly ArrayView<float> upstream = upstream;
        private readonly ArrayView<float> output = output;
        private readonly ArrayView<float> gradient = gradient;
        private readonly float gradientScale = gradientScale;
        private readonly int weighted = ViewChecks.IsPresent(classWeight) ? 1 : 0;
        private readonly int hasUpstream = ViewChecks.IsPresent(upstream) ? 1 : 0;
        private readonly int storeLoss = ViewChecks.IsPresent(output) ? 1 : 0;
        private readonly int storeGradient = ViewChecks.IsPresent(gradient) ? 1 : 0;

        public int Rows => target.IntLength;

        public int Classes { get; } = classes;

        public double Run<TReduce>(long r, int first, int step)
            where TReduce : struct, IRowReduce
        {
            long offset = r * Classes;
            long y = target[r];
            float targetScore = input[offset + y];
            float shift = loss.Margin - targetScore;
            float factor = (weighted != 0 ? classWeight[y] : 1f) / Classes;
            float scale = gradientScale * (hasUpstream != 0 ? upstream[r] : 1f);
            // Every thread has read x_y before any writes its gradient (the gradient may be the input).
            TReduce.Barrier();
            float losses = 0f, slopes = 0f;
            double lossTotal = 0d, slopeTotal = 0d;
            int pending = 0;
            for (int c = first; c < Classes; c += step)
            {
                losses += loss.Term<float, IlgpuMath>(input[offset + c], shift, factor * scale, out float slope);
                if (storeGradient != 0)
                    gradient[offset + c] = slope;
                slopes += slope;
                if (++pending == FlushTerms)
                {
                    lossTotal += losses;
                    slopeTotal += slopes;
                    losses = slopes = 0f;
                    pending = 0;
                }
            }

            double lossSum = TReduce.Sum(lossTotal + losses);
            double slopeSum = TReduce.Sum(slopeTotal + slopes);
            float own = loss.OwnTerm(targetScore, shift, factor * scale, out float ownSlope);
            double rowLoss = factor * (lossSum - own);
            if (first != 0)
                return rowLoss;
            if (storeGradient != 0)
                gradient[offset + y] = -(float)(slopeSum - ownSlope);
            if (storeLoss != 0)
                output[r] = (float)rowLoss;
            return rowLoss;
        }
    }
}
