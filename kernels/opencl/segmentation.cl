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

/* CPU devices: the same three steps on sixteen neighbouring pixels of one image per work-item, in float16 lanes, with no barrier
 * (PoCL loops over a barrier's work-items and left overlap_probability a scalar call per pixel and class).
 *   overlap_softmax_stats16, overlap_gradient16: work-item i takes pixels 16·(i mod ⌈S/16⌉) … of image i / ⌈S/16⌉.
 *   overlap_sums16:                              work-item (block, class, image) of a 3-D range walks its block's pixels; the same
 *                                                partials as overlap_sums. */

/* Vectors whose sums stay in float lanes before they are added into acc_t. */
#define OVERLAP_FLUSH 16

/* The pixels s … s + count − 1 of image n: each one's label (−1 where ignored, and in the lanes past count; the labels are
 * checked before any launch) and, with the softmax's stats, its max and 1/Σe. */
inline void overlap_pixels16(global const long* labels, global const float* stats, int spatial, int n, int s, int count, int has_ignore,
    long ignore_index, int16* label, float16* max, float16* inverse)
{
    int label_lanes[16];
    float max_lanes[16], inverse_lanes[16];
    size_t pixel = (size_t)n * spatial + s;
    for (int k = 0; k < 16; k++)
    {
        long value = k < count && labels ? labels[pixel + k] : -1;
        label_lanes[k] = value < 0 || (has_ignore && value == ignore_index) ? -1 : (int)value;
        max_lanes[k] = k < count && stats ? stats[2 * (pixel + k)] : 0.0f;
        inverse_lanes[k] = k < count && stats ? stats[2 * (pixel + k) + 1] : 0.0f;
    }
    *label = vload16(0, label_lanes);
    *max = vload16(0, max_lanes);
    *inverse = vload16(0, inverse_lanes);
}

/* overlap_probability on the count pixels from s (lanes past count are not kept), with overlap_pixels16's labels and stats. */
inline float16 overlap_probability16(global const float* input, global const float* dense, int classes, int spatial, int n, int s, int count,
    int c, int from_logits, int has_ignore, long ignore_index, int16 label, float16 max, float16 inverse, float16* target, int16* kept,
    float16* slope)
{
    *slope = 1.0f;
    size_t at = ((size_t)n * classes + c) * spatial + s;
    float16 x = load_partial16(input + at, count);
    if (!dense)
    {
        *kept = label >= 0;
        *target = select((float16)(0.0f), (float16)(1.0f), label == c);
        float16 p = from_logits ? exp(x - max) * inverse : x;
        return select((float16)(0.0f), p, *kept);
    }

    float16 t = load_partial16(dense + at, count);
    *kept = (LANE_INDICES16 < count) & (has_ignore ? t != (float16)((float)ignore_index) : (int16)(-1));
    *target = select((float16)(0.0f), t, *kept);
    float16 p = x;
    if (from_logits)
    {
        float16 e = exp(-fabs(x));
        float16 large = 1.0f / (1.0f + e), small = e * large;
        p = select(small, large, x > 0.0f);
        *slope = large * small;
    }
    return select((float16)(0.0f), p, *kept);
}

kernel void overlap_softmax_stats16(global const float* input, int classes, int spatial, int pixels, global float* stats)
{
    int per_image = (spatial + 15) / 16, i = (int)get_global_id(0);
    if (i >= pixels / spatial * per_image)
        return;
    int n = i / per_image, s = (i - n * per_image) * 16, count = min(16, spatial - s);
    global const float* x = input + (size_t)n * classes * spatial + s;
    float16 max = load_partial16(x, count);
    for (int c = 1; c < classes; c++)
        max = fmax(max, load_partial16(x + (size_t)c * spatial, count));
    /* fmax drops a NaN logit from the max, but not from Σe: its pixel's 1/Σe, so every p of the pixel, is NaN, as on the CPU. */
    float16 sum = 0.0f;
    for (int c = 0; c < classes; c++)
        sum += exp(load_partial16(x + (size_t)c * spatial, count) - max);
    float max_lanes[16], inverse_lanes[16];
    vstore16(max, 0, max_lanes);
    vstore16(1.0f / sum, 0, inverse_lanes);
    size_t pixel = (size_t)n * spatial + s;
    for (int k = 0; k < count; k++)
    {
        stats[2 * (pixel + k)] = max_lanes[k];
        stats[2 * (pixel + k) + 1] = inverse_lanes[k];
    }
}

kernel void overlap_sums16(global const float* input, global const long* labels, global const float* dense, global const float* stats,
    int classes, int spatial, int blocks, int from_logits, int has_ignore, long ignore_index, global acc_t* partials)
{
    int block = (int)get_global_id(0), c = (int)get_global_id(1), n = (int)get_global_id(2);
    int group = (n * blocks + block) * classes + c;
    int from = block * OVERLAP_BLOCK, to = min(spatial, from + OVERLAP_BLOCK);
    acc_t intersection = 0, prediction = 0, target_sum = 0, prediction_squares = 0, target_squares = 0;
    for (int first = from; first < to; first += 16 * OVERLAP_FLUSH)
    {
        float16 i16 = 0.0f, p16 = 0.0f, t16 = 0.0f, pp16 = 0.0f, tt16 = 0.0f;
        for (int s = first; s < min(to, first + 16 * OVERLAP_FLUSH); s += 16)
        {
            int count = min(16, to - s);
            int16 label, kept;
            float16 max, inverse, t, slope;
            overlap_pixels16(labels, stats, spatial, n, s, count, has_ignore, ignore_index, &label, &max, &inverse);
            float16 p = overlap_probability16(input, dense, classes, spatial, n, s, count, c, from_logits, has_ignore, ignore_index, label, max, inverse,
                &t, &kept, &slope);
            i16 += p * t;
            p16 += p;
            t16 += t;
            pp16 += p * p;
            tt16 += t * t;
        }
        intersection += add_lanes16(i16);
        prediction += add_lanes16(p16);
        target_sum += add_lanes16(t16);
        prediction_squares += add_lanes16(pp16);
        target_squares += add_lanes16(tt16);
    }
    global acc_t* sums = partials + (size_t)group * 5;
    sums[0] = intersection;
    sums[1] = prediction;
    sums[2] = target_sum;
    sums[3] = prediction_squares;
    sums[4] = target_squares;
}

kernel void overlap_gradient16(global const float* input, global const long* labels, global const float* dense, global const float* stats,
    global const float* coefficients, int classes, int spatial, int pixels, int per_image, int from_logits, int has_ignore, long ignore_index,
    global float* grad)
{
    int vectors = (spatial + 15) / 16, i = (int)get_global_id(0);
    if (i >= pixels / spatial * vectors)
        return;
    int n = i / vectors, s = (i - n * vectors) * 16, count = min(16, spatial - s);
    global const float* k = coefficients + (size_t)(per_image ? n : 0) * classes * 3;
    int16 label, kept;
    float16 max, inverse, t, slope;
    overlap_pixels16(labels, stats, spatial, n, s, count, has_ignore, ignore_index, &label, &max, &inverse);
    float16 dot = 0.0f;
    int softmax = labels && from_logits;
    if (softmax)
    {
        for (int c = 0; c < classes; c++)
        {
            float16 p = overlap_probability16(input, dense, classes, spatial, n, s, count, c, from_logits, has_ignore, ignore_index, label, max, inverse,
                &t, &kept, &slope);
            float16 g = select((float16)(0.0f), fma((float16)(k[3 * c + 2]), p, fma((float16)(k[3 * c]), t, (float16)(k[3 * c + 1]))), kept);
            dot = fma(p, g, dot);
        }
    }

    for (int c = 0; c < classes; c++)
    {
        size_t at = ((size_t)n * classes + c) * spatial + s;
        float16 x = load_partial16(input + at, count);
        float16 p = overlap_probability16(input, dense, classes, spatial, n, s, count, c, from_logits, has_ignore, ignore_index, label, max, inverse,
            &t, &kept, &slope);
        float16 g = select((float16)(0.0f), fma((float16)(k[3 * c + 2]), p, fma((float16)(k[3 * c]), t, (float16)(k[3 * c + 1]))), kept);
        store_partial16(softmax ? exp(x - max) * inverse * (g - dot) : g * slope, grad + at, count);
    }
}

/* The Lovász losses: the OpenCL side of bindings/LossKernels/Segmentation/LovaszDriver.cs and LovaszMath.cs. One task (a
 * group's class, or a group) at a time, in chunks: `threads` work-items each own a contiguous chunk of
 * the task's elements, so that every step is sequential per work-item and the sort is stable.
 *   lovasz_class_counts:      pixels per (group, class) not ignored (integer atomics: the same counts in any order).
 *   lovasz_check_binary:      records the first hinge target that is not 0, 1 or the ignored value.
 *   lovasz_softmax_keys,
 *   lovasz_hinge_keys:        per element the error's sort key and the payload (position | foreground | ignored bits).
 *   lovasz_radix_counts,
 *   lovasz_scan,
 *   lovasz_radix_scatter:     one pass of a stable LSD radix sort of 8-bit digits: per-chunk digit counts [digit, chunk],
 *                             their exclusive scan (one work-group), and each chunk's pairs written in order to their places.
 *   lovasz_walk_counts:       foreground and background elements per chunk of the sorted order (scanned by lovasz_scan).
 *   lovasz_walk:              per chunk, from the elements before it, each element's weight: relu(e)·w into the chunk's
 *                             partial and its gradient at its place.
 *   lovasz_clear:             zero gradient for an absent class's planes.
 *   lovasz_softmax_chain:     per pixel ∂L/∂x = p·(g − Σp·g) from the walk's ∂L/∂p. */

#define LOVASZ_RADIX 256
#define LOVASZ_SCAN_GROUP 256
#define LOVASZ_FOREGROUND 0x80000000u
#define LOVASZ_IGNORED 0x40000000u
#define LOVASZ_POSITION 0x3FFFFFFFu

/* LovaszMath.Key: ascending unsigned keys are descending errors (−0 taken as +0). */
inline uint lovasz_key(float error)
{
    uint bits = as_uint(error == 0.0f ? 0.0f : error);
    uint ascending = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
    return ~ascending;
}

inline float lovasz_error(uint key)
{
    uint ascending = ~key;
    return as_float((ascending & 0x80000000u) ? ascending & 0x7FFFFFFFu : ~ascending);
}

/* LovaszMath.Weight: the Lovász extension's gradient at a sorted position, without subtracting neighbours. */
inline float lovasz_weight(int foreground, float foreground_before, float background_before, float foreground_count)
{
    float union_before = foreground_count + background_before;
    if (foreground)
        return 1.0f / union_before;
    return union_before == 0.0f ? 1.0f : (foreground_count - foreground_before) / ((union_before + 1.0f) * union_before);
}

kernel void lovasz_class_counts(global const long* labels, int pixels, int spatial, int classes, int per_image, int has_ignore, long ignore_index,
    volatile global int* counts)
{
    int i = (int)get_global_id(0);
    if (i >= pixels)
        return;
    long label = labels[i];
    if (!(has_ignore && label == ignore_index))
        atomic_inc(&counts[(per_image ? i / spatial : 0) * classes + (int)label]);
}

kernel void lovasz_check_binary(global const float* target, int n, int has_ignore, float ignore_value, volatile global int* first_fault)
{
    int i = (int)get_global_id(0);
    if (i >= n)
        return;
    float t = target[i];
    if (t != 0.0f && t != 1.0f && !(has_ignore && t == ignore_value))
        record_fault(first_fault, i);
}

kernel void lovasz_softmax_keys(global const float* input, global const long* labels, global const float* stats, int classes, int spatial, int first_image,
    int length, int c, int from_logits, int has_ignore, long ignore_index, global uint* keys, global uint* values)
{
    int i = (int)get_global_id(0);
    if (i >= length)
        return;
    /* i − q·spatial rather than i % spatial: Oclgrind cannot check the `freeze` LLVM emits for a division and remainder pair. */
    int local_image = i / spatial, s = i - local_image * spatial, image = first_image + local_image;
    size_t pixel = (size_t)image * spatial + s;
    long label = labels[pixel];
    int ignored = has_ignore && label == ignore_index, foreground = !ignored && label == c;
    float p = input[((size_t)image * classes + c) * spatial + s];
    if (from_logits)
        p = exp(p - stats[2 * pixel]) * stats[2 * pixel + 1];
    keys[i] = ignored ? 0xFFFFFFFFu : lovasz_key(foreground ? 1.0f - p : p);
    values[i] = (uint)i | (foreground ? LOVASZ_FOREGROUND : 0u) | (ignored ? LOVASZ_IGNORED : 0u);
}

kernel void lovasz_hinge_keys(global const float* input, global const float* target, long first, int length, int has_ignore, float ignore_value,
    global uint* keys, global uint* values)
{
    int i = (int)get_global_id(0);
    if (i >= length)
        return;
    float t = target[first + i], x = input[first + i];
    int ignored = has_ignore && t == ignore_value, foreground = !ignored && t == 1.0f;
    keys[i] = ignored ? 0xFFFFFFFFu : lovasz_key(1.0f - (foreground ? x : -x));
    values[i] = (uint)i | (foreground ? LOVASZ_FOREGROUND : 0u) | (ignored ? LOVASZ_IGNORED : 0u);
}

kernel void lovasz_radix_counts(global const uint* keys, int length, int chunk, int shift, int threads, global uint* counts)
{
    int t = (int)get_global_id(0);
    if (t >= threads)
        return;
    for (int d = 0; d < LOVASZ_RADIX; d++)
        counts[d * threads + t] = 0;
    int from = t * chunk, to = min(length, from + chunk);
    for (int i = from; i < to; i++)
        counts[((keys[i] >> shift) & (LOVASZ_RADIX - 1)) * threads + t]++;
}

/* The exclusive prefix sum of counts[0, length) in place, by one work-group: each work-item sums a contiguous range, the
 * range sums are scanned by the first work-item, then each work-item writes its range's prefixes. */
kernel void lovasz_scan(global uint* counts, int length)
{
    local uint sums[LOVASZ_SCAN_GROUP];
    int lid = (int)get_local_id(0);
    int per = (length + LOVASZ_SCAN_GROUP - 1) / LOVASZ_SCAN_GROUP, from = min(length, lid * per), to = min(length, from + per);
    uint sum = 0;
    for (int i = from; i < to; i++)
        sum += counts[i];
    sums[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0)
    {
        uint running = 0;
        for (int k = 0; k < LOVASZ_SCAN_GROUP; k++)
        {
            uint value = sums[k];
            sums[k] = running;
            running += value;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint running = sums[lid];
    for (int i = from; i < to; i++)
    {
        uint value = counts[i];
        counts[i] = running;
        running += value;
    }
}

kernel void lovasz_radix_scatter(global const uint* keys, global const uint* values, int length, int chunk, int shift, int threads, global uint* counts,
    global uint* sorted_keys, global uint* sorted_values)
{
    int t = (int)get_global_id(0);
    if (t >= threads)
        return;
    int from = t * chunk, to = min(length, from + chunk);
    for (int i = from; i < to; i++)
    {
        uint key = keys[i];
        uint at = counts[((key >> shift) & (LOVASZ_RADIX - 1)) * threads + t]++;
        sorted_keys[at] = key;
        sorted_values[at] = values[i];
    }
}

kernel void lovasz_walk_counts(global const uint* values, int length, int chunk, int threads, global uint* counts)
{
    int t = (int)get_global_id(0);
    if (t >= threads)
        return;
    uint foreground = 0, background = 0;
    int from = t * chunk, to = min(length, from + chunk);
    for (int i = from; i < to; i++)
    {
        uint value = values[i];
        foreground += (value & LOVASZ_FOREGROUND) ? 1 : 0;
        background += (value & (LOVASZ_FOREGROUND | LOVASZ_IGNORED)) ? 0 : 1;
    }
    counts[t] = foreground;
    counts[threads + t] = background;
}

/* counts: the exclusive scan of [foreground per chunk, background per chunk], so counts[threads] is the task's foreground
 * count and counts[threads + t] − counts[threads] the background before chunk t. Position i of the task lands at
 * first + i / span · stride + i % span of the destination. */
kernel void lovasz_walk(global const uint* keys, global const uint* values, int length, int chunk, int threads, global const uint* counts,
    long first, int span, long stride, float gradient_scale, int write_gradient, global float* destination, global acc_t* partials, int partial_offset)
{
    int t = (int)get_global_id(0);
    if (t >= threads)
        return;
    uint foreground_count = counts[threads], foreground_before = counts[t], background_before = counts[threads + t] - foreground_count;
    acc_t sum = 0;
    int from = t * chunk, to = min(length, from + chunk);
    for (int i = from; i < to; i++)
    {
        uint value = values[i];
        int position = (int)(value & LOVASZ_POSITION);
        int row = position / span;
        size_t at = (size_t)(first + (long)row * stride + (position - row * span));
        if (value & LOVASZ_IGNORED)
        {
            if (write_gradient)
                destination[at] = 0.0f;
            continue;
        }
        int foreground = (value & LOVASZ_FOREGROUND) != 0;
        float error = lovasz_error(keys[i]);
        float weight = lovasz_weight(foreground, (float)foreground_before, (float)background_before, (float)foreground_count);
        foreground_before += foreground ? 1 : 0;
        background_before += foreground ? 0 : 1;
        sum += (error < 0.0f ? 0.0f : error) * weight;
        if (write_gradient)
            destination[at] = gradient_scale * (error > 0.0f ? (foreground ? -weight : weight) : 0.0f);
    }
    partials[partial_offset + t] = sum;
}

kernel void lovasz_clear(global float* destination, long first, int length, int span, long stride)
{
    int i = (int)get_global_id(0);
    int row = i / span;
    if (i < length)
        destination[first + (long)row * stride + (i - row * span)] = 0.0f;
}

kernel void lovasz_softmax_chain(global const float* input, global const float* stats, global const float* probability_gradient, int classes, int spatial,
    int pixels, global float* grad)
{
    int i = (int)get_global_id(0);
    if (i >= pixels)
        return;
    int n = i / spatial, s = i - n * spatial;
    size_t first = (size_t)n * classes * spatial + s;
    float max = stats[2 * (size_t)i], inverse_sum = stats[2 * (size_t)i + 1], dot = 0.0f;
    for (int c = 0; c < classes; c++)
        dot = fma(exp(input[first + (size_t)c * spatial] - max) * inverse_sum, probability_gradient[first + (size_t)c * spatial], dot);
    for (int c = 0; c < classes; c++)
    {
        size_t at = first + (size_t)c * spatial;
        grad[at] = exp(input[at] - max) * inverse_sum * (probability_gradient[at] - dot);
    }
}
