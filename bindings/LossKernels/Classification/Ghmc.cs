using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
/// <para>σ(x) − t (the gradient) is computed as (1 − t)·σ(x) − t·σ(−x), so that a hard label's is one sigmoid to float32's precision;
/// mmdetection's float32 <c>pred.sigmoid() − target</c> keeps only the bits of σ(−x) above 2⁻²⁴ (0 at x = 17). A hard label's bin is
/// the exact sigmoid's: g = σ(±x) reaches the edge b/bins exactly when ±x reaches τ_b, the least float whose σ does, so the bins
/// compare the logit with thresholds computed once per call and need no sigmoid (mmdetection's float32 g may put an element within
/// its rounding of an edge in the neighbouring bin; float64 agrees with these bins). A soft target's g is computed in float32 and
/// compared with the edges, as mmdetection does.</para>
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
        float* thresholds = stackalloc float[MaxBins];
        float* state = stackalloc float[MaxBins];
        CheckGradient(logits, target, labelWeight, default, logitsGrad);
        int valid = Prepare(logits, target, labelWeight, accumulatedCounts, state, binWeights, edges, thresholds);
        float loss = new GhmcElement<BinTable>(new BinTable(binWeights, edges, thresholds), Bins).ForwardBackward(logits, target, logitsGrad, reduction, labelWeight, reduction == Reduction.Mean ? valid : null, upstream);
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
        float* thresholds = stackalloc float[MaxBins];
        float* state = stackalloc float[MaxBins];
        int valid = Prepare(logits, target, labelWeight, accumulatedCounts, state, binWeights, edges, thresholds);
        float loss = new GhmcElement<BinTable>(new BinTable(binWeights, edges, thresholds), Bins).Forward(logits, target, reduction, labelWeight, reduction == Reduction.Mean ? valid : null);
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
        float* thresholds = stackalloc float[MaxBins];
        float* state = stackalloc float[MaxBins];
        CheckGradient(logits, target, labelWeight, output, logitsGrad);
        Prepare(logits, target, labelWeight, accumulatedCounts, state, binWeights, edges, thresholds);
        new GhmcElement<BinTable>(new BinTable(binWeights, edges, thresholds), Bins).ForwardBackward(logits, target, output, logitsGrad, upstream, labelWeight);
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
            BinValues thresholds;
            Thresholds(thresholds.Value, Bins);
            OpenCL.KernelSet.SetValue(histogram, argument++, thresholds);
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

            BinValues weights;
            float* state = stackalloc float[MaxBins];
            int total = BinWeights(counts, valid, accumulatedCounts, state, weights.Value);
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
            OpenCL.KernelSet.SetValue(kernel, argument++, thresholds);
            OpenCL.KernelSet.SetValue(kernel, argument++, weights);
            OpenCL.KernelSet.SetValue(kernel, argument++, (float)(upstreamScalar / divisor));
            OpenCL.KernelSet.SetBuffer(kernel, argument, partials);
            OpenCL.OpenCLException.ThrowIfFailed(OpenCL.OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            float loss = reduction == Reduction.None ? 0f : (float)(device.SumPartials(groups) / divisor);
            Commit(state, accumulatedCounts);
            return loss;
        }
    }

    /// <summary>A value per bin passed to a kernel by value (its <c>bin_thresholds_t</c> and <c>bin_weights_t</c>).</summary>
    private struct BinValues
    {
        public fixed float Value[MaxBins];
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
        float* state, float* binWeights, float* edges, float* thresholds)
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
        Thresholds(thresholds, Bins);
        PadPastBins(edges, Bins, float.PositiveInfinity);
        PadPastBins(thresholds, Bins, float.PositiveInfinity);
        long valid = Histogram(logits, target, labelWeight, new BinTable(binWeights, edges, thresholds), counts);
        int total = BinWeights(counts, valid, accumulatedCounts, state, binWeights);
        PadPastBins(binWeights, Bins, binWeights[Bins - 1]);
        return total;
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

    /// <summary>Fills a CPU table past its last bin up to <see cref="BinTable.LookUpBins"/> entries (what <see cref="BinTable"/>'s look-ups read).</summary>
    private static void PadPastBins(float* table, int bins, float value) => new Span<float>(table + bins, Math.Max(BinTable.LookUpBins - bins, 0)).Fill(value);

    /// <summary>
    /// The thresholds τ_b of the hard labels' keys (<see cref="GhmcElement{TBins}.Key"/>): τ_0 = −∞, and for b ≥ 1 the least float at
    /// or above logit(e_b) = ln(e_b/(1 − e_b)), e_b = b/bins, so that for every float x, x ≥ τ_b exactly when σ(x) ≥ e_b. The logit is
    /// taken in double (within about 1e-16 of its value; exact, 0, at e = ½); for every bins ≤ 64 the floats on either side of each
    /// edge's logit lie at least 2.4e-11 (relative) from it (checked in 200-bit arithmetic), so the rounding decides nothing.
    /// </summary>
    internal static void Thresholds(float* thresholds, int bins)
    {
        thresholds[0] = float.NegativeInfinity;
        for (int b = 1; b < bins; b++)
        {
            double edge = (float)b / bins;
            double logit = Math.Log(edge / (1d - edge));
            float nearest = (float)logit;
            thresholds[b] = nearest >= logit ? nearest : MathF.BitIncrement(nearest);
        }
    }

    /// <summary>
    /// Counts the valid elements of each bin into <paramref name="counts"/> and returns their total: chunks of the elementwise
    /// driver's length on up to <see cref="LossKernelsSettings.MaxThreads"/> threads, each counting on its own stack and adding
    /// its integer counts into <paramref name="counts"/> at the end, so that the counts are exact and the same for any thread count.
    /// </summary>
    private long Histogram(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, ReadOnlySpan<float> labelWeight, in BinTable table, long* counts)
    {
        fixed (float* x = logits, t = target, w = labelWeight)
        {
            var pass = new HistogramPass(x, t, w, table, counts, Bins);
            return (long)ChunkedRun.Run(pass, logits.Length, ElementwiseDriver.ParallelThreshold);
        }
    }

    /// <summary>
    /// One chunk of the histogram, in the vector lanes: for each bin b an integer accumulator per lane counts the valid elements that
    /// reach it (a hard label's key τ_b, a soft target's g the edge b: <see cref="GhmcElement{TBins}.Key"/>'s bins), so that bin b holds
    /// the count at b less the count at b + 1 — no per-element scatter, and no sigmoid for a vector of hard labels.
    /// </summary>
    private readonly struct HistogramPass(float* x, float* t, float* w, BinTable table, long* counts, int bins) : IRangeKernel
    {
        /// <summary>Vectors whose keys one block keeps on the stack (4 KiB at 16 lanes).</summary>
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
            // reached[b·count + lane]: the lane's count of elements that reach bin b; a chunk is at most 2^19 elements, so no lane passes
            // 2^31. Entry 0 (τ_0 = −∞, edge 0) counts every valid element.
            float* reached = stackalloc float[bins * count];
            new Span<float>(reached, bins * count).Clear();
            // A block's keys, NaN where the element is not counted (a weight ≤ 0, padding, a NaN norm: NaN reaches no threshold) or has
            // a soft target; then the counts of four thresholds at a time add up in registers, one pass over these L1-resident keys per
            // four. The soft targets' gradient norms (GhmcElement.SoftKey bins them by the edges), NaN in the other lanes, packed for
            // the vectors that have one, are counted against the edges the same way: converting them to keys took longer.
            float* keys = stackalloc float[BlockVectors * count];
            float* norms = stackalloc float[BlockVectors * count];
            float* padX = stackalloc float[count];
            float* padT = stackalloc float[count];
            float* padW = stackalloc float[count];
            TVec zero = TMath.Create(0f);
            TVec uncounted = TMath.Create(float.NaN);
            TVec all = TMath.Create(BitConverter.Int32BitsToSingle(-1));
            for (nint blockStart = start; blockStart < start + length; blockStart += BlockVectors * count)
            {
                int vectors = 0, soft = 0;
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

                    // The next block's lines, asked for now: the counting passes below touch no memory, and without the hints the
                    // streams stalled at the start of every block (a hint past the end reads nothing).
                    if (Sse.IsSupported)
                    {
                        Sse.Prefetch0(xs + BlockVectors * count);
                        Sse.Prefetch0(ts + BlockVectors * count);
                        if (w != null)
                            Sse.Prefetch0(ws + BlockVectors * count);
                    }

                    TVec counted = w != null ? TMath.GreaterThan(TMath.Load(ref ws[0]), zero) : all;
                    if (used < count)
                        counted = TMath.And(counted, TMath.KeepLanes(all, 0, used));
                    // A NaN key or norm (a NaN logit or target) reaches no bin, not even the first: as in mmdetection.
                    TVec logit = TMath.Load(ref xs[0]), label = TMath.Load(ref ts[0]);
                    TVec key = GhmcElement<BinTable>.HardKey<TVec, TMath>(logit, label, out TVec hard);
                    if (!TMath.AllSet(hard))
                    {
                        TVec g = GhmcElement<BinTable>.Norm<TVec, TMath>(logit, label);
                        TMath.Store(TMath.Select(TMath.Select(hard, zero, counted), g, uncounted), ref norms[soft++ * count]);
                        counted = TMath.Select(hard, counted, zero);
                    }

                    TMath.Store(TMath.Select(counted, key, uncounted), ref keys[vectors * count]);
                }

                Tally<TVec, TMath>(keys, vectors, BinColumn.Threshold, reached);
                if (soft > 0)
                    Tally<TVec, TMath>(norms, soft, BinColumn.Edge, reached);
            }

            long valid = 0, above = 0;
            for (int b = bins - 1; b >= 0; b--)
            {
                long atBin = 0;
                for (int j = 0; j < count; j++)
                    atBin += BitConverter.SingleToInt32Bits(reached[b * count + j]);
                if (atBin != above)
                    Interlocked.Add(ref counts[b], atBin - above);
                above = atBin;
                valid = atBin;
            }

            return valid;
        }

        /// <summary>
        /// Adds to <paramref name="reached"/> the lanes of <paramref name="vectors"/> vectors of <paramref name="values"/> that reach each
        /// bin's <paramref name="column"/> entry (a key its threshold, a norm its edge): four bins per pass over the values.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Tally<TVec, TMath>(float* values, int vectors, BinColumn column, float* reached)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            for (int b = 0; b < bins; b += 4)
            {
                // Past the last bin the lanes count the last again, and are not stored.
                int b1 = Math.Min(b + 1, bins - 1), b2 = Math.Min(b + 2, bins - 1), b3 = Math.Min(b + 3, bins - 1);
                TVec e0 = TMath.Create(Entry(column, b)), e1 = TMath.Create(Entry(column, b1));
                TVec e2 = TMath.Create(Entry(column, b2)), e3 = TMath.Create(Entry(column, b3));
                TVec at0 = TMath.Load(ref reached[b * count]), at1 = TMath.Load(ref reached[b1 * count]);
                TVec at2 = TMath.Load(ref reached[b2 * count]), at3 = TMath.Load(ref reached[b3 * count]);
                for (int v = 0; v < vectors; v++)
                {
                    TVec value = TMath.Load(ref values[v * count]);
                    at0 = TMath.CountWhere(at0, TMath.GreaterThanOrEqual(value, e0));
                    at1 = TMath.CountWhere(at1, TMath.GreaterThanOrEqual(value, e1));
                    at2 = TMath.CountWhere(at2, TMath.GreaterThanOrEqual(value, e2));
                    at3 = TMath.CountWhere(at3, TMath.GreaterThanOrEqual(value, e3));
                }

                TMath.Store(at0, ref reached[b * count]);
                if (b1 != b)
                    TMath.Store(at1, ref reached[b1 * count]);
                if (b2 != b1)
                    TMath.Store(at2, ref reached[b2 * count]);
                if (b3 != b2)
                    TMath.Store(at3, ref reached[b3 * count]);
            }
        }

        /// <summary>Edge 0 is 0, which a soft target's norm (|σ(x) − t| ≥ 0) always reaches, as a key reaches τ_0 = −∞.</summary>
        private float Entry(BinColumn column, int b) => column == BinColumn.Edge ? table.Edge(b) : table.Threshold(b);
    }
}

/// <summary>The lower edges, thresholds and weights of GHM-C's bins, as the elementwise pass reads them.</summary>
internal interface IGhmcBins
{
    /// <summary>The lower edge of bin <paramref name="b"/>: b/bins, a correctly rounded float division.</summary>
    float Edge(int b);

    /// <summary>τ_b of <see cref="GhmcLoss.Thresholds"/>: the least float x whose exact σ(x) reaches edge b (−∞ for b = 0).</summary>
    float Threshold(int b);

    /// <summary>The weight β of bin <paramref name="b"/>.</summary>
    float Weight(int b);

    /// <summary>
    /// A step function of the bins per lane: the <paramref name="returned"/> entry of the last bin b whose <paramref name="compared"/>
    /// entry the lane reaches (b = 0 when it reaches none past the first, as a NaN lane does).
    /// </summary>
    TVec LookUp<TVec, TMath>(TVec lanes, BinColumn compared, BinColumn returned, int bins)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;
}

/// <summary>
/// The CPU's bins: edges, thresholds and weights on the stack, <see cref="LookUpBins"/> of each at least; past the last bin the edges
/// and thresholds are +∞ and the weights the last bin's, so that a 16-entry look-up needs no bounds.
/// </summary>
internal readonly unsafe struct BinTable(float* weights, float* edges, float* thresholds) : IGhmcBins
{
    /// <summary>The most bins the look-ups find by a search in a register (AVX-512); more go by a select per bin.</summary>
    internal const int LookUpBins = 16;

    private readonly float* weights = weights;
    private readonly float* edges = edges;
    private readonly float* thresholds = thresholds;

    public float Edge(int b) => edges[b];

    public float Threshold(int b) => thresholds[b];

    public float Weight(int b) => weights[b];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec LookUp<TVec, TMath>(TVec lanes, BinColumn compared, BinColumn returned, int bins)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        Searchable<TVec>(bins) ? Search<TVec>(lanes, Column(compared), Column(returned)) : GhmcBins.ByCompares<BinTable, TVec, TMath>(this, lanes, compared, returned, bins);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* Column(BinColumn column) => column switch
    {
        BinColumn.Edge => edges,
        BinColumn.Threshold => thresholds,
        _ => weights,
    };

    /// <summary>Whether the bins fit one AVX-512 register and the vectors are that width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Searchable<TVec>(int bins) => typeof(TVec) == typeof(Vector512<float>) && Avx512F.IsSupported && bins <= LookUpBins;

    /// <summary>
    /// values[i] for the last i whose sorted[i] each lane reaches (sorted[0] is not compared: every lane reaches it), by a binary search
    /// of the 16 sorted entries in a register: four steps of a permute, a compare and a masked add, where a select per bin took a
    /// compare, a blend, a broadcast and the loop's own instructions; then a permute reads the value. The same index as the compares
    /// give. (Counting the entries reached, fifteen independent compares, ran slower: more instructions for a shorter chain.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Search<TVec>(TVec lanes, float* sorted, float* values)
    {
        Vector512<float> v = Unsafe.As<TVec, Vector512<float>>(ref lanes);
        Vector512<float> table = Vector512.Load(sorted);
        Vector512<int> index = Step(v, table, Vector512<int>.Zero, 8);
        index = Step(v, table, index, 4);
        index = Step(v, table, index, 2);
        index = Step(v, table, index, 1);
        Vector512<float> found = Avx512F.PermuteVar16x32(Vector512.Load(values), index);
        return Unsafe.As<Vector512<float>, TVec>(ref found);
    }

    /// <summary>One step of the search: index + step where the lane reaches the entry there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Step(Vector512<float> lanes, Vector512<float> sorted, Vector512<int> index, int step)
    {
        Vector512<int> probe = index + Vector512.Create(step);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(lanes, Avx512F.PermuteVar16x32(sorted, probe)).AsInt32(), probe, index);
    }
}

/// <summary>The entries of a bin that <see cref="IGhmcBins.LookUp"/> compares with and returns.</summary>
internal enum BinColumn
{
    /// <summary>The lower edge b/bins, the soft targets' g is compared with.</summary>
    Edge,

    /// <summary>τ_b, the keys are compared with.</summary>
    Threshold,

    /// <summary>The bin's weight β.</summary>
    Weight,
}

/// <summary>The bin look-up every <see cref="IGhmcBins"/> can fall back on.</summary>
internal static class GhmcBins
{
    /// <summary>
    /// <see cref="IGhmcBins.LookUp"/> by a select per bin: the <paramref name="returned"/> entry of bin b wherever the lane reaches its
    /// <paramref name="compared"/> entry, b = 1 … bins − 1, in order (bin 0's below the first).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec ByCompares<TBins, TVec, TMath>(in TBins table, TVec lanes, BinColumn compared, BinColumn returned, int bins)
        where TBins : struct, IGhmcBins
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec found = TMath.Create(Entry(table, returned, 0));
        for (int b = 1; b < bins; b++)
            found = TMath.Select(TMath.LessThan(lanes, TMath.Create(Entry(table, compared, b))), found, TMath.Create(Entry(table, returned, b)));
        return found;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Entry<TBins>(in TBins table, BinColumn column, int b)
        where TBins : struct, IGhmcBins => column switch
        {
            BinColumn.Edge => table.Edge(b),
            BinColumn.Threshold => table.Threshold(b),
            _ => table.Weight(b),
        };
}

/// <summary>
/// GHM-C's elementwise pass: β_bin·ce(x, t) and β·(σ(x) − t), the bin of the element's key (<see cref="Key"/>): a hard label's
/// logit against the thresholds, a soft target's g against the edges, each by <see cref="IGhmcBins.LookUp"/>. One definition for the
/// SIMD driver and the ILGPU kernel, which differ only in where the bins are read from and how they are looked up.
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
    /// The gradient norm g = |σ(x) − t| in float, as the passes compute it for a soft target (see <see cref="Key"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Norm<TVec, TMath>(TVec x, TVec t)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        SigmoidTerms.Sigmoids<TVec, TMath>(x, out TVec p, out TVec q);
        return TMath.Abs(SigmoidTerms.Difference<TVec, TMath>(p, q, t));
    }

    /// <summary>
    /// The key that bins an element: it reaches bin b when key ≥ τ_b. For a hard label, g = σ(x) at t = 0 and σ(−x) at t = 1, so
    /// the key is x or −x, no sigmoid needed, and the bin is the exact σ's. For a soft target, the key is τ of the bin that g,
    /// computed in float by <see cref="Norm"/>, reaches (<see cref="SoftKey"/>). NaN where g is NaN. The ILGPU histogram bins by it
    /// (<see cref="Bin"/>); the CPU passes take <see cref="HardKey"/> and compare a soft target's g with the edges themselves, which
    /// gives the same bins, so that every pass counts an element in the bin whose weight it gets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Key<TVec, TMath>(TVec x, TVec t, in TBins table, int bins)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec key = HardKey<TVec, TMath>(x, t, out TVec hard);
        // The sigmoid only for a vector with a soft target in it: the histogram's common case, hard labels, has none.
        return TMath.AllSet(hard) ? key : SoftKey<TVec, TMath>(Norm<TVec, TMath>(x, t), hard, key, table, bins);
    }

    /// <summary>x where t = 0 and −x where t = 1 (<see cref="Key"/>), and in <paramref name="hard"/> the mask of those lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec HardKey<TVec, TMath>(TVec x, TVec t, out TVec hard)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec positive = TMath.Equal(t, TMath.Create(1f));
        hard = TMath.Or(TMath.Equal(t, TMath.Create(0f)), positive);
        return TMath.Select(positive, TMath.Subtract(TMath.Create(0f), x), x);
    }

    /// <summary>
    /// <paramref name="hardKey"/> in the <paramref name="hard"/> lanes; in the others τ of the last edge that
    /// <paramref name="g"/> reaches (τ_0 = −∞ below the first), NaN where g is NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec SoftKey<TVec, TMath>(TVec g, TVec hard, TVec hardKey, in TBins table, int bins)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Select(hard, hardKey, TMath.Select(TMath.IsNaN(g), g, table.LookUp<TVec, TMath>(g, BinColumn.Edge, BinColumn.Threshold, bins)));

    /// <summary>The bin index of the element per lane (as a float), NaN where g is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Bin<TVec, TMath>(TVec x, TVec t, in TBins table, int bins)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec key = Key<TVec, TMath>(x, t, table, bins);
        TVec bin = TMath.Create(0f);
        for (int b = 1; b < bins; b++)
            bin = TMath.Add(bin, TMath.And(TMath.GreaterThanOrEqual(key, TMath.Create(table.Threshold(b))), TMath.Create(1f)));
        return TMath.Select(TMath.IsNaN(key), key, bin);
    }

    // Inlined into the driver's loops (their optimized listings hold no calls): as a method of its own, fused 1.6–1.8× slower.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec crossEntropy = SigmoidTerms.CrossEntropy<TVec, TMath>(input, target, out TVec p, out TVec q);
        TVec difference = SigmoidTerms.Difference<TVec, TMath>(p, q, target);
        TVec key = HardKey<TVec, TMath>(input, target, out TVec hard);
        TVec weight = table.LookUp<TVec, TMath>(key, BinColumn.Threshold, BinColumn.Weight, bins);
        // A soft target's weight straight from its g (the bin SoftKey's τ stands for): two look-ups side by side, not one after the other.
        if (!TMath.AllSet(hard))
            weight = TMath.Select(hard, weight, table.LookUp<TVec, TMath>(TMath.Abs(difference), BinColumn.Edge, BinColumn.Weight, bins));
        gradient = TMath.Multiply(weight, difference);
        return TMath.Multiply(weight, crossEntropy);
    }
}

