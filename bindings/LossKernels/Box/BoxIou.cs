using System.Runtime.CompilerServices;
using LossKernels.OpenCL;

namespace LossKernels.Box;

/// <summary>
/// Pairwise IoU of two box sets, the matrix every anchor or query matcher needs next to the loss:
/// <c>iou[i, j] = I/(A_i + A_j − I)</c>, with I from the overlap clamped at 0.
/// </summary>
/// <remarks>
/// torchvision: <c>torchvision.ops.box_iou(boxes1, boxes2)</c>, the same formula, including 0/0 = NaN for two
/// zero-area boxes (a matcher should not see those). Inputs of <see cref="BoxFormat.Cxcywh"/> rows are converted
/// as torchvision's <c>box_convert</c>. No gradient (matching is not differentiated).
/// </remarks>
public static unsafe class BoxIou
{
    /// <summary>Pairs from which a call is split over threads.</summary>
    private const int ParallelPairs = 1 << 17;

    /// <summary>Writes the n×m IoU matrix of <paramref name="boxes1"/> (n rows of 4) and <paramref name="boxes2"/> (m rows of 4), row-major.</summary>
    /// <param name="boxes1">The first set, n rows of 4.</param>
    /// <param name="boxes2">The second set, m rows of 4.</param>
    /// <param name="iou">Receives n·m values; must not overlap the boxes.</param>
    /// <param name="format">How both sets are stored.</param>
    /// <exception cref="ArgumentException">A box span is not whole rows of 4, <paramref name="iou"/> is too short or overlaps an input.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The format is undefined.</exception>
    public static void Pairwise(ReadOnlySpan<float> boxes1, ReadOnlySpan<float> boxes2, Span<float> iou, BoxFormat format = BoxFormat.Xyxy)
    {
        BoxLoss.CheckFormat(format);
        int n = BoxLoss.BoxCount(boxes1.Length, nameof(boxes1));
        int m = BoxLoss.BoxCount(boxes2.Length, nameof(boxes2));
        int pairs = Pairs(n, m, iou.Length);
        ReadOnlySpan<float> written = iou.Slice(0, pairs);
        if (boxes1.Overlaps(written) || boxes2.Overlaps(written))
            ThrowHelper.Argument(nameof(iou), "iou must not overlap the boxes.");
        if (pairs == 0)
            return;
        fixed (float* a = boxes1, b = boxes2, o = iou)
        {
            var rows = new IouRows(a, b, o, m, format == BoxFormat.Cxcywh);
            nint rowsPerChunk = Math.Max(1, 16384 / m);
            ChunkedRun.Run(rows, n, (int)Math.Min(n, Math.Max(1, ParallelPairs / m)), rowsPerChunk);
        }
    }

    /// <summary>The same on an OpenCL device (<c>box_iou</c> in <c>kernels/opencl/box_utilities.cl</c>); queued, not awaited.</summary>
    /// <inheritdoc cref="Pairwise(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, BoxFormat)"/>
    public static void Pairwise(DeviceBuffer<float> boxes1, DeviceBuffer<float> boxes2, DeviceBuffer<float> iou, BoxFormat format = BoxFormat.Xyxy)
    {
        BoxLoss.CheckFormat(format);
        ArgumentNullException.ThrowIfNull(boxes1);
        ArgumentNullException.ThrowIfNull(boxes2);
        ArgumentNullException.ThrowIfNull(iou);
        boxes1.ThrowIfDisposed();
        BoxLoss.CheckOnDevice(boxes1, boxes2, nameof(boxes2));
        BoxLoss.CheckOnDevice(boxes1, iou, nameof(iou));
        int n = BoxLoss.BoxCount(boxes1.Length, nameof(boxes1));
        int m = BoxLoss.BoxCount(boxes2.Length, nameof(boxes2));
        int pairs = Pairs(n, m, iou.Length);
        if (pairs == 0)
            return;
        if (iou.Handle == boxes1.Handle || iou.Handle == boxes2.Handle)
            ThrowHelper.Argument(nameof(iou), "iou must not be a box buffer.");
        OpenCLDevice device = boxes1.Device;
        lock (device.Gate)
        {
            nint kernel = BoxUtilities.Kernel(device, BoxUtilities.BoxIou);
            KernelSet.SetBuffer(kernel, 0, boxes1.Handle);
            KernelSet.SetBuffer(kernel, 1, boxes2.Handle);
            KernelSet.SetBuffer(kernel, 2, iou.Handle);
            KernelSet.SetValue(kernel, 3, n);
            KernelSet.SetValue(kernel, 4, m);
            KernelSet.SetValue(kernel, 5, format == BoxFormat.Cxcywh ? 1 : 0);
            BoxUtilities.Enqueue(device, kernel, m, n);
        }
    }

    /// <summary>Checks the sizes of an n×m matrix; returns n·m.</summary>
    internal static int Pairs(int n, int m, int iouLength)
    {
        long pairs = (long)n * m;
        if (pairs > int.MaxValue)
            ThrowHelper.Argument("iou", $"{n}×{m} pairs do not fit one span or buffer.");
        ThrowHelper.IfTooShort((int)pairs, iouLength, "iou");
        return (int)pairs;
    }

    /// <summary>Rows [start, start + length) of the matrix: box i broadcast against the second set, one <see cref="RowMap"/> per row.</summary>
    private readonly struct IouRows(float* boxes1, float* boxes2, float* iou, int columns, bool centerSize) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint i = start; i < start + length; i++)
                RowMap.Run(new IouWith(boxes1 + 4 * i, centerSize), boxes2, iou + i * columns, columns);
            return 0d;
        }
    }

    /// <summary>The IoU of one box (<paramref name="box"/>) with each row.</summary>
    private readonly struct IouWith(float* box, bool centerSize) : IRowMap
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TVec Map<TVec, TMath>(in BoxVectors<TVec> row)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            var a = new BoxVectors<TVec>(TMath.Create(box[0]), TMath.Create(box[1]), TMath.Create(box[2]), TMath.Create(box[3]));
            return Of<TVec, TMath>(a, row, centerSize);
        }
    }

    /// <summary>The IoU of box pairs a, b (the SIMD rows here, one pair per thread on ILGPU), cxcywh converted first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Of<TVec, TMath>(BoxVectors<TVec> a, BoxVectors<TVec> b, bool centerSize)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (centerSize)
        {
            a = BoxStep.ToCorners<TVec, TMath>(a);
            b = BoxStep.ToCorners<TVec, TMath>(b);
        }

        var pair = new BoxPair<TVec, TMath>(a, b);
        TVec intersection = pair.Intersection(true, out _, out _);
        return TMath.Divide(intersection, TMath.Subtract(TMath.Add(TMath.Multiply(pair.Width, pair.Height), TMath.Multiply(pair.TargetWidth, pair.TargetHeight)), intersection));
    }
}

/// <summary>The kernels of <c>kernels/opencl/box_utilities.cl</c> and their launch: one work-item per item.</summary>
internal static unsafe class BoxUtilities
{
    public const int CenternessTarget = 0;
    public const int BoxIou = 1;

    private static readonly string[] KernelNames = ["centerness_target", "box_iou"];

    /// <summary>Work-group edge; PoCL has no non-uniform groups, so the global size is rounded up and the kernels test bounds.</summary>
    private const int GroupSize = 64;

    /// <summary>The kernel at <paramref name="index"/>. Call under the device's lock.</summary>
    public static nint Kernel(OpenCLDevice device, int index)
    {
        device.ThrowIfDisposed();
        return device.Kernels(new ProgramKey("box_utilities", null, OpenCLReductionVariant.Auto), KernelNames).Kernel(index);
    }

    /// <summary>Enqueues <paramref name="columns"/> × <paramref name="rows"/> work-items (one dimension when rows is 1) and flushes.</summary>
    public static void Enqueue(OpenCLDevice device, nint kernel, int columns, int rows = 1)
    {
        nuint* global = stackalloc nuint[2];
        nuint* local = stackalloc nuint[2];
        global[0] = ((nuint)columns + GroupSize - 1) / GroupSize * GroupSize;
        local[0] = GroupSize;
        global[1] = (nuint)rows;
        local[1] = 1;
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, rows == 1 ? 1u : 2u, null, global, local, 0, null, null), "clEnqueueNDRangeKernel");
        OpenCLException.ThrowIfFailed(OpenCLNative.clFlush(device.Queue), "clFlush");
    }
}
