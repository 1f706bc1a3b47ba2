using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Regression;

/// <summary>
/// Huber loss with threshold δ, d = x − t:
/// <c>ℓ = 0.5·d²</c> where |d| &lt; δ, else <c>δ·(|d| − 0.5·δ)</c>; gradient <c>∂ℓ/∂x = d</c> where |d| &lt; δ,
/// else <c>δ·sign(d)</c>. Equal to δ · smooth L1 with β = δ. Run it with the methods of
/// <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.huber_loss(input, target, reduction, delta)</c>. No differences; δ ≤ 0
/// and NaN are rejected as PyTorch rejects them. Per-element <c>weight</c> and <c>avg_factor</c> follow
/// mmdetection's <c>weight_reduce_loss</c>.
/// </remarks>
public readonly struct HuberLoss : IElementwiseTargetLoss
{
    /// <summary>Huber with PyTorch's default δ = 1.</summary>
    public HuberLoss()
        : this(1f)
    {
    }

    /// <summary>Huber with threshold <paramref name="delta"/>.</summary>
    /// <param name="delta">The threshold δ &gt; 0 where the loss turns from quadratic to linear.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delta"/> is not finite and positive.</exception>
    public HuberLoss(float delta)
    {
        ThrowHelper.IfNotPositive(delta, nameof(delta));
        Delta = delta;
    }

    /// <summary>The threshold δ where the loss turns from quadratic to linear.</summary>
    public float Delta { get; }

    /// <summary>Throws when <see cref="Delta"/> is not finite and positive (as for <c>default(HuberLoss)</c>).</summary>
    public void Validate() => ThrowHelper.IfNotPositive(Delta, nameof(Delta));

    /// <summary>The OpenCL kernel: <c>huber</c> in <c>kernels/opencl/regression.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("regression", "huber", new Vector4(Delta, 0f, 0f, 0f));

    /// <summary><c>ℓ = |d| &lt; δ ? 0.5·d² : δ·(|d| − 0.5·δ)</c>, <c>∂ℓ/∂x = |d| &lt; δ ? d : δ·sign(d)</c>.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec delta = TMath.Create(Delta);
        TVec difference = TMath.Subtract(input, target);
        TVec magnitude = TMath.Abs(difference);
        TVec quadratic = TMath.LessThan(magnitude, delta);
        gradient = TMath.Select(quadratic, difference, TMath.Multiply(delta, VectorMath.Sign<TVec, TMath>(difference)));
        return TMath.Select(quadratic,
            TMath.Multiply(TMath.Multiply(TMath.Create(0.5f), magnitude), magnitude),
            TMath.Multiply(delta, TMath.Subtract(magnitude, TMath.Create(0.5f * Delta))));
    }

    /// <summary><c>∂ℓ/∂t = −∂ℓ/∂x</c>: ℓ is a function of x − t (PyTorch's target gradient, and its subgradient at the kinks).</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        DifferenceLoss.TargetOf<HuberLoss, TVec, TMath>(this, input, target, out targetGradient);
}
