using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// The binary SVM hinge loss on scores x and targets t = ±1: <c>ℓ = max(0, margin − t·x)</c>; gradient
/// <c>∂ℓ/∂x = −t</c> where margin − t·x ≥ 0, else 0 (at the kink −t, as PyTorch's <c>clamp(min=0)</c> backward gives).
/// Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// PyTorch has no binary hinge; this is <c>torch.clamp(margin - target * input, min=0)</c> with its autograd
/// (scikit-learn's <c>hinge_loss</c> for margin 1). Targets other than ±1 are used as written (no check).
/// </remarks>
public readonly struct HingeLoss : IElementwiseTargetLoss
{
    /// <summary>Margin 1.</summary>
    public HingeLoss()
        : this(1f)
    {
    }

    /// <summary>With the given <paramref name="margin"/>.</summary>
    /// <param name="margin">The margin ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="margin"/> is negative or not finite.</exception>
    public HingeLoss(float margin)
    {
        ThrowHelper.IfNegative(margin, nameof(margin));
        Margin = margin;
    }

    /// <summary>The margin.</summary>
    public float Margin { get; }

    /// <summary>Throws when the margin is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Margin, nameof(Margin));

    /// <summary>The OpenCL kernel: <c>hinge_loss</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "hinge_loss", new Vector4(Margin, 0f, 0f, 0f));

    /// <summary><c>ℓ = max(0, margin − t·x)</c>, <c>∂ℓ/∂x = margin − t·x ≥ 0 ? −t : 0</c>.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        Violation<TVec, TMath>(input, target, target, out gradient);

    /// <summary><c>∂ℓ/∂t = −x</c> where the margin is violated (margin − t·x ≥ 0), else 0: the target taken as a float, as autograd does.</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        Violation<TVec, TMath>(input, target, input, out targetGradient);

    /// <summary>max(0, margin − t·x), and −<paramref name="factor"/> where it is not clipped (the other operand of t·x; NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Violation<TVec, TMath>(TVec input, TVec target, TVec factor, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec violation = TMath.Subtract(TMath.Create(Margin), TMath.Multiply(target, input));
        TVec inside = TMath.LessThan(violation, zero);
        gradient = TMath.Select(inside, zero, TMath.Select(TMath.IsNaN(violation), violation, TMath.Subtract(zero, factor)));
        return TMath.Select(inside, zero, violation);
    }
}
