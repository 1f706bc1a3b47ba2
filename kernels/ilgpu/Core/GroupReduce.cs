using ILGPU;

namespace LossKernels.ILGPU;

/// <summary>
/// Reductions across one work-group, the same tree every run: each thread's value into shared memory, then
/// halving steps with a barrier each. No atomics on floats anywhere, so a group's result is bitwise fixed by
/// its inputs. Every thread of the group must call them (they contain barriers), and every thread gets the result.
/// </summary>
internal static class GroupReduce
{
    /// <summary>The sum of every thread's <paramref name="value"/>, in double.</summary>
    public static double Sum(double value) => Reduce<double, Addition>(value);

    /// <summary>The largest of every thread's <paramref name="value"/>; NaN when any is NaN (as the CPU's max sweep).</summary>
    public static float Max(float value) => Reduce<float, Maximum>(value);

    private static T Reduce<T, TOperation>(T value)
        where T : unmanaged
        where TOperation : struct, IOperation<T>
    {
        ArrayView<T> shared = SharedMemory.Allocate<T>(LossAccelerator.PreferredGroupSize);
        int thread = Group.IdxX;
        shared[thread] = value;
        Group.Barrier();
        for (int half = Group.DimX / 2; half > 0; half /= 2)
        {
            if (thread < half)
                shared[thread] = TOperation.Combine(shared[thread], shared[thread + half]);
            Group.Barrier();
        }

        T result = shared[0];
        Group.Barrier();
        return result;
    }

    private interface IOperation<T>
    {
        static abstract T Combine(T a, T b);
    }

    private readonly struct Addition : IOperation<double>
    {
        public static double Combine(double a, double b) => a + b;
    }

    private readonly struct Maximum : IOperation<float>
    {
        public static float Combine(float a, float b) => IlgpuMath.Max(a, b);
    }
}
