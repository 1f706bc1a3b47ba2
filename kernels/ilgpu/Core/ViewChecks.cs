using ILGPU;
using ILGPU.Runtime;

namespace LossKernels.ILGPU;

/// <summary>
/// The argument checks of the ILGPU entry points, made before any launch and without allocating: every view of a
/// call on the input's accelerator and not disposed, lengths, and the overlaps the kernels cannot take (a shifted
/// overlap between what a call reads and what it writes; exactly the same memory is in place and allowed where the
/// span overloads allow it).
/// </summary>
internal static class ViewChecks
{
    /// <summary>
    /// Whether <paramref name="view"/> is given: a view of some buffer, of any length (ILGPU's <c>IsValid</c> is false for an
    /// empty view as well as for <c>default</c>, and an empty input is a valid call).
    /// </summary>
    public static bool IsPresent<T>(ArrayView<T> view)
        where T : unmanaged => BufferOf(view) is not null;

    /// <summary>The accelerator of a required input view; throws when the view is absent (default) or disposed.</summary>
    public static Accelerator AcceleratorOf<T>(ArrayView<T> view, string paramName)
        where T : unmanaged
    {
        if (!IsPresent(view))
            ThrowHelper.Argument(paramName, $"{paramName} is not a view of an accelerator's memory (default(ArrayView)).");
        ThrowIfDisposed(view, paramName);
        return view.GetAccelerator();
    }

    /// <summary>Throws unless a required <paramref name="view"/> is valid, on <paramref name="accelerator"/>, not disposed and (when <paramref name="length"/> ≥ 0) that long.</summary>
    public static void Required<T>(ArrayView<T> view, Accelerator accelerator, long length, string paramName)
        where T : unmanaged
    {
        if (!IsPresent(view))
            ThrowHelper.Argument(paramName, $"{paramName} is required (got default(ArrayView)).");
        Optional(view, accelerator, length, paramName);
    }

    /// <summary>Throws unless an optional <paramref name="view"/> is absent (default) or on <paramref name="accelerator"/>, not disposed and (when <paramref name="length"/> ≥ 0) that long.</summary>
    public static void Optional<T>(ArrayView<T> view, Accelerator accelerator, long length, string paramName)
        where T : unmanaged
    {
        if (!IsPresent(view))
            return;
        ThrowIfDisposed(view, paramName);
        if (!ReferenceEquals(view.GetAccelerator(), accelerator))
            ThrowHelper.Argument(paramName, $"{paramName} lives on another accelerator than the first input; every view of a call must be on one accelerator.");
        if (length >= 0)
            ThrowHelper.IfLengthDiffers(length, view.Length, paramName);
    }

    /// <summary>Throws unless a destination view is valid, on <paramref name="accelerator"/>, not disposed and at least <paramref name="required"/> long.</summary>
    public static void Destination<T>(ArrayView<T> view, Accelerator accelerator, long required, string paramName)
        where T : unmanaged
    {
        Required(view, accelerator, -1, paramName);
        ThrowHelper.IfTooShort(required, view.Length, paramName);
    }

    /// <summary>
    /// The checks of a loss over N rows of C scores with N class indices (nll_loss, multi_margin_loss): whole rows, C class weights,
    /// N upstream values and N row losses, an N·C gradient that is the input itself or disjoint from everything read, an output
    /// disjoint from the rest. Returns the accelerator, N and C (<paramref name="emptyClasses"/> when there are no rows).
    /// </summary>
    public static Accelerator ClassRows(ArrayView<float> input, ArrayView<long> target, ArrayView<float> weight, ArrayView<float> upstream,
        ArrayView<float> output, ArrayView<float> gradient, int emptyClasses, out int rows, out int classes)
    {
        Accelerator accelerator = AcceleratorOf(input, nameof(input));
        Required(target, accelerator, -1, nameof(target));
        rows = target.IntLength;
        long n = input.Length;
        if (rows == 0 ? n != 0 : n % rows != 0)
            ThrowHelper.Argument(nameof(input), $"input holds {n} values, not a whole number of rows for {rows} targets.");
        classes = rows == 0 ? emptyClasses : checked((int)(n / rows));
        Optional(weight, accelerator, classes, nameof(weight));
        Optional(upstream, accelerator, rows, nameof(upstream));
        if (IsPresent(output))
        {
            Destination(output, accelerator, rows, nameof(output));
            IfOverlaps(input, n, output, rows, nameof(output), nameof(input));
            IfOverlaps(gradient, n, output, rows, nameof(output), "inputGrad");
        }

        if (IsPresent(gradient))
        {
            Destination(gradient, accelerator, n, "inputGrad");
            IfPartialOverlap(input, gradient, n, "inputGrad");
            IfOverlaps(target, rows, gradient, n, "inputGrad", nameof(target));
            IfOverlaps(weight, weight.Length, gradient, n, "inputGrad", nameof(weight));
            IfOverlaps(upstream, upstream.Length, gradient, n, "inputGrad", nameof(upstream));
        }

        return accelerator;
    }

    /// <summary>
    /// Throws when the first <paramref name="length"/> elements of <paramref name="destination"/> overlap <paramref name="source"/>
    /// at an offset (the same start is in place); an absent view overlaps nothing.
    /// </summary>
    public static void IfPartialOverlap<TSource, TDestination>(ArrayView<TSource> source, ArrayView<TDestination> destination, long length, string paramName)
        where TSource : unmanaged
        where TDestination : unmanaged
    {
        if (Overlap(source, source.Length, destination, length) is long offset && offset != 0)
            ThrowHelper.Argument(paramName, $"{paramName} overlaps an input at an offset of {offset} bytes; it must be the same memory or disjoint.");
    }

    /// <summary>Throws when the first <paramref name="length"/> elements of <paramref name="destination"/> share any memory with <paramref name="other"/>.</summary>
    public static void IfOverlaps<TOther, TDestination>(ArrayView<TOther> other, long otherLength, ArrayView<TDestination> destination, long length, string paramName, string otherName)
        where TOther : unmanaged
        where TDestination : unmanaged
    {
        if (Overlap(other, otherLength, destination, length) is not null)
            ThrowHelper.Argument(paramName, $"{paramName} must not overlap {otherName}.");
    }

    /// <summary>The byte offset of <paramref name="b"/>'s start from <paramref name="a"/>'s when their first elements overlap, else null.</summary>
    internal static long? Overlap<TA, TB>(ArrayView<TA> a, long aLength, ArrayView<TB> b, long bLength)
        where TA : unmanaged
        where TB : unmanaged
    {
        if (!IsPresent(a) || !IsPresent(b) || aLength <= 0 || bLength <= 0 || !ReferenceEquals(BufferOf(a), BufferOf(b)))
            return null;
        long aStart = IndexInBytes(a), bStart = IndexInBytes(b);
        long aEnd = aStart + aLength * ArrayView<TA>.ElementSize, bEnd = bStart + bLength * ArrayView<TB>.ElementSize;
        return aStart < bEnd && bStart < aEnd ? bStart - aStart : null;
    }

    private static void ThrowIfDisposed<T>(ArrayView<T> view, string paramName)
        where T : unmanaged
    {
        MemoryBuffer buffer = BufferOf(view);
        if (buffer.IsDisposed || buffer.Accelerator.IsDisposed)
            throw new ObjectDisposedException(paramName, $"{paramName} is a view of a disposed buffer or accelerator.");
    }

    // Through the interfaces with a generic constraint: a constrained call, so the view struct is not boxed.
    private static MemoryBuffer BufferOf<TView>(TView view)
        where TView : IArrayView => view.Buffer;

    private static long IndexInBytes<TView>(TView view)
        where TView : IContiguousArrayView => view.IndexInBytes;
}

/// <summary>ILGPU views for the layer drivers: sliced exactly, sharing memory where their bytes overlap in one buffer, on the call's first view's accelerator.</summary>
internal struct ViewBufferOps : Generative.IBufferOps<ArrayView<float>>
{
    private Accelerator? accelerator;

    public readonly long Length(ArrayView<float> buffer) => ViewChecks.IsPresent(buffer) ? buffer.Length : 0;

    public readonly bool IsPresent(ArrayView<float> buffer) => ViewChecks.IsPresent(buffer);

    public void Validate(ArrayView<float> buffer)
    {
        accelerator ??= ViewChecks.AcceleratorOf(buffer, "layers");
        ViewChecks.Optional(buffer, accelerator, -1, "layers");
    }

    public readonly ArrayView<float> Prefix(ArrayView<float> buffer, long length) =>
        ViewChecks.IsPresent(buffer) && buffer.Length > length ? buffer.SubView(0, length) : buffer;

    public readonly long? Offset(ArrayView<float> read, ArrayView<float> written) =>
        ViewChecks.Overlap(read, Length(read), written, Length(written)) is long bytes ? bytes / sizeof(float) : null;
}
