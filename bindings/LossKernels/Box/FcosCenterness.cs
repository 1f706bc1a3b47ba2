using System.Numerics;
using System.Runtime.CompilerServices;
using LossKernels.OpenCL;

namespace LossKernels.Box;

/// <summary>
/// FCOS centerness (Tian et al. 2019), as mmdetection's <c>FCOSHead</c>: the target of a location from its box
/// regression target (l, t, r, b), <c>c = √(min(l, r)/max(l, r) · min(t, b)/max(t, b))</c>
/// (<see cref="Targets(ReadOnlySpan{float}, Span{float})"/>), and the loss of a centerness logit against it,
/// binary cross entropy with logits (<see cref="FcosCenternessLoss"/>).
/// </summary>
public static unsafe class FcosCenterness
{
    /// <summary>Writes the centerness target of each (l, t, r, b) row.</summary>
    /// <param name="ltrb">Regression targets, n rows of (l, t, r, b) distances from the location to the box sides.</param>
    /// <param name="centerness">Receives the n targets in [0, 1].</param>
    /// <remarks>
    /// mmdetection: <c>FCOSHead.centerness_target(pos_bbox_targets)</c>. Difference: where both distances of an axis
    /// are 0 (a location on a zero-size box) the ratio is taken as 0 instead of mmdetection's 0/0 = NaN; FCOS only
    /// computes targets for locations inside their box, where all four are positive.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="ltrb"/> is not whole rows of 4, or <paramref name="centerness"/> is shorter than n or overlaps it.</exception>
    public static void Targets(ReadOnlySpan<float> ltrb, Span<float> centerness)
    {
        int n = BoxLoss.BoxCount(ltrb.Length, nameof(ltrb));
        ThrowHelper.IfTooShort(n, centerness.Length, nameof(centerness));
        if (ltrb.Overlaps(centerness.Slice(0, n)))
            ThrowHelper.Argument(nameof(centerness), "centerness must not overlap ltrb.");
        fixed (float* source = ltrb, destination = centerness)
            RowMap.Run(default(CenternessMap), source, destination, n);
    }

    /// <summary>The same on an OpenCL device (<c>centerness_target</c> in <c>kernels/opencl/box_utilities.cl</c>); queued, not awaited.</summary>
    /// <inheritdoc cref="Targets(ReadOnlySpan{float}, Span{float})"/>
    public static void Targets(DeviceBuffer<float> ltrb, DeviceBuffer<float> centerness)
    {
        ArgumentNullException.ThrowIfNull(ltrb);
        ArgumentNullException.ThrowIfNull(centerness);
        ltrb.ThrowIfDisposed();
        BoxLoss.CheckOnDevice(ltrb, centerness, nameof(centerness));
        int n = BoxLoss.BoxCount(ltrb.Length, nameof(ltrb));
        ThrowHelper.IfTooShort(n, centerness.Length, nameof(centerness));
        if (n == 0)
            return;
        if (centerness.Handle == ltrb.Handle)
            ThrowHelper.Argument(nameof(centerness), "centerness must not be the ltrb buffer.");
        OpenCLDevice device = ltrb.Device;
        lock (device.Gate)
        {
            nint kernel = BoxUtilities.Kernel(device, BoxUtilities.CenternessTarget);
            KernelSet.SetBuffer(kernel, 0, ltrb.Handle);
            KernelSet.SetBuffer(kernel, 1, centerness.Handle);
            KernelSet.SetValue(kernel, 2, n);
            BoxUtilities.Enqueue(device, kernel, n);
        }
    }

    /// <summary>√(min(l, r)/max(l, r) · min(t, b)/max(t, b)) of an (l, t, r, b) row (the SIMD map here, one row per thread on ILGPU).</summary>
    internal readonly struct CenternessMap : IRowMap
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TVec Map<TVec, TMath>(in BoxVectors<TVec> row)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec> =>
            TMath.Sqrt(TMath.Multiply(Ratio<TVec, TMath>(row.X1, row.X2), Ratio<TVec, TMath>(row.Y1, row.Y2)));
    }

    /// <summary>min/max, and 0 where max is 0 (0/0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Ratio<TVec, TMath>(TVec a, TVec b)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec high = TMath.Max(a, b);
        TVec ratio = TMath.Divide(TMath.Min(a, b), high);
        return TMath.Select(TMath.Equal(high, TMath.Create(0f)), TMath.Create(0f), ratio);
    }
}

/// <summary>
/// The FCOS centerness loss: binary cross entropy with logits against a centerness target t ∈ [0, 1]
/// (<see cref="FcosCenterness.Targets(ReadOnlySpan{float}, Span{float})"/>), in the stable form
/// <c>ℓ = max(x, 0) − x·t + ln(1 + e^(−|x|))</c>, gradient <c>∂ℓ/∂x = σ(x) − t</c>, computed as (1 − t)·σ(x) − t·σ(−x) (exact for
/// t = 1 where autograd's float32 σ(x) − 1 cancels). Run it with the methods of
/// <see cref="ElementwiseLoss"/> (logits as the input, targets as the target).
/// </summary>
/// <remarks>
/// mmdetection's FCOS head: <c>loss_centerness = CrossEntropyLoss(use_sigmoid=True)</c>, i.e.
/// <c>F.binary_cross_entropy_with_logits(pred, target, reduction='none')</c> reduced by <c>weight_reduce_loss</c> with
/// <c>avg_factor</c>; the same here. Finite for any finite logit (±1e4 included).
/// </remarks>
public readonly struct FcosCenternessLoss : IElementwiseLoss
{
    /// <summary>No hyperparameters: nothing to check.</summary>
    public void Validate()
    {
    }

    /// <summary>The OpenCL kernel: <c>centerness_bce</c> in <c>kernels/opencl/box.cl</c>, run by the elementwise driver.</summary>
    public ElementwiseKernel Kernel => new("box", "centerness_bce", Vector4.Zero);

    /// <summary>The formula of <see cref="FcosCenternessLoss"/>, per lane.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec crossEntropy = Classification.SigmoidTerms.CrossEntropy<TVec, TMath>(input, target, out TVec positive, out TVec negative);
        gradient = Classification.SigmoidTerms.Difference<TVec, TMath>(positive, negative, target);
        return crossEntropy;
    }
}
