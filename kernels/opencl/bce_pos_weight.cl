/* binary_cross_entropy_with_logits with a positive weight per class (PyTorch's pos_weight tensor over the last axis): the
 * OpenCL side of BinaryCrossEntropyWithLogits.PosWeight.cs. A work-item per element, element i of class i mod C; each
 * work-group adds its weighted losses in work-item order into one partial, which the host adds in order. */

#define LOSS_GROUP 64

/* ℓ = (1 − t)·x + c·softplus(−x), ∂ℓ/∂x = (1 − t) − c·σ(−x) = (1 − t)·σ(x) − w₊·t·σ(−x) (that form: no cancellation), c = 1 + (w₊ − 1)·t;
 * with target_side, grad is the target's: ∂ℓ/∂t = (w₊ − 1)·softplus(−x) − x. Optional buffers may be NULL. */
kernel void bce_pos_weight(global const float* input, global const float* target, global const float* pos_weight, global const float* weight,
    global const float* upstream, global float* output, global float* grad, int n, int classes, float gradient_scale, int target_side,
    global acc_t* partials)
{
    local acc_t sums[LOSS_GROUP];
    size_t i = get_global_id(0), lid = get_local_id(0);
    acc_t loss = 0;
    if (i < (size_t)n)
    {
        float x = input[i], t = target[i];
        float e = exp(-fabs(x));
        float large = 1.0f / (1.0f + e);
        float negative = x > 0.0f ? e * large : large, positive = x > 0.0f ? large : e * large;
        float pw = pos_weight[i % (size_t)classes];
        float c = (pw - 1.0f) * t + 1.0f;
        float w = weight ? weight[i] : 1.0f;
        float softplus = nan_max(-x, 0.0f) + log1p(e);
        float value = w * ((1.0f - t) * x + c * softplus);
        loss = value;
        if (output)
            output[i] = value;
        if (grad)
        {
            float slope = target_side ? fma(pw - 1.0f, softplus, -x) : fma(1.0f - t, positive, -(pw * t) * negative);
            grad[i] = gradient_scale * (upstream ? upstream[i] : 1.0f) * w * slope;
        }
    }
    sums[lid] = loss;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0)
    {
        acc_t total = 0;
        for (size_t k = 0; k < get_local_size(0); k++)
            total += sums[k];
        partials[get_group_id(0)] = total;
    }
}
