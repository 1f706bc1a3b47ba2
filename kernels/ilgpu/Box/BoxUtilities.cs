using ILGPU;
using ILGPU.Runtime;
using LossKernels.Box;

namespace LossKernels.ILGPU;

/// <summary><see cref="FcosCenterness.Targets(ReadOnlySpan{float}, Span{float})"/> on an engine's ILGPU memory: one (l, t, r, b) row per thread, the SIMD map's math.</summary>
public static class IlgpuFcosCenterness
{
    /// <summary>Queues the centerness target of each (l, t, r, b) row into <paramref name="centerness"/>.</summary>
    /// <param name="ltrb">Regression targets, n rows of (l, t, r, b).</param>
    /// <param name="centerness">Receives the n targets in [0, 1]; must not overlap <paramref name="ltrb"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <exception cref="ArgumentException"><paramref name="ltrb"/> is not whole rows of 4, or <paramref name="centerness"/> is too short, overlaps it or lives elsewhere.</exception>
    public static void Targets(ArrayView<float> ltrb, ArrayView<float> centerness, AcceleratorStream? stream = null)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(ltrb, nameof(ltrb));
        int n = BoxLoss.BoxCount(ltrb.Length, nameof(ltrb));
        ViewChecks.Destination(centerness, accelerator, n, nameof(centerness));
        ViewChecks.IfOverlaps(ltrb, ltrb.Length, centerness, n, nameof(centerness), nameof(ltrb));
        ItemKernel.Launch(new CenternessPass(ltrb, centerness, n), accelerator, stream ?? accelerator.DefaultStream);
    }

    internal readonly struct CenternessPass(ArrayView<float> ltrb, ArrayView<float> centerness, int length) : IItemPass
    {
        private readonly ArrayView<float> ltrb = ltrb;
        private readonly ArrayView<float> centerness = centerness;

        public long Length { get; } = length;

        public PassFlags Flags => PassFlags.StoreLoss;

        public float Run(long i)
        {
            centerness[i] = default(FcosCenterness.CenternessMap).Map<float, IlgpuMath>(BoxRows.Load(ltrb, i));
            return 0f;
        }
    }
}

/// <summary><see cref="BoxIou.Pairwise(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, BoxFormat)"/> on an engine's ILGPU memory: one pair per thread, the SIMD kernel's math.</summary>
public static class IlgpuBoxIou
{
    /// <summary>Queues the n×m IoU matrix of <paramref name="boxes1"/> and <paramref name="boxes2"/>, row-major.</summary>
    /// <param name="boxes1">The first set, n rows of 4.</param>
    /// <param name="boxes2">The second set, m rows of 4.</param>
    /// <param name="iou">Receives n·m values; must not overlap the boxes.</param>
    /// <param name="format">How both sets are stored.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <exception cref="ArgumentException">A box view is not whole rows of 4, <paramref name="iou"/> is too short, overlaps an input or lives elsewhere.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The format is undefined.</exception>
    public static void Pairwise(ArrayView<float> boxes1, ArrayView<float> boxes2, ArrayView<float> iou, BoxFormat format = BoxFormat.Xyxy,
        AcceleratorStream? stream = null)
    {
        BoxLoss.CheckFormat(format);
        Accelerator accelerator = ViewChecks.AcceleratorOf(boxes1, nameof(boxes1));
        ViewChecks.Required(boxes2, accelerator, -1, nameof(boxes2));
        int n = BoxLoss.BoxCount(boxes1.Length, nameof(boxes1));
        int m = BoxLoss.BoxCount(boxes2.Length, nameof(boxes2));
        ViewChecks.Required(iou, accelerator, -1, nameof(iou));
        int pairs = BoxIou.Pairs(n, m, iou.IntLength);
        ViewChecks.IfOverlaps(boxes1, boxes1.Length, iou, pairs, nameof(iou), nameof(boxes1));
        ViewChecks.IfOverlaps(boxes2, boxes2.Length, iou, pairs, nameof(iou), nameof(boxes2));
        ItemKernel.Launch(new IouPass(boxes1, boxes2, iou, n, m, format == BoxFormat.Cxcywh ? 1 : 0), accelerator, stream ?? accelerator.DefaultStream);
    }

    internal readonly struct IouPass(ArrayView<float> boxes1, ArrayView<float> boxes2, ArrayView<float> iou, int rows, int columns, int centerSize) : IItemPass
    {
        private readonly ArrayView<float> boxes1 = boxes1;
        private readonly ArrayView<float> boxes2 = boxes2;
        private readonly ArrayView<float> iou = iou;
        private readonly int columns = columns;
        private readonly int centerSize = centerSize;

        public long Length { get; } = (long)rows * columns;

        public PassFlags Flags => PassFlags.StoreLoss;

        public float Run(long i)
        {
            long row = i / columns;
            iou[i] = BoxIou.Of<float, IlgpuMath>(BoxRows.Load(boxes1, row), BoxRows.Load(boxes2, i - row * columns), centerSize != 0);
            return 0f;
        }
    }
}
