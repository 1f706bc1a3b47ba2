using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossKernels.Classification;

/// <summary>
/// GHM-C, the gradient harmonizing classification loss (Li et al. 2019): binary cross entropy with logits whose every
/// element is weighted by how crowded its gradient norm g = |σ(x) − t| is. g falls in one of <see cref="Bins"/> equal bins of
/// [0, 1]; with v the number of valid elements (label weight &gt; 0), c_b the count of bin b (or, with momentum μ, the moving
/// average a_b ← μ·a_b + (1 − μ)·c_b kept in a caller-owned span) and m the number of non-empty bins, an element of bin b
/// weighs <c>β = v / (c_b·m)</c> (v / (a_b·m) with momentum). <c>ℓ_i = β_i·ce(x_i, t_i)</c>; gradient <c>β_i·(σ(x_i) − t_i)</c>
/// (β is not differentiated, as mmdetection detaches it). The mean divides by <c>v + ε</c>.
/// </summary>
/// <remarks>
/// <para>mmdetection: <c>GHMC(bins=10, momentum=0, use_sigmoid=True)</c>: the same bins (edges i/bins compared in float32, the
/// last widened by 1e-6), the same weights and moving average. The histogram is counted in integers in one fixed pass, so it
/// is the same for any run; the moving-average state is a span the caller owns and passes to every call (mmdetection keeps
/// it in the module).</para>
/// <para>Differences: a label weight multiplies its element's loss and gradient besides marking it valid (mmdetection uses it as
/// the valid mask only: the same for 0/1 weights, which is how its heads pass them). There is no backward-only entry point:
/// the weights come from the forward's histogram and update the state, so a separate backward would count twice.</para>
/// <para>σ(x) − t (the gradient, and g for the bins) is computed as (1 − t)·σ(x) − t·σ(−x), so that a hard label's is one sigmoid to
/// float32's precision; mmdetection's float32 <c>pred.sigmoid() − target</c> keeps only the bits of σ(−x) above 2⁻²⁴ (0 at x = 17). An
/// element within that rounding of a bin edge may fall in the neighbouring bin.</para>
/// </remarks>
public readonly unsafe struct GhmcLoss
{
    /// <summary>The most bins a call supports (the bin weights live on the stack).</summary>
    public const int MaxBins = 64;

    /// <summary>mmdetection's defaults: 10 bins, no momentum.</summary>
    public GhmcLoss()
        : this(10, 0f)
    {
    }

    /// <summary>GHM-C with the given bins and momentum.</summary>
    /// <param name="bins">The number of gradient-norm bins, 1 to <see cref="MaxBins"/>.</param>
    /// <param name="momentum">μ ∈ [0, 1): 0 weighs by this call's counts; above 0 by their moving average.</param>
    /// <exception cref="ArgumentOutOfRangeException">bins or momentum out of range.</exception>
    public GhmcLoss(int bins, float momentum)
    {
        Check(bins, momentum, nameof(bins), nameof(momentum));
        Bins = bins;
        Momentum = momentum;
    }

    /// <summary>The number of gradient-norm bins.</summary>
    public int Bins { get; }

    /// <summary>μ: the moving-average momentum of the bin counts.</summary>
    public float Momentum { get; }

    /// <summary>Throws when bins or momentum is out of range.</summary>
    public void Validate() => Check(Bins, Momentum, nameof(Bins), nameof(Momentum));

    private static void Check(int bins, float momentum, string binsName, string momentumName)
    {
        if (bins is < 1 or > MaxBins)
            ThrowHelper.OutOfRange(binsName, bins, $"in [1, {MaxBins}]");
        if (!(momentum >= 0f && momentum < 1f))
            ThrowHelper.OutOfRange(momentumName, momentum, "in [0, 1)");
    }

    /// <summary>Fused forward+backward, reduced: counts the bins, updates the state, returns L and writes the gradient.</summary>
    /// <param name="logits">n logits.</param>
    /// <param name="target">n targets in [0, 1].</param>
    /// <param name="logitsGrad">Receives n gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over v + ε) or <see cref="Reduction.Sum"/>. Fourth, as in the elementwise losses, so that a
    /// call with two spans after the target (output and gradient) takes the unreduced overload and never reads a gradient as label weights.</param>
    /// <param name="labelWeight">n label weights (an element with weight ≤ 0 is left out), or empty for all valid.</param>
    /// <param name="accumulatedCounts">The moving-average state a_b, <see cref="Bins"/> values (zeros before the first call), updated in place; required when momentum &gt; 0, else ignored.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> labelWeight = default, Span<float> accumulatedCounts = default, float upstream = 1f)
    {
        float* binWeights = stackalloc float[MaxBins];
        float* edges = stackalloc float[MaxBins];
        float* state = stackalloc float[MaxBins];
        CheckGradient(logits, target, labelWeight, default, logitsGrad);
        int valid = Prepare(logits, target, labelWeight, accumulatedCounts, state, binWeights, edges);
        float loss = new GhmcElement<BinTable>(new BinTable(binWeights, edges), Bins).ForwardBackward(logits, target, logitsGrad, reduction, labelWeight, reduction == Reduction.Mean ? valid : null, upstream);
        Commit(state, accumulatedCounts);
        return loss;
    }

    /// <summary>Forward only, reduced (counts the bins and updates the state too).</summary>
    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Reduction, ReadOnlySpan{float}, Span{float}, float)"/>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> labelWeight = default,
        Span<float> accumulatedCounts = default)
    {
        float* binWeights = stackalloc float[MaxBins];
        float* edges = stackalloc float[MaxBins];
        float* state = stackalloc float[MaxBins];
        int valid = Prepare(logits, target, labelWeight, accumulatedCounts, state, binWeights, edges);
        float loss = new GhmcElement<BinTable>(new BinTable(binWeights, edges), Bins).Forward(logits, target, reduction, labelWeight, reduction == Reduction.Mean ? valid : null);
        Commit(state, accumulatedCounts);
        return loss;
    }

    /// <summary>Fused forward+backward, unreduced: n element losses β·ce and the gradient of Σ upstream·ℓ.</summary>
    /// <param name="logits">n logits.</param>
    /// <param name="target">n targets in [0, 1].</param>
    /// <param name="output">Receives n element losses.</param>
    /// <param name="logitsGrad">Receives n gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">n upstream gradients, or empty for ones.</param>
    /// <param name="labelWeight">n label weights, or empty for all valid.</param>
    /// <param name="accumulatedCounts">The moving-average state (see the reduced overload).</param>
    public void ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> labelWeight = default, Span<float> accumulatedCounts = default)
    {
        float* binWeights = stackalloc float[MaxBins];
        float* edges = stackalloc float[MaxBins];
        float* state = stackalloc float[MaxBins];
        CheckGradient(logits, target, labelWeight, output, logitsGrad);
        Prepare(logits, target, labelWeight, accumulatedCounts, state, binWeights, edges);
        new GhmcElement<BinTable>(new BinTable(binWeights, edges), Bins).ForwardBackward(logits, target, output, logitsGrad, upstream, labelWeight);
        Commit(state, accumulatedCounts);
    }

    /// <summary>Fused forward+backward, reduced, on an OpenCL device (<c>kernels/opencl/ghmc.cl</c>): the histogram by integer atomics, the weights on the host.</summary>
    /// <param name="logits">n logits on the device.</param>
    /// <param name="target">n targets on the same device.</param>
    /// <param name="logitsGrad">Receives n gradient elements, or null for the loss alone; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/> (fourth, as in the span overload).</param>
    /// <param name="labelWeight">n label weights on the device, or null.</param>
    /// <param name="accumulatedCounts">The moving-average state on the host (see the span overload).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(OpenCL.DeviceBuffer<float> logits, OpenCL.DeviceBuffer<float> target, OpenCL.DeviceBuffer<float>? logitsGrad,
        Reduction reduction = Reduction.Mean, OpenCL.DeviceBuffer<float>? labelWeight = null, Span<float> accumulatedCounts = default, float upstream = 1f) =>
        RunOnDevice(logits, target, null, logitsGrad, null, labelWeight, accumulatedCounts, reduction, upstream);

    /// <summary>Unreduced on the device: n element losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="logits">n logits on the device.</param>
    /// <param name="target">n targets on the same device.</param>
    /// <param name="output">Receives n element losses.</param>
    /// <param name="logitsGrad">Receives n gradient elements, or null.</param>
    /// <param name="upstream">n upstream gradients, or null for ones.</param>
    /// <param name="labelWeight">n label weights on the device, or null.</param>
    /// <param name="accumulatedCounts">The moving-average state on the host.</param>
    public void ForwardBackward(OpenCL.DeviceBuffer<float> logits, OpenCL.DeviceBuffer<float> target, OpenCL.DeviceBuffer<float> output,
        OpenCL.DeviceBuffer<float>? logitsGrad, OpenCL.DeviceBuffer<float>? upstream = null, OpenCL.DeviceBuffer<float>? labelWeight = null,
        Span<float> accumulatedCounts = default) =>
        RunOnDevice(logits, target, output, logitsGrad, upstream, labelWeight, accumulatedCounts, Reduction.None, 1f);

    private static readonly string[] KernelNames = ["ghmc_histogram", "ghmc_loss", "ghmc_histogram_chunks", "ghmc_loss_chunks"];

    private float RunOnDevice(OpenCL.DeviceBuffer<float> logits, OpenCL.DeviceBuffer<float> target, OpenCL.DeviceBuffer<float>? output,
        OpenCL.DeviceBuffer<float>? gradient, OpenCL.DeviceBuffer<float>? upstream, OpenCL.DeviceBuffer<float>? labelWeight, Span<float> accumulatedCounts,
        Reduction reduction, float upstreamScalar)
    {
        Validate();
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(target);
        int n = logits.Length;
        OpenCL.OpenCLDevice device = logits.Device;
        OpenCL.DeviceChecks.Buffer(target, device, n, nameof(target));
        OpenCL.DeviceChecks.Buffer(labelWeight, device, n, nameof(labelWeight));
        OpenCL.DeviceChecks.Buffer(upstream, device, n, nameof(upstream));
        OpenCL.DeviceChecks.Buffer(output, device, -1, nameof(output));
        OpenCL.DeviceChecks.Buffer(gradient, device, -1, "logitsGrad");
        logits.ThrowIfDisposed();
        if (output is not null)
            ThrowHelper.IfTooShort(n, output.Length, nameof(output));
        if (gradient is not null)
            ThrowHelper.IfTooShort(n, gradient.Length, "logitsGrad");
        OpenCL.DeviceChecks.IfSame(output, gradient, nameof(output), "logitsGrad");
        if (Momentum > 0f)
            ThrowHelper.IfLengthDiffers(Bins, accumulatedCounts.Length, nameof(accumulatedCounts));
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "a defined Reduction");
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            OpenCL.KernelSet kernels = device.Kernels(new OpenCL.ProgramKey("ghmc", null, OpenCL.OpenCLReductionVariant.Auto), KernelNames);
            nint counters = device.Counters(Bins);
            // GPUs: a work-item per element in groups of 64. CPU devices: a run of `chunk` elements per work-item, a group each.
            bool cpuDevice = device.RunsPerWorkItem;
            const int Group = 64;
            int chunk = cpuDevice ? OpenCL.ElementwiseLauncher.ChunkLength(n) : 1;
            nuint local = cpuDevice ? 1u : Group;
            nuint global = cpuDevice ? (nuint)((Math.Max(n, 1) + chunk - 1) / chunk) : ((nuint)Math.Max(n, 1) + Group - 1) / Group * Group;
            nint histogram = kernels.Kernel(cpuDevice ? 2 : 0);
            uint argument = 0;
            OpenCL.KernelSet.SetBuffer(histogram, argument++, logits.Handle);
            OpenCL.KernelSet.SetBuffer(histogram, argument++, target.Handle);
            OpenCL.KernelSet.SetBuffer(histogram, argument++, labelWeight?.Handle ?? 0);
            OpenCL.KernelSet.SetValue(histogram, argument++, n);
            if (cpuDevice)
                OpenCL.KernelSet.SetValue(histogram, argument++, chunk);
            OpenCL.KernelSet.SetValue(histogram, argument++, Bins);
            OpenCL.KernelSet.SetBuffer(histogram, argument, counters);
            if (n > 0)
                OpenCL.OpenCLException.ThrowIfFailed(OpenCL.OpenCLNative.clEnqueueNDRangeKernel(device.Queue, histogram, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            ReadOnlySpan<int> counted = device.ReadCounters(Bins);
            long* counts = stackalloc long[MaxBins];
            long valid = 0;
            for (int b = 0; b < Bins; b++)
            {
                counts[b] = counted[b];
                valid += counted[b];
            }

            BinWeightTable table;
            float* state = stackalloc float[MaxBins];
            int total = BinWeights(counts, valid, accumulatedCounts, state, table.Weight);
            double divisor = reduction == Reduction.Mean ? total + ElementwiseLoss.AvgFactorEpsilon : 1d;
            if (n == 0)
            {
                Commit(state, accumulatedCounts);
                return 0f;
            }
            int groups = (int)(global / local);
            nint partials = device.Partials(groups);
            nint kernel = kernels.Kernel(cpuDevice ? 3 : 1);
            argument = 0;
            OpenCL.KernelSet.SetBuffer(kernel, argument++, logits.Handle);
            OpenCL.KernelSet.SetBuffer(kernel, argument++, target.Handle);
            OpenCL.KernelSet.SetBuffer(kernel, argument++, labelWeight?.Handle ?? 0);
            OpenCL.KernelSet.SetBuffer(kernel, argument++, upstream?.Handle ?? 0);
            OpenCL.KernelSet.SetBuffer(kernel, argument++, output?.Handle ?? 0);
            OpenCL.KernelSet.SetBuffer(kernel, argument++, gradient?.Handle ?? 0);
            OpenCL.KernelSet.SetValue(kernel, argument++, n);
            if (cpuDevice)
                OpenCL.KernelSet.SetValue(kernel, argument++, chunk);
            OpenCL.KernelSet.SetValue(kernel, argument++, Bins);
            OpenCL.KernelSet.SetValue(kernel, argument++, table);
            OpenCL.KernelSet.SetValue(kernel, argument++, (float)(upstreamScalar / divisor));
            OpenCL.KernelSet.SetBuffer(kernel, argument, partials);
            OpenCL.OpenCLException.ThrowIfFailed(OpenCL.OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            float loss = reduction == Reduction.None ? 0f : (float)(device.SumPartials(groups) / divisor);
            Commit(state, accumulatedCounts);
            return loss;
        }
    }

    /// <summary>The bin weights passed to the kernel by value (its <c>bin_weights_t</c>).</summary>
    private struct BinWeightTable
    {
        public fixed float Weight[MaxBins];
    }

    /// <summary>The gradient's length and overlaps, checked here so that they are named by this type's parameter (the elementwise driver's name is inputGrad).</summary>
    private static void CheckGradient(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, ReadOnlySpan<float> labelWeight, ReadOnlySpan<float> output, Span<float> logitsGrad)
    {
        ThrowHelper.IfTooShort(logits.Length, logitsGrad.Length, nameof(logitsGrad));
        ReadOnlySpan<float> written = logitsGrad.Slice(0, logits.Length);
        ThrowHelper.IfPartialOverlap(logits, written, nameof(logitsGrad));
        ThrowHelper.IfPartialOverlap(target, written, nameof(logitsGrad));
        ThrowHelper.IfPartialOverlap(labelWeight, written, nameof(logitsGrad));
        ThrowHelper.IfOverlaps(output.Length > logits.Length ? output.Slice(0, logits.Length) : output, written, nameof(logitsGrad), nameof(output));
    }

    /// <summary>
    /// Checks the arguments, writes the edges, counts the bins, writes the moving-average state this call leaves into
    /// <paramref name="state"/> (the caller's span is written by <see cref="Commit"/> once the call has succeeded) and the bin
    /// weights; returns v, the valid count (at least 1).
    /// </summary>
    private int Prepare(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, ReadOnlySpan<float> labelWeight, ReadOnlySpan<float> accumulatedCounts,
        float* state, float* binWeights, float* edges)
    {
        Validate();
        ThrowHelper.IfLengthDiffers(logits.Length, target.Length, nameof(target));
        if (!labelWeight.IsEmpty)
            ThrowHelper.IfLengthDiffers(logits.Length, labelWeight.Length, nameof(labelWeight));
        if (Momentum > 0f)
            ThrowHelper.IfLengthDiffers(Bins, accumulatedCounts.Length, nameof(accumulatedCounts));
        long* counts = stackalloc long[MaxBins];
        new Span<long>(counts, Bins).Clear();
        Edges(edges, Bins);
        long valid = Histogram(logits, target, labelWeight, edges, counts);
        return BinWeights(counts, valid, accumulatedCounts, state, binWeights);
    }

    /// <summary>
    /// mmdetection's weights from the bin counts: v / (c_b·m), or v / (a_b·m) after the moving-average update of the state, which
    /// goes into <paramref name="state"/> (the caller's <paramref name="accumulatedCounts"/> is only read); returns v (at least 1).
    /// </summary>
    internal int BinWeights(long* counts, long valid, ReadOnlySpan<float> accumulatedCounts, float* state, float* binWeights)
    {
        double total = Math.Max(valid, 1L);
        int nonEmpty = 0;
        for (int b = 0; b < Bins; b++)
        {
            binWeights[b] = 0f;
            if (Momentum > 0f)
                state[b] = accumulatedCounts[b];
            if (counts[b] == 0)
                continue;
            nonEmpty++;
            if (Momentum > 0f)
            {
                state[b] = Momentum * accumulatedCounts[b] + (1f - Momentum) * counts[b];
                binWeights[b] = (float)(total / state[b]);
            }
            else
            {
                binWeights[b] = (float)(total / counts[b]);
            }
        }

        for (int b = 0; b < Bins && nonEmpty > 0; b++)
            binWeights[b] /= nonEmpty;
        return (int)total;
    }

    /// <summary>Writes the state <see cref="BinWeights"/> computed into the caller's span (with momentum), after the call has succeeded.</summary>
    internal void Commit(float* state, Span<float> accumulatedCounts)
    {
        if (Momentum > 0f)
            new ReadOnlySpan<float>(state, Bins).CopyTo(accumulatedCounts);
    }

    /// <summary>The lower edges b/bins as correctly rounded float divisions (the OpenCL kernel divides the same way).</summary>
    internal static void Edges(float* edges, int bins)
    {
        for (int b = 0; b < bins; b++)
            edges[b] = (float)b / bins;
    }

    /// <summary>
    /// Counts the valid elements of each bin into <paramref name="counts"/> and returns their total: chunks of the elementwise
    /// driver's length on up to <see cref="LossKernelsSettings.MaxThreads"/> threads, each counting on its own stack and adding
    /// its integer counts into <paramref name="counts"/> at the end, so that the counts are exact and the same for any thread count.
    /// </summary>
    private long Histogram(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, ReadOnlySpan<float> labelWeight, float* edges, long* counts)
    {
        fixed (float* x = logits, t = target, w = labelWeight)
        {
            var pass = new HistogramPass(x, t, w, edges, counts, Bins);
            return (long)ChunkedRun.Run(pass, logits.Length, ElementwiseDriver.ParallelThreshold);
        }
    }

    /// <summary>
    /// One chunk of the histogram, in the vector lanes: for each edge b an integer accumulator per lane counts the valid elements
    /// with g ≥ b/bins (the compare that places an element in its bin), so that bin b holds the count at edge b less the count
    /// at edge b + 1 — no per-element scatter.
    /// </summary>
    private readonly struct HistogramPass(float* x, float* t, float* w, float* edges, long* counts, int bins) : IRangeKernel
    {
        /// <summary>Vectors whose gradient norms one block keeps on the stack (4 KiB at 16 lanes).</summary>
        private const int BlockVectors = 64;

        public double RunRange(nint start, nint length)
        {
            if (Vector512.IsHardwareAccelerated)
                return Count<Vector512<float>, Width512>(start, length);
            if (Vector256.IsHardwareAccelerated)
                return Count<Vector256<float>, Width256>(start, length);
            return Count<Vector128<float>, Width128>(start, length);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private long Count<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            // below[b·count + lane]: the lane's count of elements with g < edge b (every element not counted among them), as a negative
            // int32 (masks are −1); a chunk is at most 2^19 elements, so no lane passes 2^31. The count at edge b, g ≥ edge b, is the
            // lanes seen less that: entry 0 gives every valid element.
            float* below = stackalloc float[bins * count];
            new Span<float>(below, bins * count).Clear();
            long lanesSeen = 0;
            // A block's gradient norms, −1 where the element is not counted (a weight ≤ 0, padding, a NaN norm): then the counts of two
            // edges at a time add up in registers, one pass over these L1-resident norms per pair of edges.
            float* norms = stackalloc float[BlockVectors * count];
            float* padX = stackalloc float[count];
            float* padT = stackalloc float[count];
            float* padW = stackalloc float[count];
            TVec zero = TMath.Create(0f);
            TVec uncounted = TMath.Create(-1f);
            for (nint blockStart = start; blockStart < start + length; blockStart += BlockVectors * count)
            {
                int vectors = 0;
                for (nint i = blockStart; i < Math.Min(start + length, blockStart + BlockVectors * count); i += count, vectors++)
                {
                    int used = (int)Math.Min(count, start + length - i);
                    float* xs = x + i, ts = t + i, ws = w + i;
                    if (used < count)
                    {
                        // The last, partial vector: a zero-padded copy whose padding lanes are left out below.
                        for (int j = 0; j < count; j++)
                        {
                            padX[j] = j < used ? x[i + j] : 0f;
                            padT[j] = j < used ? t[i + j] : 0f;
                            padW[j] = j < used && w != null ? w[i + j] : 0f;
                        }

                        xs = padX;
                        ts = padT;
                        ws = padW;
                    }

                    TVec g = GhmcElement<BinTable>.Norm<TVec, TMath>(TMath.Load(ref xs[0]), TMath.Load(ref ts[0]));
                    // NaN gradient norms (a NaN logit or target) fall in no bin, as in mmdetection (NaN ≥ edge is false, even for edge 0).
                    g = TMath.Select(TMath.IsNaN(g), uncounted, g);
                    if (w != null)
                        g = TMath.Select(TMath.GreaterThan(TMath.Load(ref ws[0]), zero), g, uncounted);
                    if (used < count)
                        g = TMath.Select(TMath.KeepLanes(TMath.Create(BitConverter.Int32BitsToSingle(-1)), 0, used), g, uncounted);
                    TMath.Store(g, ref norms[vectors * count]);
                }

                lanesSeen += (long)vectors * count;
                // g < edge, so g ≥ edge is its complement for the numbers these norms are: the test GhmcElement.Bin places elements by.
                for (int b = 0; b < bins; b += 2)
                {
                    int next = Math.Min(b + 1, bins - 1);
                    TVec edge = TMath.Create(edges[b]), nextEdge = TMath.Create(edges[next]);
                    TVec under = TMath.Load(ref below[b * count]), underNext = TMath.Load(ref below[next * count]);
                    for (int v = 0; v < vectors; v++)
                    {
                        TVec g = TMath.Load(ref norms[v * count]);
                        under = TMath.AddBits(under, TMath.LessThan(g, edge));
                        underNext = TMath.AddBits(underNext, TMath.LessThan(g, nextEdge));
                    }

                    TMath.Store(under, ref below[b * count]);
                    if (next != b)
                        TMath.Store(underNext, ref below[next * count]);
                }
            }

            long valid = 0, above = 0;
            for (int b = bins - 1; b >= 0; b--)
            {
                long atEdge = lanesSeen;
                for (int j = 0; j < count; j++)
                    atEdge += BitConverter.SingleToInt32Bits(below[b * count + j]);
                if (atEdge != above)
                    Interlocked.Add(ref counts[b], atEdge - above);
                above = atEdge;
                valid = atEdge;
            }

            return valid;
        }
    }
}

/// <summary>The lower edges and weights of GHM-C's bins, as the elementwise pass reads them.</summary>
internal interface IGhmcBins
{
    /// <summary>The lower edge of bin <paramref name="b"/>: b/bins, a correctly rounded float division.</summary>
    float Edge(int b);

    /// <summary>The weight β of bin <paramref name="b"/>.</summary>
    float Weight(int b);
}

/// <summary>The CPU's bins: edges and weights on the stack.</summary>
internal readonly unsafe struct BinTable(float* weights, float* edges) : IGhmcBins
{
    private readonly float* weights = weights;
    private readonly float* edges = edges;

    public float Edge(int b) => edges[b];

    public float Weight(int b) => weights[b];
}

/// <summary>
/// GHM-C's elementwise pass: β_bin(g)·ce(x, t) and β·(σ(x) − t), the bin of g = |σ(x) − t| found by comparing with the lower
/// edges, its weight by the same comparisons (a select per bin). One definition for the SIMD driver and the ILGPU kernel, which
/// differ only in where the bins are read from.
/// </summary>
internal readonly struct GhmcElement<TBins>(TBins table, int bins) : IElementwiseLoss
    where TBins : struct, IGhmcBins
{
    private readonly TBins table = table;
    private readonly int bins = bins;

    public void Validate()
    {
    }

    public ElementwiseKernel Kernel => throw new NotSupportedException("GHM-C's bin weights are a buffer: GhmcLoss runs its own device kernel.");

    /// <summary>
    /// The gradient norm g = |σ(x) − t| as every pass computes it (the histograms, the ILGPU bins, the element pass), so that an
    /// element is counted in the bin whose weight it gets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Norm<TVec, TMath>(TVec x, TVec t)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        SigmoidTerms.Sigmoids<TVec, TMath>(x, out TVec p, out TVec q);
        return TMath.Abs(SigmoidTerms.Difference<TVec, TMath>(p, q, t));
    }

    /// <summary>The bin index of g = |σ(x) − t| per lane (as a float), NaN where g is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Bin<TVec, TMath>(TVec x, TVec t, in TBins table, int bins)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec g = Norm<TVec, TMath>(x, t);
        TVec bin = TMath.Create(0f);
        // g ≥ edge as max(g, edge) = g: one mask per edge, false for NaN.
        for (int b = 1; b < bins; b++)
            bin = TMath.Add(bin, TMath.And(TMath.Equal(TMath.Max(g, TMath.Create(table.Edge(b))), g), TMath.Create(1f)));
        return TMath.Select(TMath.IsNaN(g), g, bin);
    }

    // Inlined into the driver's loops (their optimized listings hold no calls): as a method of its own, fused 1.6–1.8× slower.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec crossEntropy = SigmoidTerms.CrossEntropy<TVec, TMath>(input, target, out TVec p, out TVec q);
        TVec difference = SigmoidTerms.Difference<TVec, TMath>(p, q, target);
        TVec g = TMath.Abs(difference);
        TVec weight = TMath.Create(table.Weight(0));
        for (int b = 1; b < bins; b++)
            weight = TMath.Select(TMath.LessThan(g, TMath.Create(table.Edge(b))), weight, TMath.Create(table.Weight(b)));
        gradient = TMath.Multiply(weight, difference);
        return TMath.Multiply(weight, crossEntropy);
    }
}
