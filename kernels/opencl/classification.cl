/* Elementwise classification losses: the math of kernels/elementwise.h's LOSS. Each mirrors the Evaluate
 * method of the C# struct of the same name (bindings/LossKernels/Classification/), and p holds that
 * struct's hyperparameters in the order its Kernel property gives them. */

/* a, or f where a < f; NaN stays NaN (fmax would drop it). */
inline vfloat floor_at(vfloat a, float f)
{
    return select(a, (vfloat)(f), a < f);
}

/* The binary cross entropy with logits x·(step(x) − t) + ln(1 + e^−|x|). */
inline vfloat sigmoid_cross_entropy(vfloat x, vfloat t, vfloat* positive, vfloat* negative)
{
    vfloat tail = sigmoids(x, positive, negative);
    return logits_cross_entropy(x, t, tail);
}

/* a^γ for a ≥ 0, 0^0 = 1; γ = 1 and 2 as multiplications, like the C# side. */
inline vfloat power_of(vfloat a, float gamma)
{
    if (gamma == 2.0f)
        return a * a;
    if (gamma == 1.0f)
        return a;
    return pow(a, (vfloat)(gamma));
}

/* ℓ = −(t·max(ln x, −100) + (1 − t)·max(ln(1 − x), −100)); ∂ℓ/∂x = (x − t)/max(x(1 − x), 1e-12). */
inline vfloat binary_cross_entropy(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat complement = 1.0f - x;
    vfloat log_x = floor_at(log(x), -100.0f);
    vfloat log_complement = floor_at(log(complement), -100.0f);
    *grad = (x - t) / fmax(x * complement, 1e-12f);
    return (t - 1.0f) * log_complement - t * log_x;
}

/* p.x = w₊, c = 1 + (w₊ − 1)·t. ℓ = (1 − t)·x + c·softplus(−x); ∂ℓ/∂x = (1 − t) − c·σ(−x). */
inline vfloat binary_cross_entropy_with_logits(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat positive, negative;
    vfloat tail = sigmoids(x, &positive, &negative);
    /* (1 − t)·σ(x) − w₊·t·σ(−x): a hard label's gradient is one sigmoid, exact where σ(x) − t would cancel (the C#'s form). */
    if (p.x == 1.0f)
    {
        *grad = sigmoid_difference(positive, negative, t);
        return logits_cross_entropy(x, t, tail);
    }
    vfloat complement = 1.0f - t;
    vfloat softplus = nan_max(-x, 0.0f) + tail;
    vfloat c = (p.x - 1.0f) * t + 1.0f;
    *grad = fma(complement, positive, -(p.x * t) * negative);
    return c * softplus + complement * x;
}

/* p.x = α. ℓ = α·t·softplus(−x) + (1 − α)(1 − t)·softplus(x); ∂ℓ/∂x = (1 − α)(1 − t)·σ(x) − α·t·σ(−x). */
inline vfloat balanced_binary_cross_entropy(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat positive, negative;
    vfloat tail = sigmoids(x, &positive, &negative);
    vfloat positive_weight = p.x * t;
    vfloat negative_weight = (1.0f - p.x) * (1.0f - t);
    *grad = negative_weight * positive - positive_weight * negative;
    return positive_weight * (nan_max(-x, 0.0f) + tail) + negative_weight * (nan_max(x, 0.0f) + tail);
}

/* p = (α, γ). m = t·σ(−x) + (1 − t)·σ(x); ℓ = α_t·ce·m^γ;
 * ∂ℓ/∂x = α_t·m^γ·((σ − t) + γ·ce·(σ(x)σ(−x)/m)·(1 − 2t)), with σσ/m = 1 where m = 0 (the term is 0 there). */
inline vfloat sigmoid_focal_loss(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat positive, negative;
    vfloat ce = sigmoid_cross_entropy(x, t, &positive, &negative);
    vfloat complement = 1.0f - t;
    vfloat m = t * negative + complement * positive;
    vfloat modulation = power_of(m, p.y);
    vfloat ratio = select((vfloat)(1.0f), positive * negative / m, m > 0.0f);
    vfloat slope = modulation * (sigmoid_difference(positive, negative, t) + p.y * ce * ratio * (complement - t));
    vfloat loss = ce * modulation;
    if (p.x < 0.0f)
    {
        *grad = slope;
        return loss;
    }
    vfloat alpha_t = p.x * t + (1.0f - p.x) * complement;
    *grad = alpha_t * slope;
    return alpha_t * loss;
}

/* p.x = β, d = σ(x) − t. ℓ = ce·|d|^β; ∂ℓ/∂x = d·|d|^β + β·ce·σ(x)σ(−x)·|d|^(β−1)·sign(d), 0 where d = 0. */
inline vfloat quality_focal_loss(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat positive, negative;
    vfloat ce = sigmoid_cross_entropy(x, t, &positive, &negative);
    vfloat d = sigmoid_difference(positive, negative, t);
    vfloat a = fabs(d);
    vfloat scale = power_of(a, p.x);
    vfloat focusing = p.x * ce * (positive * negative) * ((scale / a) * (d / a));
    *grad = d * scale + select((vfloat)(0.0f), focusing, a > 0.0f);
    return ce * scale;
}

/* p = (α, γ, iou_weighted). w = t > 0 ? (iou_weighted ? t : 1) : α·|σ − t|^γ; ℓ = ce·w;
 * ∂ℓ/∂x = (σ − t)·w + [t ≤ 0]·γ·ce·α|σ − t|^γ·σ(x)σ(−x)/|σ − t|. */
inline vfloat varifocal_loss(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat positive, negative;
    vfloat ce = sigmoid_cross_entropy(x, t, &positive, &negative);
    vfloat d = sigmoid_difference(positive, negative, t);
    vfloat a = fabs(d);
    vfloat negative_weight = p.x * power_of(a, p.y);
    vint is_positive = t > 0.0f;
    vfloat weight = select(negative_weight, p.z != 0.0f ? t : (vfloat)(1.0f), is_positive);
    vfloat ratio = select((vfloat)(1.0f), positive * negative / a, a > 0.0f);
    vfloat focusing = p.y * ce * negative_weight * ratio;
    *grad = d * weight + select(focusing, (vfloat)(0.0f), is_positive);
    return ce * weight;
}

/* p.x = margin. ℓ = max(0, margin − t·x); ∂ℓ/∂x = margin − t·x ≥ 0 ? −t : 0. */
inline vfloat hinge_loss(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat violation = p.x - t * x;
    vint inside = violation < 0.0f;
    *grad = select(select(-t, violation, isnan(violation)), (vfloat)(0.0f), inside);
    return select(violation, (vfloat)(0.0f), inside);
}

/* p.x = margin. ℓ = [t ≠ −1]·x + [t ≠ 1]·max(0, margin − x); ∂ℓ/∂x = [t ≠ −1] − [t ≠ 1]·[margin − x ≥ 0]. */
inline vfloat hinge_embedding_loss(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vint similar = t == 1.0f;
    vint dissimilar = t == -1.0f;
    vfloat violation = p.x - x;
    vint inside = violation < 0.0f;
    vfloat hinge = select(violation, (vfloat)(0.0f), inside);
    vfloat hinge_slope = select(select((vfloat)(-1.0f), violation, isnan(violation)), (vfloat)(0.0f), inside);
    *grad = select((vfloat)(1.0f), (vfloat)(0.0f), dissimilar) + select(hinge_slope, (vfloat)(0.0f), similar);
    return select(x, (vfloat)(0.0f), dissimilar) + select(hinge, (vfloat)(0.0f), similar);
}

/* p.x = log_target. ℓ = xlogy(t, t) − t·x, ∂ℓ/∂x = −t; log targets: ℓ = e^t·(t − x), ∂ℓ/∂x = −e^t. */
inline vfloat kl_div(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    if (p.x != 0.0f)
    {
        vfloat probability = exp(t);
        *grad = -probability;
        return probability * (t - x);
    }
    vfloat entropy = select(t * log(t), (vfloat)(0.0f), t == 0.0f);
    *grad = -t;
    return entropy - t * x;
}

/* ℓ = [x > 0] ≠ [t > 0]; not differentiable: the gradient written is 0. */
inline vfloat zero_one_loss(vfloat x, vfloat t, float4 p, vfloat* grad)
{
    vfloat predicted = select((vfloat)(0.0f), (vfloat)(1.0f), x > 0.0f);
    vfloat actual = select((vfloat)(0.0f), (vfloat)(1.0f), t > 0.0f);
    *grad = (vfloat)(0.0f);
    return select(fabs(predicted - actual), x, isnan(x));
}

/* The target sides (IElementwiseTargetLoss, run by TargetBackward with the target first): ℓ and ∂ℓ/∂t. */

/* ∂ℓ/∂t = ln(1 − x) − ln x, both floored at −100. */
inline vfloat binary_cross_entropy_target(vfloat t, vfloat x, float4 p, vfloat* grad)
{
    vfloat log_x = floor_at(log(x), -100.0f);
    vfloat log_complement = floor_at(log(1.0f - x), -100.0f);
    *grad = log_complement - log_x;
    return (t - 1.0f) * log_complement - t * log_x;
}

/* ∂ℓ/∂t = (w₊ − 1)·softplus(−x) − x. */
inline vfloat binary_cross_entropy_with_logits_target(vfloat t, vfloat x, float4 p, vfloat* grad)
{
    vfloat input_grad;
    vfloat l = binary_cross_entropy_with_logits(x, t, p, &input_grad);
    vfloat positive, negative;
    vfloat softplus = nan_max(-x, 0.0f) + sigmoids(x, &positive, &negative);
    *grad = p.x == 1.0f ? -x : fma((vfloat)(p.x - 1.0f), softplus, -x);
    return l;
}

/* p.x ≠ 0 (log target): ∂ℓ/∂t = e^t·(t − x + 1); else ln t + t/t − x (NaN at t = 0, as PyTorch's xlogy). */
inline vfloat kl_div_target(vfloat t, vfloat x, float4 p, vfloat* grad)
{
    vfloat input_grad;
    vfloat l = kl_div(x, t, p, &input_grad);
    if (p.x != 0.0f)
        *grad = exp(t) * (t - x + 1.0f);
    else
        *grad = select(log(t), (vfloat)(0.0f), t == 0.0f) + t / t - x;
    return l;
}

/* ∂ℓ/∂t = −x where margin − t·x ≥ 0, else 0. */
inline vfloat hinge_loss_target(vfloat t, vfloat x, float4 p, vfloat* grad)
{
    vfloat violation = p.x - t * x;
    vint inside = violation < 0.0f;
    *grad = select(select(-x, violation, isnan(violation)), (vfloat)(0.0f), inside);
    return select(violation, (vfloat)(0.0f), inside);
}
