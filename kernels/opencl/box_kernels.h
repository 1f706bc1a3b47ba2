/* The box step, after kernels/box.cl's math; driver.h follows with the loop and the five kernels.
 * An item is a pair of boxes, each a row of four floats; a step takes WIDTH pairs, deinterleaved
 * into box_t columns (float4 loads on GPUs: one vload16 is four rows). */

/* The arguments of every box kernel, in the order the host sets them. w, u and tgrad may be NULL;
 * out and grad are NULL where the mode does not write them; cxcywh is 1 for (cx, cy, w, h) rows. */
#define KERNEL_PARAMS global const float* x, global const float* t, global const float* w, global const float* u, \
    global float* out, global float* grad, global float* tgrad, float scale, int n, int chunk, float4 p, int cxcywh, \
    global acc_t* partials
#define KERNEL_ARGS x, t, w, u, out, grad, tgrad, scale, n, chunk, p, cxcywh, partials

/* The four coordinates of lane `lane` (a hex digit) of a box_t: one row. */
#define ROW(box, lane) box.x1.s##lane, box.y1.s##lane, box.x2.s##lane, box.y2.s##lane

#ifdef SCALAR_ROWS
/* Oclgrind 21.10's uninitialized-value checker crashes on the wide vector shuffles that gathering columns
 * compiles to (shuffles with undefined lanes). The host builds with -D SCALAR_ROWS on Oclgrind only: rows
 * then move element by element through private arrays, reading and writing the same addresses. */
inline box_t load_boxes(global const float* p, int i, int count)
{
    float c0[WIDTH], c1[WIDTH], c2[WIDTH], c3[WIDTH];
    for (int k = 0; k < WIDTH; k++)
    {
        int in = k < count;
        c0[k] = in ? p[4 * (i + k)] : 0.0f;
        c1[k] = in ? p[4 * (i + k) + 1] : 0.0f;
        c2[k] = in ? p[4 * (i + k) + 2] : 0.0f;
        c3[k] = in ? p[4 * (i + k) + 3] : 0.0f;
    }
    box_t b;
    b.x1 = VLOAD(0, c0);
    b.y1 = VLOAD(0, c1);
    b.x2 = VLOAD(0, c2);
    b.y2 = VLOAD(0, c3);
    return b;
}

inline void store_boxes(box_t b, global float* p, int i, int count)
{
    float c0[WIDTH], c1[WIDTH], c2[WIDTH], c3[WIDTH];
    VSTORE(b.x1, 0, c0);
    VSTORE(b.y1, 0, c1);
    VSTORE(b.x2, 0, c2);
    VSTORE(b.y2, 0, c3);
    for (int k = 0; k < count; k++)
    {
        p[4 * (i + k)] = c0[k];
        p[4 * (i + k) + 1] = c1[k];
        p[4 * (i + k) + 2] = c2[k];
        p[4 * (i + k) + 3] = c3[k];
    }
}
#else
/* WIDTH rows from row i of p; rows past `count` read as zero boxes. */
inline box_t load_boxes(global const float* p, int i, int count)
{
    float16 r[WIDTH / 4];
    if (count == WIDTH)
    {
        for (int k = 0; k < WIDTH / 4; k++)
            r[k] = vload16(k, p + 4 * i);
    }
    else
    {
        float rows[4 * WIDTH];
        for (int k = 0; k < 4 * WIDTH; k++)
            rows[k] = k < 4 * count ? p[4 * i + k] : 0.0f;
        for (int k = 0; k < WIDTH / 4; k++)
            r[k] = vload16(k, rows);
    }
    box_t b;
#if WIDTH == 16
    b.x1 = (float16)(r[0].s048c, r[1].s048c, r[2].s048c, r[3].s048c);
    b.y1 = (float16)(r[0].s159d, r[1].s159d, r[2].s159d, r[3].s159d);
    b.x2 = (float16)(r[0].s26ae, r[1].s26ae, r[2].s26ae, r[3].s26ae);
    b.y2 = (float16)(r[0].s37bf, r[1].s37bf, r[2].s37bf, r[3].s37bf);
#else
    b.x1 = r[0].s048c;
    b.y1 = r[0].s159d;
    b.x2 = r[0].s26ae;
    b.y2 = r[0].s37bf;
#endif
    return b;
}

/* Writes the first `count` rows of b from row i of p. */
inline void store_boxes(box_t b, global float* p, int i, int count)
{
    float16 r[WIDTH / 4];
    r[0] = (float16)(ROW(b, 0), ROW(b, 1), ROW(b, 2), ROW(b, 3));
#if WIDTH == 16
    r[1] = (float16)(ROW(b, 4), ROW(b, 5), ROW(b, 6), ROW(b, 7));
    r[2] = (float16)(ROW(b, 8), ROW(b, 9), ROW(b, a), ROW(b, b));
    r[3] = (float16)(ROW(b, c), ROW(b, d), ROW(b, e), ROW(b, f));
#endif
    if (count == WIDTH)
    {
        for (int k = 0; k < WIDTH / 4; k++)
            vstore16(r[k], k, p + 4 * i);
        return;
    }
    float rows[4 * WIDTH];
    for (int k = 0; k < WIDTH / 4; k++)
        vstore16(r[k], k, rows);
    for (int k = 0; k < 4 * count; k++)
        p[4 * i + k] = rows[k];
}

#endif

/* (cx, cy, w, h) to corners, as torchvision's box_convert. */
inline box_t to_corners(box_t b)
{
    box_t c;
    vfloat half_w = b.x2 * 0.5f, half_h = b.y2 * 0.5f;
    c.x1 = b.x1 - half_w;
    c.y1 = b.y1 - half_h;
    c.x2 = b.x1 + half_w;
    c.y2 = b.y1 + half_h;
    return c;
}

/* The gradient times s, and for (cx, cy, w, h) rows back through to_corners: ∂/∂cx = ∂/∂x1 + ∂/∂x2, ∂/∂w = (∂/∂x2 − ∂/∂x1)/2. */
inline box_t scaled_gradient(box_t g, vfloat s, int cxcywh)
{
    box_t r;
    r.x1 = g.x1 * s;
    r.y1 = g.y1 * s;
    r.x2 = g.x2 * s;
    r.y2 = g.y2 * s;
    if (!cxcywh)
        return r;
    box_t c;
    c.x1 = r.x1 + r.x2;
    c.y1 = r.y1 + r.y2;
    c.x2 = (r.x2 - r.x1) * 0.5f;
    c.y2 = (r.y2 - r.y1) * 0.5f;
    return c;
}

/* `count` (1..WIDTH) pairs at i: the gradients are ∂ℓ/∂box · ((scale · u) · w), the CPU driver's order. */
inline vfloat step(const int mode, KERNEL_PARAMS, int i, int count)
{
    box_t pb = load_boxes(x, i, count);
    box_t tb = load_boxes(t, i, count);
    if (cxcywh)
    {
        pb = to_corners(pb);
        tb = to_corners(tb);
    }
    box_t gp, gt;
    vfloat l = LOSS(pb, tb, p, &gp, &gt);
    vfloat s = (vfloat)(scale);
    if (u)
        s *= load_vector(u, i, count);
    if (w)
    {
        vfloat wv = load_vector(w, i, count);
        l *= wv;
        s *= wv;
    }
    if (mode & MODE_OUTPUT)
        store_vector(l, out, i, count, n);
    if (mode & MODE_GRAD)
    {
        store_boxes(scaled_gradient(gp, s, cxcywh), grad, i, count);
        if (tgrad)
            store_boxes(scaled_gradient(gt, s, cxcywh), tgrad, i, count);
    }
    return count == WIDTH ? l : select((vfloat)(0.0f), l, LANES < (vint)(count));
}
