/* Shared by every LossKernels program; the host puts it first in every build.
 *
 * Numerics: no fast-math options; division and square root are built correctly rounded where the
 * device offers it. Sums are accumulated in acc_t and combined in a fixed order, never with float
 * atomics, so that a launch gives the bitwise same result every time on one device. */

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
/* Devices without doubles add work-group partials pairwise in float; the host adds the partials in double. */
typedef float acc_t;
#endif

/* The error flag of a launch holds the lowest faulting position, or INT_MAX when nothing faulted.
 * atomic_min on an int is exact and order-free, so the first fault is found whatever the schedule. */
inline void record_fault(volatile global int* first_fault, int position)
{
    atomic_min(first_fault, position);
}

/* min and max as the C# side's IVectorMath has them: NaN when either operand is NaN (fmin and fmax return the other). */
#define nan_min(a, b) select(fmin((a), (b)), (a) + (b), isnan(a) | isnan(b))
#define nan_max(a, b) select(fmax((a), (b)), (a) + (b), isnan(a) | isnan(b))

/* The binary cross entropy with logits as the C# side's SigmoidTerms.CrossEntropy: x·(step(x) − t) + tail, one rounding, and
 * +∞ (not ∞ − ∞) for an infinite logit whose target is below 1. tail = ln(1 + e^−|x|). */
/* step(x) is ½ + ½·sign(x): 1 or 0 for x ≠ 0, and at x = 0 the product is 0 either way (sign suits float and its vectors alike). */
#define logits_cross_entropy(x, t, tail) fma((x), 0.5f + 0.5f * sign(x) - (t), (tail))
/* σ(x) − t as (1 − t)·σ(x) − t·σ(−x) from positive = σ(x), negative = σ(−x): a hard label's is one sigmoid, exact where σ(x) − 1
 * would cancel (SigmoidTerms.Difference). Float or vector. */
#define sigmoid_difference(positive, negative, t) fma(1.0f - (t), (positive), -(t) * (negative))

/* The group's values of scratch[0..L) added (or max'ed) in work-item order; every work-item gets the result. */
inline float group_max(local float* scratch, float value)
{
    size_t lid = get_local_id(0), size = get_local_size(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    float result = scratch[0];
    for (size_t i = 1; i < size; i++)
        result = isnan(scratch[i]) || scratch[i] > result ? scratch[i] : result;
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

inline acc_t group_sum(local acc_t* scratch, acc_t value)
{
    size_t lid = get_local_id(0), size = get_local_size(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    acc_t result = 0;
    for (size_t i = 0; i < size; i++)
        result += scratch[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

/* The CPU devices' kernels walk runs in float16 vectors; these serve a run's last, partial vector. */

/* Each lane's index, to mask the lanes past a partial vector's count. */
#define LANE_INDICES16 ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

/* count (1..16) floats from p, zero past them: never a read past the run. */
inline float16 load_partial16(global const float* p, int count)
{
    if (count == 16)
        return vload16(0, p);
    float lanes[16];
    for (int k = 0; k < 16; k++)
        lanes[k] = k < count ? p[k] : 0.0f;
    return vload16(0, lanes);
}

/* The first count (1..16) lanes of v to p. */
inline void store_partial16(float16 v, global float* p, int count)
{
    if (count == 16)
    {
        vstore16(v, 0, p);
        return;
    }
    float lanes[16];
    vstore16(v, 0, lanes);
    for (int k = 0; k < count; k++)
        p[k] = lanes[k];
}

/* The lanes added in index order into acc_t, through a private array (Oclgrind's uninitialized-value check misreads .lo/.hi). */
inline acc_t add_lanes16(float16 v)
{
    float lanes[16];
    vstore16(v, 0, lanes);
    acc_t sum = 0;
    for (int k = 0; k < 16; k++)
        sum += lanes[k];
    return sum;
}
