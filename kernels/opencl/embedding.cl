/* The row losses (IEmbeddingLoss: bindings/LossKernels/Embedding, and the gradient penalty of bindings/LossKernels/Generative):
 * rows of one, two or three [B, D] inputs, each row seen through three sums over its D elements. Each loss mirrors its C# struct:
 * embedding_terms is IEmbeddingLoss.Terms, embedding_row is Row, embedding_gradient is Gradient; the kind is one of the
 * EMBEDDING_* values below (EmbeddingKernelArguments on the host). A one-input loss gets its input as x1 too and no g1. */

#define EMBEDDING_TRIPLET 0
#define EMBEDDING_CONTRASTIVE 1
#define EMBEDDING_COSINE 2
#define EMBEDDING_RANKING 3
#define EMBEDDING_PENALTY 4

/* The gradient penalty's p: WGAN-GP's (|g| − 1)², R1's |g|²/2. */
#define PENALTY_WGAN_GP 0
#define PENALTY_R1 1

/* PyTorch's cosine_embedding_loss epsilon under the square root's factors. */
#define COSINE_EPSILON 1e-12f

typedef struct
{
    int kind;
    int p;
    int swap;
    float margin;
    float eps;
} embedding_loss;

/* max(0, z) as clamp_min (NaN stays NaN); its gradient passes where z >= 0. */
inline float embedding_hinge(float z) { return z < 0.0f ? 0.0f : z; }
inline float embedding_passes(float z) { return z >= 0.0f ? 1.0f : 0.0f; }
/* 1/d, and 0 at d = 0 (a norm's gradient there). */
inline float embedding_inverse(float d) { return d == 0.0f ? 0.0f : 1.0f / d; }
inline float embedding_sign(float u) { return u > 0.0f ? 1.0f : u < 0.0f ? -1.0f : 0.0f; }
inline float triplet_power(int p, float u) { return p == 2 ? u * u : fabs(u); }
inline float triplet_distance(int p, float sum) { return p == 2 ? sqrt(sum) : sum; }
inline float triplet_inverse(int p, float d) { return p == 2 ? embedding_inverse(d) : 1.0f; }
inline float triplet_slope(int p, float u) { return p == 2 ? u : embedding_sign(u); }

inline void embedding_terms(const embedding_loss* l, float a, float b, float c, float* s0, float* s1, float* s2)
{
    switch (l->kind)
    {
    case EMBEDDING_TRIPLET:
        *s0 = triplet_power(l->p, a - b + l->eps);
        *s1 = triplet_power(l->p, a - c + l->eps);
        *s2 = l->swap ? triplet_power(l->p, b - c + l->eps) : 0.0f;
        break;
    case EMBEDDING_CONTRASTIVE:
    {
        float u = a - b + l->eps;
        *s0 = u * u;
        *s1 = *s2 = 0.0f;
        break;
    }
    case EMBEDDING_COSINE:
        *s0 = a * b;
        *s1 = a * a;
        *s2 = b * b;
        break;
    case EMBEDDING_PENALTY:
        *s0 = a * a;
        *s1 = *s2 = 0.0f;
        break;
    default:
        *s0 = a - b;
        *s1 = *s2 = 0.0f;
        break;
    }
}

inline float embedding_row(const embedding_loss* l, float s0, float s1, float s2, float label, float scale, float* c0, float* c1, float* c2)
{
    switch (l->kind)
    {
    case EMBEDDING_TRIPLET:
    {
        float positive = triplet_distance(l->p, s0), anchor_negative = triplet_distance(l->p, s1);
        float negative = anchor_negative, anchor_share = 1.0f, swap_share = 0.0f, swap_distance = 0.0f;
        if (l->swap)
        {
            swap_distance = triplet_distance(l->p, s2);
            int anchor_less = anchor_negative < swap_distance, swap_less = swap_distance < anchor_negative;
            negative = swap_less || isnan(swap_distance) ? swap_distance : anchor_negative;
            anchor_share = anchor_less ? 1.0f : swap_less ? 0.0f : 0.5f;
            swap_share = 1.0f - anchor_share;
        }
        float z = l->margin + positive - negative;
        float k = embedding_passes(z) * scale;
        *c0 = k * triplet_inverse(l->p, positive);
        *c1 = -(k * anchor_share * triplet_inverse(l->p, anchor_negative));
        *c2 = l->swap ? -(k * swap_share * triplet_inverse(l->p, swap_distance)) : 0.0f;
        return embedding_hinge(z);
    }
    case EMBEDDING_CONTRASTIVE:
    {
        float d = sqrt(s0), dissimilar = 1.0f - label;
        float hinge = embedding_hinge(l->margin - d);
        float slope = 2.0f * (label * d - dissimilar * hinge);
        *c0 = slope * scale * embedding_inverse(d);
        *c1 = *c2 = 0.0f;
        return label * (d * d) + dissimilar * (hinge * hinge);
    }
    case EMBEDDING_COSINE:
    {
        float square1 = s1 + COSINE_EPSILON, square2 = s2 + COSINE_EPSILON;
        float denominator = sqrt(square1 * square2);
        float cosine = s0 / denominator;
        int similar = label == 1.0f, dissimilar = label == -1.0f;
        float z = cosine - l->margin;
        float k = similar ? -scale : dissimilar && z >= 0.0f ? scale : 0.0f;
        *c0 = k / denominator;
        *c1 = -(k * cosine / square1);
        *c2 = -(k * cosine / square2);
        return similar ? 1.0f - cosine : dissimilar ? embedding_hinge(z) : 0.0f;
    }
    case EMBEDDING_PENALTY:
    {
        /* margin carries gp_weight. WGAN-GP: w·(|g| − 1)², coefficient 2w·(|g| − 1)/|g| (0 at g = 0); R1: w/2·|g|², coefficient w. */
        *c1 = *c2 = 0.0f;
        if (l->p == PENALTY_R1)
        {
            *c0 = l->margin * scale;
            return (0.5f * l->margin) * s0;
        }
        float norm = sqrt(s0), excess = norm - 1.0f;
        *c0 = (2.0f * l->margin) * excess * embedding_inverse(norm) * scale;
        return l->margin * (excess * excess);
    }
    default:
    {
        float z = -(label * s0) + l->margin;
        *c0 = -(label * (embedding_passes(z) * scale));
        *c1 = *c2 = 0.0f;
        return embedding_hinge(z);
    }
    }
}

inline void embedding_gradient(const embedding_loss* l, float a, float b, float c, float c0, float c1, float c2, float* g0, float* g1, float* g2)
{
    switch (l->kind)
    {
    case EMBEDDING_TRIPLET:
    {
        float a0 = c0 * triplet_slope(l->p, a - b + l->eps), a1 = c1 * triplet_slope(l->p, a - c + l->eps);
        *g0 = a0 + a1;
        *g1 = -a0;
        *g2 = -a1;
        if (l->swap)
        {
            float a2 = c2 * triplet_slope(l->p, b - c + l->eps);
            *g1 += a2;
            *g2 -= a2;
        }
        break;
    }
    case EMBEDDING_CONTRASTIVE:
        *g0 = c0 * (a - b + l->eps);
        *g1 = -*g0;
        *g2 = 0.0f;
        break;
    case EMBEDDING_COSINE:
        *g0 = fma(c0, b, c1 * a);
        *g1 = fma(c0, a, c2 * b);
        *g2 = 0.0f;
        break;
    case EMBEDDING_PENALTY:
        *g0 = c0 * a;
        *g1 = *g2 = 0.0f;
        break;
    default:
        *g0 = c0;
        *g1 = -c0;
        *g2 = 0.0f;
        break;
    }
}

/* The row sums of row r over the elements first, first + step, … (one work-item's share). */
inline void embedding_sums(const embedding_loss* l, global const float* a, global const float* b, global const float* c, int dim, size_t first, size_t step,
    acc_t* sum0, acc_t* sum1, acc_t* sum2)
{
    *sum0 = *sum1 = *sum2 = 0;
    for (size_t j = first; j < (size_t)dim; j += step)
    {
        float s0, s1, s2;
        embedding_terms(l, a[j], b[j], c[j], &s0, &s1, &s2);
        *sum0 += s0;
        *sum1 += s1;
        *sum2 += s2;
    }
}

/* Row r from its sums: the loss and coefficients, then the gradients at the elements first, first + step, … (each element read
 * before its gradient is written, so a gradient may be its input); the row's first work-item writes the output. */
inline float embedding_finish(const embedding_loss* l, global const float* a, global const float* b, global const float* c, global const float* float_labels,
    global const long* long_labels, global const float* upstream, global float* output, global float* g0, global float* g1, global float* g2, int three,
    size_t r, int dim, size_t first, size_t step, float gradient_scale, acc_t sum0, acc_t sum1, acc_t sum2)
{
    size_t offset = r * (size_t)dim;
    float label = float_labels ? float_labels[r] : long_labels ? (float)long_labels[r] : 0.0f;
    float scale = gradient_scale * (upstream ? upstream[r] : 1.0f);
    float c0, c1, c2;
    float loss = embedding_row(l, (float)sum0, (float)sum1, (float)sum2, label, scale, &c0, &c1, &c2);
    if (g0)
    {
        for (size_t j = first; j < (size_t)dim; j += step)
        {
            float d0, d1, d2;
            embedding_gradient(l, a[j], b[j], c[j], c0, c1, c2, &d0, &d1, &d2);
            g0[offset + j] = d0;
            if (g1)
                g1[offset + j] = d1;
            if (three)
                g2[offset + j] = d2;
        }
    }
    if (output && first == 0)
        output[r] = loss;
    return loss;
}

#define EMBEDDING_ARGS global const float* x0, global const float* x1, global const float* x2, global const float* float_labels, \
    global const long* long_labels, global const float* upstream, global float* output, global float* g0, global float* g1, global float* g2, \
    int rows, int dim

/* A work-item per rows_per_item consecutive rows (one row when rows are long; many when they are short, so that the host adds
 * few partials), for devices that run work-items as loop iterations (the ChunkPerWorkItem variant: PoCL). x2 is null for
 * two-input losses; the labels are float or long (one of them given, or neither); the item's rows' losses, added in row order,
 * go to item_losses for the host's ordered sum. */
kernel void embedding_rows(EMBEDDING_ARGS, int rows_per_item, int kind, int p, int swap, float margin, float eps, float gradient_scale,
    global acc_t* item_losses)
{
    size_t item = get_global_id(0);
    size_t first = item * (size_t)rows_per_item;
    if (first >= (size_t)rows)
        return;
    size_t end = min(first + (size_t)rows_per_item, (size_t)rows);
    embedding_loss l = { kind, p, swap, margin, eps };
    acc_t total = 0;
    for (size_t r = first; r < end; r++)
    {
        size_t offset = r * (size_t)dim;
        global const float* c = (x2 ? x2 : x0) + offset;
        acc_t sum0, sum1, sum2;
        embedding_sums(&l, x0 + offset, x1 + offset, c, dim, 0, 1, &sum0, &sum1, &sum2);
        total += embedding_finish(&l, x0 + offset, x1 + offset, c, float_labels, long_labels, upstream, output, g0, g1, g2, x2 != 0, r, dim, 0, 1,
            gradient_scale, sum0, sum1, sum2);
    }
    item_losses[item] = total;
}

#define EMBEDDING_GROUP 256

/* A work-group per row (the WorkGroupTree variant: GPUs, where a row's elements are read by neighbouring work-items together):
 * each work-item's share of the sums, added over the group in work-item order, then its share of the gradients. */
kernel void embedding_row_groups(EMBEDDING_ARGS, int kind, int p, int swap, float margin, float eps, float gradient_scale, global acc_t* row_losses)
{
    local acc_t scratch[EMBEDDING_GROUP];
    size_t r = get_group_id(0), lid = get_local_id(0), size = get_local_size(0);
    embedding_loss l = { kind, p, swap, margin, eps };
    size_t offset = r * (size_t)dim;
    global const float* c = (x2 ? x2 : x0) + offset;
    acc_t sum0, sum1, sum2;
    embedding_sums(&l, x0 + offset, x1 + offset, c, dim, lid, size, &sum0, &sum1, &sum2);
    /* The sums' barriers also order every read of the row before any gradient write. */
    sum0 = group_sum(scratch, sum0);
    sum1 = group_sum(scratch, sum1);
    sum2 = group_sum(scratch, sum2);
    float loss = embedding_finish(&l, x0 + offset, x1 + offset, c, float_labels, long_labels, upstream, output, g0, g1, g2, x2 != 0, r, dim, lid, size,
        gradient_scale, sum0, sum1, sum2);
    if (lid == 0)
        row_losses[r] = loss;
}

/* Triplet mining (TripletMiningLoss): the C# passes of TripletMiningDriver, with the anchor's mining mirroring TripletMiningMath.
 * The Gram entries are fused multiply-add chains over k in index order, as the CPU's SYRK computes them, so both compute the same
 * entry, identical rows give identical distances, and ties go to the lowest index alike. */
#define MINING_HARD 0
#define MINING_SEMIHARD 1
#define DISTANCE_EUCLIDEAN 0
#define DISTANCE_SQUARED 1
#define DISTANCE_COSINE 2
#define NORMALIZE_EPS 1e-12f

inline float mining_distance(float square_a, float square_j, float gram, int distance)
{
    if (distance == DISTANCE_COSINE)
        return 1.0f - gram;
    float square = square_a + square_j - 2.0f * gram;
    square = square < 0.0f ? 0.0f : square;
    return distance == DISTANCE_SQUARED ? square : sqrt(square);
}

inline float mining_slope(float d, int distance)
{
    return distance == DISTANCE_EUCLIDEAN ? (d > 0.0f ? 1.0f / d : 0.0f) : distance == DISTANCE_SQUARED ? 2.0f : 1.0f;
}

inline float mining_triplet(float h, int soft, float* slope)
{
    if (!soft)
    {
        *slope = h > 0.0f ? 1.0f : 0.0f;
        return h < 0.0f ? 0.0f : h;
    }
    float e = exp(-fabs(h));
    *slope = (h > 0.0f ? 1.0f : e) / (1.0f + e);
    return (h > 0.0f ? h : 0.0f) + log1p(e);
}

inline float mining_add(global float* coefficients, int p, float dp, int n, float dn, float margin, int soft, int distance)
{
    float slope;
    float loss = mining_triplet(dp - dn + margin, soft, &slope);
    if (coefficients && slope != 0.0f)
    {
        coefficients[p] += slope * mining_slope(dp, distance);
        coefficients[n] += -slope * mining_slope(dn, distance);
    }
    return loss;
}

/* Per row: e = x, or x / max(‖x‖, eps) with ‖x‖ kept; and Σ e², the Gram's diagonal. */
/* The rows e (normalized when asked) and one buffer of row statistics: squares[i] = ‖e_i‖² at i, norms[i] = ‖x_i‖ at rows + i. */
kernel void triplet_prepare(global const float* x, global float* e, global float* squares, int rows, int dim, int normalize)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows)
        return;
    global const float* row = x + i * (size_t)dim;
    global float* out = e + i * (size_t)dim;
    float scale = 1.0f;
    if (normalize)
    {
        float sum = 0.0f;
        for (int k = 0; k < dim; k++)
            sum = fma(row[k], row[k], sum);
        float norm = sqrt(sum);
        squares[rows + i] = norm;
        scale = 1.0f / fmax(norm, NORMALIZE_EPS);
    }
    float square = 0.0f;
    for (int k = 0; k < dim; k++)
    {
        float v = normalize ? row[k] * scale : row[k];
        out[k] = v;
        square = fma(v, v, square);
    }
    squares[i] = square;
}

/* Entry (i, j) of the distance matrix, item (j, i). */
kernel void triplet_distances(global const float* e, global const float* squares, global float* distances, int rows, int dim, int distance)
{
    size_t j = get_global_id(0), i = get_global_id(1);
    if (i >= (size_t)rows || j >= (size_t)rows)
        return;
    global const float* a = e + i * (size_t)dim;
    global const float* b = e + j * (size_t)dim;
    float gram = 0.0f;
    for (int k = 0; k < dim; k++)
        gram = fma(a[k], b[k], gram);
    distances[i * (size_t)rows + j] = mining_distance(squares[i], squares[j], gram, distance);
}

/* An anchor per work-item: its triplets' Σ ℓ (to losses), their count, and with a gradient its row of coefficients (zeroed first). */
kernel void triplet_mine(global const float* distances, global const long* labels, global float* coefficients, global acc_t* losses, global int* counts,
    int rows, int mining, float margin, int soft, int distance)
{
    size_t anchor = get_global_id(0);
    if (anchor >= (size_t)rows)
        return;
    global const float* d = distances + anchor * (size_t)rows;
    global float* c = coefficients ? coefficients + anchor * (size_t)rows : 0;
    if (c)
        for (int j = 0; j < rows; j++)
            c[j] = 0.0f;
    long label = labels[anchor];
    acc_t total = 0;
    int count = 0;
    if (mining == MINING_HARD)
    {
        int positive = -1, negative = -1;
        float far = 0.0f, near = 0.0f;
        for (int j = 0; j < rows; j++)
        {
            if (j == (int)anchor)
                continue;
            float dj = d[j];
            if (labels[j] == label)
            {
                if (positive < 0 || dj > far)
                {
                    positive = j;
                    far = dj;
                }
            }
            else if (negative < 0 || dj < near)
            {
                negative = j;
                near = dj;
            }
        }
        if (positive >= 0 && negative >= 0)
        {
            total = mining_add(c, positive, far, negative, near, margin, soft, distance);
            count = 1;
        }
    }
    else
    {
        for (int p = 0; p < rows; p++)
        {
            if (p == (int)anchor || labels[p] != label)
                continue;
            float dp = d[p];
            if (mining == MINING_SEMIHARD)
            {
                int closest = -1, farthest = -1;
                float closest_d = 0.0f, farthest_d = 0.0f;
                for (int n = 0; n < rows; n++)
                {
                    if (labels[n] == label)
                        continue;
                    float dn = d[n];
                    if (dn > dp && (closest < 0 || dn < closest_d))
                    {
                        closest = n;
                        closest_d = dn;
                    }
                    if (farthest < 0 || dn > farthest_d)
                    {
                        farthest = n;
                        farthest_d = dn;
                    }
                }
                if (farthest < 0)
                    continue;
                total += closest >= 0 ? mining_add(c, p, dp, closest, closest_d, margin, soft, distance)
                                      : mining_add(c, p, dp, farthest, farthest_d, margin, soft, distance);
                count++;
                continue;
            }
            for (int n = 0; n < rows; n++)
            {
                if (labels[n] == label)
                    continue;
                float dn = d[n];
                float h = dp - dn + margin;
                if (!soft && !(h > 0.0f))
                    continue;
                total += mining_add(c, p, dp, n, dn, margin, soft, distance);
                count++;
            }
        }
    }
    losses[anchor] = total;
    counts[anchor] = count;
}

/* W_ij = W_ji = M_ij + M_ji, item (j, i) for j < i. */
kernel void triplet_symmetrize(global float* coefficients, int rows)
{
    size_t j = get_global_id(0), i = get_global_id(1);
    if (i >= (size_t)rows || j >= i)
        return;
    float w = coefficients[i * (size_t)rows + j] + coefficients[j * (size_t)rows + i];
    coefficients[i * (size_t)rows + j] = w;
    coefficients[j * (size_t)rows + i] = w;
}

/* Per row i: Σ_j W_ij·e_j over the nonzero W_ij (accumulated in the gradient row), then scale·(Σ_j W_ij·e_i − Σ_j W_ij·e_j) (or
 * −scale·Σ_j W_ij·e_j for the cosine), chained through e = x / max(‖x‖, eps). */
kernel void triplet_gradient(global const float* e, global const float* squares, global const float* coefficients, global float* gradient, int rows, int dim,
    float scale, int cosine, int normalize)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows)
        return;
    global float* g = gradient + i * (size_t)dim;
    global const float* own = e + i * (size_t)dim;
    global const float* w = coefficients + i * (size_t)rows;
    for (int k = 0; k < dim; k++)
        g[k] = 0.0f;
    float weight = 0.0f;
    for (int j = 0; j < rows; j++)
    {
        float c = w[j];
        if (c == 0.0f)
            continue;
        weight += c;
        global const float* other = e + (size_t)j * (size_t)dim;
        for (int k = 0; k < dim; k++)
            g[k] = fma(other[k], c, g[k]);
    }
    float own_scale = weight * scale, along = 0.0f;
    for (int k = 0; k < dim; k++)
    {
        float a = g[k] * -scale;
        float v = cosine ? a : own[k] * own_scale + a;
        g[k] = v;
        along = fma(own[k], v, along);
    }
    if (!normalize)
        return;
    float norm = squares[rows + i];
    float inverse = 1.0f / (norm > NORMALIZE_EPS ? norm : NORMALIZE_EPS);
    for (int k = 0; k < dim; k++)
        g[k] = (norm > NORMALIZE_EPS ? own[k] * -along + g[k] : g[k]) * inverse;
}

/* The discriminative loss (DiscriminativeLoss, DiscriminativeDriver): the host maps ids to instances and uploads one int table
 * (each pixel's instance or -1 from 0, the pixels grouped by instance from order_at, seven ints per instance from instances_at,
 * three per piece from pieces_at; InstanceMap). discriminative_hinge, discriminative_pull and discriminative_push are
 * DiscriminativeMath's SquaredHinge, Pull and Push, discriminative_instances its Instance. */
#define INSTANCE_STRIDE 7
#define INSTANCE_COUNT 1
#define INSTANCE_FIRST_PIECE 2
#define INSTANCE_PIECES 3
#define INSTANCE_IMAGE 4
#define INSTANCE_IMAGE_FIRST 5
#define INSTANCE_IMAGE_COUNT 6
#define PIECE_STRIDE 3

/* h^2 for h = max(0, sign*(d - offset)), and dh^2/dd over d = 2*sign*h/d (0 where h or d is 0). */
inline float discriminative_hinge(float squared, float offset, float sign, float* slope)
{
    float distance = sqrt(squared);
    float hinge = sign * (distance - offset);
    if (hinge <= 0.0f)
    {
        *slope = 0.0f;
        return 0.0f;
    }
    *slope = distance > 0.0f ? 2.0f * sign * hinge / distance : 0.0f;
    return hinge * hinge;
}

inline float discriminative_pull(float squared, float delta_v, float* scale) { return discriminative_hinge(squared, delta_v, 1.0f, scale); }

inline float discriminative_push(float squared, float two_delta_d, float* coefficient)
{
    float slope;
    float value = discriminative_hinge(squared, two_delta_d, -1.0f, &slope);
    *coefficient = 2.0f * slope;
    return value;
}

/* Piece p, entry e (from first) per work-item: the sum over the piece's pixels, in pixel order, of x (spread 0), or of the pull
 * factor times (x - mu) and at e = E of h^2 (spread 1). */
kernel void discriminative_pieces(global const float* x, global const int* tables, int order_at, int instances_at, int pieces_at,
    global const float* pulls, global const float* means, global float* sums, int pieces, int channels, int pixels, int spread, int first)
{
    size_t index = get_global_id(0);
    int stride = channels + 1;
    if (index >= (size_t)pieces * (size_t)stride)
        return;
    int p = (int)(index / (size_t)stride), e = (int)(index - (size_t)p * (size_t)stride);
    if (e < first || (!spread && e == channels))
        return;
    global const int* order = tables + order_at;
    global const int* piece = tables + pieces_at + p * PIECE_STRIDE;
    int begin = piece[0], end = piece[1], instance = piece[2];
    size_t image = (size_t)tables[instances_at + instance * INSTANCE_STRIDE + INSTANCE_IMAGE];
    global const float* pull = pulls + 2 * image * (size_t)pixels;
    float sum = 0.0f;
    if (e == channels)
    {
        for (int k = begin; k < end; k++)
            sum += pull[2 * order[k]];
    }
    else
    {
        global const float* channel = x + (image * (size_t)channels + (size_t)e) * (size_t)pixels;
        if (!spread)
        {
            for (int k = begin; k < end; k++)
                sum += channel[order[k]];
        }
        else
        {
            float mean = means[(size_t)instance * (size_t)channels + (size_t)e];
            for (int k = begin; k < end; k++)
                sum += pull[2 * order[k] + 1] * (channel[order[k]] - mean);
        }
    }
    sums[index] = sum;
}

/* Instance g, entry e per work-item: its pieces' sums added in piece order, into the means (over the count) or the spread. */
kernel void discriminative_gather(global const int* tables, int instances_at, global const float* sums, global float* destination, int instances,
    int channels, int spread)
{
    size_t index = get_global_id(0);
    int width = spread ? channels + 1 : channels;
    if (index >= (size_t)instances * (size_t)width)
        return;
    int g = (int)(index / (size_t)width), e = (int)(index - (size_t)g * (size_t)width);
    global const int* row = tables + instances_at + g * INSTANCE_STRIDE;
    int first = row[INSTANCE_FIRST_PIECE], count = row[INSTANCE_PIECES];
    float sum = 0.0f;
    for (int p = first; p < first + count; p++)
        sum += sums[(size_t)p * (size_t)(channels + 1) + (size_t)e];
    destination[index] = spread ? sum : sum / (float)row[INSTANCE_COUNT];
}

/* A pixel per work-item: for one not ignored, its squared distance to its mean and its pull (h^2, then the factor of v_i). */
kernel void discriminative_pulls(global const float* x, global const int* tables, global const float* means, global float* pulls, int total, int channels,
    int pixels, float delta_v)
{
    size_t q = get_global_id(0);
    if (q >= (size_t)total)
        return;
    int instance = tables[q];
    if (instance < 0)
        return;
    size_t image = q / (size_t)pixels, i = q - image * (size_t)pixels;
    float squared = 0.0f;
    for (int e = 0; e < channels; e++)
    {
        float difference = x[(image * (size_t)channels + (size_t)e) * (size_t)pixels + i] - means[(size_t)instance * (size_t)channels + (size_t)e];
        squared = fma(difference, difference, squared);
    }
    float factor;
    pulls[2 * q] = discriminative_pull(squared, delta_v, &factor);
    pulls[2 * q + 1] = factor;
}

/* An instance per work-item: its shares of its image's three terms (to terms) and, with a gradient, its coefficients times scale
 * (K_c at e < E, the pixel factor at e = E). */
kernel void discriminative_instances(global const int* tables, int instances_at, global const float* means, global const float* spread,
    global float* coefficients, global acc_t* terms, int instances, int channels, float delta_v, float two_delta_d, float alpha, float beta, float gamma,
    float scale, int gradient)
{
    size_t g = get_global_id(0);
    if (g >= (size_t)instances)
        return;
    global const int* row = tables + instances_at + g * INSTANCE_STRIDE;
    int first = row[INSTANCE_IMAGE_FIRST], clusters = row[INSTANCE_IMAGE_COUNT];
    float count = (float)row[INSTANCE_COUNT];
    int stride = channels + 1;
    global const float* mean = means + g * (size_t)channels;
    global float* coefficient = coefficients + g * (size_t)stride;
    float per_instance = 1.0f / (float)clusters;
    float variance = spread[g * (size_t)stride + (size_t)channels] / count * per_instance;
    float squared_norm = 0.0f;
    for (int e = 0; e < channels; e++)
    {
        squared_norm += mean[e] * mean[e];
        if (gradient)
            coefficient[e] = 0.0f;
    }
    float norm = sqrt(squared_norm);
    float push = 0.0f;
    for (int b = first; b < first + clusters; b++)
    {
        if (b == (int)g)
            continue;
        global const float* other = means + (size_t)b * (size_t)channels;
        float squared = 0.0f;
        for (int e = 0; e < channels; e++)
        {
            float difference = mean[e] - other[e];
            squared += difference * difference;
        }
        float c;
        push += discriminative_push(squared, two_delta_d, &c);
        if (!gradient || c == 0.0f)
            continue;
        for (int e = 0; e < channels; e++)
            coefficient[e] = coefficient[e] + c * (mean[e] - other[e]);
    }
    float pairs = clusters > 1 ? 1.0f / ((float)clusters * (float)(clusters - 1)) : 0.0f;
    terms[3 * g] = variance;
    terms[3 * g + 1] = push * pairs;
    terms[3 * g + 2] = norm * per_instance;
    if (!gradient)
        return;
    float towards_norm = norm > 0.0f ? gamma * per_instance / norm : 0.0f;
    float pixel_factor = alpha * per_instance / count;
    for (int e = 0; e < channels; e++)
    {
        float through_mean = beta * pairs * coefficient[e] + towards_norm * mean[e];
        coefficient[e] = scale * (through_mean - pixel_factor * spread[g * (size_t)stride + (size_t)e]) / count;
    }
    coefficient[channels] = scale * pixel_factor;
}

/* An element per work-item: the pixel factor times v_i plus K_c, 0 for an ignored pixel. */
kernel void discriminative_gradient(global const float* x, global const int* tables, global const float* pulls, global const float* means,
    global const float* coefficients, global float* gradient, int elements, int channels, int pixels)
{
    size_t q = get_global_id(0);
    if (q >= (size_t)elements)
        return;
    size_t row = q / (size_t)pixels, i = q - row * (size_t)pixels;
    size_t image = row / (size_t)channels;
    int e = (int)(row - image * (size_t)channels);
    size_t pixel = image * (size_t)pixels + i;
    int instance = tables[pixel];
    if (instance < 0)
    {
        gradient[q] = 0.0f;
        return;
    }
    global const float* coefficient = coefficients + (size_t)instance * (size_t)(channels + 1);
    float difference = x[q] - means[(size_t)instance * (size_t)channels + (size_t)e];
    gradient[q] = fma(coefficient[channels] * pulls[2 * pixel + 1], difference, coefficient[e]);
}
