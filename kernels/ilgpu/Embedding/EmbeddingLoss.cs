using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Embedding;

namespace LossKernels.ILGPU;

/// <summary>
/// The embedding losses (<see cref="TripletMarginLoss"/>, <see cref="ContrastiveLoss"/>, <see cref="CosineEmbeddingLoss"/>,
/// <see cref="MarginRankingLoss"/>) on an engine's ILGPU memory: a row per work-group (or per thread for rows shorter than
/// <see cref="RowKernel.GroupRowClasses"/>), running the SIMD kernels' own <see cref="IEmbeddingLoss"/> math with a float per
/// thread. Row losses are added on the host in row order.
/// </summary>
public static class IlgpuEmbeddingLoss
{
    /// <summary>Fused forward+backward (or forward alone when <paramref name="anchorGrad"/> is default), reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="anchor">B·D floats.</param>
    /// <param name="positive">B·D floats.</param>
    /// <param name="negative">B·D floats.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="anchorGrad">Receives B·D elements, or default; may be <paramref name="anchor"/> itself.</param>
    /// <param name="positiveGrad">Receives B·D elements (default only with <paramref name="anchorGrad"/>).</param>
    /// <param name="negativeGrad">Receives B·D elements (default only with <paramref name="anchorGrad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this TripletMarginLoss loss, ArrayView<float> anchor, ArrayView<float> positive, ArrayView<float> negative, int dim,
        ArrayView<float> anchorGrad, ArrayView<float> positiveGrad, ArrayView<float> negativeGrad, Reduction reduction = Reduction.Mean, float upstream = 1f,
        AcceleratorStream? stream = null) =>
        Run<TripletMarginLoss, float>(loss, EmbeddingNames.Triplet, dim, anchor, positive, negative, default, default, anchorGrad, positiveGrad, negativeGrad,
            default, reduction, upstream, stream);

    /// <summary>Unreduced: B row losses, and the three gradients when <paramref name="anchorGrad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="anchor">B·D floats.</param>
    /// <param name="positive">B·D floats.</param>
    /// <param name="negative">B·D floats.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="output">Receives B row losses.</param>
    /// <param name="anchorGrad">Receives B·D elements, or default.</param>
    /// <param name="positiveGrad">Receives B·D elements (default only with <paramref name="anchorGrad"/>).</param>
    /// <param name="negativeGrad">Receives B·D elements (default only with <paramref name="anchorGrad"/>).</param>
    /// <param name="upstream">B upstream gradients, or default for ones.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this TripletMarginLoss loss, ArrayView<float> anchor, ArrayView<float> positive, ArrayView<float> negative, int dim,
        ArrayView<float> output, ArrayView<float> anchorGrad, ArrayView<float> positiveGrad, ArrayView<float> negativeGrad, ArrayView<float> upstream = default,
        AcceleratorStream? stream = null) =>
        Run<TripletMarginLoss, float>(loss, EmbeddingNames.Triplet, dim, anchor, positive, negative, default, output, anchorGrad, positiveGrad, negativeGrad,
            upstream, Reduction.None, 1f, stream);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="input1Grad"/> is default), reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input1">B·D floats.</param>
    /// <param name="input2">B·D floats.</param>
    /// <param name="label">B labels, float.</param>
    /// <param name="input1Grad">Receives B·D elements, or default; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives B·D elements (default only with <paramref name="input1Grad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this ContrastiveLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<float> label,
        ArrayView<float> input1Grad, ArrayView<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, input1Grad, input2Grad, default, default, reduction, upstream, stream);

    /// <inheritdoc cref="ForwardBackward(ContrastiveLoss, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, Reduction, float, AcceleratorStream?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public static float ForwardBackward(this ContrastiveLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<long> label,
        ArrayView<float> input1Grad, ArrayView<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, input1Grad, input2Grad, default, default, reduction, upstream, stream);

    /// <summary>Unreduced: B pair losses, and both gradients when <paramref name="input1Grad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input1">B·D floats.</param>
    /// <param name="input2">B·D floats.</param>
    /// <param name="label">B labels, float.</param>
    /// <param name="output">Receives B losses.</param>
    /// <param name="input1Grad">Receives B·D elements, or default.</param>
    /// <param name="input2Grad">Receives B·D elements (default only with <paramref name="input1Grad"/>).</param>
    /// <param name="upstream">B upstream gradients, or default for ones.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this ContrastiveLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<float> label,
        ArrayView<float> output, ArrayView<float> input1Grad, ArrayView<float> input2Grad, ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Contrastive, 0, input1, input2, default, label, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f, stream);

    /// <inheritdoc cref="ForwardBackward(ContrastiveLoss, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public static void ForwardBackward(this ContrastiveLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<long> label,
        ArrayView<float> output, ArrayView<float> input1Grad, ArrayView<float> input2Grad, ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Contrastive, 0, input1, input2, default, label, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f, stream);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="input1Grad"/> is default), reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input1">B·D floats.</param>
    /// <param name="input2">B·D floats.</param>
    /// <param name="target">B targets ±1, float.</param>
    /// <param name="input1Grad">Receives B·D elements, or default; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives B·D elements (default only with <paramref name="input1Grad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this CosineEmbeddingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<float> target,
        ArrayView<float> input1Grad, ArrayView<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 0, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, stream);

    /// <inheritdoc cref="ForwardBackward(CosineEmbeddingLoss, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, Reduction, float, AcceleratorStream?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public static float ForwardBackward(this CosineEmbeddingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<long> target,
        ArrayView<float> input1Grad, ArrayView<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 0, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, stream);

    /// <summary>Unreduced: B pair losses, and both gradients when <paramref name="input1Grad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input1">B·D floats.</param>
    /// <param name="input2">B·D floats.</param>
    /// <param name="target">B targets ±1, float.</param>
    /// <param name="output">Receives B losses.</param>
    /// <param name="input1Grad">Receives B·D elements, or default.</param>
    /// <param name="input2Grad">Receives B·D elements (default only with <paramref name="input1Grad"/>).</param>
    /// <param name="upstream">B upstream gradients, or default for ones.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this CosineEmbeddingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<float> target,
        ArrayView<float> output, ArrayView<float> input1Grad, ArrayView<float> input2Grad, ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 0, input1, input2, default, target, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f, stream);

    /// <inheritdoc cref="ForwardBackward(CosineEmbeddingLoss, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public static void ForwardBackward(this CosineEmbeddingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<long> target,
        ArrayView<float> output, ArrayView<float> input1Grad, ArrayView<float> input2Grad, ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 0, input1, input2, default, target, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f, stream);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="input1Grad"/> is default), reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input1">N scores.</param>
    /// <param name="input2">N scores.</param>
    /// <param name="target">N targets ±1, float.</param>
    /// <param name="input1Grad">Receives N elements, or default; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives N elements (default only with <paramref name="input1Grad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this MarginRankingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<float> target,
        ArrayView<float> input1Grad, ArrayView<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 1, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, stream);

    /// <inheritdoc cref="ForwardBackward(MarginRankingLoss, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, Reduction, float, AcceleratorStream?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public static float ForwardBackward(this MarginRankingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<long> target,
        ArrayView<float> input1Grad, ArrayView<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 1, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, stream);

    /// <summary>Unreduced: N losses, and both gradients when <paramref name="input1Grad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="input1">N scores.</param>
    /// <param name="input2">N scores.</param>
    /// <param name="target">N targets ±1, float.</param>
    /// <param name="output">Receives N losses.</param>
    /// <param name="input1Grad">Receives N elements, or default.</param>
    /// <param name="input2Grad">Receives N elements (default only with <paramref name="input1Grad"/>).</param>
    /// <param name="upstream">N upstream gradients, or default for ones.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this MarginRankingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<float> target,
        ArrayView<float> output, ArrayView<float> input1Grad, ArrayView<float> input2Grad, ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 1, input1, input2, default, target, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f, stream);

    /// <inheritdoc cref="ForwardBackward(MarginRankingLoss, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, AcceleratorStream?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public static void ForwardBackward(this MarginRankingLoss loss, ArrayView<float> input1, ArrayView<float> input2, ArrayView<long> target,
        ArrayView<float> output, ArrayView<float> input1Grad, ArrayView<float> input2Grad, ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        Run(loss, EmbeddingNames.Pair, 1, input1, input2, default, target, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f, stream);

    internal static float Run<TLoss, TLabel>(TLoss loss, in EmbeddingNames names, int dim, ArrayView<float> x0, ArrayView<float> x1, ArrayView<float> x2,
        ArrayView<TLabel> labels, ArrayView<float> output, ArrayView<float> g0, ArrayView<float> g1, ArrayView<float> g2, ArrayView<float> upstream,
        Reduction reduction, float upstreamScalar, AcceleratorStream? stream)
        where TLoss : struct, IEmbeddingLoss
        where TLabel : unmanaged
    {
        loss.Validate();
        Accelerator accelerator = ViewChecks.AcceleratorOf(x0, names.X0);
        bool three = loss.Inputs == 3;
        // A one-input loss reads its input as every stream and writes one gradient.
        if (loss.Inputs == 1)
            x1 = x0;
        if (!EmbeddingLoss.ReductionValid(reduction))
            ThrowHelper.Argument(nameof(reduction), $"Unknown reduction {reduction}.");
        if (loss.Labelled && !ViewChecks.IsPresent(labels))
            ThrowHelper.Argument(names.Label, $"{names.Label} is required (got default(ArrayView)).");
        int rows = EmbeddingLoss.Rows(loss, names, ref dim, x0.Length, loss.Labelled ? labels.Length : 0);
        long n = x0.Length;
        ViewChecks.Required(x1, accelerator, n, names.X1);
        if (three)
            ViewChecks.Required(x2, accelerator, n, names.X2);
        else
            x2 = default;
        if (loss.Labelled)
            ViewChecks.Optional(labels, accelerator, rows, names.Label);
        bool unreduced = reduction == Reduction.None;
        if (unreduced)
        {
            ViewChecks.Destination(output, accelerator, rows, nameof(output));
            ViewChecks.Optional(upstream, accelerator, rows, nameof(upstream));
            CheckWritten(output, rows, "output", x0, x1, x2, upstream, names);
        }
        else
        {
            output = upstream = default;
        }

        bool gradient = ViewChecks.IsPresent(g0);
        if (gradient)
        {
            CheckGradient(g0, names.G0, accelerator, n, x0, x1, x2, upstream, output, rows);
            if (loss.Inputs >= 2)
            {
                CheckGradient(g1, names.G1, accelerator, n, x0, x1, x2, upstream, output, rows);
                ViewChecks.IfOverlaps(g0, n, g1, n, names.G1, names.G0);
            }
            else
            {
                g1 = default;
            }

            if (three)
            {
                CheckGradient(g2, names.G2, accelerator, n, x0, x1, x2, upstream, output, rows);
                ViewChecks.IfOverlaps(g0, n, g2, n, names.G2, names.G0);
                ViewChecks.IfOverlaps(g1, n, g2, n, names.G2, names.G1);
            }
            else
            {
                g2 = default;
            }
        }
        else
        {
            g1 = g2 = default;
        }

        double divisor = unreduced ? 1d : ElementwiseLoss.ReductionDivisor(reduction, rows, null);
        if (rows == 0)
            return unreduced ? 0f : (float)(0d / divisor);
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        float scale = (float)(upstreamScalar / divisor);
        lock (state.Gate)
        {
            var views = new EmbeddingViews(x0, x1, three ? x2 : x0, upstream, output, g0, g1, g2, rows, dim, scale);
            double sum = typeof(TLabel) == typeof(long)
                ? RowKernel.Launch(state, queue, new EmbeddingRows<TLoss, LongLabels>(loss, views, new LongLabels(labels.Cast<long>())), !unreduced)
                : RowKernel.Launch(state, queue, new EmbeddingRows<TLoss, FloatLabels>(loss, views, new FloatLabels(labels.Cast<float>())), !unreduced);
            return unreduced ? 0f : (float)(sum / divisor);
        }
    }

    private static void CheckGradient(ArrayView<float> gradient, string name, Accelerator accelerator, long n, ArrayView<float> x0, ArrayView<float> x1,
        ArrayView<float> x2, ArrayView<float> upstream, ArrayView<float> output, int rows)
    {
        ViewChecks.Destination(gradient, accelerator, n, name);
        ViewChecks.IfPartialOverlap(x0, gradient, n, name);
        ViewChecks.IfPartialOverlap(x1, gradient, n, name);
        ViewChecks.IfPartialOverlap(x2, gradient, n, name);
        ViewChecks.IfOverlaps(upstream, rows, gradient, n, name, "upstream");
        ViewChecks.IfOverlaps(output, rows, gradient, n, name, "output");
    }

    private static void CheckWritten(ArrayView<float> output, int rows, string name, ArrayView<float> x0, ArrayView<float> x1, ArrayView<float> x2,
        ArrayView<float> upstream, in EmbeddingNames names)
    {
        ViewChecks.IfOverlaps(x0, x0.Length, output, rows, name, names.X0);
        ViewChecks.IfOverlaps(x1, x1.Length, output, rows, name, names.X1);
        ViewChecks.IfOverlaps(x2, x2.Length, output, rows, name, names.X2);
        ViewChecks.IfOverlaps(upstream, rows, output, rows, name, "upstream");
    }
}

/// <summary>A row's label as a float, from float or int64 labels.</summary>
internal interface ILabelView
{
    float Get(long row);
}

internal readonly struct FloatLabels(ArrayView<float> labels) : ILabelView
{
    private readonly ArrayView<float> labels = labels;

    public float Get(long row) => labels[row];
}

internal readonly struct LongLabels(ArrayView<long> labels) : ILabelView
{
    private readonly ArrayView<long> labels = labels;

    public float Get(long row) => labels[row];
}

/// <summary>The views and sizes of one call (x1 is x0 for a one-input loss, x2 for a one- or two-input loss; absent views are default).</summary>
internal readonly struct EmbeddingViews(ArrayView<float> x0, ArrayView<float> x1, ArrayView<float> x2, ArrayView<float> upstream, ArrayView<float> output,
    ArrayView<float> g0, ArrayView<float> g1, ArrayView<float> g2, int rows, int dim, float gradientScale)
{
    public readonly ArrayView<float> X0 = x0, X1 = x1, X2 = x2, Upstream = upstream, Output = output, G0 = g0, G1 = g1, G2 = g2;
    public readonly int Rows = rows, Dim = dim;
    public readonly float GradientScale = gradientScale;
    public readonly int HasUpstream = ViewChecks.IsPresent(upstream) ? 1 : 0;
    public readonly int StoreLoss = ViewChecks.IsPresent(output) ? 1 : 0;
    public readonly int StoreGradient = ViewChecks.IsPresent(g0) ? 1 : 0;
    public readonly int StoreSecond = ViewChecks.IsPresent(g1) ? 1 : 0;
    public readonly int StoreThird = ViewChecks.IsPresent(g2) ? 1 : 0;
}

/// <summary>One row: the three sums (thread-strided, float flushed into double, then the row's reduction), the row's loss and coefficients, the gradients.</summary>
internal readonly struct EmbeddingRows<TLoss, TLabels>(TLoss loss, EmbeddingViews views, TLabels labels) : IRowPass
    where TLoss : struct, IEmbeddingLoss
    where TLabels : struct, ILabelView
{
    /// <summary>Terms a thread adds in float before adding them into its double sums (the SIMD rows flush every 64 vectors).</summary>
    private const int FlushTerms = 64;

    private readonly TLoss loss = loss;
    private readonly EmbeddingViews views = views;
    private readonly TLabels labels = labels;
    private readonly int labelled = loss.Labelled ? 1 : 0;

    public int Rows => views.Rows;

    public int Classes => views.Dim;

    public double Run<TReduce>(long r, int first, int step)
        where TReduce : struct, IRowReduce
    {
        int dim = views.Dim;
        long offset = r * dim;
        float sum0 = 0f, sum1 = 0f, sum2 = 0f;
        double total0 = 0d, total1 = 0d, total2 = 0d;
        int pending = 0;
        for (int j = first; j < dim; j += step)
        {
            loss.Terms<float, IlgpuMath>(views.X0[offset + j], views.X1[offset + j], views.X2[offset + j], out float s0, out float s1, out float s2);
            sum0 += s0;
            sum1 += s1;
            sum2 += s2;
            if (++pending == FlushTerms)
            {
                total0 += sum0;
                total1 += sum1;
                total2 += sum2;
                sum0 = sum1 = sum2 = 0f;
                pending = 0;
            }
        }

        // The sums reduce across the row's threads (a barrier each), so every element is read before any gradient is written: a gradient may be its input.
        double row0 = TReduce.Sum(total0 + sum0), row1 = TReduce.Sum(total1 + sum1), row2 = TReduce.Sum(total2 + sum2);
        float label = labelled != 0 ? labels.Get(r) : 0f;
        float scale = views.GradientScale * (views.HasUpstream != 0 ? views.Upstream[r] : 1f);
        float rowLoss = loss.Row<float, IlgpuMath>((float)row0, (float)row1, (float)row2, label, scale, out float c0, out float c1, out float c2);
        if (views.StoreGradient != 0)
        {
            for (int j = first; j < dim; j += step)
            {
                loss.Gradient<float, IlgpuMath>(views.X0[offset + j], views.X1[offset + j], views.X2[offset + j], c0, c1, c2, out float d0, out float d1, out float d2);
                views.G0[offset + j] = d0;
                if (views.StoreSecond != 0)
                    views.G1[offset + j] = d1;
                if (views.StoreThird != 0)
                    views.G2[offset + j] = d2;
            }
        }

        if (first == 0 && views.StoreLoss != 0)
            views.Output[r] = rowLoss;
        return rowLoss;
    }
}

/// <summary>An embedding loss bound for the catalog, on an ILGPU accelerator.</summary>
internal sealed class IlgpuEmbeddingRun<TLoss> : IlgpuRun
    where TLoss : struct, IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    private readonly EmbeddingBoundLoss<TLoss> bound;
    private readonly ArrayView<float> floatLabels;
    private readonly ArrayView<float> thirdGradient;

    public IlgpuEmbeddingRun(EmbeddingBoundLoss<TLoss> bound, IlgpuDevice device)
        : base(device, bound.x0, bound.x1, [], bound.upstreamRows, bound.reduction == Reduction.None ? bound.rows : null, targetGradient: bound.loss.Inputs >= 2,
            classes: bound.longLabels, extra: bound.loss.Inputs == 3 ? bound.x2 : null)
    {
        this.bound = bound;
        floatLabels = bound.longLabels is null ? Upload(bound.floatLabels) : default;
        thirdGradient = bound.loss.Inputs == 3 ? Allocate<float>(bound.x2.Length) : default;
        device.Accelerator.Synchronize();
    }

    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        ArrayView<float> g0 = gradient ? Gradient : default, g1 = gradient ? TargetGradient : default, g2 = gradient ? thirdGradient : default;
        float value = bound.longLabels is not null
            ? IlgpuEmbeddingLoss.Run(bound.loss, bound.names, bound.dim, Input, Target, Extra, Classes, Output, g0, g1, g2, Upstream, bound.reduction, bound.upstreamScalar, Stream)
            : IlgpuEmbeddingLoss.Run(bound.loss, bound.names, bound.dim, Input, Target, Extra, floatLabels, Output, g0, g1, g2, Upstream, bound.reduction, bound.upstreamScalar, Stream);
        if (bound.reduction != Reduction.None && mode != LossMode.Backward)
            bound.Loss[0] = value;
        Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? third)
    {
        base.Fetch(loss, gradient, targetGradient, third);
        if (third is not null)
            thirdGradient.CopyToCPU(third);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        if (thirdGradient.Length == 0)
            return;
        var filled = new float[thirdGradient.Length];
        Array.Fill(filled, value);
        thirdGradient.CopyFromCPU(filled);
        Device.Accelerator.Synchronize();
    }
}
