using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Regression;

/// <summary>
/// Smooth L1 loss with threshold β, d = x − t:
/// <c>ℓ = 0.5·d²/β</c> where |d| &lt; β, else <c>|d| − 0.5·β</c>; gradient <c>∂ℓ/∂x = d/β</c> where |d| &lt; β,
/// else <c>sign(d)</c>, with PyTorch's kernel at the kinks: <c>d ≤ −β → −1</c>, <c>d ≥ β → +1</c>. β = 0 is L1,
/// as in PyTorch, except that at x = t the gradient is −1 (PyTorch's first test, d ≤ −β, holds there) where L1's is 0.
/// Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.smooth_l1_loss(input, target, reduction, beta)</c>; mmdetection:
/// <c>SmoothL1Loss</c> (adds <c>weight</c> and <c>avg_factor</c>, supported here the same way). No
/// differences; β &lt; 0 and NaN are rejected as PyTorch rejects them.
/// </remarks>
public readonly struct SmoothL1Loss : IElementwiseTargetLoss
{
    /// <summary>Smooth L1 with PyTorch's default β = 1.</summary>
    public SmoothL1Loss()
        : this(1f)
    {
    }

    /// <summary>Smooth L1 with threshold <paramref name="beta"/>.</summary>
    /// <param name="beta">The threshold β ≥ 0 where the loss turns from quadratic to linear.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="beta"/> is negative, NaN or infinite.</exception>
    public SmoothL1Loss(float beta)
    {
        ThrowHelper.IfNegative(beta, nameof(beta));
        Beta = beta;
    }

    /// <summary>The threshold β where the loss turns from quadratic to linear.</summary>
    public float Beta { get; }

    /// <summary>Throws when <see cref="Beta"/> is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Beta, nameof(Beta));

    /// <summary>The OpenCL kernel: <c>smooth_l1</c> in <c>kernels/opencl/regression.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("regression", "smooth_l1", new Vector4(Beta, 0f, 0f, 0f));

    /// <summary><c>ℓ = |d| &lt; β ? 0.5·d²/β : |d| − 0.5·β</c>, <c>∂ℓ/∂x = d ≤ −β ? −1 : d ≥ β ? 1 : d/β</c>.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec beta = TMath.Create(Beta);
        TVec difference = TMath.Subtract(input, target);
        TVec magnitude = TMath.Abs(difference);
        TVec quadratic = TMath.LessThan(magnitude, beta);
        TVec half = TMath.Create(0.5f);
        // PyTorch's order of tests: d ≤ −β gives −1 first, then d ≥ β gives +1, else d/β; NaN stays NaN.
        TVec slope = TMath.Select(TMath.GreaterThan(difference, TMath.Create(-Beta)),
            TMath.Select(TMath.LessThan(difference, beta), TMath.Divide(difference, beta), TMath.Create(1f)),
            TMath.Create(-1f));
        gradient = TMath.Select(TMath.IsNaN(difference), difference, slope);
        return TMath.Select(quadratic,
            TMath.Divide(TMath.Multiply(TMath.Multiply(half, magnitude), magnitude), beta),
            TMath.Subtract(magnitude, TMath.Create(0.5f * Beta)));
    }

    /// <summary><c>∂ℓ/∂t = −∂ℓ/∂x</c>: ℓ is a function of x − t (PyTorch's target gradient, and its subgradient at the kinks).</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        DifferenceLoss.TargetOf<SmoothL1Loss, TVec, TMath>(this, input, target, out targetGradient);
}
