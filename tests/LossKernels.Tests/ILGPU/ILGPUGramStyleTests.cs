using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// The Gram style loss on the ILGPU accelerator (small features: the CPU accelerator is slow): against the float64 formula at tile
/// remainders, the Gram the same bits as the CPU's.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ILGPUGramStyleTests
{
    [TestCaseSource(typeof(GramStyleTests), nameof(GramStyleTests.Losses))]
    public void MatchesTheReference(GramStyleLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        foreach ((int images, int channels, int spatial, int targetImages, Reduction reduction) in
                 (ValueTuple<int, int, int, int, Reduction>[])[(1, 1, 3, 1, Reduction.Mean), (2, 17, 20, 2, Reduction.Sum), (2, 5, 33, 1, Reduction.Mean)])
        {
            (float[] x, float[] a) = GramStyleTests.Sample(loss, images, channels, spatial, targetImages, channels + spatial);
            string what = $"ilgpu N={images} C={channels} M={spatial} A of {targetImages} {reduction}";
            (double expected, double[] gradient) = GramStyleTests.Reference(loss, x, a, images, channels, reduction, 0.75);
            using var input = accelerator.Upload(x);
            using var target = accelerator.Upload(a);
            using var grad = accelerator.Allocate1D<float>(x.Length);
            using var gram = accelerator.Allocate1D<float>(images * channels * channels);
            Numerics.AssertClose($"{what}: loss", loss.ForwardBackward(input.View, target.View, images, channels, grad.View, reduction, 0.75f), expected, 1e-4, 1e-9);
            Numerics.AssertClose($"{what}: gradient", grad.GetAsArray1D(), gradient, 1e-3, 1e-6 * gradient.Select(Math.Abs).Max());
            Numerics.AssertClose($"{what}: forward", loss.Forward(input.View, target.View, images, channels, reduction), expected, 1e-4, 1e-9);
            var cpuGram = new float[images * channels * channels];
            loss.ComputeGram(x, images, channels, cpuGram);
            loss.ComputeGram(input.View, images, channels, gram.View);
            Assert.That(Numerics.BitEqual(gram.GetAsArray1D(), cpuGram), $"{what}: the Gram's bits");
            Assert.Throws<ArgumentException>(() => loss.Forward(input.View, target.View, images, channels + 1, reduction));
        }
    }
}
