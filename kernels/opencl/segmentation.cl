/* The overlap losses (Dice, Tversky, focal Tversky, generalized Dice) on a device: the OpenCL side of
 * bindings/LossKernels/Segmentation/OverlapDriver.cs and OverlapMath.cs. The input is [N, C, S] (S = d1·d2·…); the target
 * is class indices [N, S] (labels) or floats [N, C, S] (dense; then labels is NULL).
 *   overlap_softmax_stats: per pixel, the max over the classes and 1/Σe^(x − max) (multiclass from logits only).
 *   overlap_sums:          one work-group per (block of OVERLAP_BLOCK pixels, class, image) of a 3-D range: Σp·t, Σp, Σt, Σp², Σt² over the
 *                          block's pixels not ignored, added in work-item order into partials [N, blocks, C, 5].
 *   overlap_gradient:      per pixel, ∂L/∂p = a·t + b + e·p from the host's [group, C, 3] table, chained through the softmax or
 *                          sigmoid. Reads every class of the pixel before it writes, so the gradient may be the input itself. */

#define OVERLAP_GROUP 64
#define OVERLAP_BLOCK 4096

/* p of class c at the pixel (image n, position s), its target and kept flag, and ∂p/∂x of the sigmoid (1 otherwise). */
inline float overlap_probability(global const float* input, global const long* labels, global const float* dense, global const float* stats,
    int classes, int spatial, int n, int s, int c, int from_logits, int has_ignore, long ignore_index, float* target, int* kept, float* slope)
{
    *slope = 1.0f;
    size_t at = ((size_t)n * classes + c) * spatial + s;
    float x = input[at];
    if (labels)
    {
        long label = labels[(size_t)n * spatial + s];
        *kept = !(has_ignore && label == ignore_index);
        *target = *kept && label == c ? 1.0f : 0.0f;
        size_t pixel = (size_t)n * spatial + s;
        float p = from_logits ? exp(x - stats[2 * pixel]) * stats[2 * pixel + 1] : x;
        return *kept ? p : 0.0f;
    }

    float t = dense[at];
    *kept = !(has_ignore && t == (float)ignore_index);
    *target = *kept ? t : 0.0f;
    float p = x;
    if (from_logits)
    {
        float e = exp(-fabs(x));
        float large = 1.0f / (1.0f + e), small = e * large;
        p = x > 0.0f ? large : small;
        *slope = large * small;
    }
    return *kept ? p : 0.0f;
}

kernel void overlap_softmax_stats(global const float* input, int classes, int spatial, int pixels, global float* stats)
{
    int i = (int)get_global_id(0);
    if (i >= pixels)
        return;
    int n = i / spatial, s = i - n * spatial;
    global const float* x = input + (size_t)n * classes * spatial + s;
    float max = x[0];
    for (int c = 1; c < classes; c++)
        max = fmax(max, x[(size_t)c * spatial]);
    /* fmax drops NaN; a NaN logit must make the pixel NaN, as on the CPU. */
    float sum = 0.0f;
    for (int c = 0; c < classes; c++)
        sum += exp(x[(size_t)c * spatial] - max);
    for (int c = 0; c < classes; c++)
        max = isnan(x[(size_t)c * spatial]) ? x[(size_t)c * spatial] : max;
    stats[2 * (size_t)i] = max;
    stats[2 * (size_t)i + 1] = 1.0f / sum;
}

kernel void overlap_sums(global const float* input, global const long* labels, global const float* dense, global const float* stats,
    int classes, int spatial, int blocks, int from_logits, int has_ignore, long ignore_index, global acc_t* partials)
{
    local acc_t sums[5][OVERLAP_GROUP];
    /* A 3-D range (blocks·64, C, N) names the group's block, class and image without dividing. */
    int block = (int)get_group_id(0), c = (int)get_global_id(1), n = (int)get_global_id(2), lid = (int)get_local_id(0);
    int group = (n * blocks + block) * classes + c;
    int from = block * OVERLAP_BLOCK, to = min(spatial, from + OVERLAP_BLOCK);
    acc_t intersection = 0, prediction = 0, target_sum = 0, prediction_squares = 0, target_squares = 0;
    for (int s = from + lid; s < to; s += OVERLAP_GROUP)
    {
        float t, slope;
        int kept;
        float p = overlap_probability(input, labels, dense, stats, classes, spatial, n, s, c, from_logits, has_ignore, ignore_index, &t, &kept, &slope);
        intersection += p * t;
        prediction += p;
        target_sum += t;
        prediction_squares += p * p;
        target_squares += t * t;
    }

    sums[0][lid] = intersection;
    sums[1][lid] = prediction;
    sums[2][lid] = target_sum;
    sums[3][lid] = prediction_squares;
    sums[4][lid] = target_squares;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < 5)
    {
        acc_t total = 0;
        for (int k = 0; k < OVERLAP_GROUP; k++)
            total += sums[lid][k];
        partials[(size_t)group * 5 + lid] = total;
    }
}

kernel void overlap_gradient(global const float* input, global const long* labels, global const float* dense, global const float* stats,
    global const float* coefficients, int classes, int spatial, int pixels, int per_image, int from_logits, int has_ignore, long ignore_index,
    global float* grad)
{
    int i = (int)get_global_id(0);
    if (i >= pixels)
        return;
    int n = i / spatial, s = i - n * spatial;
    global const float* k = coefficients + (size_t)(per_image ? n : 0) * classes * 3;
    float dot = 0.0f;
    int softmax = labels && from_logits;
    if (softmax)
    {
        for (int c = 0; c < classes; c++)
        {
            float t, slope;
            int kept;
            float p = overlap_probability(input, labels, dense, stats, classes, spatial, n, s, c, from_logits, has_ignore, ignore_index, &t, &kept, &slope);
            float g = kept ? fma(k[3 * c + 2], p, fma(k[3 * c], t, k[3 * c + 1])) : 0.0f;
            dot = fma(p, g, dot);
        }
    }

    for (int c = 0; c < classes; c++)
    {
        float t, slope;
        int kept;
        size_t at = ((size_t)n * classes + c) * spatial + s;
        float x = input[at];
        float p = overlap_probability(input, labels, dense, stats, classes, spatial, n, s, c, from_logits, has_ignore, ignore_index, &t, &kept, &slope);
        float g = kept ? fma(k[3 * c + 2], p, fma(k[3 * c], t, k[3 * c + 1])) : 0.0f;
        if (softmax)
        {
            size_t pixel = (size_t)n * spatial + s;
            g = exp(x - stats[2 * pixel]) * stats[2 * pixel + 1] * (g - dot);
        }
        else
        {
            g *= slope;
        }
        grad[at] = g;
    }
}
