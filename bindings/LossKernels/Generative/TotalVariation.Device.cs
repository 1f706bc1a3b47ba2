using LossKernels.OpenCL;

namespace LossKernels.Generative;

public readonly partial struct TotalVariationLoss
{
    /// <summary>Fused forward+backward on an OpenCL device, reduced: the span overload's TV and gradient, from <c>kernels/opencl/generative.cl</c>.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; not the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂TV.</param>
    public float ForwardBackward(DeviceBuffer<float> input, int images, int channels, int height, int width, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean, float upstream = 1f)
    {
        ArgumentNullException.ThrowIfNull(inputGrad);
        return TotalVariationDeviceLoss.Run(this, input, new(images, channels, height, width), null, inputGrad, null, Reduced(reduction), upstream);
    }

    /// <summary>Forward only on an OpenCL device, reduced.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public float Forward(DeviceBuffer<float> input, int images, int channels, int height, int width, Reduction reduction = Reduction.Mean) =>
        TotalVariationDeviceLoss.Run(this, input, new(images, channels, height, width), null, null, null, Reduced(reduction), 1f);

    /// <summary>Backward only on an OpenCL device, reduced.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="upstream">∂objective/∂TV.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; not the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(DeviceBuffer<float> input, int images, int channels, int height, int width, float upstream, DeviceBuffer<float> inputGrad,
        Reduction reduction = Reduction.Mean) =>
        ForwardBackward(input, images, channels, height, width, inputGrad, reduction, upstream);

    /// <summary>Unreduced on an OpenCL device: the N values into <paramref name="output"/> (when given) and, with <paramref name="inputGrad"/>, ∂(Σ upstream_n·TV_n)/∂input.</summary>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="output">Receives N values, or null.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats, or null; not the input's buffer.</param>
    /// <param name="upstream">N values (with a gradient).</param>
    public void Unreduced(DeviceBuffer<float> input, int images, int channels, int height, int width, DeviceBuffer<float>? output, DeviceBuffer<float>? inputGrad,
        DeviceBuffer<float>? upstream) =>
        TotalVariationDeviceLoss.Run(this, input, new(images, channels, height, width), output, inputGrad, upstream, Reduction.None, 1f);
}

/// <summary>
/// <see cref="TotalVariationLoss"/> on OpenCL: <c>total_variation</c>, a work-item per pixel over a 3-d range (column, row, plane: no
/// index divisions), its own terms and the slopes of its left and upper neighbours' terms for its gradient; the values added per group
/// of 64 in item order and the groups on the host in order; a launch per image for the unreduced values. CPU devices take
/// <c>total_variation_rows</c>, a work-item per row over a 2-d range (row, plane), the same terms in float16 vectors, a partial per row.
/// </summary>
internal static unsafe class TotalVariationDeviceLoss
{
    private const int Group = 64;

    public static float Run(in TotalVariationLoss loss, DeviceBuffer<float> input, TotalVariationShape shape, DeviceBuffer<float>? output,
        DeviceBuffer<float>? gradient, DeviceBuffer<float>? upstream, Reduction reduction, float upstreamScalar)
    {
        ArgumentNullException.ThrowIfNull(input);
        input.ThrowIfDisposed();
        OpenCLDevice device = input.Device;
        TotalVariationDriver.Check(loss, input.Length, shape);
        bool unreduced = reduction == Reduction.None;
        if (gradient is not null)
        {
            DeviceChecks.Buffer(gradient, device, -1, "inputGrad");
            ThrowHelper.IfTooShort(input.Length, gradient.Length, "inputGrad");
            DeviceChecks.IfSame(gradient, input, "inputGrad", nameof(input));
        }

        if (unreduced)
        {
            DeviceChecks.Buffer(output, device, -1, nameof(output));
            if (output is not null)
                ThrowHelper.IfTooShort(shape.Images, output.Length, nameof(output));
            DeviceChecks.IfSame(output, input, nameof(output), nameof(input));
            DeviceChecks.IfSame(output, gradient, nameof(output), "inputGrad");
            if (gradient is not null)
            {
                ArgumentNullException.ThrowIfNull(upstream);
                DeviceChecks.Buffer(upstream, device, shape.Images, nameof(upstream));
                DeviceChecks.IfSame(gradient, upstream, "inputGrad", nameof(upstream));
            }
        }

        if (shape.Images == 0)
            return reduction == Reduction.Mean ? float.NaN : 0f;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            bool cpuDevice = device.RunsPerWorkItem;
            nint kernel = GenerativeProgram.Kernels(device).Kernel(cpuDevice ? GenerativeProgram.TotalVariationRows : GenerativeProgram.TotalVariation);
            uint argument = 0;
            KernelSet.SetBuffer(kernel, argument++, input.Handle);
            KernelSet.SetBuffer(kernel, argument++, gradient?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, argument++, unreduced ? upstream?.Handle ?? 0 : 0);
            KernelSet.SetValue(kernel, argument++, reduction == Reduction.Mean ? (float)(upstreamScalar / (double)shape.Images) : upstreamScalar);
            argument++;
            KernelSet.SetValue(kernel, argument++, shape.Channels);
            KernelSet.SetValue(kernel, argument++, shape.Height);
            KernelSet.SetValue(kernel, argument++, shape.Width);
            KernelSet.SetValue(kernel, argument++, loss.Norm == TotalVariationNorm.Anisotropic ? 1 : 0);
            KernelSet.SetValue(kernel, argument++, loss.Norm == TotalVariationNorm.Isotropic ? 1 : 0);
            KernelSet.SetValue(kernel, argument++, loss.JointEps);
            KernelSet.SetValue(kernel, argument++, loss.HalfExponent);
            if (shape.Elements == 0)
            {
                output?.Upload(new float[shape.Images]);
                return 0f;
            }

            if (!unreduced)
            {
                double total = Launch(device, kernel, cpuDevice, 0, shape.Images * shape.Channels, shape);
                device.Finish();
                return (float)(reduction == Reduction.Mean ? total / shape.Images : total);
            }

            Span<float> value = stackalloc float[1];
            for (int n = 0; n < shape.Images; n++)
            {
                value[0] = (float)Launch(device, kernel, cpuDevice, n * shape.Channels, shape.Channels, shape);
                output?.Upload(value, n);
            }

            device.Finish();
            return 0f;
        }
    }

    /// <summary>
    /// Planes first … first + planes − 1: a work-item per pixel in groups of 64 along the rows, or on a CPU device a work-item per row;
    /// the partials added in order.
    /// </summary>
    private static double Launch(OpenCLDevice device, nint kernel, bool cpuDevice, int first, int planes, TotalVariationShape shape)
    {
        nuint across = cpuDevice ? 1 : ((nuint)shape.Width + Group - 1) / Group;
        int groups = checked((int)across * shape.Height * planes);
        KernelSet.SetValue(kernel, 4, first);
        KernelSet.SetBuffer(kernel, 12, device.Partials(groups));
        nuint* global = stackalloc nuint[3];
        nuint* local = stackalloc nuint[3] { cpuDevice ? 1u : Group, 1, 1 };
        if (cpuDevice)
        {
            global[0] = (nuint)shape.Height;
            global[1] = (nuint)planes;
        }
        else
        {
            global[0] = across * Group;
            global[1] = (nuint)shape.Height;
            global[2] = (nuint)planes;
        }

        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, cpuDevice ? 2u : 3u, null, global, local, 0, null, null), "clEnqueueNDRangeKernel");
        return device.SumPartials(groups);
    }
}
