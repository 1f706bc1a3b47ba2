using LossKernels.OpenCL;

namespace LossKernels.Box;

/// <summary>The device overloads: the same entry points with buffers on an OpenCL device in place of spans.</summary>
/// <remarks>
/// <para>Each device overload computes what its span overload computes (formulas, format, weights, reduction,
/// avgFactor, target gradients, in-place gradients) on the device that holds the buffers (<c>kernels/opencl/box.cl</c>
/// through <c>kernels/opencl/box_kernels.h</c>); results agree with the CPU within float rounding and are bitwise the
/// same from run to run on one device.</para>
/// <para>Reduced calls return the loss and so wait for the kernel; unreduced calls queue it and return (the
/// queue is in order). Checked before launch, with nothing written: every buffer on the predictions' device and
/// not disposed, lengths as for spans, the hyperparameters and the format. A gradient may be its boxes' buffer;
/// the output and the two gradients must be three different buffers.</para>
/// </remarks>
public static partial class BoxLoss
{
    /// <summary>Forward only, reduced, on the device.</summary>
    /// <inheritdoc cref="Forward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{float}, Reduction, ReadOnlySpan{float}, float?, BoxFormat)"/>
    public static float Forward<TLoss>(this TLoss loss, DeviceBuffer<float> prediction, DeviceBuffer<float> target,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float? avgFactor = null, BoxFormat format = BoxFormat.Xyxy)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        return Reduce(BoxLauncher.Run(loss.Kernel, ElementwisePass.ForwardSum, prediction, target, weight, null, null, null, null, 0f, format), divisor);
    }

    /// <summary>Forward only, unreduced, on the device: queues <c>output[i] = w[i] · ℓ</c>.</summary>
    /// <inheritdoc cref="Forward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{float}, BoxFormat)"/>
    public static void Forward<TLoss>(this TLoss loss, DeviceBuffer<float> prediction, DeviceBuffer<float> target, DeviceBuffer<float> output,
        DeviceBuffer<float>? weight = null, BoxFormat format = BoxFormat.Xyxy)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        CheckDestination(prediction, output, n, nameof(output));
        BoxLauncher.Run(loss.Kernel, ElementwisePass.ForwardNone, prediction, target, weight, null, output, null, null, 1f, format);
    }

    /// <summary>Fused forward+backward, reduced, on the device.</summary>
    /// <inheritdoc cref="ForwardBackward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Reduction, ReadOnlySpan{float}, float?, float, BoxFormat, Span{float})"/>
    public static float ForwardBackward<TLoss>(this TLoss loss, DeviceBuffer<float> prediction, DeviceBuffer<float> target, DeviceBuffer<float> predictionGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float? avgFactor = null, float upstream = 1f,
        BoxFormat format = BoxFormat.Xyxy, DeviceBuffer<float>? targetGrad = null)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        CheckGradients(prediction, predictionGrad, targetGrad, null);
        double sum = BoxLauncher.Run(loss.Kernel, ElementwisePass.FusedSum, prediction, target, weight, null, null, predictionGrad, targetGrad,
            GradientScale(upstream, divisor), format);
        return Reduce(sum, divisor);
    }

    /// <summary>Fused forward+backward, unreduced, on the device.</summary>
    /// <inheritdoc cref="ForwardBackward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, BoxFormat, Span{float})"/>
    public static void ForwardBackward<TLoss>(this TLoss loss, DeviceBuffer<float> prediction, DeviceBuffer<float> target, DeviceBuffer<float> output,
        DeviceBuffer<float> predictionGrad, DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null, BoxFormat format = BoxFormat.Xyxy,
        DeviceBuffer<float>? targetGrad = null)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        CheckPerBox(prediction, upstream, n, nameof(upstream));
        CheckDestination(prediction, output, n, nameof(output));
        CheckGradients(prediction, predictionGrad, targetGrad, output);
        BoxLauncher.Run(loss.Kernel, ElementwisePass.FusedNone, prediction, target, weight, upstream, output, predictionGrad, targetGrad, 1f, format);
    }

    /// <summary>Backward only, reduced, on the device.</summary>
    /// <inheritdoc cref="Backward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float}, Reduction, ReadOnlySpan{float}, float?, BoxFormat, Span{float})"/>
    public static void Backward<TLoss>(this TLoss loss, DeviceBuffer<float> prediction, DeviceBuffer<float> target, float upstream, DeviceBuffer<float> predictionGrad,
        Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null, float? avgFactor = null, BoxFormat format = BoxFormat.Xyxy,
        DeviceBuffer<float>? targetGrad = null)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        double divisor = ElementwiseLoss.ReductionDivisor(reduction, n, avgFactor);
        CheckGradients(prediction, predictionGrad, targetGrad, null);
        BoxLauncher.Run(loss.Kernel, ElementwisePass.Backward, prediction, target, weight, null, null, predictionGrad, targetGrad, GradientScale(upstream, divisor), format);
    }

    /// <summary>Backward only, unreduced, on the device.</summary>
    /// <inheritdoc cref="Backward{TLoss}(TLoss, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{float}, BoxFormat, Span{float})"/>
    public static void Backward<TLoss>(this TLoss loss, DeviceBuffer<float> prediction, DeviceBuffer<float> target, DeviceBuffer<float> upstream,
        DeviceBuffer<float> predictionGrad, DeviceBuffer<float>? weight = null, BoxFormat format = BoxFormat.Xyxy, DeviceBuffer<float>? targetGrad = null)
        where TLoss : struct, IBoxLoss
    {
        int n = CheckInputs(loss, prediction, target, weight, format);
        ArgumentNullException.ThrowIfNull(upstream);
        CheckPerBox(prediction, upstream, n, nameof(upstream));
        CheckGradients(prediction, predictionGrad, targetGrad, null);
        BoxLauncher.Run(loss.Kernel, ElementwisePass.Backward, prediction, target, weight, upstream, null, predictionGrad, targetGrad, 1f, format);
    }

    private static int CheckInputs<TLoss>(in TLoss loss, DeviceBuffer<float> prediction, DeviceBuffer<float> target, DeviceBuffer<float>? weight, BoxFormat format)
        where TLoss : struct, IBoxLoss
    {
        loss.Validate();
        CheckFormat(format);
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(target);
        prediction.ThrowIfDisposed();
        int n = BoxCount(prediction.Length, nameof(prediction));
        CheckOnDevice(prediction, target, nameof(target));
        ThrowHelper.IfLengthDiffers(prediction.Length, target.Length, nameof(target));
        CheckPerBox(prediction, weight, n, nameof(weight));
        return n;
    }

    private static void CheckPerBox(DeviceBuffer<float> prediction, DeviceBuffer<float>? buffer, int n, string paramName)
    {
        if (buffer is null)
            return;
        CheckOnDevice(prediction, buffer, paramName);
        ThrowHelper.IfLengthDiffers(n, buffer.Length, paramName);
    }

    private static void CheckDestination(DeviceBuffer<float> prediction, DeviceBuffer<float> destination, int required, string paramName)
    {
        ArgumentNullException.ThrowIfNull(destination, paramName);
        CheckOnDevice(prediction, destination, paramName);
        ThrowHelper.IfTooShort(required, destination.Length, paramName);
    }

    private static void CheckGradients(DeviceBuffer<float> prediction, DeviceBuffer<float> predictionGrad, DeviceBuffer<float>? targetGrad, DeviceBuffer<float>? output)
    {
        CheckDestination(prediction, predictionGrad, prediction.Length, nameof(predictionGrad));
        if (targetGrad is not null)
        {
            CheckDestination(prediction, targetGrad, prediction.Length, nameof(targetGrad));
            if (targetGrad.Handle == predictionGrad.Handle && prediction.Length > 0)
                ThrowHelper.Argument(nameof(targetGrad), "targetGrad must not be the predictionGrad buffer.");
        }

        if (output is not null && prediction.Length > 0 && (output.Handle == predictionGrad.Handle || output.Handle == targetGrad?.Handle))
            ThrowHelper.Argument(nameof(output), "output must not be a gradient buffer.");
    }

    internal static void CheckOnDevice(DeviceBuffer<float> first, DeviceBuffer<float> buffer, string paramName)
    {
        if (!ReferenceEquals(buffer.Device, first.Device))
            ThrowHelper.Argument(paramName, $"{paramName} lives on {buffer.Device.Info.Name} (a different OpenCLDevice than the boxes'); every buffer of a call must be on one device.");
        buffer.ThrowIfDisposed();
    }
}

/// <summary>Launches a box loss's pass (<c>kernels/opencl/box_kernels.h</c>): its 13 arguments over a <see cref="StreamLaunch"/>.</summary>
internal static class BoxLauncher
{
    public static double Run(in ElementwiseKernel kernel, ElementwisePass pass, DeviceBuffer<float> prediction, DeviceBuffer<float> target,
        DeviceBuffer<float>? weight, DeviceBuffer<float>? upstream, DeviceBuffer<float>? output, DeviceBuffer<float>? predictionGrad,
        DeviceBuffer<float>? targetGrad, float scale, BoxFormat format)
    {
        int n = prediction.Length / 4;
        if (n == 0)
            return 0d;
        OpenCLDevice device = prediction.Device;
        lock (device.Gate)
        {
            var launch = StreamLaunch.Prepare(device, new ProgramKey(kernel.Family, kernel.Function, device.ResolvedVariant, "box"), pass, n);
            nint handle = launch.Kernel;
            KernelSet.SetBuffer(handle, 0, prediction.Handle);
            KernelSet.SetBuffer(handle, 1, target.Handle);
            KernelSet.SetBuffer(handle, 2, weight?.Handle ?? 0);
            KernelSet.SetBuffer(handle, 3, upstream?.Handle ?? 0);
            KernelSet.SetBuffer(handle, 4, output?.Handle ?? 0);
            KernelSet.SetBuffer(handle, 5, predictionGrad?.Handle ?? 0);
            KernelSet.SetBuffer(handle, 6, targetGrad?.Handle ?? 0);
            KernelSet.SetValue(handle, 7, scale);
            KernelSet.SetValue(handle, 8, n);
            KernelSet.SetValue(handle, 9, launch.Chunk);
            KernelSet.SetValue(handle, 10, kernel.Parameters);
            KernelSet.SetValue(handle, 11, format == BoxFormat.Cxcywh ? 1 : 0);
            KernelSet.SetBuffer(handle, 12, launch.Partials);
            return launch.Enqueue(device);
        }
    }
}
