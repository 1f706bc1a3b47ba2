using ILGPU;
using ILGPU.Runtime;
using LossKernels.Box;
using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.Regression;
using LossKernels.Segmentation;

namespace LossKernels.ILGPU;

/// <summary>
/// An ILGPU accelerator as a <see cref="LossDevice"/> of the catalog: <c>LossCatalog.Get(name).Bind(parameters, inputs,
/// upstream, new IlgpuDevice(accelerator))</c> uploads the inputs into buffers of that accelerator and runs the loss's
/// ILGPU entry points on them, on <see cref="Stream"/>. The accelerator stays the caller's (never disposed here).
/// </summary>
/// <param name="accelerator">The accelerator: CUDA, or ILGPU's CPU accelerator (exact, slow: for tests at small sizes).</param>
/// <param name="stream">The stream the runs use; null for the accelerator's default stream.</param>
public sealed class IlgpuDevice(Accelerator accelerator, AcceleratorStream? stream = null) : LossDevice
{
    /// <summary>The accelerator.</summary>
    public Accelerator Accelerator { get; } = accelerator ?? throw new ArgumentNullException(nameof(accelerator));

    /// <summary>The stream the runs use.</summary>
    public AcceleratorStream Stream { get; } = stream ?? accelerator.DefaultStream;

    /// <summary><c>ilgpu-cuda</c>, <c>ilgpu-cpu</c> or <c>ilgpu-opencl</c>, by the accelerator's type.</summary>
    public override string Backend => Accelerator.AcceleratorType switch
    {
        AcceleratorType.Cuda => "ilgpu-cuda",
        AcceleratorType.CPU => "ilgpu-cpu",
        AcceleratorType.OpenCL => "ilgpu-opencl",
        var other => "ilgpu-" + other.ToString().ToLowerInvariant(),
    };

    internal override DeviceRun Elementwise<TLoss>(ElementwiseBoundLoss<TLoss> bound) => new IlgpuElementwiseRun<TLoss>(bound, this);

    internal override DeviceRun ElementwiseTarget<TLoss>(ElementwiseTargetBoundLoss<TLoss> bound) => new IlgpuElementwiseTargetRun<TLoss>(bound, this);

    internal override DeviceRun Centerness(CenternessBoundLoss bound) => new IlgpuCenternessRun(bound, this);

    internal override DeviceRun Rmse(RmseBoundLoss bound) => new IlgpuRmseRun(bound, this);

    internal override DeviceRun Box<TLoss>(BoxBoundLoss<TLoss> bound) => new IlgpuBoxRun<TLoss>(bound, this);

    internal override DeviceRun CrossEntropy(CrossEntropyBoundLoss bound) => new IlgpuCrossEntropyRun(bound, this);

    internal override DeviceRun DistributionFocal(DistributionFocalBoundLoss bound) => new IlgpuDistributionFocalRun(bound, this);

    internal override DeviceRun MultiMargin(MultiMarginBoundLoss bound) => new IlgpuMultiMarginRun(bound, this);

    internal override DeviceRun Ghmc(GhmcBoundLoss bound) => new IlgpuGhmcRun(bound, this);

    internal override DeviceRun PosWeight(PosWeightBoundLoss bound) => new IlgpuPosWeightRun(bound, this);

    internal override DeviceRun PixelWeightedCrossEntropy(PixelWeightedCrossEntropyBoundLoss bound) => new IlgpuPixelWeightedCrossEntropyRun(bound, this);

    internal override DeviceRun Lovasz(LovaszBoundLoss bound) => new IlgpuLovaszRun(bound, this);

    internal override DeviceRun Overlap<TLoss>(OverlapBoundLoss<TLoss> bound) => new IlgpuOverlapRun<TLoss>(bound, this);

    internal override DeviceRun Embedding<TLoss>(Embedding.EmbeddingBoundLoss<TLoss> bound) => new IlgpuEmbeddingRun<TLoss>(bound, this);

    internal override DeviceRun TripletMining(Embedding.TripletMiningBoundLoss bound) => new IlgpuTripletMiningRun(bound, this);

    internal override DeviceRun Discriminative(Embedding.DiscriminativeBoundLoss bound) => new IlgpuDiscriminativeRun(bound, this);

    internal override DeviceRun TotalVariation(Generative.TotalVariationBoundLoss bound) => new IlgpuTotalVariationRun(bound, this);

    internal override DeviceRun CycleConsistency(Generative.CycleConsistencyBoundLoss bound) => new IlgpuCycleConsistencyRun(bound, this);

    internal override DeviceRun RelativisticGan(Generative.RelativisticGanBoundLoss bound) => new IlgpuRelativisticGanRun(bound, this);

    internal override DeviceRun FeatureReconstruction(Generative.FeatureReconstructionBoundLoss bound) => new IlgpuFeatureReconstructionRun(bound, this);

    internal override DeviceRun GramStyle(Generative.GramStyleBoundLoss bound) => new IlgpuGramStyleRun(bound, this);

    internal override DeviceRun ContentStyle(Generative.ContentStyleBoundLoss bound) => new IlgpuContentStyleRun(bound, this);

    internal override DeviceRun TopologyAware(Generative.TopologyAwareBoundLoss bound) => new IlgpuTopologyAwareRun(bound, this);
}
