using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Class-balanced binary cross entropy on logits x and targets t ∈ [0, 1]:
/// <c>ℓ = α·t·softplus(−x) + (1 − α)·(1 − t)·softplus(x)</c> (−ln σ(x) and −ln(1 − σ(x)), stable for every finite x);
/// gradient <c>∂ℓ/∂x = (1 − α)(1 − t)·σ(x) − α·t·σ(−x)</c>. Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// For 0/1 targets it equals torchvision's <c>sigmoid_focal_loss(inputs, targets, alpha, gamma=0)</c>, and α = 0.5 is
/// half of <c>binary_cross_entropy_with_logits</c>. For soft targets each term keeps its own weight (the balanced BCE of
/// edge detection, HED), where torchvision's focal loss would weigh the whole cross entropy by α·t + (1 − α)(1 − t).
/// </remarks>
public readonly struct BalancedBinaryCrossEntropyLoss : IElementwiseLoss
{
    /// <summary>α = 0.25 (torchvision's focal default).</summary>
    public BalancedBinaryCrossEntropyLoss()
        : this(0.25f)
    {
    }

    /// <summary>With the weight <paramref name="alpha"/> of the positive term.</summary>
    /// <param name="alpha">α ∈ [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is outside [0, 1] or NaN.</exception>
    public BalancedBinaryCrossEntropyLoss(float alpha)
    {
        ThrowHelper.IfOutside(alpha, 0f, 1f, nameof(alpha));
        Alpha = alpha;
    }

    /// <summary>α: the weight of the positive term; 1 − α weighs the negative one.</summary>
    public float Alpha { get; }

    /// <summary>Throws when α is outside [0, 1] or NaN.</summary>
    public void Validate() => ThrowHelper.IfOutside(Alpha, 0f, 1f, nameof(Alpha));

    /// <summary>The OpenCL kernel: <c>balanced_binary_cross_entropy</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "balanced_binary_cross_entropy", new Vector4(Alpha, 0f, 0f, 0f));

    /// <summary><c>ℓ = α·t·softplus(−x) + (1 − α)(1 − t)·softplus(x)</c>, <c>∂ℓ/∂x = (1 − α)(1 − t)·σ(x) − α·t·σ(−x)</c>.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec log1p = SigmoidTerms.Sigmoids<TVec, TMath>(input, out TVec p, out TVec q);
        TVec positiveWeight = TMath.Multiply(TMath.Create(Alpha), target);
        TVec negativeWeight = TMath.Multiply(TMath.Create(1f - Alpha), TMath.Subtract(TMath.Create(1f), target));
        TVec softplusNegative = TMath.Add(TMath.Max(TMath.Subtract(zero, input), zero), log1p);
        TVec softplusPositive = TMath.Add(TMath.Max(input, zero), log1p);
        gradient = TMath.Subtract(TMath.Multiply(negativeWeight, p), TMath.Multiply(positiveWeight, q));
        return TMath.MultiplyAdd(positiveWeight, softplusNegative, TMath.Multiply(negativeWeight, softplusPositive));
    }
}
