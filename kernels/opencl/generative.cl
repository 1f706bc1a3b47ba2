/* The feature-space and generative losses (bindings/LossKernels/Generative). Built two ways: as an elementwise program
 * (elementwise.h first, -D LOSS=gan_<form>), where only the GAN loss's element math is compiled, and on its own for total
 * variation's and the Gram style loss's kernels. gan_* mirror GanTerms' forms; tv_absolute is TotalVariationMath's Absolute, tv_joint is
 * Joint; total_variation is IlgpuTotalVariationLoss's TotalVariationPass; gram_style_slopes is GramStyleMath's Difference and Slope. */

#ifdef LOSS

/* The forms of GanTerms, p = (y, s, c, shift): c·ℓ(x − shift) with its slope c·dℓ/dx. Each is its own LOSS, so a program holds
 * one form. */

/* BCE with logits to y; slope (1 − y)·σ(x) − y·σ(−x), σ(x) − y without cancellation near y. */
inline vfloat gan_cross_entropy(vfloat logit, vfloat t, float4 p, vfloat* grad)
{
    float y = p.x, c = p.z;
    vfloat x = logit - p.w;
    vfloat positive, negative;
    vfloat tail = sigmoids(x, &positive, &negative);
    *grad = c * sigmoid_difference(positive, negative, (vfloat)(y));
    return c * logits_cross_entropy(x, (vfloat)(y), tail);
}

/* (x − y)², slope 2(x − y). */
inline vfloat gan_squared(vfloat logit, vfloat t, float4 p, vfloat* grad)
{
    vfloat d = (logit - p.w) - p.x;
    *grad = p.z * (d + d);
    return p.z * (d * d);
}

/* s·x, slope s. */
inline vfloat gan_linear(vfloat logit, vfloat t, float4 p, vfloat* grad)
{
    vfloat d = logit - p.w;
    /* c·s (s = ±1) as c·sgn(d)·(|s|·sgn(d))·s: a product the compiler keeps per lane. A gradient that is a splat of the kernel
     * arguments alone becomes vector shuffles on which Oclgrind 21.10's uninitialized-value checker crashes. */
    *grad = p.z * copysign((vfloat)(1.0f), d) * copysign((vfloat)(p.y), d) * p.y;
    return p.z * (p.y * d);
}

/* softplus(s·x), slope s·σ(s·x). */
inline vfloat gan_softplus(vfloat logit, vfloat t, float4 p, vfloat* grad)
{
    float s = p.y;
    vfloat positive, negative;
    vfloat signed_x = s * (logit - p.w);
    vfloat tail = sigmoids(signed_x, &positive, &negative);
    *grad = p.z * (s * positive);
    return p.z * (nan_max(signed_x, 0.0f) + tail);
}

/* relu(1 + s·x), slope s where 1 + s·x > 0 or is NaN (torch.relu's backward). */
inline vfloat gan_hinge(vfloat logit, vfloat t, float4 p, vfloat* grad)
{
    float s = p.y;
    vfloat margin = fma((vfloat)(s), logit - p.w, (vfloat)(1.0f));
    *grad = p.z * select((vfloat)(0.0f), (vfloat)(s), (margin > 0.0f) | isnan(margin));
    return p.z * select(fmax(margin, 0.0f), margin, isnan(margin));
}

#else


/* |d| and its slope sign(d) (0 at 0; NaN stays NaN). */
inline float tv_absolute(float d, float* slope)
{
    *slope = isnan(d) ? d : (d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f);
    return fabs(d);
}

/* sqrt(s) (isotropic) or s^half_exponent for s = dx^2 + dy^2 + eps, with slopes 2*half_exponent*term/s*(dx, dy), 0 where s = 0. */
inline float tv_joint(float dx, float dy, int isotropic, float eps, float half_exponent, float* a, float* b)
{
    float s = fma(dx, dx, fma(dy, dy, eps));
    float term = isotropic ? sqrt(s) : (s > 0.0f ? exp(half_exponent * log(s)) : 0.0f);
    term = isnan(s) ? s : term;
    float factor = isnan(s) ? s : (s > 0.0f ? 2.0f * half_exponent * term / s : 0.0f);
    *a = factor * dx;
    *b = factor * dy;
    return term;
}

/* The terms at (i, j) of the plane at p: their sum, and the slopes there (0 where not defined). */
inline float tv_terms(global const float* x, size_t p, int i, int j, int height, int width, int anisotropic, int isotropic, float eps,
    float half_exponent, float* a, float* b)
{
    size_t at = p + (size_t)i * (size_t)width + (size_t)j;
    int right = j + 1 < width, down = i + 1 < height;
    float centre = x[at];
    float dx = right ? x[at + 1] - centre : 0.0f, dy = down ? x[at + (size_t)width] - centre : 0.0f;
    if (anisotropic)
    {
        float h = tv_absolute(dx, a), v = tv_absolute(dy, b);
        *a = right ? *a : 0.0f;
        *b = down ? *b : 0.0f;
        return (right ? h : 0.0f) + (down ? v : 0.0f);
    }
    if (!right || !down)
    {
        *a = 0.0f;
        *b = 0.0f;
        return 0.0f;
    }
    return tv_joint(dx, dy, isotropic, eps, half_exponent, a, b);
}

/* Work-items per group of total_variation (the host launches it so). */
#define TV_GROUP 64

/* Pixel (i, j)'s terms, and with a gradient A[i, j-1] + B[i-1, j] - A[i, j] - B[i, j] times factor written at it. */
inline float tv_pixel(global const float* x, global float* gradient, size_t p, int i, int j, int height, int width, int anisotropic, int isotropic,
    float eps, float half_exponent, float factor)
{
    float a, b;
    float value = tv_terms(x, p, i, j, height, width, anisotropic, isotropic, eps, half_exponent, &a, &b);
    if (gradient)
    {
        float left = 0.0f, up = 0.0f, unused;
        if (j > 0)
            tv_terms(x, p, i, j - 1, height, width, anisotropic, isotropic, eps, half_exponent, &left, &unused);
        if (i > 0)
            tv_terms(x, p, i - 1, j, height, width, anisotropic, isotropic, eps, half_exponent, &unused, &up);
        gradient[p + (size_t)i * (size_t)width + (size_t)j] = factor * (left + up - a - b);
    }
    return value;
}

/* Planes first_plane .. first_plane + get_global_size(2) - 1 of [N, C, H, W], work-item (j, i, plane) per pixel (no divisions: the
 * range is 3-d, rounded up in j to whole groups): its own terms into its group's partial, and with a gradient tv_pixel's, times its
 * image's scale (upstream[n] when that buffer is given, else scale). */
kernel void total_variation(global const float* x, global float* gradient, global const float* upstream, float scale, int first_plane,
    int channels, int height, int width, int anisotropic, int isotropic, float eps, float half_exponent, global acc_t* partials)
{
    local acc_t scratch[TV_GROUP];
    int j = (int)get_global_id(0), i = (int)get_global_id(1), plane = first_plane + (int)get_global_id(2);
    float value = 0.0f;
    if (j < width)
        value = tv_pixel(x, gradient, (size_t)plane * (size_t)height * (size_t)width, i, j, height, width, anisotropic, isotropic, eps,
            half_exponent, upstream ? upstream[plane / channels] : scale);
    /* The group's values added in work-item order by its first item. */
    scratch[get_local_id(0)] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (get_local_id(0) != 0)
        return;
    acc_t sum = 0;
    for (int item = 0; item < TV_GROUP; item++)
        sum += scratch[item];
    partials[get_group_id(0) + get_num_groups(0) * (get_group_id(1) + get_num_groups(1) * get_group_id(2))] = sum;
}

/* tv_absolute on sixteen lanes. */
inline float16 tv_absolute16(float16 d, float16* slope)
{
    *slope = select(select(select((float16)(0.0f), (float16)(-1.0f), d < 0.0f), (float16)(1.0f), d > 0.0f), d, isnan(d));
    return fabs(d);
}

/* tv_joint on sixteen lanes. */
inline float16 tv_joint16(float16 dx, float16 dy, int isotropic, float eps, float half_exponent, float16* a, float16* b)
{
    float16 s = fma(dx, dx, fma(dy, dy, (float16)(eps)));
    float16 term = isotropic ? sqrt(s) : select((float16)(0.0f), exp(half_exponent * log(s)), s > 0.0f);
    term = select(term, s, isnan(s));
    float16 factor = select(select((float16)(0.0f), 2.0f * half_exponent * term / s, s > 0.0f), s, isnan(s));
    *a = factor * dx;
    *b = factor * dy;
    return term;
}

/* tv_terms at columns j … j + 15 of row i, every one with a right neighbour (j + 16 < width). */
inline float16 tv_terms16(global const float* x, size_t p, int i, int j, int height, int width, int anisotropic, int isotropic, float eps,
    float half_exponent, float16* a, float16* b)
{
    size_t at = p + (size_t)i * (size_t)width + (size_t)j;
    int down = i + 1 < height;
    float16 centre = vload16(0, x + at);
    float16 dx = vload16(0, x + at + 1) - centre, dy = down ? vload16(0, x + at + (size_t)width) - centre : (float16)(0.0f);
    if (anisotropic)
    {
        float16 h = tv_absolute16(dx, a), v = tv_absolute16(dy, b);
        *b = down ? *b : (float16)(0.0f);
        return h + (down ? v : (float16)(0.0f));
    }
    if (!down)
    {
        *a = 0.0f;
        *b = 0.0f;
        return 0.0f;
    }
    return tv_joint16(dx, dy, isotropic, eps, half_exponent, a, b);
}

/* CPU devices: row get_global_id(0) of plane first_plane + get_global_id(1) per work-item, with no barrier. Columns 1 … in float16
 * vectors while a vector's last column has a right neighbour, the first column and the rest one at a time (tv_pixel); the row's
 * terms into partials[row + height·plane index]. */
kernel void total_variation_rows(global const float* x, global float* gradient, global const float* upstream, float scale, int first_plane,
    int channels, int height, int width, int anisotropic, int isotropic, float eps, float half_exponent, global acc_t* partials)
{
    int i = (int)get_global_id(0), plane = first_plane + (int)get_global_id(1);
    size_t p = (size_t)plane * (size_t)height * (size_t)width;
    float factor = upstream ? upstream[plane / channels] : scale;
    float16 sums = 0.0f;
    int j = 1;
    for (; j + 16 < width; j += 16)
    {
        float16 a, b;
        sums += tv_terms16(x, p, i, j, height, width, anisotropic, isotropic, eps, half_exponent, &a, &b);
        if (gradient)
        {
            float16 left, up = 0.0f, unused;
            tv_terms16(x, p, i, j - 1, height, width, anisotropic, isotropic, eps, half_exponent, &left, &unused);
            if (i > 0)
                tv_terms16(x, p, i - 1, j, height, width, anisotropic, isotropic, eps, half_exponent, &unused, &up);
            vstore16(factor * (left + up - a - b), 0, gradient + p + (size_t)i * (size_t)width + (size_t)j);
        }
    }
    acc_t sum = add_lanes16(sums);
    if (width > 0)
        sum += tv_pixel(x, gradient, p, i, 0, height, width, anisotropic, isotropic, eps, half_exponent, factor);
    for (; j < width; j++)
        sum += tv_pixel(x, gradient, p, i, j, height, width, anisotropic, isotropic, eps, half_exponent, factor);
    partials[get_global_id(0) + (size_t)height * get_global_id(1)] = sum;
}

/* The side of the Gram style loss's tiles (the host launches 16×16 groups). */
#define GRAM_TILE 16

/* Work-items per group of gram_style_slopes. */
#define GRAM_GROUP 64

/* G[n, i, j] = scale·Σ_k x[n, i, k]·x[n, j, k] of [N, C, M] features, a 16×16 tile of G per group (j along dimension 0, i along 1, the
 * image along 2): 16 k's of the tile's rows i and rows j at a time through local memory. Each entry is one fma chain in k order, the
 * CPU SYRK's (GramStyleLoss.ComputeGram's) bits. */
kernel void gram_matrix(global const float* x, global float* gram, int channels, int spatial, float scale)
{
    local float rows_i[GRAM_TILE][GRAM_TILE + 1], rows_j[GRAM_TILE][GRAM_TILE + 1];
    int lj = (int)get_local_id(0), li = (int)get_local_id(1);
    int j = (int)get_global_id(0), i = (int)get_global_id(1), n = (int)get_global_id(2);
    int i0 = (int)get_group_id(1) * GRAM_TILE, j0 = (int)get_group_id(0) * GRAM_TILE;
    global const float* image = x + (size_t)n * (size_t)channels * (size_t)spatial;
    float sum = 0.0f;
    for (int k0 = 0; k0 < spatial; k0 += GRAM_TILE)
    {
        /* Loads at indices clamped into the features, the values past them then dropped: a compiler may load before it selects, and a
         * load past the data reads memory no kernel wrote (Oclgrind flags it, and its flag follows the value into later kernels). */
        int k = min(k0 + lj, spatial - 1);
        float a = image[(size_t)min(i0 + li, channels - 1) * (size_t)spatial + (size_t)k];
        float b = image[(size_t)min(j0 + li, channels - 1) * (size_t)spatial + (size_t)k];
        rows_i[li][lj] = i0 + li < channels && k0 + lj < spatial ? a : 0.0f;
        rows_j[li][lj] = j0 + li < channels && k0 + lj < spatial ? b : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        int depth = min(GRAM_TILE, spatial - k0);
        for (int kk = 0; kk < depth; kk++)
            sum = fma(rows_i[li][kk], rows_j[lj][kk], sum);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < channels && j < channels)
        gram[((size_t)n * (size_t)channels + (size_t)i) * (size_t)channels + (size_t)j] = sum * scale;
}

/* Entry q of the N Grams (GramStyleMath): e = G − A added squared into the group's partial, and with slopes D = factor·(G − ½(A + Aᵀ)),
 * A the image's target Gram (per_image_target) or the one for every image. */
kernel void gram_style_slopes(global const float* gram, global const float* target, global float* slopes, int channels, int per_image_target,
    float factor, int entries, global acc_t* partials)
{
    local acc_t scratch[GRAM_GROUP];
    int q = (int)get_global_id(0);
    acc_t value = 0;
    if (q < entries)
    {
        int square = channels * channels, n = q / square, r = q - n * square, i = r / channels, j = r - i * channels;
        global const float* a = target + (per_image_target ? (size_t)n * (size_t)square : 0);
        float g = gram[q], style = a[r];
        float e = g - style;
        value = (acc_t)e * (acc_t)e;
        if (slopes)
            slopes[q] = factor * (g - 0.5f * (style + a[j * channels + i]));
    }
    acc_t sum = group_sum(scratch, value);
    if (get_local_id(0) == 0)
        partials[get_group_id(0)] = sum;
}

/* gradient[n, c, m] = Σ_k D[n, c, k]·x[n, k, m], a 16×16 tile per group (m along dimension 0, c along 1, the image along 2): 16 k's of
 * D's rows and of the features' columns at a time through local memory. Each entry is one fma chain in k order, the CPU SGEMM's bits;
 * with accumulate, added to the gradient's values. */
kernel void gram_style_backward(global const float* slopes, global const float* x, global float* gradient, int channels, int spatial, int accumulate)
{
    local float d[GRAM_TILE][GRAM_TILE + 1], f[GRAM_TILE][GRAM_TILE + 1];
    int lm = (int)get_local_id(0), lc = (int)get_local_id(1);
    int m = (int)get_global_id(0), c = (int)get_global_id(1), n = (int)get_global_id(2);
    int c0 = (int)get_group_id(1) * GRAM_TILE;
    global const float* dn = slopes + (size_t)n * (size_t)channels * (size_t)channels;
    global const float* image = x + (size_t)n * (size_t)channels * (size_t)spatial;
    size_t at = (size_t)n * (size_t)channels * (size_t)spatial + (size_t)c * (size_t)spatial + (size_t)m;
    /* Accumulating, each entry's chain continues from the gradient another loss wrote (the CPU SGEMM's accumulate). */
    float sum = accumulate != 0 && c < channels && m < spatial ? gradient[at] : 0.0f;
    for (int k0 = 0; k0 < channels; k0 += GRAM_TILE)
    {
        /* Clamped loads, as gram_matrix's. */
        float slope = dn[(size_t)min(c0 + lc, channels - 1) * (size_t)channels + (size_t)min(k0 + lm, channels - 1)];
        float feature = image[(size_t)min(k0 + lc, channels - 1) * (size_t)spatial + (size_t)min(m, spatial - 1)];
        d[lc][lm] = c0 + lc < channels && k0 + lm < channels ? slope : 0.0f;
        f[lc][lm] = k0 + lc < channels && m < spatial ? feature : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        int depth = min(GRAM_TILE, channels - k0);
        for (int kk = 0; kk < depth; kk++)
            sum = fma(d[lc][kk], f[kk][lm], sum);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (c < channels && m < spatial)
        gradient[at] = sum;
}

#endif
