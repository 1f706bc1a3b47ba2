using System.Numerics;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// The check every loss that takes class indices makes before it reads one: each target is a class in
/// <c>[0, classes)</c> or <c>ignoreIndex</c>. On the CPU the first bad index throws before any work;
/// on a device the check runs in a kernel that records the first bad position in the device's error
/// flag, and the host throws after the launch, so that no kernel ever reads out of bounds.
/// </summary>
/// <remarks>
/// PyTorch: <c>cross_entropy</c> and <c>nll_loss</c> raise "Target n is out of bounds" (CPU) or trip a
/// device assert (CUDA). Here both backends throw <see cref="ArgumentOutOfRangeException"/> naming the
/// lowest offending position and its value, and the device stays usable.
/// </remarks>
public static class ClassTargets
{
    /// <summary>PyTorch's default <c>ignore_index</c>.</summary>
    public const long DefaultIgnoreIndex = -100;

    private const int GroupSize = 64;
    private static readonly string[] KernelNames = ["check_class_targets"];

    /// <summary>Throws unless every target is in <c>[0, classes)</c> or equals <paramref name="ignoreIndex"/>.</summary>
    /// <param name="target">Class indices.</param>
    /// <param name="classes">The class count C &gt; 0.</param>
    /// <param name="ignoreIndex">A target value that marks an element to skip.</param>
    /// <exception cref="ArgumentOutOfRangeException">Names the first offending position and value (<c>ParamName</c> "target"), or <paramref name="classes"/> is not positive.</exception>
    public static void Validate(ReadOnlySpan<long> target, int classes, long ignoreIndex = DefaultIgnoreIndex) => Check(target, classes, ignoreIndex);

    /// <summary>The check with an ignore index, or none (<paramref name="ignoreIndex"/> null: every index outside [0, C) is bad).</summary>
    internal static void Check<TIndex>(ReadOnlySpan<TIndex> target, int classes, long? ignoreIndex)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        CheckClasses(classes);
        CountIgnored(target, classes, ignoreIndex);
    }

    /// <summary>
    /// The check on the CPU for <paramref name="classes"/> &gt; 0 (throws at the first bad index, naming its position) and the number
    /// of targets equal to <paramref name="ignoreIndex"/>: whole vectors of indices at a time, the first vector with a bad lane and the
    /// tail one by one.
    /// </summary>
    internal static long CountIgnored<TIndex>(ReadOnlySpan<TIndex> target, int classes, long? ignoreIndex)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        long ignored = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<TIndex>.IsSupported)
        {
            // An int target can equal the ignore index only where the index is an int.
            bool ignorable = ignoreIndex is long index && long.CreateTruncating(TIndex.CreateTruncating(index)) == index;
            var ignore = new Vector<TIndex>(ignorable ? TIndex.CreateTruncating(ignoreIndex!.Value) : TIndex.Zero);
            var limit = new Vector<TIndex>(TIndex.CreateTruncating(classes));
            // Minus the ignored lanes so far, per lane (each lane counts at most n / lanes).
            Vector<TIndex> counts = Vector<TIndex>.Zero;
            for (; i <= target.Length - Vector<TIndex>.Count; i += Vector<TIndex>.Count)
            {
                var value = new Vector<TIndex>(target.Slice(i));
                Vector<TIndex> isIgnored = ignorable ? Vector.Equals(value, ignore) : Vector<TIndex>.Zero;
                Vector<TIndex> inRange = Vector.GreaterThanOrEqual(value, Vector<TIndex>.Zero) & Vector.LessThan(value, limit);
                if (!Vector.EqualsAll(isIgnored | inRange, Vector<TIndex>.AllBitsSet))
                    break;
                counts += isIgnored;
            }

            ignored = -long.CreateTruncating(Vector.Sum(counts));
        }

        for (; i < target.Length; i++)
        {
            long value = long.CreateTruncating(target[i]);
            if (value == ignoreIndex)
                ignored++;
            else if ((ulong)value >= (ulong)classes)
                ThrowOutOfRange(i, value, classes, ignoreIndex);
        }

        return ignored;
    }

    /// <summary>
    /// The check, and the kept targets' weight Σ w_y over those not equal to <paramref name="ignoreIndex"/>, added in index order: the
    /// mean's divisor of cross entropy and NLL. Without weights it is the count of kept targets, <paramref name="kept"/>.
    /// </summary>
    internal static double KeptWeight<TIndex>(ReadOnlySpan<TIndex> target, int classes, long ignoreIndex, ReadOnlySpan<float> weight, out long kept)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        kept = target.Length - CountIgnored(target, classes, ignoreIndex);
        if (weight.IsEmpty)
            return kept;
        double sum = 0d;
        for (int r = 0; r < target.Length; r++)
        {
            long value = long.CreateTruncating(target[r]);
            if (value != ignoreIndex)
                sum += weight[(int)value];
        }

        return sum;
    }

    /// <summary>The same check on the device: the kernel records the first bad position; the host throws after the launch.</summary>
    /// <param name="target">Class indices on the device.</param>
    /// <param name="classes">The class count C &gt; 0.</param>
    /// <param name="ignoreIndex">A target value that marks an element to skip.</param>
    /// <exception cref="ArgumentOutOfRangeException">Names the first offending position and value, or <paramref name="classes"/> is not positive.</exception>
    /// <exception cref="ObjectDisposedException">The buffer or its device is disposed.</exception>
    public static void Validate(DeviceBuffer<long> target, int classes, long ignoreIndex = DefaultIgnoreIndex) => Check(target, classes, ignoreIndex);

    /// <summary>The device check with an ignore index, or none (<paramref name="ignoreIndex"/> null).</summary>
    internal static unsafe void Check(DeviceBuffer<long> target, int classes, long? ignoreIndex)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckClasses(classes);
        target.ThrowIfDisposed();
        int n = target.Length;
        if (n == 0)
            return;
        OpenCLDevice device = target.Device;
        int? fault;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            nint kernel = device.Kernels(new ProgramKey("class_targets", null, OpenCLReductionVariant.Auto), KernelNames).Kernel(0);
            KernelSet.SetBuffer(kernel, 0, target.Handle);
            KernelSet.SetValue(kernel, 1, n);
            KernelSet.SetValue(kernel, 2, (long)classes);
            KernelSet.SetValue(kernel, 3, ignoreIndex ?? 0L);
            KernelSet.SetValue(kernel, 4, ignoreIndex is null ? 0 : 1);
            KernelSet.SetBuffer(kernel, 5, device.FaultFlag);
            nuint local = GroupSize;
            nuint global = ((nuint)n + GroupSize - 1) / GroupSize * GroupSize;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
            fault = device.TakeFault();
        }

        if (fault is int position)
        {
            long value = 0;
            target.Download(new Span<long>(ref value), position);
            ThrowOutOfRange(position, value, classes, ignoreIndex);
        }
    }

    private static void CheckClasses(int classes)
    {
        if (classes <= 0)
            ThrowHelper.OutOfRange(nameof(classes), classes, "> 0");
    }

    /// <summary>Throws the <see cref="ArgumentOutOfRangeException"/> that names target <paramref name="position"/> and its <paramref name="value"/> (<paramref name="ignoreIndex"/> null: the loss has none).</summary>
    internal static void ThrowOutOfRange(long position, long value, int classes, long? ignoreIndex) =>
        throw new ArgumentOutOfRangeException("target", value,
            $"Class target at index {position} is {value}; targets must be in [0, {classes}){(ignoreIndex is long ignore ? $" or equal ignoreIndex ({ignore})" : "")}.");
}
