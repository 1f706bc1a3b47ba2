using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="GhmcLoss"/> on an engine's ILGPU memory: the histogram of the gradient norms counted by a kernel in integers
/// (per work-group in shared memory, then one atomic add per group and bin: the same counts every run), the bin weights and
/// the moving-average state on the host (<see cref="GhmcLoss"/>'s own code), then the loss's elementwise pass
/// (<see cref="GhmcElement{TBins}"/>, the SIMD kernel's math) with the weights in a device table.
/// </summary>
/// <remarks>
/// The same formulas as the span overloads. Every argument is checked before the histogram runs, so a bad call leaves
/// <c>accumulatedCounts</c> as it was.
/// </remarks>
public static class IlgpuGhmcLoss
{
    /// <summary>Fused forward+backward (or forward alone when <paramref name="logitsGrad"/> is default), reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">n logits.</param>
    /// <param name="target">n targets in [0, 1].</param>
    /// <param name="logitsGrad">Receives n gradient elements, or default for the loss alone; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over v + ε) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="labelWeight">n label weights (≤ 0 leaves an element out), or default for all valid.</param>
    /// <param name="accumulatedCounts">The moving-average state on the host, <see cref="GhmcLoss.Bins"/> values; required when momentum &gt; 0.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    /// <remarks>The reduction comes before the label weights (the span overload has them the other way round), so that a call with four views is the unreduced overload.</remarks>
    public static float ForwardBackward(this GhmcLoss loss, ArrayView<float> logits, ArrayView<float> target, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> labelWeight = default, Span<float> accumulatedCounts = default, float upstream = 1f,
        AcceleratorStream? stream = null)
    {
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one loss per element: use the overload that takes an output view.");
        return Run(loss, logits, target, default, logitsGrad, default, labelWeight, accumulatedCounts, reduction, upstream, stream);
    }

    /// <summary>Unreduced: queues n element losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">n logits.</param>
    /// <param name="target">n targets in [0, 1].</param>
    /// <param name="output">Receives n element losses.</param>
    /// <param name="logitsGrad">Receives n gradient elements, or default; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">n upstream gradients, or default for ones.</param>
    /// <param name="labelWeight">n label weights, or default for all valid.</param>
    /// <param name="accumulatedCounts">The moving-average state on the host.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this GhmcLoss loss, ArrayView<float> logits, ArrayView<float> target, ArrayView<float> output, ArrayView<float> logitsGrad,
        ArrayView<float> upstream = default, ArrayView<float> labelWeight = default, Span<float> accumulatedCounts = default, AcceleratorStream? stream = null) =>
        Run(loss, logits, target, output, logitsGrad, upstream, labelWeight, accumulatedCounts, Reduction.None, 1f, stream);

    private static unsafe float Run(GhmcLoss loss, ArrayView<float> logits, ArrayView<float> target, ArrayView<float> output, ArrayView<float> gradient,
        ArrayView<float> upstream, ArrayView<float> labelWeight, Span<float> accumulatedCounts, Reduction reduction, float upstreamScalar, AcceleratorStream? stream)
    {
        loss.Validate();
        Accelerator accelerator = ViewChecks.AcceleratorOf(logits, nameof(logits));
        long n = logits.Length;
        ViewChecks.Required(target, accelerator, n, nameof(target));
        ViewChecks.Optional(labelWeight, accelerator, n, nameof(labelWeight));
        ViewChecks.Optional(upstream, accelerator, n, nameof(upstream));
        bool unreduced = reduction == Reduction.None;
        bool storeGradient = ViewChecks.IsPresent(gradient);
        if (unreduced)
        {
            ViewChecks.Destination(output, accelerator, n, nameof(output));
            foreach ((ArrayView<float> read, string name) in (ReadOnlySpan<(ArrayView<float>, string)>)[(logits, nameof(logits)), (target, nameof(target)),
                (labelWeight, nameof(labelWeight)), (gradient, "logitsGrad")])
                ViewChecks.IfOverlaps(read, read.Length, output, n, nameof(output), name);
        }

        if (storeGradient)
        {
            ViewChecks.Destination(gradient, accelerator, n, "logitsGrad");
            ViewChecks.IfPartialOverlap(logits, gradient, n, "logitsGrad");
            ViewChecks.IfOverlaps(target, n, gradient, n, "logitsGrad", nameof(target));
            ViewChecks.IfOverlaps(labelWeight, labelWeight.Length, gradient, n, "logitsGrad", nameof(labelWeight));
            ViewChecks.IfPartialOverlap(upstream, gradient, n, "logitsGrad");
        }

        if (loss.Momentum > 0f)
            ThrowHelper.IfLengthDiffers(loss.Bins, accumulatedCounts.Length, nameof(accumulatedCounts));

        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        PassFlags weighting = ViewChecks.IsPresent(labelWeight) ? PassFlags.Weighted : PassFlags.None;
        lock (state.Gate)
        {
            var counting = new ElementwiseViews(logits, target, labelWeight, default, default, default, 0f, n, weighting);
            ArrayView<int> bins = state.ClearedCounts(queue, loss.Bins);
            // The table holds the thresholds, then (for the element pass) the weights after them.
            float* table = stackalloc float[2 * GhmcLoss.MaxBins];
            GhmcLoss.Thresholds(table, loss.Bins);
            if (n > 0)
            {
                ArrayView<float> thresholds = state.UploadTable(queue, new ReadOnlySpan<float>(table, loss.Bins));
                int groups = checked((int)((n + state.GroupSize * ItemKernel.ItemsPerThread - 1) / (state.GroupSize * ItemKernel.ItemsPerThread)));
                Histogram.For(state)(queue, new KernelConfig(groups, state.GroupSize), counting, new ViewBins(thresholds, loss.Bins), loss.Bins, bins);
            }

            ReadOnlySpan<int> counted = state.ReadCounts(queue, loss.Bins);
            long* counts = stackalloc long[GhmcLoss.MaxBins];
            long valid = 0;
            for (int b = 0; b < loss.Bins; b++)
            {
                counts[b] = counted[b];
                valid += counted[b];
            }

            float* updated = stackalloc float[GhmcLoss.MaxBins];
            int total = loss.BinWeights(counts, valid, accumulatedCounts, updated, table + loss.Bins);
            double divisor = reduction == Reduction.Mean ? total + ElementwiseLoss.AvgFactorEpsilon : 1d;
            ArrayView<float> tableView = state.UploadTable(queue, new ReadOnlySpan<float>(table, 2 * loss.Bins));
            PassFlags flags = (unreduced ? PassFlags.StoreLoss : PassFlags.Reduce) | (storeGradient ? PassFlags.StoreGradient : PassFlags.None) | weighting
                | (ViewChecks.IsPresent(upstream) ? PassFlags.HasUpstream : PassFlags.None);
            var views = new ElementwiseViews(logits, target, labelWeight, upstream, output, gradient, (float)(upstreamScalar / divisor), n, flags);
            var element = new GhmcElement<ViewBins>(new ViewBins(tableView, loss.Bins), loss.Bins);
            double sum = ItemKernel.Launch(new ElementwisePass<GhmcElement<ViewBins>>(element, views), accelerator, queue);
            loss.Commit(updated, accumulatedCounts);
            return unreduced ? 0f : (float)(sum / divisor);
        }
    }

    /// <summary>The bins on the device: edges b/bins computed as the CPU computes them, the thresholds and then the weights from the call's table.</summary>
    internal readonly struct ViewBins(ArrayView<float> table, int bins) : IGhmcBins
    {
        private readonly ArrayView<float> table = table;
        private readonly int bins = bins;

        public float Edge(int b) => (float)b / bins;

        public float Threshold(int b) => table[b];

        public float Weight(int b) => table[bins + b];

        public TVec LookUp<TVec, TMath>(TVec lanes, BinColumn compared, BinColumn returned, int bins)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec> =>
            GhmcBins.ByCompares<ViewBins, TVec, TMath>(this, lanes, compared, returned, bins);
    }

    private static readonly LoadedKernel<Action<AcceleratorStream, KernelConfig, ElementwiseViews, ViewBins, int, ArrayView<int>>> Histogram =
        new(accelerator => accelerator.LoadKernel<ElementwiseViews, ViewBins, int, ArrayView<int>>(CountBins));

    /// <summary>
    /// Counts the valid elements (label weight &gt; 0, a gradient norm that is not NaN) per bin: a work-group's chunk of
    /// elements (as <see cref="ItemKernel"/> lays them out) counted in shared memory, then added once per group and bin.
    /// </summary>
    private static void CountBins(ElementwiseViews v, ViewBins edges, int bins, ArrayView<int> counts)
    {
        ArrayView<int> local = SharedMemory.Allocate<int>(GhmcLoss.MaxBins);
        for (int b = Group.IdxX; b < bins; b += Group.DimX)
            local[b] = 0;
        Group.Barrier();
        long start = (long)Grid.IdxX * Group.DimX * ItemKernel.ItemsPerThread + Group.IdxX;
        for (int k = 0; k < ItemKernel.ItemsPerThread; k++)
        {
            long i = start + (long)k * Group.DimX;
            if (i >= v.Length)
                break;
            if (v.Has(PassFlags.Weighted) && !(v.Weight[i] > 0f))
                continue;
            float bin = GhmcElement<ViewBins>.Bin<float, IlgpuMath>(v.Input[i], v.Target[i], edges, bins);
            if (!float.IsNaN(bin))
                Atomic.Add(ref local[(int)bin], 1);
        }

        Group.Barrier();
        for (int b = Group.IdxX; b < bins; b += Group.DimX)
        {
            if (local[b] != 0)
                Atomic.Add(ref counts[b], local[b]);
        }
    }
}

/// <summary>A <see cref="GhmcBoundLoss"/> on an ILGPU accelerator (the moving-average state stays on the host).</summary>
internal sealed class IlgpuGhmcRun(GhmcBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.input, bound.target, bound.weight, bound.upstreamElements, bound.reduction == Reduction.None ? bound.input.Length : null)
{
    public override void Run(LossMode mode)
    {
        ArrayView<float> gradient = mode != LossMode.Forward ? Gradient : default;
        if (bound.reduction == Reduction.None)
            bound.loss.ForwardBackward(Input, Target, Output, gradient, Upstream, Weight, bound.state, Stream);
        else
            bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, gradient, bound.reduction, Weight, bound.state, bound.upstreamScalar, Stream);
        Finish();
    }
}
