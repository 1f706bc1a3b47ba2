namespace LossKernels;

/// <summary>Process-wide settings of the CPU kernels.</summary>
public static class LossKernelsSettings
{
    private static int maxThreads = DefaultMaxThreads();

    /// <summary>
    /// The most threads one call may use (the caller's thread included). Defaults to
    /// <see cref="Environment.ProcessorCount"/>, or to the integer in the environment variable
    /// <c>LOSSKERNELS_MAX_THREADS</c> when it is set. Results are bitwise identical for every value:
    /// reductions run over fixed chunks whose partial sums are combined in index order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int MaxThreads
    {
        get => Volatile.Read(ref maxThreads);
        set
        {
            if (value < 1)
                ThrowHelper.OutOfRange(nameof(value), value, ">= 1");
            Volatile.Write(ref maxThreads, value);
        }
    }

    private static int DefaultMaxThreads() =>
        int.TryParse(Environment.GetEnvironmentVariable("LOSSKERNELS_MAX_THREADS"), out int fromEnvironment) && fromEnvironment >= 1
            ? fromEnvironment
            : Environment.ProcessorCount;
}
