using ILGPU;
using ILGPU.Runtime;

namespace LossKernels.ILGPU;

/// <summary>How the threads that share a row combine their values: a work-group's tree, or nothing for a row of one thread.</summary>
internal interface IRowReduce
{
    static abstract float Max(float value);

    static abstract double Sum(double value);

    /// <summary>Waits until every thread of the row has reached this point (a barrier for a work-group; nothing for one thread).</summary>
    static abstract void Barrier();
}

/// <summary>A row per work-group: <see cref="GroupReduce"/>.</summary>
internal readonly struct GroupRowReduce : IRowReduce
{
    public static float Max(float value) => GroupReduce.Max(value);

    public static double Sum(double value) => GroupReduce.Sum(value);

    public static void Barrier() => Group.Barrier();
}

/// <summary>A row per thread: its own values are the row's.</summary>
internal readonly struct ThreadRowReduce : IRowReduce
{
    public static float Max(float value) => value;

    public static double Sum(double value) => value;

    public static void Barrier()
    {
    }
}

/// <summary>
/// A pass over rows of classes (cross entropy and its kin, multi-margin, softmax), written once for both ways a row is spread over
/// threads: <see cref="Run{TReduce}"/> takes the classes <c>first, first + step, …</c> of a row and combines the row's values with
/// an <see cref="IRowReduce"/>, so that the same code is a work-group's row (<see cref="GroupRowReduce"/>) or one thread's
/// (<see cref="ThreadRowReduce"/>).
/// </summary>
internal interface IRowPass
{
    /// <summary>The number of rows (or positions).</summary>
    int Rows { get; }

    /// <summary>The classes of a row.</summary>
    int Classes { get; }

    /// <summary>Row <paramref name="row"/>'s share of this thread; returns the row's loss (every thread of the row gets it).</summary>
    double Run<TReduce>(long row, int first, int step)
        where TReduce : struct, IRowReduce;
}

/// <summary>
/// The one launcher of row passes: a work-group per row when the rows have <see cref="GroupRowClasses"/> classes or more (shared-memory
/// sums, the row read once from memory), else a thread per row through <see cref="ItemKernel"/> (short rows would leave a group's threads
/// idle). Row losses are added on the host in index order (of rows, or of the item kernel's chunks).
/// </summary>
internal static class RowKernel
{
    /// <summary>From this many classes a row gets a work-group.</summary>
    public const int GroupRowClasses = 64;

    private static class Loaded<TPass>
        where TPass : struct, IRowPass
    {
        public static readonly LoadedKernel<Action<AcceleratorStream, KernelConfig, TPass, ArrayView<double>>> Kernel =
            new(accelerator => accelerator.LoadKernel<TPass, ArrayView<double>>(RunRows));
    }

    /// <summary>
    /// Runs every row of <paramref name="pass"/> on <paramref name="stream"/> (under the caller's hold of <paramref name="state"/>'s gate);
    /// with <paramref name="reduce"/> waits and returns Σ row losses. <paramref name="threadPerRow"/> forces a thread per row (positions
    /// of [N, C, d…], whose classes are D apart).
    /// </summary>
    public static double Launch<TPass>(LossAccelerator state, AcceleratorStream stream, in TPass pass, bool reduce, bool threadPerRow = false)
        where TPass : struct, IRowPass
    {
        if (pass.Rows == 0)
            return 0d;
        if (threadPerRow || pass.Classes < GroupRowClasses)
            return ItemKernel.Launch(new RowItems<TPass>(pass, reduce ? PassFlags.Reduce : PassFlags.None), state.Accelerator, stream);
        int group = 1;
        while (group < state.GroupSize && group * 4 < pass.Classes)
            group *= 2;
        Loaded<TPass>.Kernel.For(state)(stream, new KernelConfig(pass.Rows, group), pass, reduce ? state.Partials(pass.Rows) : default);
        return reduce ? state.SumPartials(stream, pass.Rows) : 0d;
    }

    private static void RunRows<TPass>(TPass pass, ArrayView<double> rowLosses)
        where TPass : struct, IRowPass
    {
        double loss = pass.Run<GroupRowReduce>(Grid.IdxX, Group.IdxX, Group.DimX);
        if (Group.IdxX == 0 && rowLosses.Length > 0)
            rowLosses[Grid.IdxX] = loss;
    }

    /// <summary>A row pass as items, a thread per row.</summary>
    internal readonly struct RowItems<TPass>(TPass pass, PassFlags flags) : IItemPass
        where TPass : struct, IRowPass
    {
        private readonly TPass pass = pass;

        public long Length => pass.Rows;

        public PassFlags Flags { get; } = flags;

        public float Run(long i) => (float)pass.Run<ThreadRowReduce>(i, 0, 1);
    }
}
