using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Kullback–Leibler divergence with log-probabilities x (the input) and targets t:
/// <c>ℓ = t·(ln t − x)</c> with 0·ln 0 = 0, gradient <c>∂ℓ/∂x = −t</c>; with log targets (t = ln q),
/// <c>ℓ = e^t·(t − x)</c>, gradient <c>−e^t</c>. Run it with the methods of <see cref="ElementwiseLoss"/>;
/// PyTorch's <c>reduction='batchmean'</c> is <see cref="Reduction.Sum"/> divided by the batch size, which
/// <see cref="BatchMeanUpstream"/> folds into the upstream gradient.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.kl_div(input, target, reduction, log_target)</c>, the same values (<c>xlogy(t, t) − t·x</c>);
/// its default <c>'mean'</c> divides by the element count, as <see cref="Reduction.Mean"/> does. Negative targets
/// give NaN as there.
/// </remarks>
public readonly struct KlDivergenceLoss : IElementwiseTargetLoss
{
    /// <summary>Probability targets.</summary>
    public KlDivergenceLoss()
        : this(false)
    {
    }

    /// <summary>With probability targets, or log-probability targets when <paramref name="logTarget"/>.</summary>
    public KlDivergenceLoss(bool logTarget)
    {
        logTargetFlag = logTarget ? (byte)1 : (byte)0;
    }

    // A byte, not a bool: the struct is passed by value to GPU kernels, which take blittable fields only.
    private readonly byte logTargetFlag;

    /// <summary>Whether the targets are log-probabilities.</summary>
    public bool LogTarget => logTargetFlag != 0;

    /// <summary>Nothing to check.</summary>
    public void Validate()
    {
    }

    /// <summary>The OpenCL kernel: <c>kl_div</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "kl_div", new Vector4(LogTarget ? 1f : 0f, 0f, 0f, 0f));

    /// <summary>The scalar upstream that makes a <see cref="Reduction.Sum"/> call PyTorch's <c>'batchmean'</c>: <c>upstream / batchSize</c>; divide the returned sum by <paramref name="batchSize"/> too.</summary>
    /// <param name="upstream">The gradient of the caller's objective with respect to the batch mean.</param>
    /// <param name="batchSize">The size of the input's first dimension, &gt; 0.</param>
    public static float BatchMeanUpstream(float upstream, int batchSize)
    {
        if (batchSize <= 0)
            ThrowHelper.OutOfRange(nameof(batchSize), batchSize, "> 0");
        return upstream / batchSize;
    }

    /// <summary><c>ℓ = xlogy(t, t) − t·x</c>, <c>∂ℓ/∂x = −t</c>; log targets: <c>ℓ = e^t·(t − x)</c>, <c>∂ℓ/∂x = −e^t</c>.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        if (LogTarget)
        {
            TVec probability = TMath.Exp(target);
            gradient = TMath.Subtract(zero, probability);
            return TMath.Multiply(probability, TMath.Subtract(target, input));
        }

        // xlogy(t, t): 0 at t = 0 (not 0·−∞), NaN stays NaN.
        TVec entropy = TMath.Select(TMath.Equal(target, zero), zero, TMath.Multiply(target, TMath.Log(target)));
        gradient = TMath.Subtract(zero, target);
        return TMath.Subtract(entropy, TMath.Multiply(target, input));
    }

    /// <summary>
    /// <c>∂ℓ/∂t = ln t + 1 − x</c> (NaN at t = 0, as PyTorch's <c>xlogy</c> gives there), or with <see cref="LogTarget"/>
    /// <c>e^t·(t − x + 1)</c>: PyTorch's target gradient in both forms.
    /// </summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        if (LogTarget)
        {
            TVec probability = TMath.Exp(target);
            targetGradient = TMath.Multiply(probability, TMath.Add(TMath.Subtract(target, input), TMath.Create(1f)));
            return TMath.Multiply(probability, TMath.Subtract(target, input));
        }

        TVec atZero = TMath.Equal(target, zero);
        TVec log = TMath.Select(atZero, zero, TMath.Log(target));
        // xlogy(t, t)'s derivative: ln t (0 at t = 0) from its first argument, t/t (NaN at t = 0) from its second.
        targetGradient = TMath.Subtract(TMath.Add(log, TMath.Divide(target, target)), input);
        return TMath.Subtract(TMath.Select(atZero, zero, TMath.Multiply(target, log)), TMath.Multiply(target, input));
    }
}
