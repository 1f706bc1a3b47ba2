/* What the math of an elementwise family is written with: the vector type vfloat and its helpers.
 * The host builds   common.h, elementwise.h, <family>.cl, elementwise_kernels.h   with
 *   -D LOSS=<a math function of the family>   vfloat LOSS(vfloat x, vfloat t, float4 p, vfloat* grad)
 *   -D VARIANT_TREE or -D VARIANT_CHUNK
 * so that a family's .cl file holds only math and elementwise_kernels.h the one driver.
 *
 * VARIANT_TREE (GPUs): a work-group owns a tile of `chunk` elements; work-items read float4 vectors
 * strided by the group so that loads coalesce, sum them in float, and the group adds its work-items'
 * sums with a barrier tree in local memory. One partial per group.
 * VARIANT_CHUNK (CPU devices such as PoCL): a work-item owns `chunk` contiguous elements and walks
 * them in float16 vectors with no barrier at all (PoCL spills values live across a barrier and
 * loops over each barrier region, so a tree is slow there). One partial per work-item.
 * Either way the partials are a function of n alone and the host adds them in index order. */

#if defined(VARIANT_CHUNK)
#define WIDTH 16
typedef float16 vfloat;
typedef int16 vint;
#define VLOAD vload16
#define VSTORE vstore16
#define LANES ((vint)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#elif defined(VARIANT_TREE)
#define WIDTH 4
typedef float4 vfloat;
typedef int4 vint;
#define VLOAD vload4
#define VSTORE vstore4
#define LANES ((vint)(0, 1, 2, 3))
/* The largest work-group the tree serves; the host launches a power of two no larger. */
#define TREE_GROUP 256
#else
#error "Build with -D VARIANT_TREE or -D VARIANT_CHUNK"
#endif

/* What a pass does: bits of the `mode` every step and the driver take. */
#define MODE_REDUCE 1
#define MODE_OUTPUT 2
#define MODE_GRAD 4

/* Vectors summed in float lanes before the lanes are added into acc_t. */
#define FLUSH_INTERVAL 16

/* sign(d) that keeps NaN (OpenCL's sign() gives 0 for NaN, which would hide it). */
inline vfloat sign_or_nan(vfloat d)
{
    vfloat s = select(select((vfloat)(0.0f), (vfloat)(-1.0f), d < (vfloat)(0.0f)), (vfloat)(1.0f), d > (vfloat)(0.0f));
    return select(s, d, isnan(d));
}

/* ln(1 + e^−|x|), the shared tail of softplus(±x); *positive = σ(x), *negative = σ(−x), from one exp
 * (the classification and generative families share it). */
inline vfloat sigmoids(vfloat x, vfloat* positive, vfloat* negative)
{
    vfloat e = exp(-fabs(x));
    vfloat large = 1.0f / (1.0f + e);
    vfloat small = e * large;
    vint nonnegative = x > 0.0f;
    *positive = select(small, large, nonnegative);
    *negative = select(large, small, nonnegative);
    return log1p(e);
}

/* The lanes added pairwise, s0 + s8, …, down to one float: a fixed order on every device. The lanes
 * go through a volatile private array because LLVM otherwise turns the adds into vector shuffles
 * with undefined mask lanes, on which Oclgrind 21.10's uninitialized-value checker crashes; it runs
 * once per FLUSH_INTERVAL vectors, so the cost is nil. */
inline float lane_sum(vfloat v)
{
    volatile float lanes[WIDTH];
    VSTORE(v, 0, (float*)lanes);
#if WIDTH == 16
    float b0 = (lanes[0] + lanes[8]) + (lanes[4] + lanes[12]);
    float b1 = (lanes[1] + lanes[9]) + (lanes[5] + lanes[13]);
    float b2 = (lanes[2] + lanes[10]) + (lanes[6] + lanes[14]);
    float b3 = (lanes[3] + lanes[11]) + (lanes[7] + lanes[15]);
#else
    float b0 = lanes[0], b1 = lanes[1], b2 = lanes[2], b3 = lanes[3];
#endif
    return (b0 + b2) + (b1 + b3);
}

inline vfloat load_vector(global const float* p, int i, int count)
{
    if (count == WIDTH)
        return VLOAD(0, p + i);
    float lanes[WIDTH];
    for (int k = 0; k < WIDTH; k++)
        lanes[k] = k < count ? p[i + k] : 0.0f;
    return VLOAD(0, lanes);
}

/* On CPU devices built by clang (PoCL), outputs of STREAM_THRESHOLD elements or more are written
 * with streaming stores, as the CPU driver does: they bypass the caches, which saves the read of each
 * destination line. The chunk variant's full vectors start at multiples of 16 floats, so they are
 * 64-byte aligned (buffers start at CL_DEVICE_MEM_BASE_ADDR_ALIGN). */
#if defined(VARIANT_CHUNK) && defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store)
#define STREAM_STORES
#endif
#endif
#define STREAM_THRESHOLD (1 << 22)

inline void store_vector(vfloat v, global float* p, int i, int count, int n)
{
    if (count == WIDTH)
    {
#ifdef STREAM_STORES
        if (n >= STREAM_THRESHOLD)
        {
            __builtin_nontemporal_store(v, (global vfloat*)(p + i));
            return;
        }
#endif
        VSTORE(v, 0, p + i);
        return;
    }
    float lanes[WIDTH];
    VSTORE(v, 0, lanes);
    for (int k = 0; k < count; k++)
        p[i + k] = lanes[k];
}

