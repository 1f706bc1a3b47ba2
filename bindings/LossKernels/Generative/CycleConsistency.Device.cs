using LossKernels.OpenCL;
using LossKernels.Regression;

namespace LossKernels.Generative;

public readonly partial struct CycleConsistencyLoss
{
    /// <summary>
    /// Fused forward+backward on an OpenCL device: the span overload's terms and gradients, each term one <c>l1</c> pass of
    /// <c>kernels/opencl/regression.cl</c>. A gradient may be its own generated image's buffer; no other input's or gradient's.
    /// </summary>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="reconstructionAGrad">Receives n_A floats.</param>
    /// <param name="reconstructionBGrad">Receives n_B floats.</param>
    /// <param name="identityA">idt_A, n_A floats, or null for no identity term of A.</param>
    /// <param name="identityB">idt_B, n_B floats, or null for no identity term of B.</param>
    /// <param name="identityAGrad">Receives n_A floats when <paramref name="identityA"/> is given.</param>
    /// <param name="identityBGrad">Receives n_B floats when <paramref name="identityB"/> is given.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its weighted terms.</returns>
    public CycleConsistencyResult ForwardBackward(DeviceBuffer<float> reconstructionA, DeviceBuffer<float> realA, DeviceBuffer<float> reconstructionB,
        DeviceBuffer<float> realB, DeviceBuffer<float> reconstructionAGrad, DeviceBuffer<float> reconstructionBGrad, DeviceBuffer<float>? identityA = null,
        DeviceBuffer<float>? identityB = null, DeviceBuffer<float>? identityAGrad = null, DeviceBuffer<float>? identityBGrad = null, float upstream = 1f)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, true, reconstructionAGrad, reconstructionBGrad, identityAGrad, identityBGrad);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = Weights();
        float a = cycleA * l1.ForwardBackward(reconstructionA, realA, reconstructionAGrad, upstream: upstream * cycleA);
        float b = cycleB * l1.ForwardBackward(reconstructionB, realB, reconstructionBGrad, upstream: upstream * cycleB);
        float idtA = identityA is null ? 0f : identityAWeight * l1.ForwardBackward(identityA, realA, identityAGrad!, upstream: upstream * identityAWeight);
        float idtB = identityB is null ? 0f : identityBWeight * l1.ForwardBackward(identityB, realB, identityBGrad!, upstream: upstream * identityBWeight);
        return Result(a, b, idtA, idtB);
    }

    /// <summary>Forward only on an OpenCL device.</summary>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="identityA">idt_A, n_A floats, or null.</param>
    /// <param name="identityB">idt_B, n_B floats, or null.</param>
    /// <returns>L and its weighted terms.</returns>
    public CycleConsistencyResult Forward(DeviceBuffer<float> reconstructionA, DeviceBuffer<float> realA, DeviceBuffer<float> reconstructionB,
        DeviceBuffer<float> realB, DeviceBuffer<float>? identityA = null, DeviceBuffer<float>? identityB = null)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, false, null, null, null, null);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = Weights();
        return Result(cycleA * l1.Forward(reconstructionA, realA), cycleB * l1.Forward(reconstructionB, realB),
            identityA is null ? 0f : identityAWeight * l1.Forward(identityA, realA), identityB is null ? 0f : identityBWeight * l1.Forward(identityB, realB));
    }

    /// <summary>Backward only on an OpenCL device (queued).</summary>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="reconstructionAGrad">Receives n_A floats.</param>
    /// <param name="reconstructionBGrad">Receives n_B floats.</param>
    /// <param name="identityA">idt_A, n_A floats, or null.</param>
    /// <param name="identityB">idt_B, n_B floats, or null.</param>
    /// <param name="identityAGrad">Receives n_A floats when <paramref name="identityA"/> is given.</param>
    /// <param name="identityBGrad">Receives n_B floats when <paramref name="identityB"/> is given.</param>
    public void Backward(DeviceBuffer<float> reconstructionA, DeviceBuffer<float> realA, DeviceBuffer<float> reconstructionB, DeviceBuffer<float> realB,
        float upstream, DeviceBuffer<float> reconstructionAGrad, DeviceBuffer<float> reconstructionBGrad, DeviceBuffer<float>? identityA = null,
        DeviceBuffer<float>? identityB = null, DeviceBuffer<float>? identityAGrad = null, DeviceBuffer<float>? identityBGrad = null)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, true, reconstructionAGrad, reconstructionBGrad, identityAGrad, identityBGrad);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = Weights();
        l1.Backward(reconstructionA, realA, upstream * cycleA, reconstructionAGrad);
        l1.Backward(reconstructionB, realB, upstream * cycleB, reconstructionBGrad);
        if (identityA is not null)
            l1.Backward(identityA, realA, upstream * identityAWeight, identityAGrad!);
        if (identityB is not null)
            l1.Backward(identityB, realB, upstream * identityBWeight, identityBGrad!);
    }

    /// <summary>Every buffer, length and aliasing before the first launch.</summary>
    private static void Check(DeviceBuffer<float> reconstructionA, DeviceBuffer<float> realA, DeviceBuffer<float> reconstructionB, DeviceBuffer<float> realB,
        DeviceBuffer<float>? identityA, DeviceBuffer<float>? identityB, bool writes, DeviceBuffer<float>? reconstructionAGrad,
        DeviceBuffer<float>? reconstructionBGrad, DeviceBuffer<float>? identityAGrad, DeviceBuffer<float>? identityBGrad)
    {
        ArgumentNullException.ThrowIfNull(realA);
        ArgumentNullException.ThrowIfNull(reconstructionA);
        ArgumentNullException.ThrowIfNull(reconstructionB);
        ArgumentNullException.ThrowIfNull(realB);
        realA.ThrowIfDisposed();
        OpenCLDevice device = realA.Device;
        DeviceChecks.Buffer(reconstructionA, device, realA.Length, nameof(reconstructionA));
        DeviceChecks.Buffer(realB, device, -1, nameof(realB));
        DeviceChecks.Buffer(reconstructionB, device, realB.Length, nameof(reconstructionB));
        DeviceChecks.Buffer(identityA, device, realA.Length, nameof(identityA));
        DeviceChecks.Buffer(identityB, device, realB.Length, nameof(identityB));
        if (!writes)
            return;
        Gradient(reconstructionAGrad, device, realA.Length, nameof(reconstructionAGrad));
        Gradient(reconstructionBGrad, device, realB.Length, nameof(reconstructionBGrad));
        if (identityA is not null)
            Gradient(identityAGrad, device, realA.Length, nameof(identityAGrad));
        if (identityB is not null)
            Gradient(identityBGrad, device, realB.Length, nameof(identityBGrad));
        // The cl_mem handles (0 for an absent or empty buffer, which shares nothing), so that the checks allocate nothing.
        Span<nint> generated = [reconstructionA.Handle, reconstructionB.Handle, identityA?.Handle ?? 0, identityB?.Handle ?? 0];
        Span<nint> gradients = [reconstructionAGrad!.Handle, reconstructionBGrad!.Handle, identityA is null ? 0 : identityAGrad!.Handle,
            identityB is null ? 0 : identityBGrad!.Handle];
        for (int g = 0; g < 4; g++)
        {
            if (gradients[g] == 0)
                continue;
            if (gradients[g] == realA.Handle || gradients[g] == realB.Handle)
                ThrowHelper.Argument(GradientNames[g], $"{GradientNames[g]} must not be a real image's buffer.");
            for (int other = 0; other < 4; other++)
            {
                if (other != g && (gradients[g] == generated[other] || gradients[g] == gradients[other]))
                    ThrowHelper.Argument(GradientNames[g], $"{GradientNames[g]} must not be the buffer of {GeneratedNames[other]} or of its gradient.");
            }
        }
    }

    /// <summary>A required gradient buffer on the device, at least <paramref name="length"/> long.</summary>
    private static void Gradient(DeviceBuffer<float>? gradient, OpenCLDevice device, int length, string paramName)
    {
        ArgumentNullException.ThrowIfNull(gradient, paramName);
        DeviceChecks.Buffer(gradient, device, -1, paramName);
        ThrowHelper.IfTooShort(length, gradient.Length, paramName);
    }
}
