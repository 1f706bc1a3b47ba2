using LossKernels.Box;
using LossKernels.Classification;
using LossKernels.Regression;

namespace LossKernels.Catalog;

/// <summary>
/// A device the catalog runs losses on instead of the CPU: an <see cref="OpenCL.OpenCLDevice"/>, or an ILGPU
/// accelerator through <c>LossKernels.ILGPU.IlgpuDevice</c>. <see cref="LossDefinition.Bind"/> uploads the bound
/// loss's inputs there once, and each <see cref="BoundLoss.Run"/> calls the loss's entry points for that device's
/// memory. Only this library's backends derive from it.
/// </summary>
public abstract class LossDevice
{
    internal LossDevice()
    {
    }

    /// <summary>The backend's name in reports and test names: <c>opencl</c>, <c>ilgpu-cuda</c>, <c>ilgpu-cpu</c>, …</summary>
    public abstract string Backend { get; }

    internal abstract DeviceRun Elementwise<TLoss>(ElementwiseBoundLoss<TLoss> bound)
        where TLoss : struct, IElementwiseLoss;

    internal abstract DeviceRun ElementwiseTarget<TLoss>(ElementwiseTargetBoundLoss<TLoss> bound)
        where TLoss : struct, IElementwiseTargetLoss;

    internal abstract DeviceRun Centerness(CenternessBoundLoss bound);

    internal abstract DeviceRun Rmse(RmseBoundLoss bound);

    internal abstract DeviceRun Box<TLoss>(BoxBoundLoss<TLoss> bound)
        where TLoss : struct, IBoxLoss;

    internal abstract DeviceRun CrossEntropy(CrossEntropyBoundLoss bound);

    internal abstract DeviceRun DistributionFocal(DistributionFocalBoundLoss bound);

    internal abstract DeviceRun MultiMargin(MultiMarginBoundLoss bound);

    internal abstract DeviceRun Ghmc(GhmcBoundLoss bound);

    internal abstract DeviceRun PosWeight(PosWeightBoundLoss bound);

    internal abstract DeviceRun PixelWeightedCrossEntropy(Segmentation.PixelWeightedCrossEntropyBoundLoss bound);

    internal abstract DeviceRun Lovasz(Segmentation.LovaszBoundLoss bound);

    internal abstract DeviceRun Overlap<TLoss>(Segmentation.OverlapBoundLoss<TLoss> bound)
        where TLoss : struct, Segmentation.IOverlapLoss;

    internal abstract DeviceRun Embedding<TLoss>(Embedding.EmbeddingBoundLoss<TLoss> bound)
        where TLoss : struct, Embedding.IEmbeddingLoss, Embedding.IOpenCLEmbeddingLoss;

    internal abstract DeviceRun TripletMining(Embedding.TripletMiningBoundLoss bound);

    internal abstract DeviceRun Discriminative(Embedding.DiscriminativeBoundLoss bound);

    internal abstract DeviceRun TotalVariation(Generative.TotalVariationBoundLoss bound);

    internal abstract DeviceRun CycleConsistency(Generative.CycleConsistencyBoundLoss bound);

    internal abstract DeviceRun RelativisticGan(Generative.RelativisticGanBoundLoss bound);

    internal abstract DeviceRun FeatureReconstruction(Generative.FeatureReconstructionBoundLoss bound);

    internal abstract DeviceRun GramStyle(Generative.GramStyleBoundLoss bound);

    internal abstract DeviceRun ContentStyle(Generative.ContentStyleBoundLoss bound);

    internal abstract DeviceRun TopologyAware(Generative.TopologyAwareBoundLoss bound);
}

/// <summary>
/// A bound loss's data on a <see cref="LossDevice"/> and the calls that run it there: made by the device for the bound
/// loss at bind time, run by <see cref="BoundLoss.Run"/>, disposed with it.
/// </summary>
internal abstract class DeviceRun : IDisposable
{
    /// <summary>Runs <paramref name="mode"/> with the bound loss's parameters, writes a reduced loss into its <see cref="BoundLoss.Loss"/>, and waits until the device has finished.</summary>
    public abstract void Run(LossMode mode);

    /// <summary>Copies the unreduced losses (when <paramref name="loss"/> is not empty) and the gradients from the device.</summary>
    public abstract void Fetch(float[] loss, float[] gradient, float[]? secondGradient, float[]? thirdGradient);

    /// <summary>Fills the device's output and gradient memory with <paramref name="value"/>.</summary>
    public abstract void Poison(float value);

    /// <summary>Releases the device memory.</summary>
    public abstract void Dispose();
}
