/* The driver and the five kernels of every streaming family, after its step: elementwise_kernels.h or
 * box_kernels.h defines KERNEL_PARAMS, KERNEL_ARGS and
 *   vfloat step(mode, KERNEL_PARAMS, int i, int count)
 * which handles `count` (1..WIDTH) items from item i and returns their weighted losses, zero past count.
 * Items are elements or box pairs; `chunk` counts items. */

/* OpenCL C allows local arrays only at kernel scope: each kernel declares the tree's scratch. */
#if defined(VARIANT_TREE)
#define TREE_SCRATCH local acc_t tree[TREE_GROUP]
#else
#define TREE_SCRATCH local acc_t* tree = 0
#endif

inline void run(const int mode, KERNEL_PARAMS, local acc_t* tree)
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
            block += step(mode, KERNEL_ARGS, start + k, WIDTH);
        total += lane_sum(block);
    }
    vfloat rest = 0.0f;
    for (; length - k >= WIDTH; k += WIDTH)
        rest += step(mode, KERNEL_ARGS, start + k, WIDTH);
    if (k < length)
        rest += step(mode, KERNEL_ARGS, start + k, length - k);
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
        sum += step(mode, KERNEL_ARGS, start + k, WIDTH);
    if (k < length)
        sum += step(mode, KERNEL_ARGS, start + k, length - k);
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

kernel void forward_sum(KERNEL_PARAMS) { TREE_SCRATCH; run(MODE_REDUCE, KERNEL_ARGS, tree); }
kernel void forward_none(KERNEL_PARAMS) { TREE_SCRATCH; run(MODE_OUTPUT, KERNEL_ARGS, tree); }
kernel void fused_sum(KERNEL_PARAMS) { TREE_SCRATCH; run(MODE_REDUCE | MODE_GRAD, KERNEL_ARGS, tree); }
kernel void fused_none(KERNEL_PARAMS) { TREE_SCRATCH; run(MODE_OUTPUT | MODE_GRAD, KERNEL_ARGS, tree); }
kernel void backward(KERNEL_PARAMS) { TREE_SCRATCH; run(MODE_GRAD, KERNEL_ARGS, tree); }
