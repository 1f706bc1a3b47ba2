using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace LossKernels.ILGPU;

/// <summary>
/// What the losses keep per accelerator, made at the first call and reused by every later one, so that a warm
/// call allocates nothing on the host: the partial sums of reduced calls (device buffer and page-locked host
/// copy, grown to the largest call seen), the fault cell that target checks record the first bad position in,
/// and the work-group size the kernels use. One call at a time holds <see cref="Gate"/> from its first launch to
/// its last read, so calls from several threads or streams never share scratch mid-flight.
/// </summary>
internal sealed class LossAccelerator
{
    /// <summary>Threads per work-group the kernels ask for (fewer where the accelerator allows fewer).</summary>
    public const int PreferredGroupSize = 256;

    /// <summary>The length of the integer counters and of the small float table (a loss's per-call constants, GHM-C's bin thresholds and weights).</summary>
    public const int TableLength = 2 * Classification.GhmcLoss.MaxBins;

    /// <summary>No fault recorded: larger than any position.</summary>
    public const long NoFault = long.MaxValue;

    private static readonly ConditionalWeakTable<Accelerator, LossAccelerator> Cache = [];

    private MemoryBuffer1D<double, Stride1D.Dense> partials;
    private PageLockedArray1D<double> hostPartials;
    private readonly MemoryBuffer1D<long, Stride1D.Dense> fault;
    private readonly PageLockedArray1D<long> hostFault;
    private MemoryBuffer1D<int, Stride1D.Dense> counts;
    private PageLockedArray1D<int> hostCounts;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> table;
    private readonly PageLockedArray1D<float> hostTable;
    /// <summary>Scratch buffers per accelerator: the Lovász losses use seven (statistics, ∂L/∂p, two key and two payload buffers, the counts), triplet mining five (rows, norms, distances, coefficients, squares).</summary>
    internal const int ScratchSlots = 7;

    private readonly MemoryBuffer1D<float, Stride1D.Dense>?[] scratch = new MemoryBuffer1D<float, Stride1D.Dense>?[ScratchSlots];
    private PageLockedArray1D<float>? hostScratch;
    private long launches;

    private LossAccelerator(Accelerator accelerator)
    {
        Accelerator = accelerator;
        int size = 1;
        while (size * 2 <= Math.Min(PreferredGroupSize, accelerator.MaxNumThreadsPerGroup))
            size *= 2;
        GroupSize = size;
        partials = accelerator.Allocate1D<double>(GroupSize);
        hostPartials = accelerator.AllocatePageLocked1D<double>(GroupSize);
        fault = accelerator.Allocate1D<long>(1);
        hostFault = accelerator.AllocatePageLocked1D<long>(1);
        counts = accelerator.Allocate1D<int>(TableLength);
        hostCounts = accelerator.AllocatePageLocked1D<int>(TableLength);
        table = accelerator.Allocate1D<float>(TableLength);
        hostTable = accelerator.AllocatePageLocked1D<float>(TableLength);
        ResetFault(accelerator.DefaultStream);
    }

    /// <summary>The accelerator.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>Held by a call from its first launch until it has read its results back.</summary>
    public object Gate { get; } = new();

    /// <summary>The kernels launched on the accelerator so far (tests relate a call's host allocations to its launches).</summary>
    public long Launches => Interlocked.Read(ref launches);

    /// <summary>Threads per work-group: a power of two, at most <see cref="PreferredGroupSize"/> and the accelerator's limit.</summary>
    public int GroupSize { get; }

    /// <summary>The losses' state on <paramref name="accelerator"/>, made on first use.</summary>
    public static LossAccelerator For(Accelerator accelerator) => Cache.GetValue(accelerator, static a => new LossAccelerator(a));

    /// <summary>Counts one launch.</summary>
    public void CountLaunch() => Interlocked.Increment(ref launches);

    /// <summary>Scratch for <paramref name="count"/> partial sums (grown when a call needs more than any before).</summary>
    public ArrayView<double> Partials(int count)
    {
        if (partials.Length < count)
        {
            partials.Dispose();
            hostPartials.Dispose();
            partials = Accelerator.Allocate1D<double>(count);
            hostPartials = Accelerator.AllocatePageLocked1D<double>(count);
        }

        return partials.View.SubView(0, count);
    }

    /// <summary>Waits for <paramref name="stream"/>, then adds the first <paramref name="count"/> partials on the host, in index order, in double.</summary>
    public double SumPartials(AcceleratorStream stream, int count)
    {
        if (count == 0)
            return 0d;
        partials.View.SubView(0, count).CopyTo(stream, hostPartials.ArrayView.SubView(0, count));
        stream.Synchronize();
        double sum = 0d;
        Span<double> values = hostPartials.Span[..count];
        foreach (double value in values)
            sum += value;
        return sum;
    }

    /// <summary>Waits for <paramref name="stream"/>, then copies the first <paramref name="destination"/>.Length partials to the host (for a host that reduces them itself).</summary>
    public void ReadPartials(AcceleratorStream stream, Span<double> destination)
    {
        int count = destination.Length;
        if (count == 0)
            return;
        partials.View.SubView(0, count).CopyTo(stream, hostPartials.ArrayView.SubView(0, count));
        stream.Synchronize();
        hostPartials.Span[..count].CopyTo(destination);
    }

    /// <summary>
    /// Float scratch <paramref name="slot"/> (below <see cref="ScratchSlots"/>) of at least <paramref name="length"/> values, grown on demand
    /// and reused: per-item statistics and tables one launch passes to the next. Call under <see cref="Gate"/>.
    /// </summary>
    public ArrayView<float> Scratch(int slot, long length)
    {
        MemoryBuffer1D<float, Stride1D.Dense>? buffer = scratch[slot];
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = Accelerator.Allocate1D<float>(Math.Max(Math.Max(length, 64), 2 * (buffer?.Length ?? 0)));
            scratch[slot] = buffer;
        }

        return buffer.View.SubView(0, Math.Max(length, 1));
    }

    /// <summary>Copies <paramref name="values"/> into scratch <paramref name="slot"/> on <paramref name="stream"/> through a page-locked host copy; returns the view.</summary>
    public ArrayView<float> UploadScratch(int slot, AcceleratorStream stream, ReadOnlySpan<float> values)
    {
        ArrayView<float> view = Scratch(slot, values.Length);
        if (values.IsEmpty)
            return view;
        if (hostScratch is null || hostScratch.Length < values.Length)
        {
            stream.Synchronize();
            hostScratch?.Dispose();
            hostScratch = Accelerator.AllocatePageLocked1D<float>(Math.Max(values.Length, 64));
        }

        // The previous upload from this host copy has finished: every call waits for its stream before it returns.
        values.CopyTo(hostScratch.Span);
        view.SubView(0, values.Length).CopyFrom(stream, hostScratch.ArrayView.SubView(0, values.Length));
        return view.SubView(0, values.Length);
    }

    /// <summary>The cell a check kernel lowers to the first bad position (with <c>Atomic.Min</c>).</summary>
    public ArrayView<long> Fault => fault.View;

    /// <summary>The first <paramref name="length"/> integer counters (grown when a call needs more than any before), queued to be zeroed on <paramref name="stream"/>.</summary>
    public ArrayView<int> ClearedCounts(AcceleratorStream stream, int length)
    {
        if (counts.Length < length)
        {
            stream.Synchronize();
            counts.Dispose();
            hostCounts.Dispose();
            counts = Accelerator.Allocate1D<int>(length);
            hostCounts = Accelerator.AllocatePageLocked1D<int>(length);
        }

        ArrayView<int> view = counts.View.SubView(0, length);
        view.MemSetToZero(stream);
        return view;
    }

    /// <summary>Waits for <paramref name="stream"/>; returns the first <paramref name="length"/> counters, on the host until the next call.</summary>
    public ReadOnlySpan<int> ReadCounts(AcceleratorStream stream, int length)
    {
        counts.View.SubView(0, length).CopyTo(stream, hostCounts.ArrayView.SubView(0, length));
        stream.Synchronize();
        return hostCounts.Span[..length];
    }

    /// <summary>Copies <paramref name="values"/> into the device table on <paramref name="stream"/> (the host copy is page-locked scratch: no allocation); returns the table's view.</summary>
    public ArrayView<float> UploadTable(AcceleratorStream stream, ReadOnlySpan<float> values)
    {
        values.CopyTo(hostTable.Span);
        ArrayView<float> view = table.View.SubView(0, values.Length);
        view.CopyFrom(stream, hostTable.ArrayView.SubView(0, values.Length));
        return view;
    }

    /// <summary>Waits for <paramref name="stream"/>; returns the first bad position a check recorded (and clears it), or null.</summary>
    public long? TakeFault(AcceleratorStream stream)
    {
        fault.View.CopyTo(stream, hostFault.ArrayView);
        stream.Synchronize();
        long position = hostFault[0];
        if (position == NoFault)
            return null;
        ResetFault(stream);
        return position;
    }

    private void ResetFault(AcceleratorStream stream)
    {
        hostFault[0] = NoFault;
        fault.View.CopyFrom(stream, hostFault.ArrayView);
        stream.Synchronize();
    }
}
