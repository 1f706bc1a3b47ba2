using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Binary cross entropy on probabilities p (the input) and targets t:
/// <c>ℓ = −(t·max(ln p, −100) + (1 − t)·max(ln(1 − p), −100))</c>; gradient
/// <c>∂ℓ/∂p = (p − t) / max(p·(1 − p), 10⁻¹²)</c>. Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.binary_cross_entropy(input, target, weight, reduction)</c>, with its clamp of the
/// logarithms at −100 and the ε = 10⁻¹² of its backward, so p = 0 or 1 give a finite loss and gradient as there.
/// Difference: PyTorch raises an error for p outside [0, 1]; here such p give NaN (no pass over the data is spent
/// checking). Prefer <see cref="BinaryCrossEntropyWithLogitsLoss"/> on logits: it is stable where this is clamped.
/// </remarks>
public readonly struct BinaryCrossEntropyLoss : IElementwiseTargetLoss
{
    /// <summary>Nothing to check: the loss has no hyperparameters.</summary>
    public void Validate()
    {
    }

    /// <summary>The OpenCL kernel: <c>binary_cross_entropy</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "binary_cross_entropy", Vector4.Zero);

    /// <summary><c>ℓ = −(t·max(ln p, −100) + (1 − t)·max(ln(1 − p), −100))</c>, <c>∂ℓ/∂p = (p − t)/max(p(1 − p), 10⁻¹²)</c>.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec one = TMath.Create(1f);
        TVec floor = TMath.Create(-100f);
        TVec complement = TMath.Subtract(one, input);
        TVec logP = TMath.Max(TMath.Log(input), floor);
        TVec logComplement = TMath.Max(TMath.Log(complement), floor);
        gradient = TMath.Divide(TMath.Subtract(input, target), TMath.Max(TMath.Multiply(input, complement), TMath.Create(1e-12f)));
        return TMath.Subtract(TMath.Multiply(TMath.Subtract(target, one), logComplement), TMath.Multiply(target, logP));
    }

    /// <summary><c>∂ℓ/∂t = ln(1 − x) − ln x</c>, both logs floored at −100 as in the loss (PyTorch's <c>binary_cross_entropy</c> target gradient).</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec floor = TMath.Create(-100f);
        TVec logP = TMath.Max(TMath.Log(input), floor);
        TVec logComplement = TMath.Max(TMath.Log(TMath.Subtract(TMath.Create(1f), input)), floor);
        targetGradient = TMath.Subtract(logComplement, logP);
        return TMath.Subtract(TMath.Multiply(TMath.Subtract(target, TMath.Create(1f)), logComplement), TMath.Multiply(target, logP));
    }
}
