using System.Runtime.CompilerServices;

namespace LossKernels.Regression;

/// <summary>
/// L1 loss (mean absolute error): <c>ℓ(x, t) = |x − t|</c>, gradient <c>∂ℓ/∂x = sign(x − t)</c>, which is 0 at
/// x = t (as PyTorch's subgradient). Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// <para>PyTorch: <c>torch.nn.functional.l1_loss(input, target, reduction)</c>; mmdetection: <c>L1Loss</c>
/// (adds <c>weight</c> and <c>avg_factor</c>, supported here the same way). One difference: where x − t
/// is NaN the gradient here is NaN (NaN propagates), where PyTorch's is 0 (<c>torch.sign(nan)</c> is 0).</para>
/// <para>CycleGAN's cycle-consistency loss is this loss scaled by λ: <c>λ · mean|F(G(x)) − x|</c>. Pass the
/// reconstruction as input, the original as target, and λ as the <c>upstream</c> gradient (or scale the
/// returned value) — no separate kernel.</para>
/// </remarks>
public readonly struct L1Loss : IElementwiseTargetLoss
{
    /// <summary>L1 has no hyperparameters; nothing to check.</summary>
    public void Validate()
    {
    }

    /// <summary>The OpenCL kernel: <c>l1</c> in <c>kernels/opencl/regression.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("regression", "l1", default);

    /// <summary><c>ℓ = |x − t|</c>, <c>∂ℓ/∂x = sign(x − t)</c> (0 at 0).</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec difference = TMath.Subtract(input, target);
        gradient = VectorMath.Sign<TVec, TMath>(difference);
        return TMath.Abs(difference);
    }

    /// <summary><c>∂ℓ/∂t = −∂ℓ/∂x</c>: ℓ is a function of x − t (PyTorch's target gradient, and its subgradient at the kinks).</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        DifferenceLoss.TargetOf<L1Loss, TVec, TMath>(this, input, target, out targetGradient);
}
