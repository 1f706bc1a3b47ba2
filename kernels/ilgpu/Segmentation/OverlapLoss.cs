using System.Buffers;
using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Segmentation;

namespace LossKernels.ILGPU;

/// <summary>
/// The overlap losses (<see cref="IOverlapLoss"/>: Dice, Tversky, focal Tversky, generalized Dice) on an engine's ILGPU memory,
/// from the CPU kernels' per-pixel math (<see cref="OverlapMath"/> with <see cref="IlgpuMath"/>): the per-pixel softmax
/// statistics (multiclass from logits), the five sums per image, block of 4,096 pixels and class (one work-group each, its
/// threads' float sums added in double by a fixed tree), then on the host the blocks in index order, the loss and the
/// coefficient table, and a per-pixel gradient launch. Class targets are checked on the device first.
/// </summary>
/// <remarks>The same formulas and argument rules as <see cref="OverlapLoss"/>'s span overloads; every call waits for its result.</remarks>
public static class IlgpuOverlapLoss
{
    /// <summary>Pixels per block of the sums kernel.</summary>
    internal const int Block = 4096;

    /// <summary>Forward only: the loss.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<long> target, SegmentationShape shape, ReadOnlySpan<float> weight = default,
        AcceleratorStream? stream = null)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, default, false, shape, weight, 1f, stream);

    /// <summary>Forward only, multilabel or binary: the loss.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] float targets.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float Forward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, SegmentationShape shape, ReadOnlySpan<float> weight = default,
        AcceleratorStream? stream = null)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, default, target, default, false, shape, weight, 1f, stream);

    /// <summary>Fused forward+backward: returns the loss and writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<long> target, ArrayView<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, float upstream = 1f, AcceleratorStream? stream = null)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, inputGrad, true, shape, weight, upstream, stream);

    /// <summary>Fused forward+backward, multilabel or binary.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] float targets.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The loss.</returns>
    public static float ForwardBackward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, float upstream = 1f, AcceleratorStream? stream = null)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, default, target, inputGrad, true, shape, weight, upstream, stream);

    /// <summary>Backward only: writes <c>upstream·∂L/∂input</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, d…] class indices (multiclass).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<long> target, float upstream, ArrayView<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, AcceleratorStream? stream = null)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, target, default, inputGrad, true, shape, weight, upstream, stream);

    /// <summary>Backward only, multilabel or binary.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input">[N, C, d…] logits (or probabilities).</param>
    /// <param name="target">[N, C, d…] float targets.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C·d… gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="shape">N, C and d1·d2·….</param>
    /// <param name="weight">C class weights on the host, or empty.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward<TLoss>(this TLoss loss, ArrayView<float> input, ArrayView<float> target, float upstream, ArrayView<float> inputGrad, SegmentationShape shape,
        ReadOnlySpan<float> weight = default, AcceleratorStream? stream = null)
        where TLoss : struct, IOverlapLoss =>
        Run(loss, input, default, target, inputGrad, true, shape, weight, upstream, stream);

    private static float Run<TLoss>(in TLoss loss, ArrayView<float> input, ArrayView<long> labels, ArrayView<float> dense, ArrayView<float> gradient, bool writeGradient,
        SegmentationShape shape, ReadOnlySpan<float> weight, float upstream, AcceleratorStream? stream)
        where TLoss : struct, IOverlapLoss
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(input, nameof(input));
        bool isDense = ViewChecks.IsPresent(dense);
        OverlapHost.Check(loss, shape, input.Length, isDense, isDense ? dense.Length : labels.Length, weight.Length);
        long n = input.Length;
        if (isDense)
            ViewChecks.Required(dense, accelerator, n, "target");
        else
            ViewChecks.Required(labels, accelerator, shape.Pixels, "target");
        if (writeGradient)
        {
            ViewChecks.Destination(gradient, accelerator, n, "inputGrad");
            ViewChecks.IfPartialOverlap(input, gradient, n, "inputGrad");
            ViewChecks.IfOverlaps(dense, dense.Length, gradient, n, "inputGrad", "target");
            ViewChecks.IfOverlaps(labels, labels.Length, gradient, n, "inputGrad", "target");
        }

        OverlapOptions options = loss.Options;
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        int classes = shape.Classes, blocks = (shape.Spatial + Block - 1) / Block, groups = shape.Batch * blocks * classes;
        int sumCount = groups * OverlapSums.Count, coefficientCount = OverlapHost.Groups(options, shape) * classes * OverlapDriver.CoefficientCount;
        double[] partials = ArrayPool<double>.Shared.Rent(Math.Max(1, sumCount));
        float[] coefficients = ArrayPool<float>.Shared.Rent(Math.Max(1, coefficientCount));
        try
        {
            lock (state.Gate)
            {
                if (!isDense)
                    RowChecks.CheckTargets(state, queue, labels, default, classes, options.IgnoreIndex, countRows: true);
                bool softmax = !isDense && options.FromLogits;
                ArrayView<float> stats = softmax ? state.Scratch(0, 2 * shape.Pixels) : default;
                var views = new OverlapViews(input, labels, dense, stats, default, gradient, shape, blocks, options);
                if (softmax)
                    ItemKernel.Launch(new OverlapStatsPass(views), accelerator, queue);
                if (groups > 0)
                {
                    SumsKernel.For(state)(queue, new KernelConfig(groups, state.GroupSize), views, state.Partials(sumCount));
                    state.ReadPartials(queue, partials.AsSpan(0, sumCount));
                }

                Span<float> table = writeGradient ? coefficients.AsSpan(0, coefficientCount) : default;
                double value = OverlapHost.Evaluate(loss, partials.AsSpan(0, sumCount), blocks, shape, weight, upstream, table);
                if (writeGradient)
                {
                    views = new OverlapViews(input, labels, dense, stats, state.UploadScratch(1, queue, table), gradient, shape, blocks, options);
                    ItemKernel.Launch(new OverlapGradientPass(views), accelerator, queue);
                    queue.Synchronize();
                }

                return (float)value;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(coefficients);
            ArrayPool<double>.Shared.Return(partials);
        }
    }

    private static readonly LoadedKernel<Action<AcceleratorStream, KernelConfig, OverlapViews, ArrayView<double>>> SumsKernel =
        new(accelerator => accelerator.LoadKernel<OverlapViews, ArrayView<double>>(Sums));

    /// <summary>
    /// One work-group per (image, block, class), the group index (image·blocks + block)·C + class, as the host reads the
    /// partials: each thread adds its pixels' five terms in float, the group adds the threads' sums in double by a fixed tree.
    /// </summary>
    private static void Sums(OverlapViews v, ArrayView<double> partials)
    {
        int group = Grid.IdxX;
        int c = group % v.Classes, block = group / v.Classes % v.Blocks, image = group / v.Classes / v.Blocks;
        int from = block * Block, to = Math.Min(v.Spatial, from + Block);
        float intersection = 0f, prediction = 0f, target = 0f, predictionSquares = 0f, targetSquares = 0f;
        for (int s = from + Group.IdxX; s < to; s += Group.DimX)
        {
            float p = v.Probability(image, s, c, out float t, out _, out _);
            OverlapMath.Accumulate<float, IlgpuMath>(p, t, ref intersection, ref prediction, ref target, ref predictionSquares, ref targetSquares);
        }

        double sumIntersection = GroupReduce.Sum(intersection);
        double sumPrediction = GroupReduce.Sum(prediction);
        double sumTarget = GroupReduce.Sum(target);
        double sumPredictionSquares = GroupReduce.Sum(predictionSquares);
        double sumTargetSquares = GroupReduce.Sum(targetSquares);
        if (Group.IdxX != 0)
            return;
        long at = (long)group * OverlapSums.Count;
        partials[at] = sumIntersection;
        partials[at + 1] = sumPrediction;
        partials[at + 2] = sumTarget;
        partials[at + 3] = sumPredictionSquares;
        partials[at + 4] = sumTargetSquares;
    }
}

/// <summary>Per pixel: the max over the classes and 1/Σe^(x − max), as the CPU's softmax sweep (NaN when any logit is NaN).</summary>
internal readonly struct OverlapStatsPass(OverlapViews views) : IItemPass
{
    private readonly OverlapViews v = views;

    public long Length => v.Pixels;

    public PassFlags Flags => PassFlags.None;

    public float Run(long pixel)
    {
        long image = pixel / v.Spatial, s = pixel - image * v.Spatial;
        long first = image * v.Classes * v.Spatial + s;
        float max = v.Input[first];
        for (int c = 1; c < v.Classes; c++)
            max = IlgpuMath.Max(max, v.Input[first + (long)c * v.Spatial]);
        float sum = 0f;
        for (int c = 0; c < v.Classes; c++)
            sum += VectorFunctions.ExpOfNonPositive<float, IlgpuMath>(v.Input[first + (long)c * v.Spatial] - max);
        v.Stats[2 * pixel] = max;
        v.Stats[2 * pixel + 1] = 1f / sum;
        return 0f;
    }
}

/// <summary>Per pixel: ∂L/∂p from the coefficient table, chained through the softmax (every class read before any is written) or the sigmoid.</summary>
internal readonly struct OverlapGradientPass(OverlapViews views) : IItemPass
{
    private readonly OverlapViews v = views;

    public long Length => v.Pixels;

    public PassFlags Flags => PassFlags.None;

    public float Run(long pixel)
    {
        int image = (int)(pixel / v.Spatial), s = (int)(pixel - (long)image * v.Spatial);
        long table = (long)(v.PerImage != 0 ? image : 0) * v.Classes * OverlapDriver.CoefficientCount;
        bool softmax = v.Dense == 0 && v.FromLogits != 0;
        float dot = 0f;
        for (int c = 0; c < v.Classes && softmax; c++)
            dot = IlgpuMath.MultiplyAdd(v.Probability(image, s, c, out _, out _, out _), Gradient(table, c, image, s, out _), dot);
        for (int c = 0; c < v.Classes; c++)
        {
            long at = ((long)image * v.Classes + c) * v.Spatial + s;
            float x = v.Input[at];
            float g = Gradient(table, c, image, s, out float slope);
            if (softmax)
                g = OverlapMath.SoftmaxChain<float, IlgpuMath>(OverlapMath.Softmax<float, IlgpuMath>(x, v.Stats[2 * pixel], v.Stats[2 * pixel + 1]), g, dot);
            else
                g *= slope;
            v.Gradient[at] = g;
        }

        return 0f;
    }

    /// <summary>∂L/∂p of class c at the pixel; <paramref name="slope"/> ∂p/∂x of the sigmoid (1 otherwise).</summary>
    private float Gradient(long table, int c, int image, int s, out float slope)
    {
        float p = v.Probability(image, s, c, out float t, out float kept, out slope);
        long k = table + (long)c * OverlapDriver.CoefficientCount;
        return OverlapMath.ProbabilityGradient<float, IlgpuMath>(kept, p, t, v.Coefficients[k], v.Coefficients[k + 1], v.Coefficients[k + 2]);
    }
}

/// <summary>The views and shape of one overlap call on the device (absent views are default and never read).</summary>
internal readonly struct OverlapViews(ArrayView<float> input, ArrayView<long> labels, ArrayView<float> denseTarget, ArrayView<float> stats,
    ArrayView<float> coefficients, ArrayView<float> gradient, SegmentationShape shape, int blocks, OverlapOptions options)
{
    public readonly ArrayView<float> Input = input;
    public readonly ArrayView<long> Labels = labels;
    public readonly ArrayView<float> DenseTarget = denseTarget;
    public readonly ArrayView<float> Stats = stats;
    public readonly ArrayView<float> Coefficients = coefficients;
    public readonly ArrayView<float> Gradient = gradient;
    public readonly int Classes = shape.Classes;
    public readonly int Spatial = shape.Spatial;
    public readonly long Pixels = shape.Pixels;
    public readonly int Blocks = blocks;
    public readonly int Dense = options.Mode == SegmentationMode.Multiclass ? 0 : 1;
    public readonly int FromLogits = options.FromLogits ? 1 : 0;
    public readonly int PerImage = options.PerImage ? 1 : 0;
    public readonly int HasIgnore = options.IgnoreIndex is null ? 0 : 1;
    public readonly long IgnoreIndex = options.IgnoreIndex ?? 0L;

    /// <summary>p of class <paramref name="c"/> at pixel <paramref name="s"/> of image <paramref name="image"/>, its target t, kept mask and ∂p/∂x of the sigmoid (1 otherwise); p and t are 0 where the pixel is left out.</summary>
    public float Probability(int image, int s, int c, out float target, out float kept, out float slope)
    {
        long at = ((long)image * Classes + c) * Spatial + s;
        float x = Input[at];
        float all = IlgpuMath.Equal(0f, 0f);
        if (Dense == 0)
        {
            long pixel = (long)image * Spatial + s;
            long label = Labels[pixel];
            kept = HasIgnore != 0 && label == IgnoreIndex ? 0f : all;
            target = IlgpuMath.And(kept, label == c ? 1f : 0f);
            slope = 1f;
            float p = FromLogits != 0 ? OverlapMath.Softmax<float, IlgpuMath>(x, Stats[2 * pixel], Stats[2 * pixel + 1]) : x;
            return IlgpuMath.And(kept, p);
        }

        float t = DenseTarget[at];
        kept = HasIgnore != 0 && t == IgnoreIndex ? 0f : all;
        target = IlgpuMath.And(kept, t);
        return IlgpuMath.And(kept, OverlapMath.Elementwise<float, IlgpuMath>(x, FromLogits != 0, out slope));
    }
}

/// <summary>An <see cref="OverlapBoundLoss{TLoss}"/> on an ILGPU accelerator (the class weights stay on the host).</summary>
internal sealed class IlgpuOverlapRun<TLoss>(OverlapBoundLoss<TLoss> bound, IlgpuDevice device)
    : IlgpuRun(device, bound.input, bound.denseTarget, [], [], null, classes: bound.classTarget.Length > 0 ? bound.classTarget : null)
    where TLoss : struct, IOverlapLoss
{
    public override void Run(LossMode mode)
    {
        TLoss loss = bound.loss;
        bool dense = loss.Options.Mode != SegmentationMode.Multiclass;
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = dense ? loss.Forward(Input, Target, bound.shape, bound.weight, Stream) : loss.Forward(Input, Classes, bound.shape, bound.weight, Stream);
                break;
            case LossMode.Fused:
                bound.Loss[0] = dense ? loss.ForwardBackward(Input, Target, Gradient, bound.shape, bound.weight, bound.upstream, Stream)
                    : loss.ForwardBackward(Input, Classes, Gradient, bound.shape, bound.weight, bound.upstream, Stream);
                break;
            default:
                if (dense)
                    loss.Backward(Input, Target, bound.upstream, Gradient, bound.shape, bound.weight, Stream);
                else
                    loss.Backward(Input, Classes, bound.upstream, Gradient, bound.shape, bound.weight, Stream);
                break;
        }
    }
}
