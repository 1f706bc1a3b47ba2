/* GHM-C on a device: the OpenCL side of bindings/LossKernels/Classification/Ghmc.cs. ghmc_histogram counts the valid
 * elements per gradient-norm bin with integer atomics, in local memory then once per group (exact, the same counts in
 * any order); the host turns the counts
 * into bin weights; ghmc_loss then weighs each element's binary cross entropy with logits and writes its gradient,
 * each work-group adding its losses in work-item order into one partial for the host to add in order. */

#define MAX_BINS 64
#define LOSS_GROUP 64

typedef struct
{
    float weight[MAX_BINS];
} bin_weights_t;

/* σ(x) − t from one exp, as the C# side computes it; *tail = ln(1 + e^−|x|). */
inline float ghmc_difference(float x, float t, float* tail)
{
    float e = exp(-fabs(x));
    float large = 1.0f / (1.0f + e), small = e * large;
    *tail = log1p(e);
    return x > 0.0f ? sigmoid_difference(large, small, t) : sigmoid_difference(small, large, t);
}

/* The bin of g: the last b whose lower edge b/bins (a correctly rounded float division, as the host's) g reaches. */
inline int ghmc_bin(float g, int bins)
{
    int bin = 0;
    for (int b = 1; b < bins; b++)
        bin = g >= (float)b / (float)bins ? b : bin;
    return bin;
}

kernel void ghmc_histogram(global const float* logits, global const float* target, global const float* label_weight, int n, int bins,
    volatile global int* counts)
{
    /* Counted in the group's local memory first, then one global add per bin per group: far fewer contended atomics. */
    local int group_counts[MAX_BINS];
    size_t i = get_global_id(0), lid = get_local_id(0), size = get_local_size(0);
    for (size_t b = lid; b < (size_t)bins; b += size)
        group_counts[b] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (i < (size_t)n && (!label_weight || label_weight[i] > 0.0f))
    {
        float tail;
        float g = fabs(ghmc_difference(logits[i], target[i], &tail));
        if (!isnan(g))
            atomic_inc(&group_counts[ghmc_bin(g, bins)]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t b = lid; b < (size_t)bins; b += size)
    {
        if (group_counts[b] != 0)
            atomic_add(&counts[b], group_counts[b]);
    }
}

/* ℓ_i = β_bin·w_i·ce(x_i, t_i); grad_i = scale·upstream_i·β_bin·w_i·(σ(x_i) − t_i). Optional buffers may be NULL. */
kernel void ghmc_loss(global const float* logits, global const float* target, global const float* label_weight, global const float* upstream,
    global float* output, global float* grad, int n, int bins, bin_weights_t weights, float gradient_scale, global acc_t* partials)
{
    local acc_t sums[LOSS_GROUP];
    size_t i = get_global_id(0), lid = get_local_id(0);
    acc_t loss = 0;
    if (i < (size_t)n)
    {
        float x = logits[i], t = target[i], tail;
        float d = ghmc_difference(x, t, &tail);
        float g = fabs(d);
        float beta = weights.weight[isnan(g) ? bins - 1 : ghmc_bin(g, bins)] * (label_weight ? label_weight[i] : 1.0f);
        float ce = logits_cross_entropy(x, t, tail);
        loss = beta * ce;
        if (output)
            output[i] = (float)loss;
        if (grad)
            grad[i] = gradient_scale * (upstream ? upstream[i] : 1.0f) * beta * d;
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
