using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Binary cross entropy with logits x, targets t and positive weight w₊ (1 by default):
/// <c>ℓ = (1 − t)·x + (1 + (w₊ − 1)·t)·softplus(−x)</c>, with softplus(−x) = max(−x, 0) + ln(1 + e^−|x|), finite for
/// every finite x; gradient <c>∂ℓ/∂x = (1 − t) − (1 + (w₊ − 1)·t)·σ(−x)</c> (= σ(x) − t when w₊ = 1), computed as
/// <c>(1 − t)·σ(x) − w₊·t·σ(−x)</c> so that a hard label's gradient is one sigmoid (PyTorch's float32 <c>σ(x) − 1</c> keeps only the
/// bits of σ(−x) above 2⁻²⁴).
/// Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)</c>;
/// mmdetection: <c>CrossEntropyLoss(use_sigmoid=True)</c>. No differences. A per-class <c>pos_weight</c> broadcast over the last
/// axis (PyTorch's tensor form) is <see cref="PosWeightedBinaryCrossEntropyLoss"/>.
/// </remarks>
public readonly struct BinaryCrossEntropyWithLogitsLoss : IElementwiseTargetLoss
{
    /// <summary>Unweighted: w₊ = 1.</summary>
    public BinaryCrossEntropyWithLogitsLoss()
        : this(1f)
    {
    }

    /// <summary>With positive weight <paramref name="posWeight"/>.</summary>
    /// <param name="posWeight">w₊ ≥ 0: the weight of the positive term t·softplus(−x).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="posWeight"/> is negative, NaN or infinite.</exception>
    public BinaryCrossEntropyWithLogitsLoss(float posWeight)
    {
        ThrowHelper.IfNegative(posWeight, nameof(posWeight));
        PosWeight = posWeight;
    }

    /// <summary>w₊: the weight of the positive term.</summary>
    public float PosWeight { get; }

    /// <summary>Throws when <see cref="PosWeight"/> is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(PosWeight, nameof(PosWeight));

    /// <summary>The OpenCL kernel: <c>binary_cross_entropy_with_logits</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "binary_cross_entropy_with_logits", new Vector4(PosWeight, 0f, 0f, 0f));

    /// <summary><c>ℓ = (1 − t)·x + c·softplus(−x)</c>, <c>∂ℓ/∂x = (1 − t) − c·σ(−x)</c>, c = 1 + (w₊ − 1)·t.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (PosWeight == 1f)
        {
            TVec crossEntropy = SigmoidTerms.CrossEntropy<TVec, TMath>(input, target, out TVec positive, out TVec negative);
            gradient = SigmoidTerms.Difference<TVec, TMath>(positive, negative, target);
            return crossEntropy;
        }

        return Weighted<TVec, TMath>(input, target, TMath.Create(PosWeight), out gradient);
    }

    /// <summary>ℓ = (1 − t)·x + c·softplus(−x), ∂ℓ/∂x = (1 − t) − c·σ(−x) = (1 − t)·σ(x) − w₊·t·σ(−x), c = 1 + (w₊ − 1)·t, with w₊ per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Weighted<TVec, TMath>(TVec input, TVec target, TVec posWeight, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec one = TMath.Create(1f);
        TVec log1p = SigmoidTerms.Sigmoids<TVec, TMath>(input, out TVec positive, out TVec negative);
        TVec complement = TMath.Subtract(one, target);
        TVec softplus = TMath.Add(TMath.Max(TMath.Subtract(zero, input), zero), log1p);
        TVec coefficient = TMath.MultiplyAdd(TMath.Subtract(posWeight, one), target, one);
        // (1 − t) − c·σ(−x) as (1 − t)·σ(x) − w₊·t·σ(−x): no cancellation where σ(−x) is near 1.
        gradient = TMath.MultiplyAdd(complement, positive, TMath.Multiply(TMath.Multiply(TMath.Subtract(zero, posWeight), target), negative));
        return TMath.MultiplyAdd(coefficient, softplus, TMath.Multiply(complement, input));
    }

    /// <summary><c>∂ℓ/∂t = (w₊ − 1)·softplus(−x) − x</c> (−x without a positive weight), PyTorch's target gradient.</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec value = Evaluate<TVec, TMath>(input, target, out _);
        TVec zero = TMath.Create(0f);
        if (PosWeight == 1f)
        {
            targetGradient = TMath.Subtract(zero, input);
            return value;
        }

        targetGradient = WeightedTarget<TVec, TMath>(input, TMath.Create(PosWeight));
        return value;
    }

    /// <summary><c>∂ℓ/∂t = (w₊ − 1)·softplus(−x) − x</c> with w₊ per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec WeightedTarget<TVec, TMath>(TVec input, TVec posWeight)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec log1p = SigmoidTerms.Sigmoids<TVec, TMath>(input, out _, out _);
        TVec softplus = TMath.Add(TMath.Max(TMath.Subtract(zero, input), zero), log1p);
        return TMath.MultiplyAdd(TMath.Subtract(posWeight, TMath.Create(1f)), softplus, TMath.Subtract(zero, input));
    }
}
