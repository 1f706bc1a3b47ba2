/* Cross entropy on [N, C] logits with hard targets: the OpenCL side of
 * bindings/LossKernels/Classification/CrossEntropy.cs, the same formulas.
 *
 * Two launches. cross_entropy_targets checks every target (record_fault for one outside [0, C) that is not
 * ignore_index, so that no later read goes out of bounds) and writes each row's target weight w_y (0 when
 * ignored) as a partial: the host adds them in index order for the mean's divisor, which the gradient needs.
 * cross_entropy_rows then gives a work-group to a row: its work-items stride over the classes (loads
 * coalesce), and three sweeps — max and Σ w_c·x_c, e_c = exp(x_c − max) into the gradient row with their sum,
 * the gradient from e_c — each end in one barrier and a sum of the group's values in work-item order (no
 * atomics, the same order every launch). Each work-item rereads only what it wrote, so the gradient may be
 * the logits buffer itself. Row losses go to the partials for the host to add in order. On CPU devices (PoCL), which run
 * barriers slowly and vectorize neither a group's loops nor a work-item's scalar loop, cross_entropy_row_vectors walks a row in
 * float16 vectors in one work-item, cross_entropy_row_lanes takes sixteen short rows in the lanes of one, and
 * cross_entropy_position_lanes sixteen neighbouring positions of an [N, C, d…] input. */

#define ROW_GROUP 256

kernel void cross_entropy_targets(global const long* target, global const float* class_weight, int rows, int classes, long ignore_index,
    global acc_t* target_weights, volatile global int* first_fault)
{
    size_t r = get_global_id(0);
    if (r >= (size_t)rows)
        return;
    long y = target[r];
    float weight = 0.0f;
    if (y != ignore_index)
    {
        if (y < 0 || y >= classes)
            record_fault(first_fault, (int)r);
        else
            weight = class_weight ? class_weight[y] : 1.0f;
    }
    target_weights[r] = weight;
}

/* Distribution focal labels must lie in [0, C − 1] (NaN fails too): records the first that does not. */
kernel void check_distribution_labels(global const float* label, int rows, int classes, volatile global int* first_fault)
{
    size_t r = get_global_id(0);
    if (r < (size_t)rows && !(label[r] >= 0.0f && label[r] <= (float)(classes - 1)))
        record_fault(first_fault, (int)r);
}

/* a_c, the target's share of class c: (ε/C)·w_c for a hard target (its own (1 − ε)·w_y is added at y alone), and
 * w_c·((1 − ε)·t_c + ε/C) for soft targets t. */
inline float class_share(global const float* class_weight, global const float* soft, size_t c, size_t stride, float smoothing, float uniform)
{
    float a = soft ? soft[c * stride] * (1.0f - smoothing) + uniform : uniform;
    return class_weight ? class_weight[c] * a : a;
}

/* What a row's target puts on its classes: (1 − ε)·w_y·row weight at y for an index (nothing when ignored); for a continuous
 * label l (distribution focal loss, checked by the host) the row weight split as (⌊l⌋ + 1 − l) at ⌊l⌋ and (l − ⌊l⌋) at ⌊l⌋ + 1;
 * nothing for soft targets. right = −1 when there is no second class. */
typedef struct
{
    bool active;
    long left, right;
    float left_share, right_share;
} row_target;

inline row_target target_of_row(size_t r, global const long* target, global const float* continuous_target, global const float* row_weight,
    global const float* class_weight, int classes, long ignore_index, float smoothing, bool indexed)
{
    row_target t = { true, 0, -1, 0.0f, 0.0f };
    float weight = row_weight ? row_weight[r] : 1.0f;
    if (continuous_target)
    {
        float label = continuous_target[r];
        t.left = (long)label;
        t.right = t.left + 1 < classes ? t.left + 1 : -1;
        t.left_share = weight * ((float)(t.left + 1) - label);
        t.right_share = weight * (label - (float)t.left);
    }
    else if (indexed)
    {
        long y = target[r];
        t.active = y != ignore_index && y >= 0 && y < classes;
        t.left = y;
        if (t.active)
            t.left_share = (1.0f - smoothing) * (class_weight ? class_weight[y] : 1.0f) * weight;
    }
    return t;
}

/* Softmax focal loss (mmcv): ℓ = α·w_y·m^γ·(−ln p), m = 1 − p, p = softmax_y; the target's share becomes
 * K = α·w_y·m^γ·(1 − γ·p·ln p / m), with ln p / m → −1 where m = 0 (the gradient's finite limit). Returns ℓ. */
inline acc_t focal_target(row_target* t, acc_t target_logits, acc_t lse, float focal_alpha, float focal_gamma)
{
    acc_t log_p = target_logits / t->left_share - lse;
    acc_t p = exp(log_p);
    acc_t m = 1 - p;
    acc_t modulation = m > 0 ? pow(m, (acc_t)focal_gamma) : (focal_gamma == 0.0f ? 1 : 0);
    acc_t ratio = m > 0 ? log_p / m : -1;
    acc_t weight_term = focal_alpha * (acc_t)t->left_share * modulation;
    t->left_share = (float)(weight_term * (1 - focal_gamma * p * ratio));
    return -weight_term * log_p;
}

/* A row's loss from its sums. Terms with a zero factor are skipped, not multiplied by 0 (∞·0 would be NaN), as on the CPU. */
inline acc_t loss_of_row(bool focal, acc_t focal_loss, acc_t mass, acc_t lse, acc_t target_logits, bool per_class, acc_t share_sum,
    acc_t weighted_logits, float lse_square_scale)
{
    acc_t loss = 0;
    if (focal)
        loss = focal_loss;
    else if (mass != 0)
        loss = mass * lse - target_logits;
    if (per_class)
        loss += share_sum * lse - weighted_logits;
    if (lse_square_scale != 0.0f)
        loss += lse_square_scale * lse * lse;
    return loss;
}

/* The target's shares times their logits. Read before the gradient, which may be the logits buffer itself, overwrites them. */
inline acc_t target_logits_of(row_target t, global const float* x)
{
    return (t.left_share != 0.0f ? (acc_t)t.left_share * x[t.left] : 0) + (t.right >= 0 && t.right_share != 0.0f ? (acc_t)t.right_share * x[t.right] : 0);
}

/* The max sweep over x[from], x[from + step], … below to, one logit at a time: returns the max (NaN if any is NaN) and adds
 * Σ a_c·x_c and Σ a_c to *weighted and *shares when the shares are per class. */
inline float scalar_max_sweep(global const float* x, size_t from, size_t to, size_t step, float row_max, bool per_class,
    global const float* class_weight, global const float* soft, float smoothing, float uniform, acc_t* weighted, acc_t* shares)
{
    for (size_t c = from; c < to; c += step)
    {
        float v = x[c];
        row_max = isnan(v) || v > row_max ? v : row_max;
        if (per_class)
        {
            float a = class_share(class_weight, soft, c, 1, smoothing, uniform);
            *weighted += a * v;
            *shares += a;
        }
    }
    return row_max;
}

/* Sixteen rows' or positions' losses (the lanes kernels) from their sweeps: gaps = Σ share·(max − x) over the target's shares,
 * + mass·ln Σe, the per-class shares' Σ a·(max − x) + Σa·ln Σe, and z·lse²; 0 in the inactive (ignored) lanes. */
inline float16 lane_losses(float16 gaps, float16 mass, float16 row_max, float16 log_sum, bool per_class, float16 class_gaps, float16 share_sum,
    float lse_square_scale, int16 active)
{
    float16 loss = gaps + mass * log_sum;
    if (per_class)
        loss += class_gaps + share_sum * log_sum;
    if (lse_square_scale != 0.0f)
    {
        float16 lse = row_max + log_sum;
        loss += lse_square_scale * lse * lse;
    }
    return select((float16)(0.0f), loss, active);
}

/* One work-group per row. Optional buffers (soft_target, continuous_target, row_weight, class_weight, upstream, output,
 * grad) may be NULL; with soft targets (N·C probabilities) or continuous labels (distribution focal loss) the index target
 * is NULL and no row is ignored.
 * ℓ = m·lse − Σ share·x + Σa·lse − Σ a_c·x_c + z·lse², m the target's own shares' sum (0 for soft targets);
 * grad_c = scale·(e_c/Σe)·(m + Σa + 2z·lse) − scale·a_c − scale·(the target's share of c). */
kernel void cross_entropy_rows(global const float* logits, global const long* target, global const float* soft_target,
    global const float* continuous_target, global const float* row_weight,
    global const float* class_weight, global const float* upstream, global float* output, global float* grad, int rows, int classes,
    long ignore_index, float smoothing, float lse_square_scale, float gradient_scale, float focal_alpha, float focal_gamma, int focal,
    global acc_t* row_losses)
{
    local float max_scratch[ROW_GROUP];
    local acc_t sum_scratch[ROW_GROUP];
    size_t r = get_group_id(0);
    size_t lid = get_local_id(0), size = get_local_size(0);
    /* Every work-item of the group reaches every barrier: an ignored row runs the sweeps over no classes
     * (PoCL compiles barriers under divergent-looking control flow poorly, even when it is uniform). */
    global const float* soft = soft_target ? soft_target + r * (size_t)classes : 0;
    row_target t = target_of_row(r, target, continuous_target, row_weight, class_weight, classes, ignore_index, smoothing,
        !soft && !continuous_target);
    bool per_class = soft || smoothing != 0.0f;
    float uniform = smoothing / classes;
    size_t extent = t.active ? (size_t)classes : 0;
    global const float* x = logits + r * (size_t)classes;
    global float* g = grad ? grad + r * (size_t)classes : 0;

    acc_t weighted = 0, shares = 0;
    float local_max = scalar_max_sweep(x, lid, extent, size, -INFINITY, per_class, class_weight, soft, smoothing, uniform, &weighted, &shares);
    acc_t target_logits = target_logits_of(t, x);
    float row_max = group_max(max_scratch, local_max);
    acc_t weighted_logits = group_sum(sum_scratch, weighted);
    acc_t share_sum = group_sum(sum_scratch, shares);

    acc_t partial = 0;
    for (size_t c = lid; c < extent; c += size)
    {
        float e = exp(x[c] - row_max);
        partial += e;
        if (g)
            g[c] = e;
    }
    acc_t sum_exp = group_sum(sum_scratch, partial);
    acc_t lse = row_max + log(sum_exp);

    acc_t focal_loss = focal && t.active && t.left_share != 0.0f ? focal_target(&t, target_logits, lse, focal_alpha, focal_gamma) : 0;
    acc_t scale = gradient_scale * (upstream ? upstream[r] : 1.0f);
    acc_t mass = (acc_t)t.left_share + t.right_share;
    if (g)
    {
        float coefficient = (float)(scale * (mass + share_sum + 2 * (acc_t)lse_square_scale * lse) / sum_exp);
        float offset = (float)scale;
        for (size_t c = lid; c < (size_t)classes; c += size)
            g[c] = !t.active ? 0.0f : per_class ? g[c] * coefficient - class_share(class_weight, soft, c, 1, smoothing, uniform) * offset : g[c] * coefficient;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (lid == 0)
    {
        acc_t loss = 0;
        if (t.active)
        {
            if (g && t.left_share != 0.0f)
                g[t.left] -= (float)(scale * t.left_share);
            if (g && t.right >= 0 && t.right_share != 0.0f)
                g[t.right] -= (float)(scale * t.right_share);
            loss = loss_of_row(focal, focal_loss, mass, lse, target_logits, per_class, share_sum, weighted_logits, lse_square_scale);
        }
        if (output)
            output[r] = (float)loss;
        row_losses[r] = loss;
    }
}

#ifdef cl_khr_fp64
typedef double16 acc16_t;
#define convert_acc16 convert_double16
#else
typedef float16 acc16_t;
#define convert_acc16 convert_float16
#endif

/* The sixteen lanes added in a fixed order: halves, quarters, eighths, then the last pair. */
inline acc_t sum_lanes(acc16_t v)
{
    acc_t lanes[16];
    vstore16(v, 0, lanes);
    for (int width = 8; width > 0; width /= 2)
        for (int k = 0; k < width; k++)
            lanes[k] += lanes[k + width];
    return lanes[0];
}

inline float16 class_shares16(global const float* class_weight, global const float* soft, size_t c, float smoothing, float uniform)
{
    float16 a = soft ? vload16(0, soft + c) * (1.0f - smoothing) + uniform : (float16)(uniform);
    return class_weight ? vload16(0, class_weight + c) * a : a;
}

/* cross_entropy_rows for CPU devices (PoCL): one work-item per row, its classes walked in float16 vectors and the last C mod 16
 * one by one, with no barrier (PoCL loops over each barrier region and spills across it). The same arguments, formulas and
 * sweeps; the lanes' sums are added in a fixed order, so a launch gives the same bits every time. */
kernel void cross_entropy_row_vectors(global const float* logits, global const long* target, global const float* soft_target,
    global const float* continuous_target, global const float* row_weight,
    global const float* class_weight, global const float* upstream, global float* output, global float* grad, int rows, int classes,
    long ignore_index, float smoothing, float lse_square_scale, float gradient_scale, float focal_alpha, float focal_gamma, int focal,
    global acc_t* row_losses)
{
    size_t r = get_global_id(0);
    if (r >= (size_t)rows)
        return;
    global const float* soft = soft_target ? soft_target + r * (size_t)classes : 0;
    row_target t = target_of_row(r, target, continuous_target, row_weight, class_weight, classes, ignore_index, smoothing,
        !soft && !continuous_target);
    global float* g = grad ? grad + r * (size_t)classes : 0;
    if (!t.active)
    {
        if (g)
            for (int c = 0; c < classes; c++)
                g[c] = 0.0f;
        if (output)
            output[r] = 0.0f;
        row_losses[r] = 0;
        return;
    }

    bool per_class = soft || smoothing != 0.0f;
    float uniform = smoothing / classes;
    size_t vectors = (size_t)classes & ~(size_t)15;
    global const float* x = logits + r * (size_t)classes;

    float16 maxima = (float16)(-INFINITY);
    acc16_t weighted16 = 0, shares16 = 0;
    for (size_t c = 0; c < vectors; c += 16)
    {
        float16 v = vload16(0, x + c);
        maxima = nan_max(maxima, v);
        if (per_class)
        {
            float16 a = class_shares16(class_weight, soft, c, smoothing, uniform);
            weighted16 += convert_acc16(a * v);
            shares16 += convert_acc16(a);
        }
    }
    float lane_maxima[16];
    vstore16(maxima, 0, lane_maxima);
    float row_max = lane_maxima[0];
    for (int k = 1; k < 16; k++)
        row_max = nan_max(row_max, lane_maxima[k]);
    acc_t weighted_logits = sum_lanes(weighted16), share_sum = sum_lanes(shares16);
    row_max = scalar_max_sweep(x, vectors, classes, 1, row_max, per_class, class_weight, soft, smoothing, uniform, &weighted_logits, &share_sum);
    acc_t target_logits = target_logits_of(t, x);

    acc16_t sums = 0;
    for (size_t c = 0; c < vectors; c += 16)
    {
        float16 e = exp(vload16(0, x + c) - row_max);
        sums += convert_acc16(e);
        if (g)
            vstore16(e, 0, g + c);
    }
    acc_t sum_exp = sum_lanes(sums);
    for (size_t c = vectors; c < (size_t)classes; c++)
    {
        float e = exp(x[c] - row_max);
        sum_exp += e;
        if (g)
            g[c] = e;
    }
    /* ln Σe in float, as the CPU kernels take it: a double logarithm cost short rows (distribution focal's 17) 40% of their time. */
    acc_t lse = row_max + log((float)sum_exp);

    acc_t focal_loss = focal && t.left_share != 0.0f ? focal_target(&t, target_logits, lse, focal_alpha, focal_gamma) : 0;
    acc_t scale = gradient_scale * (upstream ? upstream[r] : 1.0f);
    acc_t mass = (acc_t)t.left_share + t.right_share;
    if (g)
    {
        float coefficient = (float)(scale * (mass + share_sum + 2 * (acc_t)lse_square_scale * lse) / sum_exp);
        float offset = (float)scale;
        for (size_t c = 0; c < vectors; c += 16)
        {
            float16 e = vload16(0, g + c);
            vstore16(per_class ? e * coefficient - class_shares16(class_weight, soft, c, smoothing, uniform) * offset : e * coefficient, 0, g + c);
        }
        for (size_t c = vectors; c < (size_t)classes; c++)
            g[c] = per_class ? g[c] * coefficient - class_share(class_weight, soft, c, 1, smoothing, uniform) * offset : g[c] * coefficient;
        if (t.left_share != 0.0f)
            g[t.left] -= (float)(scale * t.left_share);
        if (t.right >= 0 && t.right_share != 0.0f)
            g[t.right] -= (float)(scale * t.right_share);
    }
    acc_t loss = loss_of_row(focal, focal_loss, mass, lse, target_logits, per_class, share_sum, weighted_logits, lse_square_scale);
    if (output)
        output[r] = (float)loss;
    row_losses[r] = loss;
}

/* The widest rows cross_entropy_row_lanes takes (the host's CrossEntropyProgram.RowLanesMaxClasses): its columns stay in private memory. */
#define ROW_LANES_MAX_CLASSES 32

/* Sixteen floats at p[o.s0], …, p[o.sf]: a column of the sixteen rows a work-item of cross_entropy_row_lanes holds. */
#define GATHER16(p, o) ((float16)((p)[(o).s0], (p)[(o).s1], (p)[(o).s2], (p)[(o).s3], (p)[(o).s4], (p)[(o).s5], (p)[(o).s6], (p)[(o).s7], \
    (p)[(o).s8], (p)[(o).s9], (p)[(o).sa], (p)[(o).sb], (p)[(o).sc], (p)[(o).sd], (p)[(o).se], (p)[(o).sf]))
/* v's sixteen lanes to p[o.s0], …, p[o.sf]. */
#define SCATTER16(p, o, v) do { (p)[(o).s0] = (v).s0; (p)[(o).s1] = (v).s1; (p)[(o).s2] = (v).s2; (p)[(o).s3] = (v).s3; \
    (p)[(o).s4] = (v).s4; (p)[(o).s5] = (v).s5; (p)[(o).s6] = (v).s6; (p)[(o).s7] = (v).s7; (p)[(o).s8] = (v).s8; (p)[(o).s9] = (v).s9; \
    (p)[(o).sa] = (v).sa; (p)[(o).sb] = (v).sb; (p)[(o).sc] = (v).sc; (p)[(o).sd] = (v).sd; (p)[(o).se] = (v).se; (p)[(o).sf] = (v).sf; } while (0)

/* count rows of C floats from source to destination (global and private memory, either way): as C float16 vectors when all
 * sixteen rows are there. */
#define COPY_ROWS(destination, source, count, classes) do { \
    if ((count) == 16) \
        for (int i = 0; i < (classes); i++) \
            vstore16(vload16(i, (source)), i, (destination)); \
    else \
        for (int i = 0; i < (count) * (classes); i++) \
            (destination)[i] = (source)[i]; \
} while (0)

/* cross_entropy_row_vectors for short rows (C ≤ ROW_LANES_MAX_CLASSES: distribution focal's 17, a detector's classes) on CPU
 * devices: a work-item takes sixteen rows, one per lane, and walks their classes as columns, so that the exponentials, the
 * logarithm and the per-row terms run sixteen rows at a time (one row per work-item spent a third of its time in a scalar
 * logarithm). Hard or continuous targets, class and row weights, label smoothing and z-loss, as the CPU's blocked rows; soft
 * targets and softmax focal take cross_entropy_row_vectors. The sixteen rows, 16·C contiguous floats, are loaded as C vectors into
 * private memory and their columns gathered there (gathers from global memory stalled the max sweep); the Σe sweep keeps each
 * column's e, and the gradient goes back through the same tile. Lanes past the last row repeat it and store nothing. The loss is taken as
 * Σ share·(max − x) + mass·ln Σe, which does not cancel where the target dominates. Every logit is read before the first
 * gradient is written, so grad may be the logits buffer itself. */
kernel void cross_entropy_row_lanes(global const float* logits, global const long* target, global const float* continuous_target,
    global const float* row_weight, global const float* class_weight, global const float* upstream, global float* output, global float* grad,
    int rows, int classes, long ignore_index, float smoothing, float lse_square_scale, float gradient_scale, global acc_t* row_losses)
{
    size_t first = get_global_id(0) * 16;
    if (first >= (size_t)rows)
        return;
    int count = min(16, (int)((size_t)rows - first));
    int16 row_of_lane = min(LANE_INDICES16, (int16)(count - 1));
    int16 offsets = row_of_lane * classes;
    global const float* x = logits + first * (size_t)classes;

    float left_shares[16], right_shares[16];
    int lefts[16], rights[16], actives[16];
    bool indexed = !continuous_target;
    for (int k = 0; k < 16; k++)
    {
        row_target t = target_of_row(first + min(k, count - 1), target, continuous_target, row_weight, class_weight, classes, ignore_index,
            smoothing, indexed);
        left_shares[k] = t.left_share;
        right_shares[k] = t.right_share;
        lefts[k] = t.active ? (int)t.left : -1;
        rights[k] = (int)t.right;
        actives[k] = t.active ? -1 : 0;
    }
    float16 left_share = vload16(0, left_shares), right_share = vload16(0, right_shares);
    int16 left = vload16(0, lefts), right = vload16(0, rights), active = vload16(0, actives);

    float16 columns[ROW_LANES_MAX_CLASSES];
    float tile[16 * ROW_LANES_MAX_CLASSES];
    COPY_ROWS(tile, x, count, classes);
    bool per_class = smoothing != 0.0f;
    float uniform = smoothing / classes;
    float16 row_max = (float16)(-INFINITY), left_logit = 0.0f, right_logit = 0.0f;
    for (int c = 0; c < classes; c++)
    {
        float16 v = GATHER16(tile + c, offsets);
        columns[c] = v;
        row_max = nan_max(row_max, v);
        left_logit = select(left_logit, v, left == c);
        right_logit = select(right_logit, v, right == c);
    }
    float16 sum = 0.0f, class_gaps = 0.0f;
    float share_sum = 0.0f;
    for (int c = 0; c < classes; c++)
    {
        float16 v = columns[c];
        float16 e = exp(v - row_max);
        columns[c] = e;
        sum += e;
        if (per_class)
        {
            float a = uniform * (class_weight ? class_weight[c] : 1.0f);
            class_gaps += a * (row_max - v);
            share_sum += a;
        }
    }
    float16 log_sum = log(sum);
    float16 lse = row_max + log_sum;
    float16 mass = left_share + right_share;
    /* A zero share adds nothing, even beside an infinite logit (0·∞ would be NaN). */
    float16 gaps = select(left_share * (row_max - left_logit), 0.0f, left_share == 0.0f)
        + select(right_share * (row_max - right_logit), 0.0f, right_share == 0.0f);
    float16 loss = lane_losses(gaps, mass, row_max, log_sum, per_class, class_gaps, share_sum, lse_square_scale, active);

    if (grad)
    {
        global float* g = grad + first * (size_t)classes;
        float16 scale = gradient_scale * (upstream ? GATHER16(upstream + first, row_of_lane) : (float16)(1.0f));
        float16 coefficient = scale * (mass + share_sum + 2.0f * lse_square_scale * lse) / sum;
        float16 left_term = scale * left_share, right_term = scale * right_share;
        for (int c = 0; c < classes; c++)
        {
            float16 gradient = columns[c] * coefficient;
            if (per_class)
                gradient -= uniform * (class_weight ? class_weight[c] : 1.0f) * scale;
            gradient -= select((float16)(0.0f), left_term, left == c) + select((float16)(0.0f), right_term, right == c);
            gradient = select((float16)(0.0f), gradient, active);
            SCATTER16(tile + c, offsets, gradient);
        }
        COPY_ROWS(g, tile, count, classes);
    }
    float losses[16];
    vstore16(loss, 0, losses);
    for (int k = 0; k < count; k++)
    {
        if (output)
            output[first + k] = losses[k];
        row_losses[first + k] = losses[k];
    }
}

/* nll_loss, the second half of cross entropy on log-probabilities: ℓ_r = −w_y·x[r, y]. One work-item per row checks
 * its target (record_fault), and writes w_y (0 when ignored) to partials[r] and ℓ_r to partials[rows + r] for the host
 * to add in order, and to output when given. */
kernel void nll_rows(global const float* input, global const long* target, global const float* class_weight, int rows, int classes,
    long ignore_index, global acc_t* partials, global float* output, volatile global int* first_fault)
{
    size_t r = get_global_id(0);
    if (r >= (size_t)rows)
        return;
    long y = target[r];
    float weight = 0.0f, loss = 0.0f;
    if (y != ignore_index)
    {
        if (y < 0 || y >= classes)
            record_fault(first_fault, (int)r);
        else
        {
            weight = class_weight ? class_weight[y] : 1.0f;
            loss = -weight * input[r * (size_t)classes + y];
        }
    }
    partials[r] = weight;
    partials[rows + r] = loss;
    if (output)
        output[r] = loss;
}

/* The whole [N, C] gradient, one work-item per element: −scale·w_y·upstream_r at [r, y], 0 elsewhere and on ignored rows.
 * Launched after nll_rows has read the input, so it may overwrite it in place. */
kernel void nll_gradient(global const long* target, global const float* class_weight, global const float* upstream, global float* grad,
    int rows, int classes, long ignore_index, float scale)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * (size_t)classes)
        return;
    size_t r = i / (size_t)classes;
    long c = (long)(i - r * (size_t)classes);
    long y = target[r];
    grad[i] = y != ignore_index && y == c ? -(class_weight ? class_weight[y] : 1.0f) * scale * (upstream ? upstream[r] : 1.0f) : 0.0f;
}

/* CPU devices: nll_gradient a row per work-item (where an element each divides its index and leaves PoCL scalar stores), the
 * row's zeros in float16 stores and then its target's element, the same value as nll_gradient writes there. */
kernel void nll_gradient_rows(global const long* target, global const float* class_weight, global const float* upstream, global float* grad,
    int rows, int classes, long ignore_index, float scale)
{
    size_t r = get_global_id(0);
    if (r >= (size_t)rows)
        return;
    global float* g = grad + r * (size_t)classes;
    size_t vectors = (size_t)classes & ~(size_t)15;
    for (size_t c = 0; c < vectors; c += 16)
        vstore16((float16)0.0f, 0, g + c);
    for (size_t c = vectors; c < (size_t)classes; c++)
        g[c] = 0.0f;
    long y = target[r];
    if (y != ignore_index)
        g[y] = -(class_weight ? class_weight[y] : 1.0f) * scale * (upstream ? upstream[r] : 1.0f);
}

/* Where position i's class-0 logit is in an [N, C, D] input (D = spatial; [N, C] is D = 1): n·C·D + s. */
inline size_t position_base(size_t i, int classes, int spatial)
{
    size_t sample = i / (size_t)spatial;
    return sample * (size_t)classes * (size_t)spatial + (i - sample * (size_t)spatial);
}

/* [N, C, d…] input (D = d1·d2·… positions per sample, the class axis D apart): one work-item per position, which
 * walks its classes three times, so neighbouring work-items read neighbouring addresses. The same formulas as
 * cross_entropy_rows; no barriers. Ignored positions get a zero gradient and loss. position_weight (or NULL) weighs each
 * position's hard target, as row_weight weighs a row's in cross_entropy_rows. */
inline void cross_entropy_position(size_t i, global const float* logits, global const long* target, global const float* soft_target,
    global const float* position_weight, global const float* class_weight, global const float* upstream, global float* output, global float* grad, int classes,
    int spatial, long ignore_index, float smoothing, float lse_square_scale, float gradient_scale, global acc_t* position_losses)
{
    size_t base = position_base(i, classes, spatial);
    global const float* x = logits + base;
    global const float* soft = soft_target ? soft_target + base : 0;
    global float* g = grad ? grad + base : 0;
    long y = soft ? 0 : target[i];
    bool active = soft || (y != ignore_index && y >= 0 && y < classes);
    if (!active)
    {
        if (g)
            for (int c = 0; c < classes; c++)
                g[(size_t)c * spatial] = 0.0f;
        if (output)
            output[i] = 0.0f;
        position_losses[i] = 0;
        return;
    }

    /* Read before the gradient, which may be the logits buffer itself, overwrites it. */
    float target_logit = soft ? 0.0f : x[(size_t)y * spatial];
    bool per_class = soft || smoothing != 0.0f;
    float uniform = smoothing / classes;
    float row_max = -INFINITY;
    acc_t weighted = 0, share_sum = 0;
    for (int c = 0; c < classes; c++)
    {
        float v = x[(size_t)c * spatial];
        row_max = isnan(v) || v > row_max ? v : row_max;
        if (per_class)
        {
            float a = class_share(class_weight, soft, c, spatial, smoothing, uniform);
            weighted += a * v;
            share_sum += a;
        }
    }
    acc_t sum_exp = 0;
    for (int c = 0; c < classes; c++)
    {
        float e = exp(x[(size_t)c * spatial] - row_max);
        sum_exp += e;
        if (g)
            g[(size_t)c * spatial] = e;
    }
    acc_t lse = row_max + log(sum_exp);
    /* A position weight (U-Net's weight map) scales the hard target's share, so its loss and gradient. */
    float target_weight = (!soft && class_weight ? class_weight[y] : 1.0f) * (!soft && position_weight ? position_weight[i] : 1.0f);
    acc_t hard = soft ? 0 : (1.0f - smoothing) * (acc_t)target_weight;
    if (g)
    {
        acc_t scale = gradient_scale * (upstream ? upstream[i] : 1.0f);
        float coefficient = (float)(scale * (hard + share_sum + 2 * (acc_t)lse_square_scale * lse) / sum_exp);
        for (int c = 0; c < classes; c++)
        {
            float e = g[(size_t)c * spatial];
            g[(size_t)c * spatial] = per_class
                ? e * coefficient - class_share(class_weight, soft, c, spatial, smoothing, uniform) * (float)scale
                : e * coefficient;
        }
        if (!soft)
            g[(size_t)y * spatial] -= (float)(scale * hard);
    }

    acc_t loss = 0;
    if (!soft)
        loss = hard * (lse - target_logit);
    if (per_class)
        loss += share_sum * lse - weighted;
    if (lse_square_scale != 0.0f)
        loss += lse_square_scale * lse * lse;
    if (output)
        output[i] = (float)loss;
    position_losses[i] = loss;
}


kernel void cross_entropy_positions(global const float* logits, global const long* target, global const float* soft_target,
    global const float* position_weight, global const float* class_weight, global const float* upstream, global float* output, global float* grad, int positions, int classes,
    int spatial, long ignore_index, float smoothing, float lse_square_scale, float gradient_scale, global acc_t* position_losses)
{
    size_t i = get_global_id(0);
    if (i < (size_t)positions)
        cross_entropy_position(i, logits, target, soft_target, position_weight, class_weight, upstream, output, grad, classes, spatial, ignore_index,
            smoothing, lse_square_scale, gradient_scale, position_losses);
}

/* class_share of class c for sixteen neighbouring positions (soft targets D apart per class): w_c·((1 − ε)·t_c + ε/C), or w_c·ε/C. */
inline float16 position_shares16(global const float* class_weight, global const float* soft, int c, int spatial, float smoothing, float uniform)
{
    float16 a = soft ? vload16(0, soft + (size_t)c * spatial) * (1.0f - smoothing) + uniform : (float16)(uniform);
    return class_weight ? class_weight[c] * a : a;
}

/* cross_entropy_positions for CPU devices (PoCL): a work-item takes sixteen neighbouring positions of one sample, one per lane, as
 * the CPU kernel's blocks do, so that each class is one float16 load and every exponential, logarithm and per-position term runs
 * sixteen positions at a time. A sample's last D mod 16 positions go one by one through cross_entropy_position. Three sweeps, as
 * there: the max (the hard target's logit picked up as its class passes), e into the gradient with Σe, then the gradient; the loss
 * is Σ share·(max − x) + mass·ln Σe, which does not cancel where the target dominates. Each lane rereads only what it wrote, so
 * grad may be the logits buffer itself. */
kernel void cross_entropy_position_lanes(global const float* logits, global const long* target, global const float* soft_target,
    global const float* position_weight, global const float* class_weight, global const float* upstream, global float* output, global float* grad, int positions, int classes,
    int spatial, long ignore_index, float smoothing, float lse_square_scale, float gradient_scale, global acc_t* position_losses)
{
    size_t blocks = ((size_t)spatial + 15) / 16;
    size_t item = get_global_id(0);
    size_t sample = item / blocks;
    size_t s = (item - sample * blocks) * 16;
    if (sample * (size_t)spatial >= (size_t)positions)
        return;
    size_t first = sample * (size_t)spatial + s;
    if (s + 16 > (size_t)spatial)
    {
        for (size_t p = first; p < (sample + 1) * (size_t)spatial; p++)
            cross_entropy_position(p, logits, target, soft_target, position_weight, class_weight, upstream, output, grad, classes, spatial, ignore_index,
                smoothing, lse_square_scale, gradient_scale, position_losses);
        return;
    }

    size_t base = position_base(first, classes, spatial);
    global const float* x = logits + base;
    global const float* soft = soft_target ? soft_target + base : 0;
    bool per_class = soft || smoothing != 0.0f;
    float uniform = smoothing / classes;
    int16 y = -1, active = -1;
    float16 hard = 0.0f;
    if (!soft)
    {
        long16 targets = vload16(0, target + first);
        active = convert_int16(targets != ignore_index & targets >= 0 & targets < classes);
        y = select((int16)(-1), convert_int16(targets), active);
        /* A position weight (U-Net's weight map) scales the hard target's share, so its loss and gradient. */
        float weights[16];
        for (int k = 0; k < 16; k++)
        {
            long t = target[first + k];
            weights[k] = t != ignore_index && t >= 0 && t < classes && class_weight ? class_weight[t] : 1.0f;
        }
        float16 target_weight = vload16(0, weights) * (position_weight ? vload16(0, position_weight + first) : (float16)(1.0f));
        hard = select((float16)(0.0f), (1.0f - smoothing) * target_weight, active);
    }

    float16 row_max = (float16)(-INFINITY), target_logit = 0.0f;
    for (int c = 0; c < classes; c++)
    {
        float16 v = vload16(0, x + (size_t)c * spatial);
        row_max = nan_max(row_max, v);
        target_logit = select(target_logit, v, y == c);
    }
    float16 sum = 0.0f, class_gaps = 0.0f, share_sum = 0.0f;
    global float* g = grad ? grad + base : 0;
    for (int c = 0; c < classes; c++)
    {
        float16 v = vload16(0, x + (size_t)c * spatial);
        float16 e = exp(v - row_max);
        sum += e;
        if (per_class)
        {
            float16 a = position_shares16(class_weight, soft, c, spatial, smoothing, uniform);
            /* A zero share adds nothing, even beside an infinite logit (0·∞ would be NaN). */
            class_gaps += select(a * (row_max - v), 0.0f, a == 0.0f);
            share_sum += a;
        }
        if (g)
            vstore16(e, 0, g + (size_t)c * spatial);
    }
    float16 log_sum = log(sum);
    float16 lse = row_max + log_sum;
    float16 loss = lane_losses(select(hard * (row_max - target_logit), 0.0f, hard == 0.0f), hard, row_max, log_sum, per_class, class_gaps,
        share_sum, lse_square_scale, active);

    if (g)
    {
        float16 scale = gradient_scale * (upstream ? vload16(0, upstream + first) : (float16)(1.0f));
        float16 coefficient = scale * (hard + share_sum + 2.0f * lse_square_scale * lse) / sum;
        float16 target_term = scale * hard;
        for (int c = 0; c < classes; c++)
        {
            global float* gc = g + (size_t)c * spatial;
            float16 gradient = vload16(0, gc) * coefficient;
            if (per_class)
                gradient -= position_shares16(class_weight, soft, c, spatial, smoothing, uniform) * scale;
            gradient -= select((float16)(0.0f), target_term, y == c);
            vstore16(select((float16)(0.0f), gradient, active), 0, gc);
        }
    }
    if (output)
        vstore16(loss, 0, output + first);
    float losses[16];
    vstore16(loss, 0, losses);
    for (int k = 0; k < 16; k++)
        position_losses[first + k] = losses[k];
}

/* The probability targets' gradient (CrossEntropyLoss.TargetBackward): grad_c = factor·w_c·u_i·(x_c − lse) at each position i of an
 * [N, C, d…] input (D = spatial; [N, C] is D = 1), factor = −(1 − ε)·upstream/divisor. One work-item per position; it reads its
 * logits twice (max, Σe) before writing, so grad may be the logits buffer itself or the targets'. upstream (per position) may be NULL. */
kernel void cross_entropy_target_grad(global const float* logits, global const float* class_weight, global const float* upstream, global float* grad,
    int positions, int classes, int spatial, float factor)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)positions)
        return;
    size_t base = position_base(i, classes, spatial);
    global const float* x = logits + base;
    global float* g = grad + base;
    float row_max = -INFINITY;
    for (int c = 0; c < classes; c++)
    {
        float v = x[(size_t)c * spatial];
        row_max = isnan(v) || v > row_max ? v : row_max;
    }
    acc_t sum_exp = 0;
    for (int c = 0; c < classes; c++)
        sum_exp += exp(x[(size_t)c * spatial] - row_max);
    float lse = (float)(row_max + log(sum_exp));
    float scale = factor * (upstream ? upstream[i] : 1.0f);
    for (int c = 0; c < classes; c++)
        g[(size_t)c * spatial] = scale * (class_weight ? class_weight[c] : 1.0f) * (x[(size_t)c * spatial] - lse);
}

/* softmax and log_softmax per row, and their backward: a work-group per row, a reducing sweep then a writing sweep
 * (the C# side's RowOperation: 0 softmax, 1 log_softmax, 2 softmax backward, 3 log_softmax backward). first is x (or the
 * forward output y), second the upstream gradient g (NULL forward); destination may be either. */
kernel void softmax_rows(global const float* first, global const float* second, global float* destination, int classes, int operation)
{
    local float max_scratch[ROW_GROUP];
    local acc_t sum_scratch[ROW_GROUP];
    size_t r = get_group_id(0);
    size_t lid = get_local_id(0), size = get_local_size(0);
    global const float* a = first + r * (size_t)classes;
    global const float* b = second ? second + r * (size_t)classes : 0;
    global float* d = destination + r * (size_t)classes;
    bool forward = operation < 2;
    float local_max = -INFINITY;
    for (size_t c = lid; forward && c < (size_t)classes; c += size)
        local_max = isnan(a[c]) || a[c] > local_max ? a[c] : local_max;
    float row_max = group_max(max_scratch, local_max);
    acc_t partial = 0;
    for (size_t c = lid; c < (size_t)classes; c += size)
        partial += operation == 0 || operation == 1 ? (acc_t)exp(a[c] - row_max) : operation == 2 ? (acc_t)a[c] * b[c] : (acc_t)b[c];
    acc_t total = group_sum(sum_scratch, partial);
    float inverse = (float)(1 / total), log_sum = (float)log(total), reduced = (float)total;
    for (size_t c = lid; c < (size_t)classes; c += size)
    {
        float value = a[c];
        d[c] = operation == 0 ? exp(value - row_max) * inverse
             : operation == 1 ? (value - row_max) - log_sum
             : operation == 2 ? value * (b[c] - reduced)
             : b[c] - exp(value) * reduced;
    }
}

/* One-hot rows: 1 at [r, target[r]], 0 elsewhere and on ignored rows (targets were checked before the launch). */
kernel void one_hot(global const long* target, global float* output, int rows, int classes, long ignore_index)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * (size_t)classes)
        return;
    size_t r = i / (size_t)classes;
    long y = target[r];
    output[i] = y != ignore_index && y == (long)(i - r * (size_t)classes) ? 1.0f : 0.0f;
}

/* multi_margin_loss: a work-item per row. z_c = margin − x_y + x_c; ℓ = (w_y/C)·Σ_{c≠y} max(0, z_c)^p; the gradient
 * (w_y/C)·p·z_c^(p−1) at c ≠ y where z_c > 0, and minus their sum at y. Targets were checked before the launch; x_y is
 * read first and each class read before its gradient is written, so the gradient may be the input buffer. */
kernel void multi_margin_rows(global const float* input, global const long* target, global const float* class_weight, global const float* upstream,
    global float* output, global float* grad, int rows, int classes, int p, float margin, float gradient_scale, global acc_t* row_losses)
{
    size_t r = get_global_id(0);
    if (r >= (size_t)rows)
        return;
    global const float* x = input + r * (size_t)classes;
    global float* g = grad ? grad + r * (size_t)classes : 0;
    long y = target[r];
    float shift = margin - x[y];
    float factor = (class_weight ? class_weight[y] : 1.0f) / classes;
    float scale = gradient_scale * (upstream ? upstream[r] : 1.0f);
    acc_t loss = 0, slopes = 0;
    for (int c = 0; c < classes; c++)
    {
        if (c == y)
            continue;
        float z = x[c] + shift;
        float hinge = z > 0.0f ? z : 0.0f;
        loss += p == 1 ? hinge : hinge * hinge;
        float slope = (p == 1 ? (z > 0.0f ? 1.0f : 0.0f) : 2.0f * hinge) * factor * scale;
        slopes += slope;
        if (g)
            g[c] = slope;
    }
    if (g)
        g[y] = (float)-slopes;
    loss *= factor;
    if (output)
        output[r] = (float)loss;
    row_losses[r] = loss;
}
