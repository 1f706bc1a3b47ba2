using ILGPU;
using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.ILGPU;

/// <summary>The cycle-consistency loss on the ILGPU accelerator (small images: the CPU accelerator is slow): against the reference, in place; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUCycleConsistencyTests
{
    [TestCaseSource(typeof(CycleConsistencyTests), nameof(CycleConsistencyTests.Losses))]
    public void MatchesTheReference(CycleConsistencyLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        foreach (bool identities in (bool[])[true, false])
        {
            const int a = 257, b = 18;
            float[][] images = CycleConsistencyTests.Images(a, b, 11);
            string what = $"ilgpu identities {identities}";
            (double[] terms, double[][] expected) = ReferenceCycleConsistency.Evaluate(loss, images[0], images[1], images[2], images[3],
                identities ? images[4] : null, identities ? images[5] : null, 0.75);
            MemoryBuffer1D<float, Stride1D.Dense>[] buffers = images.Select(accelerator.Upload).ToArray();
            MemoryBuffer1D<float, Stride1D.Dense>[] gradients = [accelerator.Allocate1D<float>(a), accelerator.Allocate1D<float>(b),
                accelerator.Allocate1D<float>(a), accelerator.Allocate1D<float>(b)];
            try
            {
                CycleConsistencyResult result = loss.ForwardBackward(buffers[0].View, buffers[1].View, buffers[2].View, buffers[3].View, gradients[0].View,
                    gradients[1].View, identities ? buffers[4].View : default, identities ? buffers[5].View : default,
                    identities ? gradients[2].View : default, identities ? gradients[3].View : default, 0.75f);
                Numerics.AssertClose($"{what}: loss", result.Loss, terms.Sum(), 1e-5, 1e-6);
                Numerics.AssertClose($"{what}: identity B", result.IdentityB, terms[3], 1e-5, 1e-6);
                for (int k = 0; k < (identities ? 4 : 2); k++)
                    Numerics.AssertClose($"{what}: gradient {k}", gradients[k].GetAsArray1D(), expected[k], 1e-6, 1e-12);
                loss.Backward(buffers[0].View, buffers[1].View, buffers[2].View, buffers[3].View, 0.75f, buffers[0].View, buffers[2].View,
                    identities ? buffers[4].View : default, identities ? buffers[5].View : default, identities ? buffers[4].View : default,
                    identities ? buffers[5].View : default);
                accelerator.Synchronize();
                int[] written = [0, 2, 4, 5];
                for (int k = 0; k < (identities ? 4 : 2); k++)
                    Numerics.AssertClose($"{what}: in place {k}", buffers[written[k]].GetAsArray1D(), expected[k], 1e-6, 1e-12);
            }
            finally
            {
                foreach (MemoryBuffer1D<float, Stride1D.Dense> buffer in buffers.Concat(gradients))
                    buffer.Dispose();
            }
        }
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var images = accelerator.Allocate1D<float>(40);
        using var gradients = accelerator.Allocate1D<float>(20);
        var view = images.View;
        (var recA, var a, var recB, var b) = (view.SubView(0, 8), view.SubView(8, 8), view.SubView(16, 6), view.SubView(22, 6));
        (var gradA, var gradB) = (gradients.View.SubView(0, 8), gradients.View.SubView(8, 6));
        var loss = new CycleConsistencyLoss();
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent real A", () => loss.Forward(recA, default, recB, b), typeof(ArgumentException), "realA"),
            ("rec_B length", () => loss.Forward(recA, a, recB.SubView(0, 5), b), typeof(ArgumentException), "reconstructionB"),
            ("short gradient", () => loss.ForwardBackward(recA, a, recB, b, gradA.SubView(0, 7), gradB), typeof(ArgumentException), "reconstructionAGrad"),
            ("gradient over real B", () => loss.ForwardBackward(recA, a, recB, b, gradA, view.SubView(20, 6)), typeof(ArgumentException), "reconstructionBGrad"),
            ("gradients overlapping", () => loss.ForwardBackward(recA, a, recB, b, gradients.View.SubView(0, 8), gradients.View.SubView(4, 6)), typeof(ArgumentException), "reconstructionAGrad"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
