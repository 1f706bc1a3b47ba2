using LossKernels.Box;
using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.Regression;

namespace LossKernels.OpenCL;

/// <summary>The device as a <see cref="LossDevice"/> of the catalog: each bound loss's data uploaded here and run by its buffer overloads.</summary>
public sealed partial class OpenCLDevice
{
    /// <summary><c>opencl</c>.</summary>
    public override string Backend => "opencl";

    internal override DeviceRun Elementwise<TLoss>(ElementwiseBoundLoss<TLoss> bound) => new OpenCLElementwiseRun<TLoss>(bound, this);

    internal override DeviceRun ElementwiseTarget<TLoss>(ElementwiseTargetBoundLoss<TLoss> bound) => new OpenCLElementwiseTargetRun<TLoss>(bound, this);

    internal override DeviceRun Centerness(CenternessBoundLoss bound) => new OpenCLCenternessRun(bound, this);

    internal override DeviceRun Rmse(RmseBoundLoss bound) => new OpenCLRmseRun(bound, this);

    internal override DeviceRun Box<TLoss>(BoxBoundLoss<TLoss> bound) => new OpenCLBoxRun<TLoss>(bound, this);

    internal override DeviceRun CrossEntropy(CrossEntropyBoundLoss bound) => new OpenCLCrossEntropyRun(bound, this);

    internal override DeviceRun DistributionFocal(DistributionFocalBoundLoss bound) => new OpenCLDistributionFocalRun(bound, this);

    internal override DeviceRun MultiMargin(MultiMarginBoundLoss bound) => new OpenCLMultiMarginRun(bound, this);

    internal override DeviceRun Ghmc(GhmcBoundLoss bound) => new OpenCLGhmcRun(bound, this);

    internal override DeviceRun PixelWeightedCrossEntropy(Segmentation.PixelWeightedCrossEntropyBoundLoss bound) => new Segmentation.OpenCLPixelWeightedCrossEntropyRun(bound, this);

    internal override DeviceRun Lovasz(Segmentation.LovaszBoundLoss bound) => new Segmentation.OpenCLLovaszRun(bound, this);

    internal override DeviceRun Overlap<TLoss>(Segmentation.OverlapBoundLoss<TLoss> bound) => new Segmentation.OpenCLOverlapRun<TLoss>(bound, this);

    internal override DeviceRun Embedding<TLoss>(Embedding.EmbeddingBoundLoss<TLoss> bound) => new Embedding.OpenCLEmbeddingRun<TLoss>(bound, this);

    internal override DeviceRun TripletMining(Embedding.TripletMiningBoundLoss bound) => new Embedding.OpenCLTripletMiningRun(bound, this);

    internal override DeviceRun Discriminative(Embedding.DiscriminativeBoundLoss bound) => new Embedding.OpenCLDiscriminativeRun(bound, this);

    internal override DeviceRun TotalVariation(Generative.TotalVariationBoundLoss bound) => new Generative.OpenCLTotalVariationRun(bound, this);

    internal override DeviceRun CycleConsistency(Generative.CycleConsistencyBoundLoss bound) => new Generative.OpenCLCycleConsistencyRun(bound, this);

    internal override DeviceRun RelativisticGan(Generative.RelativisticGanBoundLoss bound) => new Generative.OpenCLRelativisticGanRun(bound, this);

    internal override DeviceRun FeatureReconstruction(Generative.FeatureReconstructionBoundLoss bound) => new Generative.OpenCLFeatureReconstructionRun(bound, this);

    internal override DeviceRun GramStyle(Generative.GramStyleBoundLoss bound) => new Generative.OpenCLGramStyleRun(bound, this);

    internal override DeviceRun ContentStyle(Generative.ContentStyleBoundLoss bound) => new Generative.OpenCLContentStyleRun(bound, this);

    internal override DeviceRun TopologyAware(Generative.TopologyAwareBoundLoss bound) => new Generative.OpenCLTopologyAwareRun(bound, this);

    internal override DeviceRun PosWeight(PosWeightBoundLoss bound) => new OpenCLPosWeightRun(bound, this);
}
