using ILGPU;
using ILGPU.Runtime;

namespace LossKernels.ILGPU;

/// <summary>What a pass of an ILGPU kernel reads and writes; a flag set per call and the same for every thread, so its branches never diverge.</summary>
[Flags]
internal enum PassFlags
{
    None = 0,
    Weighted = 1,
    HasUpstream = 2,
    StoreLoss = 4,
    StoreGradient = 8,
    Reduce = 16,
}

/// <summary>The passes of the driver modes, as <see cref="PassFlags"/>.</summary>
internal static class Passes
{
    public const PassFlags ForwardReduced = PassFlags.Reduce;
    public const PassFlags ForwardUnreduced = PassFlags.StoreLoss;
    public const PassFlags FusedReduced = PassFlags.Reduce | PassFlags.StoreGradient;
    public const PassFlags FusedUnreduced = PassFlags.StoreLoss | PassFlags.StoreGradient;
    public const PassFlags Backward = PassFlags.StoreGradient;
}

/// <summary>The views and scalars of one elementwise call (absent views are default and never read).</summary>
internal readonly struct ElementwiseViews(ArrayView<float> input, ArrayView<float> target, ArrayView<float> weight, ArrayView<float> upstream,
    ArrayView<float> output, ArrayView<float> gradient, float gradientScale, long length, PassFlags flags)
{
    public readonly ArrayView<float> Input = input;
    public readonly ArrayView<float> Target = target;
    public readonly ArrayView<float> Weight = weight;
    public readonly ArrayView<float> Upstream = upstream;
    public readonly ArrayView<float> Output = output;
    public readonly ArrayView<float> Gradient = gradient;
    public readonly float GradientScale = gradientScale;
    public readonly long Length = length;
    public readonly PassFlags Flags = flags;

    public bool Has(PassFlags flag) => (Flags & flag) != 0;

    /// <summary>Element i's weight, or 0 (unread) without weights.</summary>
    public float WeightAt(long i) => Has(PassFlags.Weighted) ? Weight[i] : 0f;

    /// <summary>Element i's upstream gradient, or 0 (unread) without.</summary>
    public float UpstreamAt(long i) => Has(PassFlags.HasUpstream) ? Upstream[i] : 0f;

    /// <summary>Stores what the pass stores of element i; returns its loss.</summary>
    public float Store(long i, float value, float gradient)
    {
        if (Has(PassFlags.StoreLoss))
            Output[i] = value;
        if (Has(PassFlags.StoreGradient))
            Gradient[i] = gradient;
        return value;
    }
}

/// <summary>
/// A pass over a call's items that <see cref="ItemKernel"/> runs: one item (an element, a box pair, a position) per call
/// of <see cref="Run"/>, which reads its inputs, writes what the pass writes and returns the item's weighted loss.
/// </summary>
internal interface IItemPass
{
    /// <summary>The number of items.</summary>
    long Length { get; }

    /// <summary>What the pass does; <see cref="PassFlags.Reduce"/> makes the kernel sum the returned losses.</summary>
    PassFlags Flags { get; }

    /// <summary>Item <paramref name="i"/>: reads, writes, returns its loss.</summary>
    float Run(long i);
}

/// <summary>
/// The one ILGPU kernel of passes over independent items (<see cref="IItemPass"/>: elementwise losses, box pairs). A
/// work-group takes a fixed chunk of <see cref="ItemsPerThread"/> items per thread, thread t the items t, t + G, t + 2G, …
/// of it (neighbouring threads read neighbouring items); a thread adds its items' losses in float (at most
/// <see cref="ItemsPerThread"/>, as the SIMD drivers' lanes add at most 16 vectors) and the group adds the threads' sums in
/// double (<see cref="GroupReduce"/>) into one partial per chunk, which the host adds in index order. Each item is read and
/// written by one thread, so a gradient may overwrite its input.
/// </summary>
internal static class ItemKernel
{
    /// <summary>Items per thread of a work-group's chunk.</summary>
    public const int ItemsPerThread = 16;

    private static class Loaded<TPass>
        where TPass : struct, IItemPass
    {
        public static readonly LoadedKernel<Action<AcceleratorStream, KernelConfig, TPass, ArrayView<double>>> Kernel =
            new(accelerator => accelerator.LoadKernel<TPass, ArrayView<double>>(Run));
    }

    /// <summary>
    /// Launches <paramref name="pass"/> on <paramref name="stream"/>; for a reducing pass waits and returns the sum of the
    /// items' losses, else returns 0 with the kernel queued.
    /// </summary>
    public static double Launch<TPass>(in TPass pass, Accelerator accelerator, AcceleratorStream stream)
        where TPass : struct, IItemPass
    {
        if (pass.Length == 0)
            return 0d;
        LossAccelerator state = LossAccelerator.For(accelerator);
        int chunk = state.GroupSize * ItemsPerThread;
        int groups = checked((int)((pass.Length + chunk - 1) / chunk));
        var kernel = Loaded<TPass>.Kernel.For(state);
        if ((pass.Flags & PassFlags.Reduce) == 0)
        {
            kernel(stream, new KernelConfig(groups, state.GroupSize), pass, default);
            return 0d;
        }

        lock (state.Gate)
        {
            kernel(stream, new KernelConfig(groups, state.GroupSize), pass, state.Partials(groups));
            return state.SumPartials(stream, groups);
        }
    }

    private static void Run<TPass>(TPass pass, ArrayView<double> partials)
        where TPass : struct, IItemPass
    {
        int size = Group.DimX;
        long start = (long)Grid.IdxX * size * ItemsPerThread + Group.IdxX;
        long length = pass.Length;
        float sum = 0f;
        for (int k = 0; k < ItemsPerThread; k++)
        {
            long i = start + (long)k * size;
            if (i >= length)
                break;
            sum += pass.Run(i);
        }

        if ((pass.Flags & PassFlags.Reduce) == 0)
            return;
        double total = GroupReduce.Sum(sum);
        if (Group.IdxX == 0)
            partials[Grid.IdxX] = total;
    }
}

/// <summary>
/// An elementwise loss as an <see cref="IItemPass"/>: the loss's <c>Evaluate</c> instantiated with <see cref="IlgpuMath"/>
/// (the SIMD kernels' very code, one element per thread) inside <see cref="ElementwiseStep"/>, the SIMD driver's weighting
/// and scaling.
/// </summary>
internal readonly struct ElementwisePass<TLoss>(TLoss loss, ElementwiseViews views) : IItemPass
    where TLoss : struct, IElementwiseLoss
{
    private readonly TLoss loss = loss;
    private readonly ElementwiseViews v = views;

    public long Length => v.Length;

    public PassFlags Flags => v.Flags;

    public float Run(long i)
    {
        float value = ElementwiseStep.Evaluate<TLoss, float, IlgpuMath>(loss, v.Input[i], v.Target[i], v.WeightAt(i), v.UpstreamAt(i),
            v.Has(PassFlags.Weighted), v.Has(PassFlags.HasUpstream), v.GradientScale, v.Has(PassFlags.StoreGradient), out float gradient);
        return v.Store(i, value, gradient);
    }
}
