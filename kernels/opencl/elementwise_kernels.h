/* The elementwise step, after the family's math (see elementwise.h); driver.h follows with the loop
 * and the five kernels. */

/* The arguments of every elementwise kernel, in the order the host sets them. w and u may be NULL
 * (no weight; upstream taken as `scale`); out and grad are NULL where the mode does not write them. */
#define KERNEL_PARAMS global const float* x, global const float* t, global const float* w, global const float* u, \
    global float* out, global float* grad, float scale, int n, int chunk, float4 p, global acc_t* partials
#define KERNEL_ARGS x, t, w, u, out, grad, scale, n, chunk, p, partials

/* One vector of `count` (1..WIDTH) elements at i: writes what the mode writes, returns the weighted
 * element losses with lanes past `count` zeroed. The gradient is (∂ℓ/∂x · w) · (u · scale), the CPU
 * driver's order of products. */
inline vfloat step(const int mode, KERNEL_PARAMS, int i, int count)
{
    vfloat xv = load_vector(x, i, count);
    vfloat tv = load_vector(t, i, count);
    vfloat g;
    vfloat l = LOSS(xv, tv, p, &g);
    if (w)
    {
        vfloat wv = load_vector(w, i, count);
        l *= wv;
        g *= wv;
    }
    if (mode & MODE_OUTPUT)
        store_vector(l, out, i, count, n);
    if (mode & MODE_GRAD)
        store_vector(u ? g * (load_vector(u, i, count) * scale) : g * scale, grad, i, count, n);
    return count == WIDTH ? l : select((vfloat)(0.0f), l, LANES < (vint)(count));
}

