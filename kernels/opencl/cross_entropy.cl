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
 * the logits buffer itself. Row losses go to the partials for the host to add in order. */

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

/* One work-group per row. Optional buffers (soft_target, continuous_target, row_weight, class_weight, upstream, output,
 * grad) may be NULL; with soft targets (N·C probabilities) or continuous labels (distribution focal loss: label l splits
 * the row weight as (⌊l⌋ + 1 − l) at ⌊l⌋ and (l − ⌊l⌋) at ⌊l⌋ + 1; labels were checked by the host) the index target is
 * NULL and no row is ignored.
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
    bool indexed = !soft && !continuous_target;
    long y = indexed ? target[r] : 0;
    bool active = !indexed || (y != ignore_index && y >= 0 && y < classes);
    /* The target's own shares: (1 − ε)·w_y at y for an index; two neighbours for a continuous label; none for soft targets. */
    long left = y, right = -1;
    float left_share = 0.0f, right_share = 0.0f;
    if (continuous_target)
    {
        float label = continuous_target[r];
        float weight = row_weight ? row_weight[r] : 1.0f;
        left = (long)label;
        right = left + 1 < classes ? left + 1 : -1;
        left_share = weight * ((float)(left + 1) - label);
        right_share = weight * (label - (float)left);
    }
    bool per_class = soft || smoothing != 0.0f;
    float uniform = smoothing / classes;
    size_t extent = active ? (size_t)classes : 0;
    global const float* x = logits + r * (size_t)classes;
    global float* g = grad ? grad + r * (size_t)classes : 0;

    float local_max = -INFINITY;
    acc_t weighted = 0, shares = 0;
    for (size_t c = lid; c < extent; c += size)
    {
        float v = x[c];
        local_max = isnan(v) || v > local_max ? v : local_max;
        if (per_class)
        {
            float a = class_share(class_weight, soft, c, 1, smoothing, uniform);
            weighted += a * v;
            shares += a;
        }
    }
    if (indexed && active)
        left_share = (1.0f - smoothing) * (class_weight ? class_weight[y] : 1.0f) * (row_weight ? row_weight[r] : 1.0f);
    /* Read before the gradient, which may be the logits buffer itself, overwrites them. */
    acc_t target_logits = (left_share != 0.0f ? (acc_t)left_share * x[left] : 0) + (right >= 0 && right_share != 0.0f ? (acc_t)right_share * x[right] : 0);
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

    /* Softmax focal loss (mmcv): ℓ = α·w_y·m^γ·(−ln p), m = 1 − p, p = softmax_y; the target's share becomes
     * K = α·w_y·m^γ·(1 − γ·p·ln p / m), with ln p / m → −1 where m = 0 (the gradient's finite limit). */
    acc_t focal_loss = 0;
    if (focal && active && left_share != 0.0f)
    {
        acc_t log_p = target_logits / left_share - lse;
        acc_t p = exp(log_p);
        acc_t m = 1 - p;
        acc_t modulation = m > 0 ? pow(m, (acc_t)focal_gamma) : (focal_gamma == 0.0f ? 1 : 0);
        acc_t ratio = m > 0 ? log_p / m : -1;
        acc_t weight_term = focal_alpha * (acc_t)left_share * modulation;
        focal_loss = -weight_term * log_p;
        left_share = (float)(weight_term * (1 - focal_gamma * p * ratio));
    }
    acc_t scale = gradient_scale * (upstream ? upstream[r] : 1.0f);
    acc_t mass = (acc_t)left_share + right_share;
    if (g)
    {
        float coefficient = (float)(scale * (mass + share_sum + 2 * (acc_t)lse_square_scale * lse) / sum_exp);
        float offset = (float)scale;
        for (size_t c = lid; c < (size_t)classes; c += size)
            g[c] = !active ? 0.0f : per_class ? g[c] * coefficient - class_share(class_weight, soft, c, 1, smoothing, uniform) * offset : g[c] * coefficient;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (lid == 0)
    {
        acc_t loss = 0;
        if (active)
        {
            if (g && left_share != 0.0f)
                g[left] -= (float)(scale * left_share);
            if (g && right >= 0 && right_share != 0.0f)
                g[right] -= (float)(scale * right_share);
            /* Terms with a zero factor are skipped, not multiplied by 0 (∞·0 would be NaN), as on the CPU. */
            if (focal)
                loss = focal_loss;
            else if (mass != 0)
                loss = mass * lse - target_logits;
            if (per_class)
                loss += share_sum * lse - weighted_logits;
            if (lse_square_scale != 0.0f)
                loss += lse_square_scale * lse * lse;
        }
        if (output)
            output[r] = (float)loss;
        row_losses[r] = loss;
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
kernel void cross_entropy_positions(global const float* logits, global const long* target, global const float* soft_target,
    global const float* position_weight, global const float* class_weight, global const float* upstream, global float* output, global float* grad, int positions, int classes,
    int spatial, long ignore_index, float smoothing, float lse_square_scale, float gradient_scale, global acc_t* position_losses)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)positions)
        return;
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
