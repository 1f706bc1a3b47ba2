using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.ILGPU;

/// <summary>The feature reconstruction loss on the ILGPU accelerator (small features: the CPU accelerator is slow): against the float64 formula.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUFeatureReconstructionTests
{
    [TestCaseSource(typeof(FeatureReconstructionTests), nameof(FeatureReconstructionTests.Losses))]
    public void MatchesTheReference(FeatureReconstructionLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
        {
            (float[] x, float[] t) = FeatureReconstructionTests.Features(3 * 257, 2);
            (double expected, double[] gradient) = FeatureReconstructionTests.Reference(loss, x, t, 3, reduction, 0.75);
            using var input = accelerator.Upload(x);
            using var target = accelerator.Upload(t);
            using var grad = accelerator.Allocate1D<float>(x.Length);
            Numerics.AssertClose($"ilgpu {reduction}: loss", loss.ForwardBackward(input.View, target.View, 3, grad.View, reduction, 0.75f), expected, 1e-5, 1e-7);
            Numerics.AssertClose($"ilgpu {reduction}: gradient", grad.GetAsArray1D(), gradient, 1e-5, 1e-12);
            Numerics.AssertClose($"ilgpu {reduction}: forward", loss.Forward(input.View, target.View, 3, reduction), expected, 1e-5, 1e-7);
            float[] fused = grad.GetAsArray1D();
            grad.MemSetToZero();
            loss.Backward(input.View, target.View, 3, 0.75f, grad.View, reduction);
            Assert.That(grad.GetAsArray1D(), Is.EqualTo(fused), $"ilgpu {reduction}: backward");
            Assert.Throws<ArgumentException>(() => loss.Forward(input.View, target.View, 2, reduction));
        }
    }
}
