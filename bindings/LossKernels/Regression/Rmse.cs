using LossKernels.OpenCL;

namespace LossKernels.Regression;

/// <summary>
/// Root mean squared error: <c>L = √(Σ(x − t)² / n)</c>, gradient <c>∂L/∂x = (x − t) / (n·L)</c>.
/// Always a scalar (a root of a mean has no per-element form).
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.sqrt(torch.nn.functional.mse_loss(input, target))</c>. One difference: where L = 0
/// (input equals target everywhere) autograd's gradient is 0·∞ = NaN; here it is 0, the subgradient
/// that keeps training finite. Over zero elements L is NaN, as PyTorch's mean. The gradient needs L first, so the
/// fused and backward calls make two passes: a forward sum, then the gradient.
/// </remarks>
public readonly struct RmseLoss
{
    /// <summary>Forward only: returns <c>√(Σ(x − t)² / n)</c>.</summary>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <returns>The root mean squared error.</returns>
    public float Forward(ReadOnlySpan<float> input, ReadOnlySpan<float> target) =>
        MathF.Sqrt(new MseLoss().Forward(input, target));

    /// <summary>Fused forward+backward: returns L and writes <c>inputGrad = upstream · (x − t) / (n·L)</c> (0 where L = 0).</summary>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <returns>The root mean squared error L.</returns>
    public float ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, Span<float> inputGrad, float upstream = 1f)
    {
        var mse = new MseLoss();
        ThrowHelper.IfTooShort(input.Length, inputGrad.Length, nameof(inputGrad));
        float root = MathF.Sqrt(mse.Forward(input, target));
        // The MSE gradient is 2(x − t)/n; the chain rule through √ multiplies it by 1/(2L). A second
        // pass that reads the inputs and streams the gradient out moves less than rescaling a written one.
        mse.Backward(input, target, root == 0f ? 0f : upstream / (2f * root), inputGrad);
        return root;
    }

    /// <summary>Backward only: writes <c>inputGrad = upstream · (x − t) / (n·L)</c> (0 where L = 0).</summary>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> target, float upstream, Span<float> inputGrad) =>
        ForwardBackward(input, target, inputGrad, upstream);

    /// <summary>Forward only, on the device: returns <c>√(Σ(x − t)² / n)</c>.</summary>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <returns>The root mean squared error.</returns>
    public float Forward(DeviceBuffer<float> input, DeviceBuffer<float> target) =>
        MathF.Sqrt(new MseLoss().Forward(input, target));

    /// <summary>Fused forward+backward, on the device: returns L and queues <c>inputGrad = upstream · (x − t) / (n·L)</c> (0 where L = 0).</summary>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <returns>The root mean squared error L.</returns>
    public float ForwardBackward(DeviceBuffer<float> input, DeviceBuffer<float> target, DeviceBuffer<float> inputGrad, float upstream = 1f)
    {
        var mse = new MseLoss();
        ArgumentNullException.ThrowIfNull(inputGrad);
        ThrowHelper.IfTooShort(input.Length, inputGrad.Length, nameof(inputGrad));
        float root = MathF.Sqrt(mse.Forward(input, target));
        mse.Backward(input, target, root == 0f ? 0f : upstream / (2f * root), inputGrad);
        return root;
    }

    /// <summary>Backward only, on the device: queues <c>inputGrad = upstream · (x − t) / (n·L)</c> (0 where L = 0).</summary>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    public void Backward(DeviceBuffer<float> input, DeviceBuffer<float> target, float upstream, DeviceBuffer<float> inputGrad) =>
        ForwardBackward(input, target, inputGrad, upstream);
}
