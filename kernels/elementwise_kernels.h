/* The elementwise driver and its five kernels, after the family's math (see elementwise.h). */

#define MODE_REDUCE 1
#define MODE_OUTPUT 2
#define MODE_GRAD 4

/* Vectors summed in float lanes before the lanes are added into acc_t. */
#define FLUSH_INTERVAL 16

/* The arguments of every elementwise kernel, in the order the host sets them. w and u may be NULL
 * (no weight; upstream taken as `scale`); out and grad are NULL where the mode does not write them. */
#define ELEMENTWISE_PARAMS global const float* x, global const float* t, global const float* w, global const float* u, \
    global float* out, global float* grad, float scale, int n, int chunk, float4 p, global acc_t* partials
#define ELEMENTWISE_ARGS x, t, w, u, out, grad, scale, n, chunk, p, partials

/* One vector of `count` (1..WIDTH) elements at i: writes what the mode writes, returns the weighted
 * element losses with lanes past `count` zeroed. The gradient is (∂ℓ/∂x · w) · (u · scale), the CPU
 * driver's order of products. */
inline vfloat step(const int mode, ELEMENTWISE_PARAMS, int i, int count)
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

/* OpenCL C allows local arrays only at kernel scope: each kernel declares the tree's scratch. */
#if defined(VARIANT_TREE)
#define TREE_SCRATCH local acc_t tree[TREE_GROUP]
#else
#define TREE_SCRATCH local acc_t* tree = 0
#endif

inline void run(const int mode, ELEMENTWISE_PARAMS, local acc_t* tree)
{
    /* Offsets run relative to the tile, so that no index overflows an int even at n near 2^31. */
#if defined(VARIANT_CHUNK)
    int start = (int)get_global_id(0) * chunk;
    int length = min(chunk, n - start);
    int k = 0;
    acc_t total = 0;
    /* Full vectors in blocks of FLUSH_INTERVAL with a constant count, so that the partial-vector
     * paths compile away from the hot loop; then the rest, and a last partial vector. */
    while (length - k >= FLUSH_INTERVAL * WIDTH)
    {
        vfloat block = 0.0f;
        for (int v = 0; v < FLUSH_INTERVAL; v++, k += WIDTH)
            block += step(mode, ELEMENTWISE_ARGS, start + k, WIDTH);
        total += lane_sum(block);
    }
    vfloat rest = 0.0f;
    for (; length - k >= WIDTH; k += WIDTH)
        rest += step(mode, ELEMENTWISE_ARGS, start + k, WIDTH);
    if (k < length)
        rest += step(mode, ELEMENTWISE_ARGS, start + k, length - k);
    if (mode & MODE_REDUCE)
        partials[get_global_id(0)] = total + lane_sum(rest);
#else
    int lid = (int)get_local_id(0);
    int size = (int)get_local_size(0);
    int start = (int)get_group_id(0) * chunk;
    int length = min(chunk, n - start);
    vfloat sum = 0.0f;
    int k = lid * WIDTH;
    for (; length - k >= WIDTH; k += size * WIDTH)
        sum += step(mode, ELEMENTWISE_ARGS, start + k, WIDTH);
    if (k < length)
        sum += step(mode, ELEMENTWISE_ARGS, start + k, length - k);
    if (mode & MODE_REDUCE)
    {
        tree[lid] = lane_sum(sum);
        for (int stride = size / 2; stride > 0; stride /= 2)
        {
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid < stride)
                tree[lid] += tree[lid + stride];
        }
        if (lid == 0)
            partials[get_group_id(0)] = tree[0];
    }
#endif
}

kernel void forward_sum(ELEMENTWISE_PARAMS) { TREE_SCRATCH; run(MODE_REDUCE, ELEMENTWISE_ARGS, tree); }
kernel void forward_none(ELEMENTWISE_PARAMS) { TREE_SCRATCH; run(MODE_OUTPUT, ELEMENTWISE_ARGS, tree); }
kernel void fused_sum(ELEMENTWISE_PARAMS) { TREE_SCRATCH; run(MODE_REDUCE | MODE_GRAD, ELEMENTWISE_ARGS, tree); }
kernel void fused_none(ELEMENTWISE_PARAMS) { TREE_SCRATCH; run(MODE_OUTPUT | MODE_GRAD, ELEMENTWISE_ARGS, tree); }
kernel void backward(ELEMENTWISE_PARAMS) { TREE_SCRATCH; run(MODE_GRAD, ELEMENTWISE_ARGS, tree); }
