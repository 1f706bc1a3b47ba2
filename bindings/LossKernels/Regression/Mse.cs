using System.Runtime.CompilerServices;

namespace LossKernels.Regression;

/// <summary>
/// Mean squared error (L2): <c>ℓ(x, t) = (x − t)²</c>, gradient <c>∂ℓ/∂x = 2(x − t)</c>. With
/// <see cref="Reduction.Sum"/> it is the sum of squared errors (SSE). Run it with the methods of
/// <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.mse_loss(input, target, reduction)</c>; mmdetection: <c>MSELoss</c>
/// (adds <c>weight</c> and <c>avg_factor</c>, supported here the same way). No differences.
/// </remarks>
public readonly struct MseLoss : IElementwiseTargetLoss
{
    /// <summary>MSE has no hyperparameters; nothing to check.</summary>
    public void Validate()
    {
    }

    /// <summary>The OpenCL kernel: <c>mse</c> in <c>kernels/opencl/regression.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("regression", "mse", default);

    /// <summary><c>ℓ = (x − t)²</c>, <c>∂ℓ/∂x = 2(x − t)</c>.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec difference = TMath.Subtract(input, target);
        gradient = TMath.Add(difference, difference);
        return TMath.Multiply(difference, difference);
    }

    /// <summary><c>∂ℓ/∂t = −∂ℓ/∂x</c>: ℓ is a function of x − t (PyTorch's target gradient, and its subgradient at the kinks).</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        DifferenceLoss.TargetOf<MseLoss, TVec, TMath>(this, input, target, out targetGradient);
}
