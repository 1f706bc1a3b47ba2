using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// The 0-1 loss (the misclassification rate) of scores x against labels t, where a positive score and a positive
/// label both mean the positive class (so targets may be ±1 or 0/1): <c>ℓ = [x &gt; 0] ≠ [t &gt; 0]</c>, 1 for a mistake.
/// It is not differentiable: its derivative is 0 wherever it exists, and that 0 is what the gradient overloads write.
/// Use the forward overloads of <see cref="ElementwiseLoss"/> (the mean is the error rate).
/// </summary>
/// <remarks>
/// PyTorch has no 0-1 loss; scikit-learn's <c>zero_one_loss(normalize=True)</c> is the mean. A NaN score gives NaN.
/// </remarks>
public readonly struct ZeroOneLoss : IElementwiseLoss
{
    /// <summary>Nothing to check.</summary>
    public void Validate()
    {
    }

    /// <summary>The OpenCL kernel: <c>zero_one_loss</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "zero_one_loss", Vector4.Zero);

    /// <summary><c>ℓ = [x &gt; 0] ≠ [t &gt; 0]</c>; the gradient written is 0.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec one = TMath.Create(1f);
        TVec predicted = TMath.And(TMath.GreaterThan(input, zero), one);
        TVec actual = TMath.And(TMath.GreaterThan(target, zero), one);
        gradient = zero;
        return TMath.Select(TMath.IsNaN(input), input, TMath.Abs(TMath.Subtract(predicted, actual)));
    }
}
