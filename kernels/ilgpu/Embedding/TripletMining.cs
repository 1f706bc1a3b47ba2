using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Embedding;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="TripletMiningLoss"/> on an engine's ILGPU memory: the CPU driver's passes as item kernels (rows prepared, every distance
/// entry as a fused multiply-add chain in the order the CPU's SYRK takes, an anchor per thread running <see cref="TripletMiningMath"/>
/// into its row of the coefficient matrix, the matrix made symmetric, a row per thread for the gradient), on the accelerator's scratch;
/// the anchors' losses and counts are added in anchor order.
/// </summary>
public static class IlgpuTripletMiningLoss
{
    /// <summary>Fused forward+backward: L, its triplet count, and ∂(upstream·L)/∂embeddings.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="embeddings">B·D floats.</param>
    /// <param name="labels">B int64 labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="gradient">Receives B·D floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static TripletMiningResult ForwardBackward(this TripletMiningLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int dim,
        ArrayView<float> gradient, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        if (!ViewChecks.IsPresent(gradient))
            ThrowHelper.Argument(nameof(gradient), "gradient is required (got default(ArrayView)).");
        return Run(loss, embeddings, labels, dim, gradient, reduction, upstream, stream);
    }

    /// <summary>Forward only: L and its triplet count.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="embeddings">B·D floats.</param>
    /// <param name="labels">B int64 labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static TripletMiningResult Forward(this TripletMiningLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int dim,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        Run(loss, embeddings, labels, dim, default, reduction, 1f, stream);

    /// <summary>Backward only: ∂(upstream·L)/∂embeddings.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="embeddings">B·D floats.</param>
    /// <param name="labels">B int64 labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="gradient">Receives B·D floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this TripletMiningLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int dim, float upstream,
        ArrayView<float> gradient, Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        ForwardBackward(loss, embeddings, labels, dim, gradient, reduction, upstream, stream);

    private static TripletMiningResult Run(TripletMiningLoss loss, ArrayView<float> embeddings, ArrayView<long> labels, int dim, ArrayView<float> gradient,
        Reduction reduction, float upstream, AcceleratorStream? stream)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(embeddings, nameof(embeddings));
        int rows = TripletMiningDriver.CheckArguments(loss, embeddings.Length, labels.Length, dim, reduction);
        ViewChecks.Required(labels, accelerator, rows, nameof(labels));
        bool wantGradient = ViewChecks.IsPresent(gradient);
        if (wantGradient)
        {
            ViewChecks.Destination(gradient, accelerator, embeddings.Length, nameof(gradient));
            ViewChecks.IfPartialOverlap(embeddings, gradient, embeddings.Length, nameof(gradient));
        }

        if (rows == 0)
            return default;
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        long matrix = (long)rows * rows;
        lock (state.Gate)
        {
            ArrayView<float> e = state.Scratch(0, embeddings.Length), norms = state.Scratch(1, rows), squares = state.Scratch(4, rows);
            ArrayView<float> distances = state.Scratch(2, matrix), coefficients = wantGradient ? state.Scratch(3, matrix) : default;
            ArrayView<int> counts = state.ClearedCounts(queue, rows);
            var mining = new MiningViews(loss, e, norms, squares, distances, coefficients, rows, dim);
            ItemKernel.Launch(new PreparePass(mining, embeddings), accelerator, queue);
            ItemKernel.Launch(new DistancePass(mining), accelerator, queue);
            double total = ItemKernel.Launch(new MinePass(mining, labels, counts, wantGradient ? 1 : 0), accelerator, queue);
            long count = 0;
            foreach (int anchorCount in state.ReadCounts(queue, rows))
                count += anchorCount;
            bool mean = reduction == Reduction.Mean;
            var result = new TripletMiningResult(count == 0 ? 0f : (float)(mean ? total / count : total), count);
            if (!wantGradient)
                return result;
            if (count == 0)
            {
                // No triplet: the gradient is 0, as the CPU writes it (a zero scale would turn infinite embeddings into NaN).
                gradient.SubView(0, embeddings.Length).MemSetToZero(queue);
                queue.Synchronize();
                return result;
            }

            ItemKernel.Launch(new SymmetrizePass(mining), accelerator, queue);
            float scale = (float)(mean ? upstream / (double)count : upstream);
            ItemKernel.Launch(new GradientPass(mining, gradient, scale), accelerator, queue);
            queue.Synchronize();
            return result;
        }
    }
}

/// <summary>The scratch views and options every triplet-mining pass reads (enums as ints: kernel parameters are blittable).</summary>
internal readonly struct MiningViews(TripletMiningLoss loss, ArrayView<float> e, ArrayView<float> norms, ArrayView<float> squares, ArrayView<float> distances,
    ArrayView<float> coefficients, int rows, int dim)
{
    public readonly ArrayView<float> E = e, Norms = norms, Squares = squares, Distances = distances, Coefficients = coefficients;
    public readonly int Rows = rows, Dim = dim;
    public readonly int Mining = (int)loss.Mining, Distance = (int)loss.Distance, SoftMargin = loss.SoftMargin ? 1 : 0, Normalized = loss.Normalized ? 1 : 0;
    public readonly float Margin = loss.Margin;
}

/// <summary>Per row: e = x, or x / max(‖x‖, eps) with ‖x‖ kept; and Σ e² as the fused chain the Gram's diagonal is.</summary>
internal readonly struct PreparePass(MiningViews views, ArrayView<float> x) : IItemPass
{
    private readonly MiningViews v = views;
    private readonly ArrayView<float> x = x;

    public long Length => v.Rows;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        long offset = i * v.Dim;
        float scale = 1f;
        if (v.Normalized != 0)
        {
            float sum = 0f;
            for (int k = 0; k < v.Dim; k++)
                sum = IlgpuMath.MultiplyAdd(x[offset + k], x[offset + k], sum);
            float norm = MathF.Sqrt(sum);
            v.Norms[i] = norm;
            scale = 1f / MathF.Max(norm, TripletMiningDriver.NormalizeEps);
        }

        float square = 0f;
        for (int k = 0; k < v.Dim; k++)
        {
            float value = v.Normalized != 0 ? x[offset + k] * scale : x[offset + k];
            v.E[offset + k] = value;
            square = IlgpuMath.MultiplyAdd(value, value, square);
        }

        v.Squares[i] = square;
        return 0f;
    }
}

/// <summary>Entry (i, j) of the distance matrix from the Gram entry's fused chain over k.</summary>
internal readonly struct DistancePass(MiningViews views) : IItemPass
{
    private readonly MiningViews v = views;

    public long Length => (long)v.Rows * v.Rows;

    public PassFlags Flags => PassFlags.None;

    public float Run(long index)
    {
        long i = index / v.Rows, j = index - i * v.Rows;
        float gram = 0f;
        for (int k = 0; k < v.Dim; k++)
            gram = IlgpuMath.MultiplyAdd(v.E[i * v.Dim + k], v.E[j * v.Dim + k], gram);
        v.Distances[index] = TripletMiningMath.Distance(v.Squares[i], v.Squares[j], gram, (TripletDistance)v.Distance);
        return 0f;
    }
}

/// <summary>An anchor: <see cref="TripletMiningMath.Anchor{TRow, TCoefficients, TVec, TMath}"/> on its row, its count stored, its Σ ℓ returned.</summary>
internal readonly struct MinePass(MiningViews views, ArrayView<long> labels, ArrayView<int> counts, int gradient) : IItemPass
{
    private readonly MiningViews v = views;
    private readonly ArrayView<long> labels = labels;
    private readonly ArrayView<int> counts = counts;
    private readonly int gradient = gradient;

    public long Length => v.Rows;

    public PassFlags Flags => PassFlags.Reduce;

    public float Run(long anchor)
    {
        long offset = anchor * v.Rows;
        var coefficients = new MatrixRow(v.Coefficients, offset);
        if (gradient != 0)
        {
            for (int j = 0; j < v.Rows; j++)
                v.Coefficients[offset + j] = 0f;
        }

        double total = TripletMiningMath.Anchor<DistanceRow, MatrixRow, float, IlgpuMath>(new DistanceRow(v.Distances, labels, offset, v.Rows), (int)anchor,
            (TripletMining)v.Mining, v.Margin, v.SoftMargin != 0, (TripletDistance)v.Distance, gradient != 0, ref coefficients, out long count);
        counts[anchor] = (int)count;
        return (float)total;
    }
}

internal readonly struct DistanceRow(ArrayView<float> distances, ArrayView<long> labels, long offset, int rows) : IMiningRow
{
    private readonly ArrayView<float> distances = distances;
    private readonly ArrayView<long> labels = labels;
    private readonly long offset = offset;
    private readonly int rows = rows;

    public int Count => rows;

    public float Distance(int j) => distances[offset + j];

    public long Label(int j) => labels[j];
}

internal readonly struct MatrixRow(ArrayView<float> matrix, long offset) : IMiningCoefficients
{
    private readonly ArrayView<float> matrix = matrix;
    private readonly long offset = offset;

    public void Add(int j, float value) => matrix[offset + j] += value;
}

/// <summary>W_ij = W_ji = M_ij + M_ji, at the items with j &lt; i.</summary>
internal readonly struct SymmetrizePass(MiningViews views) : IItemPass
{
    private readonly MiningViews v = views;

    public long Length => (long)v.Rows * v.Rows;

    public PassFlags Flags => PassFlags.None;

    public float Run(long index)
    {
        long i = index / v.Rows, j = index - i * v.Rows;
        if (j < i)
        {
            float w = v.Coefficients[index] + v.Coefficients[j * v.Rows + i];
            v.Coefficients[index] = w;
            v.Coefficients[j * v.Rows + i] = w;
        }

        return 0f;
    }
}

/// <summary>
/// Row i: Σ_j W_ij·e_j over the nonzero W_ij (in the gradient row), then scale·(Σ_j W_ij·e_i − Σ_j W_ij·e_j) (or −scale·Σ_j W_ij·e_j for
/// the cosine), chained through e = x / max(‖x‖, eps).
/// </summary>
internal readonly struct GradientPass(MiningViews views, ArrayView<float> gradient, float scale) : IItemPass
{
    private readonly MiningViews v = views;
    private readonly ArrayView<float> gradient = gradient;
    private readonly float scale = scale;

    public long Length => v.Rows;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        int dim = v.Dim;
        long offset = i * dim, row = i * v.Rows;
        for (int k = 0; k < dim; k++)
            gradient[offset + k] = 0f;
        float weight = 0f;
        for (int j = 0; j < v.Rows; j++)
        {
            float c = v.Coefficients[row + j];
            if (c == 0f)
                continue;
            weight += c;
            for (int k = 0; k < dim; k++)
                gradient[offset + k] = IlgpuMath.MultiplyAdd(v.E[(long)j * dim + k], c, gradient[offset + k]);
        }

        float ownScale = weight * scale, along = 0f;
        bool cosine = v.Distance == (int)TripletDistance.Cosine;
        for (int k = 0; k < dim; k++)
        {
            float a = gradient[offset + k] * -scale;
            float value = cosine ? a : v.E[offset + k] * ownScale + a;
            gradient[offset + k] = value;
            along = IlgpuMath.MultiplyAdd(v.E[offset + k], value, along);
        }

        if (v.Normalized == 0)
            return 0f;
        float norm = v.Norms[i];
        bool projected = norm > TripletMiningDriver.NormalizeEps;
        float inverse = 1f / (projected ? norm : TripletMiningDriver.NormalizeEps);
        for (int k = 0; k < dim; k++)
            gradient[offset + k] = (projected ? v.E[offset + k] * -along + gradient[offset + k] : gradient[offset + k]) * inverse;
        return 0f;
    }
}

/// <summary><see cref="TripletMiningLoss"/> bound for the catalog, on an ILGPU accelerator.</summary>
internal sealed class IlgpuTripletMiningRun(TripletMiningBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.embeddings, [], [], [], null, classes: bound.labels)
{
    public override void Run(LossMode mode)
    {
        switch (mode)
        {
            case LossMode.Forward:
                bound.Store(bound.loss.Forward(Input, Classes, bound.dim, bound.reduction, Stream));
                break;
            case LossMode.Fused:
                bound.Store(bound.loss.ForwardBackward(Input, Classes, bound.dim, Gradient, bound.reduction, bound.upstream, Stream));
                break;
            default:
                bound.loss.Backward(Input, Classes, bound.dim, bound.upstream, Gradient, bound.reduction, Stream);
                break;
        }
    }
}
