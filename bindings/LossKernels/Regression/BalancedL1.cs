using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Regression;

/// <summary>
/// Balanced L1 loss (Libra R-CNN, Pang et al. 2019), with a = |x − t| and b = e^(γ/α) − 1:
/// <c>ℓ = (α/b)(b·a + 1)·ln(b·a/β + 1) − α·a</c> where a &lt; β, else <c>γ·a + γ/b − α·β</c>;
/// gradient <c>∂ℓ/∂x = sign(x − t)·(α·ln(b·a/β + 1) + α(1 − β)/(b·a + β))</c> where a &lt; β, else
/// <c>sign(x − t)·γ</c> (0 at x = t). Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>balanced_l1_loss(pred, target, beta=1.0, alpha=0.5, gamma=1.5, reduction)</c> and
/// <c>BalancedL1Loss</c> (with <c>weight</c> and <c>avg_factor</c>, supported here the same way); no PyTorch
/// equivalent. The gradient is the analytic derivative of that formula (what autograd computes).
/// mmdetection returns <c>pred.sum() * 0</c> for empty input; here an empty mean is NaN like every other
/// loss, and an empty sum 0. α, γ, β must be finite and positive (mmdetection asserts β &gt; 0), and γ/α at most 88.7, where b would
/// overflow float and every loss be NaN (mmdetection returns NaN there). The logarithm is the library's ln(1 + u) for u ≥ 0
/// (at most 1.92 ulp) of u = (b/β)·a, b/β rounded once (mmdetection: b·a/β rounded twice).
/// </remarks>
public readonly struct BalancedL1Loss : IElementwiseTargetLoss
{
    private readonly float b;

    // Per-call constants of the formula, computed once here: the JIT keeps a scalar division in the element loop (it does not hoist it).
    private readonly float bOverBeta;
    private readonly float alphaOverB;
    private readonly float outlierOffset;
    private readonly float slopeNumerator;

    /// <summary>Balanced L1 with mmdetection's defaults α = 0.5, γ = 1.5, β = 1.</summary>
    public BalancedL1Loss()
        : this(0.5f, 1.5f, 1f)
    {
    }

    /// <summary>Balanced L1 with the given hyperparameters.</summary>
    /// <param name="alpha">α &gt; 0: the weight of the inlier (a &lt; β) gradient.</param>
    /// <param name="gamma">γ &gt; 0: the bound of the outlier gradient.</param>
    /// <param name="beta">β &gt; 0: where the loss turns linear.</param>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter is not finite and positive, or γ/α exceeds 88.7 (b = e^(γ/α) − 1 would overflow).</exception>
    public BalancedL1Loss(float alpha, float gamma, float beta)
    {
        Check(alpha, gamma, beta, nameof(alpha), nameof(gamma), nameof(beta));
        Alpha = alpha;
        Gamma = gamma;
        Beta = beta;
        b = Scale(alpha, gamma);
        bOverBeta = b / beta;
        alphaOverB = alpha / b;
        outlierOffset = gamma / b - alpha * beta;
        slopeNumerator = alpha * (1f - beta);
    }

    /// <summary>α: the weight of the inlier gradient.</summary>
    public float Alpha { get; }

    /// <summary>γ: the bound of the outlier gradient.</summary>
    public float Gamma { get; }

    /// <summary>β: where the loss turns linear.</summary>
    public float Beta { get; }

    /// <summary>Throws when a hyperparameter is not finite and positive (as for <c>default(BalancedL1Loss)</c>).</summary>
    public void Validate() => Check(Alpha, Gamma, Beta, nameof(Alpha), nameof(Gamma), nameof(Beta));

    /// <summary>b = e^(γ/α) − 1 in float.</summary>
    private static float Scale(float alpha, float gamma) => (float)(Math.Exp((double)gamma / alpha) - 1d);

    private static void Check(float alpha, float gamma, float beta, string alphaName, string gammaName, string betaName)
    {
        ThrowHelper.IfNotPositive(alpha, alphaName);
        ThrowHelper.IfNotPositive(gamma, gammaName);
        ThrowHelper.IfNotPositive(beta, betaName);
        // b overflows float past γ/α ≈ 88.7, and every loss would be NaN (as mmdetection's, which computes b in float too).
        if (!float.IsFinite(Scale(alpha, gamma)))
            ThrowHelper.OutOfRange(alphaName, alpha, $"large enough beside γ = {gamma} that e^(γ/α) fits a float (γ/α ≤ 88.7)");
    }

    /// <summary>The OpenCL kernel: <c>balanced_l1</c> in <c>kernels/opencl/regression.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("regression", "balanced_l1", new Vector4(Alpha, Gamma, Beta, b));

    /// <summary>The formula of <see cref="BalancedL1Loss"/>, per lane.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec one = TMath.Create(1f);
        TVec alpha = TMath.Create(Alpha);
        TVec beta = TMath.Create(Beta);
        TVec difference = TMath.Subtract(input, target);
        TVec magnitude = TMath.Abs(difference);
        TVec scaled = TMath.Multiply(TMath.Create(b), magnitude);
        TVec logTerm = VectorFunctions.Log1POfNonNegative<TVec, TMath>(TMath.Multiply(TMath.Create(bOverBeta), magnitude));
        TVec inlier = TMath.LessThan(magnitude, beta);

        TVec inlierLoss = TMath.Subtract(
            TMath.Multiply(TMath.Multiply(TMath.Create(alphaOverB), TMath.Add(scaled, one)), logTerm),
            TMath.Multiply(alpha, magnitude));
        TVec outlierLoss = TMath.Add(TMath.Multiply(TMath.Create(Gamma), magnitude), TMath.Create(outlierOffset));
        // α(b·a + 1)/(b·a + β) − α rewritten as α(1 − β)/(b·a + β): no cancellation near a = 0, and no division at β = 1.
        TVec inlierSlope = TMath.Multiply(alpha, logTerm);
        if (Beta != 1f)
            inlierSlope = TMath.Add(inlierSlope, TMath.Divide(TMath.Create(slopeNumerator), TMath.Add(scaled, beta)));
        gradient = TMath.Multiply(VectorMath.Sign<TVec, TMath>(difference), TMath.Select(inlier, inlierSlope, TMath.Create(Gamma)));
        return TMath.Select(inlier, inlierLoss, outlierLoss);
    }

    /// <summary><c>∂ℓ/∂t = −∂ℓ/∂x</c>: ℓ is a function of x − t (PyTorch's target gradient, and its subgradient at the kinks).</summary>
    /// <inheritdoc cref="IElementwiseTargetLoss.EvaluateTarget{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        DifferenceLoss.TargetOf<BalancedL1Loss, TVec, TMath>(this, input, target, out targetGradient);
}
