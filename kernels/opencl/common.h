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
