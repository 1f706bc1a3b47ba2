using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.ILGPU;

/// <summary>The GAN loss on the ILGPU accelerator (small lengths: the CPU accelerator is slow): every type and role against the reference; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUGanTests
{
    [TestCaseSource(typeof(GanTests), nameof(GanTests.Losses))]
    public void MatchesTheReference(GanLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        foreach (int n in (int[])[1, 7, 257])
        {
            float[] x = GanTests.Logits(n, 60 + n);
            x[0] = n > 1 ? -1e4f : x[0];
            string what = $"ilgpu n={n}";
            double[] upstream = Enumerable.Range(0, n).Select(i => 0.25 * (i % 7) - 0.5).ToArray();
            (double[] values, double[] perElement) = ReferenceGan.Evaluate(loss, x, Reduction.None, upstream);
            (double[] mean, double[] meanGradient) = ReferenceGan.Evaluate(loss, x, Reduction.Mean, [1.5]);
            (double[] sum, _) = ReferenceGan.Evaluate(loss, x, Reduction.Sum, [1.0]);
            using var input = accelerator.Upload(x);
            using var gradient = accelerator.Allocate1D<float>(n);
            using var output = accelerator.Allocate1D<float>(n);
            using var up = accelerator.Upload(Array.ConvertAll(upstream, v => (float)v));
            loss.ForwardBackward(input.View, output.View, gradient.View, up.View);
            accelerator.Synchronize();
            Numerics.AssertClose($"{what}: values", output.GetAsArray1D(), values, 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (none)", gradient.GetAsArray1D(), perElement, 1e-5, 1e-6);
            float value = loss.ForwardBackward(input.View, gradient.View, Reduction.Mean, 1.5f);
            Numerics.AssertClose($"{what}: mean", value, mean[0], 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (mean)", gradient.GetAsArray1D(), meanGradient, 1e-5, 3e-7 / n);
            Numerics.AssertClose($"{what}: forward sum", loss.Forward(input.View, Reduction.Sum), sum[0], 1e-5, 1e-5);
            loss.Backward(input.View, 1.5f, input.View);
            accelerator.Synchronize();
            Numerics.AssertClose($"{what}: in place", input.GetAsArray1D(), meanGradient, 1e-5, 3e-7 / n);
        }
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var x = accelerator.Allocate1D<float>(24);
        using var gradient = accelerator.Allocate1D<float>(24);
        var loss = new GanLoss(GanType.Wasserstein, true, false);
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent input", () => loss.Forward(default(global::ILGPU.ArrayView<float>)), typeof(ArgumentException), "input"),
            ("short gradient", () => loss.ForwardBackward(x.View, gradient.View.SubView(0, 23)), typeof(ArgumentException), "inputGrad"),
            ("reduction none", () => loss.Forward(x.View, Reduction.None), typeof(ArgumentException), "reduction"),
            ("output is the gradient", () => loss.ForwardBackward(x.View, gradient.View, gradient.View), typeof(ArgumentException), "inputGrad"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
