using ILGPU;
using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.ILGPU;

/// <summary>The topology-aware loss and the feature reconstruction loss over several layers on the ILGPU accelerator, against the float64 references.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUTopologyAwareTests
{
    [TestCaseSource(typeof(TopologyAwareTests), nameof(TopologyAwareTests.Losses))]
    public void MatchesTheReference(TopologyAwareLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        const int images = 2;
        TopologyAwareTests.Problem problem = TopologyAwareTests.Problem.Create(images, 33, 21);
        MemoryBuffer1D<float, Stride1D.Dense>[] features = [.. problem.Features.Select(accelerator.Upload)], targets = [.. problem.Targets.Select(accelerator.Upload)],
            gradients = [.. problem.Features.Select(f => accelerator.Allocate1D<float>(f.Length))];
        using var logits = accelerator.Upload(problem.Logits);
        using var mask = accelerator.Upload(problem.Mask);
        using var logitsGrad = accelerator.Allocate1D<float>(problem.Logits.Length);
        try
        {
            FeatureViewLayer[] layers = [.. features.Select((f, l) => new FeatureViewLayer(f.View, targets[l].View, gradients[l].View, images, 1f + l))];
            TopologyAwareResult result = loss.ForwardBackward(logits.View, mask.View, logitsGrad.View, layers, Reduction.Mean, 0.75f);
            TopologyAwareTests.AssertMatchesReference("ilgpu", loss, problem, Reduction.Mean, result, logitsGrad.GetAsArray1D(), [.. gradients.Select(g => g.GetAsArray1D())]);
            var featureLoss = new FeatureReconstructionLoss();
            float onDevice = featureLoss.ForwardBackward(layers, Reduction.Sum, 0.5f);
            Numerics.AssertClose("feature layers", onDevice, featureLoss.ForwardBackward(problem.Layers(problem.NewGradients()), Reduction.Sum, 0.5f), 1e-6, 1e-9);
            Assert.Throws<ArgumentException>(() => loss.ForwardBackward(logits.View, mask.View, gradients[0].View.SubView(0, problem.Logits.Length), layers));
        }
        finally
        {
            foreach (MemoryBuffer buffer in features.Concat(targets).Concat(gradients))
                buffer.Dispose();
        }
    }
}
