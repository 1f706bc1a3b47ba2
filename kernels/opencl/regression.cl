/* Regression losses: the math of kernels/elementwise.h's LOSS, d = x − t. Each mirrors the
 * Evaluate method of the C# struct of the same name (bindings/LossKernels/Regression/), and p holds
 * that struct's hyperparameters in the order its Kernel property gives them. */

/* ℓ = |d|, ∂ℓ/∂x = sign(d). */
inline vfloat l1(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat d = x - t;
    *grad = sign_or_nan(d);
    return fabs(d);
}

/* ℓ = d², ∂ℓ/∂x = 2d. */
inline vfloat mse(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat d = x - t;
    *grad = d + d;
    return d * d;
}

/* p.x = β. ℓ = |d| < β ? 0.5·d²/β : |d| − 0.5·β; ∂ℓ/∂x = d ≤ −β ? −1 : d ≥ β ? 1 : d/β (PyTorch's order at the kinks). */
inline vfloat smooth_l1(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat beta = p.x;
    vfloat d = x - t;
    vfloat a = fabs(d);
    vfloat slope = select((vfloat)(-1.0f), select((vfloat)(1.0f), d / beta, d < beta), d > -beta);
    *grad = select(slope, d, isnan(d));
    return select(a - 0.5f * p.x, 0.5f * a * a / beta, a < beta);
}

/* p.x = δ. ℓ = |d| < δ ? 0.5·d² : δ·(|d| − 0.5·δ); ∂ℓ/∂x = |d| < δ ? d : δ·sign(d). */
inline vfloat huber(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat delta = p.x;
    vfloat d = x - t;
    vfloat a = fabs(d);
    *grad = select(delta * sign_or_nan(d), d, a < delta);
    return select(delta * (a - 0.5f * p.x), 0.5f * a * a, a < delta);
}

/* p = (α, γ, β, b), b = e^(γ/α) − 1, a = |d|.
 * ℓ = a < β ? (α/b)(b·a + 1)·ln(b·a/β + 1) − α·a : γ·a + γ/b − α·β;
 * ∂ℓ/∂x = sign(d)·(a < β ? α·ln(b·a/β + 1) + α(1 − β)/(b·a + β) : γ). */
inline vfloat balanced_l1(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    float alpha = p.x, gamma = p.y, beta = p.z, b = p.w;
    vfloat d = x - t;
    vfloat a = fabs(d);
    vfloat scaled = b * a;
    vfloat log_term = log1p((b / beta) * a);
    vfloat inlier_loss = (alpha / b) * (scaled + 1.0f) * log_term - alpha * a;
    vfloat outlier_loss = gamma * a + (gamma / b - alpha * beta);
    /* α(b·a + 1)/(b·a + β) − α rewritten as α(1 − β)/(b·a + β): no cancellation near a = 0. */
    vfloat inlier_slope = alpha * log_term + (alpha * (1.0f - beta)) / (scaled + beta);
    *grad = sign_or_nan(d) * select((vfloat)(gamma), inlier_slope, a < beta);
    return select(outlier_loss, inlier_loss, a < beta);
}

/* The target sides (IElementwiseTargetLoss, run by TargetBackward with the target first): each loss is a function of
 * d = x − t, so ∂ℓ/∂t = −∂ℓ/∂x. */
#define DIFFERENCE_TARGET(name) \
    inline vfloat name##_target(vfloat t, vfloat x, float4 p, vfloat* grad) \
    { \
        vfloat l = name(x, t, p, grad); \
        *grad = 0.0f - *grad; \
        return l; \
    }

DIFFERENCE_TARGET(l1)
DIFFERENCE_TARGET(mse)
DIFFERENCE_TARGET(smooth_l1)
DIFFERENCE_TARGET(huber)
DIFFERENCE_TARGET(balanced_l1)
