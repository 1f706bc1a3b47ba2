/* GHM-C on a device: the OpenCL side of bindings/LossKernels/Classification/Ghmc.cs. ghmc_histogram counts the valid
 * elements per gradient-norm bin with integer atomics, in local memory then once per group (exact, the same counts in
 * any order); the host turns the counts
 * into bin weights; ghmc_loss then weighs each element's binary cross entropy with logits and writes its gradient,
 * each work-group adding its losses in work-item order into one partial for the host to add in order.
 * CPU devices take ghmc_histogram_chunks and ghmc_loss_chunks instead: a run of elements per work-item in float16 lanes, with
 * no local atomics or barriers (PoCL serializes the one and loops over the other, and left ghmc_loss's log1p scalar).
 * Every kernel bins an element by its key (ghmc_key, GhmcElement.Key on the host): a hard label's is ±x against the thresholds
 * τ_b the host computes (the exact σ's bins; the CPU devices' histogram then needs no sigmoid), a soft target's the τ of the bin
 * its g reaches. */

#define MAX_BINS 64
#define LOSS_GROUP 64

typedef struct
{
    float weight[MAX_BINS];
} bin_weights_t;

/* τ_b: the least float whose exact σ reaches the edge b/bins; τ_0 = −∞. */
typedef struct
{
    float threshold[MAX_BINS];
} bin_thresholds_t;

/* σ(x) − t from one exp, as the C# side computes it; *tail = ln(1 + e^−|x|). */
inline float ghmc_difference(float x, float t, float* tail)
{
    float e = exp(-fabs(x));
    float large = 1.0f / (1.0f + e), small = e * large;
    *tail = log1p(e);
    return x > 0.0f ? sigmoid_difference(large, small, t) : sigmoid_difference(small, large, t);
}

/* τ of the last edge b/bins (a correctly rounded float division, as the host's) that g = |σ(x) − t| reaches: a soft target's key,
 * as GhmcElement.SoftKey. NaN where g is NaN. */
inline float ghmc_soft_key(float g, int bins, const bin_thresholds_t* thresholds)
{
    float key = thresholds->threshold[0];
    for (int b = 1; b < bins; b++)
        key = g >= (float)b / (float)bins ? thresholds->threshold[b] : key;
    return isnan(g) ? g : key;
}

/* The key an element is binned by: x at t = 0, −x at t = 1, else the soft key of g. */
inline float ghmc_key(float x, float t, float g, int bins, const bin_thresholds_t* thresholds)
{
    return t == 1.0f ? -x : t == 0.0f ? x : ghmc_soft_key(g, bins, thresholds);
}

/* The bin of a key that is not NaN: the last b whose threshold it reaches. */
inline int ghmc_bin(float key, int bins, const bin_thresholds_t* thresholds)
{
    int bin = 0;
    for (int b = 1; b < bins; b++)
        bin = key >= thresholds->threshold[b] ? b : bin;
    return bin;
}

kernel void ghmc_histogram(global const float* logits, global const float* target, global const float* label_weight, int n, int bins,
    bin_thresholds_t thresholds, volatile global int* counts)
{
    /* Counted in the group's local memory first, then one global add per bin per group: far fewer contended atomics. */
    local int group_counts[MAX_BINS];
    size_t i = get_global_id(0), lid = get_local_id(0), size = get_local_size(0);
    for (size_t b = lid; b < (size_t)bins; b += size)
        group_counts[b] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (i < (size_t)n && (!label_weight || label_weight[i] > 0.0f))
    {
        float x = logits[i], t = target[i], tail;
        float key = ghmc_key(x, t, fabs(ghmc_difference(x, t, &tail)), bins, &thresholds);
        if (!isnan(key))
            atomic_inc(&group_counts[ghmc_bin(key, bins, &thresholds)]);
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
    global float* output, global float* grad, int n, int bins, bin_thresholds_t thresholds, bin_weights_t weights, float gradient_scale,
    global acc_t* partials)
{
    local acc_t sums[LOSS_GROUP];
    size_t i = get_global_id(0), lid = get_local_id(0);
    acc_t loss = 0;
    if (i < (size_t)n)
    {
        float x = logits[i], t = target[i], tail;
        float d = ghmc_difference(x, t, &tail);
        float key = ghmc_key(x, t, fabs(d), bins, &thresholds);
        float beta = weights.weight[isnan(key) ? bins - 1 : ghmc_bin(key, bins, &thresholds)] * (label_weight ? label_weight[i] : 1.0f);
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

/* The CPU devices' kernels: a work-item takes `chunk` elements from get_global_id(0)·chunk, sixteen at a time. */

/* ghmc_difference on sixteen elements. */
inline float16 ghmc_difference16(float16 x, float16 t, float16* tail)
{
    float16 e = exp(-fabs(x));
    float16 large = 1.0f / (1.0f + e), small = e * large;
    *tail = log1p(e);
    return select(sigmoid_difference(small, large, t), sigmoid_difference(large, small, t), x > 0.0f);
}

/* x at t = 0 and −x at t = 1 (GhmcElement.HardKey), and in *hard the mask of those lanes. */
inline float16 ghmc_hard_key16(float16 x, float16 t, int16* hard)
{
    int16 positive = t == 1.0f;
    *hard = (t == 0.0f) | positive;
    return select(x, -x, positive);
}

/* ghmc_soft_key on sixteen elements. */
inline float16 ghmc_soft_key16(float16 g, int bins, const bin_thresholds_t* thresholds)
{
    float16 key = (float16)(thresholds->threshold[0]);
    for (int b = 1; b < bins; b++)
        key = select(key, (float16)(thresholds->threshold[b]), isgreaterequal(g, (float16)((float)b / (float)bins)));
    return select(key, g, isnan(g));
}

/* The valid elements of a work-item's run counted per threshold in int16 lanes (key ≥ τ_b: the test ghmc_bin places them by), so
 * that bin b holds the count at threshold b less the count at threshold b + 1; one atomic add per non-empty bin. */
kernel void ghmc_histogram_chunks(global const float* logits, global const float* target, global const float* label_weight, int n, int chunk,
    int bins, bin_thresholds_t thresholds, volatile global int* counts)
{
    int start = (int)get_global_id(0) * chunk;
    int length = min(chunk, n - start);
    int16 at_threshold[MAX_BINS];
    for (int b = 0; b < bins; b++)
        at_threshold[b] = 0;
    for (int k = 0; k < length; k += 16)
    {
        int count = min(16, length - k);
        float16 x = load_partial16(logits + start + k, count), t = load_partial16(target + start + k, count), tail;
        int16 hard;
        float16 key = ghmc_hard_key16(x, t, &hard);
        /* The sigmoid only for a vector with a soft target in it. */
        if (!all(hard))
            key = select(ghmc_soft_key16(fabs(ghmc_difference16(x, t, &tail)), bins, &thresholds), key, hard);
        int16 counted = LANE_INDICES16 < count;
        if (label_weight)
            counted &= load_partial16(label_weight + start + k, count) > 0.0f;
        /* NaN falls in no bin (it reaches no threshold, not even τ_0 = −∞), nor does an element left out. */
        key = select((float16)(NAN), key, counted);
        for (int b = 0; b < bins; b++)
            at_threshold[b] -= isgreaterequal(key, (float16)(thresholds.threshold[b]));
    }
    int above = 0;
    for (int b = bins - 1; b >= 0; b--)
    {
        int lane_counts[16];
        vstore16(at_threshold[b], 0, lane_counts);
        int reached = 0;
        for (int k = 0; k < 16; k++)
            reached += lane_counts[k];
        if (reached != above)
            atomic_add(&counts[b], reached - above);
        above = reached;
    }
}

/* ghmc_loss on a work-item's run: the same products per element; the losses added in float16 lanes over blocks of
 * GHMC_BLOCK vectors, each block's lanes in order into the run's partial. */
#define GHMC_BLOCK 32

kernel void ghmc_loss_chunks(global const float* logits, global const float* target, global const float* label_weight, global const float* upstream,
    global float* output, global float* grad, int n, int chunk, int bins, bin_thresholds_t thresholds, bin_weights_t weights, float gradient_scale,
    global acc_t* partials)
{
    int start = (int)get_global_id(0) * chunk;
    int length = min(chunk, n - start);
    acc_t total = 0;
    for (int block = 0; block < length; block += 16 * GHMC_BLOCK)
    {
        float16 sums = 0.0f;
        for (int k = block; k < min(length, block + 16 * GHMC_BLOCK); k += 16)
        {
            int count = min(16, length - k);
            float16 x = load_partial16(logits + start + k, count), t = load_partial16(target + start + k, count), tail;
            float16 d = ghmc_difference16(x, t, &tail);
            int16 hard;
            float16 key = ghmc_hard_key16(x, t, &hard);
            if (!all(hard))
                key = select(ghmc_soft_key16(fabs(d), bins, &thresholds), key, hard);
            float16 beta = (float16)(weights.weight[0]);
            for (int b = 1; b < bins; b++)
                beta = select(beta, (float16)(weights.weight[b]), isgreaterequal(key, (float16)(thresholds.threshold[b])));
            if (label_weight)
                beta *= load_partial16(label_weight + start + k, count);
            float16 loss = beta * logits_cross_entropy(x, t, tail);
            if (output)
                store_partial16(loss, output + start + k, count);
            if (grad)
                store_partial16(gradient_scale * (upstream ? load_partial16(upstream + start + k, count) : (float16)(1.0f)) * beta * d, grad + start + k, count);
            sums += select((float16)(0.0f), loss, LANE_INDICES16 < count);
        }
        total += add_lanes16(sums);
    }
    partials[get_global_id(0)] = total;
}
