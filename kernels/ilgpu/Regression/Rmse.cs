using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Regression;

namespace LossKernels.ILGPU;

/// <summary><see cref="RmseLoss"/> on an engine's ILGPU memory: the MSE kernels' forward sum, then (for the gradient) their backward pass scaled by 1/(2L).</summary>
public static class IlgpuRmseLoss
{
    /// <summary>Forward only: returns <c>√(Σ(x − t)² / n)</c>.</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The root mean squared error.</returns>
    public static float Forward(this RmseLoss loss, ArrayView<float> input, ArrayView<float> target, AcceleratorStream? stream = null) =>
        MathF.Sqrt(new MseLoss().Forward(input, target, stream: stream));

    /// <summary>Fused forward+backward: returns L and queues <c>inputGrad = upstream · (x − t) / (n·L)</c> (0 where L = 0).</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L (1 by default).</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The root mean squared error L.</returns>
    public static float ForwardBackward(this RmseLoss loss, ArrayView<float> input, ArrayView<float> target, ArrayView<float> inputGrad, float upstream = 1f,
        AcceleratorStream? stream = null)
    {
        var mse = new MseLoss();
        Accelerator accelerator = ViewChecks.AcceleratorOf(input, nameof(input));
        ViewChecks.Destination(inputGrad, accelerator, input.Length, nameof(inputGrad));
        ViewChecks.IfPartialOverlap(input, inputGrad, input.Length, nameof(inputGrad));
        ViewChecks.IfPartialOverlap(target, inputGrad, input.Length, nameof(inputGrad));
        float root = MathF.Sqrt(mse.Forward(input, target, stream: stream));
        mse.Backward(input, target, root == 0f ? 0f : upstream / (2f * root), inputGrad, stream: stream);
        return root;
    }

    /// <summary>Backward only: queues <c>inputGrad = upstream · (x − t) / (n·L)</c> (0 where L = 0).</summary>
    /// <param name="loss">The loss.</param>
    /// <param name="input">Predictions x, n elements.</param>
    /// <param name="target">Targets t, n elements.</param>
    /// <param name="upstream">The gradient of the caller's objective with respect to L.</param>
    /// <param name="inputGrad">Receives the n gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this RmseLoss loss, ArrayView<float> input, ArrayView<float> target, float upstream, ArrayView<float> inputGrad,
        AcceleratorStream? stream = null) =>
        loss.ForwardBackward(input, target, inputGrad, upstream, stream);
}

/// <summary>An <see cref="RmseBoundLoss"/> on an ILGPU accelerator.</summary>
internal sealed class IlgpuRmseRun(RmseBoundLoss bound, IlgpuDevice device) : IlgpuRun(device, bound.input, bound.target, [], [], outputLength: null)
{
    public override void Run(LossMode mode)
    {
        var rmse = new RmseLoss();
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = rmse.Forward(Input, Target, Stream);
                break;
            case LossMode.Fused:
                bound.Loss[0] = rmse.ForwardBackward(Input, Target, Gradient, bound.upstream, Stream);
                break;
            default:
                rmse.Backward(Input, Target, bound.upstream, Gradient, Stream);
                break;
        }

        Finish();
    }
}
