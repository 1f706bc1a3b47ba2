using System.Runtime.CompilerServices;
using ILGPU.Runtime;

namespace LossKernels.ILGPU;

/// <summary>
/// One kernel, compiled and loaded once per accelerator at its first call and found again without allocating:
/// a static field of this type per kernel (and per loss type it is instantiated with) holds the loaders.
/// </summary>
/// <typeparam name="TKernel">The launcher delegate ILGPU returns (<c>LoadStreamKernel</c>'s).</typeparam>
internal sealed class LoadedKernel<TKernel>
    where TKernel : class
{
    private readonly ConditionalWeakTable<Accelerator, TKernel> loaded = [];
    private readonly ConditionalWeakTable<Accelerator, TKernel>.CreateValueCallback load;

    /// <param name="load">Compiles and loads the kernel on an accelerator.</param>
    public LoadedKernel(Func<Accelerator, TKernel> load) => this.load = accelerator => load(accelerator);

    /// <summary>The kernel on <paramref name="state"/>'s accelerator, for one launch (counted in <see cref="LossAccelerator.Launches"/>).</summary>
    public TKernel For(LossAccelerator state)
    {
        state.CountLaunch();
        return loaded.GetValue(state.Accelerator, load);
    }
}
