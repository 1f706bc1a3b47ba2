using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.ILGPU;

/// <summary>Total variation on the ILGPU accelerator (small planes: the CPU accelerator is slow): every norm against the reference, reduced and per image; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUTotalVariationTests
{
    private static readonly (int N, int C, int H, int W)[] Shapes = [(1, 1, 1, 1), (2, 1, 9, 1), (2, 3, 5, 17), (1, 2, 7, 33)];

    [TestCaseSource(typeof(TotalVariationTests), nameof(TotalVariationTests.Norms))]
    public void MatchesTheReference(TotalVariationLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        int seed = 50;
        foreach ((int n, int c, int h, int w) in Shapes)
        {
            float[] x = TotalVariationTests.Image(n * c * h * w, seed++);
            string what = $"ilgpu N={n} C={c} H={h} W={w}";
            float[] upstream = Enumerable.Range(0, n).Select(i => 0.5f + i).ToArray();
            (double[] values, double[] perImage) = ReferenceTotalVariation.Evaluate(loss, x, n, c, h, w, i => upstream[i]);
            (_, double[] mean) = ReferenceTotalVariation.Evaluate(loss, x, n, c, h, w, _ => 1.5 / n);
            using var input = accelerator.Upload(x);
            using var gradient = accelerator.Allocate1D<float>(x.Length);
            using var output = accelerator.Allocate1D<float>(n);
            using var up = accelerator.Upload(upstream);
            loss.Unreduced(input.View, n, c, h, w, output.View, gradient.View, up.View);
            Numerics.AssertClose($"{what}: values", output.GetAsArray1D(), values, 1e-5, 1e-5);
            Numerics.AssertClose($"{what}: gradient (none)", gradient.GetAsArray1D(), perImage, 1e-5, 1e-5);
            float value = loss.ForwardBackward(input.View, n, c, h, w, gradient.View, Reduction.Mean, 1.5f);
            Numerics.AssertClose($"{what}: mean", value, values.Average(), 1e-5, 1e-5);
            Numerics.AssertClose($"{what}: gradient (mean)", gradient.GetAsArray1D(), mean, 1e-5, 1e-5);
            Numerics.AssertClose($"{what}: forward sum", loss.Forward(input.View, n, c, h, w, Reduction.Sum), values.Sum(), 1e-5, 1e-5);
        }
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var x = accelerator.Allocate1D<float>(24);
        using var gradient = accelerator.Allocate1D<float>(24);
        using var output = accelerator.Allocate1D<float>(2);
        var loss = new TotalVariationLoss();
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent input", () => loss.Forward(default(global::ILGPU.ArrayView<float>), 2, 3, 2, 2), typeof(ArgumentException), "input"),
            ("absent gradient", () => loss.ForwardBackward(x.View, 2, 3, 2, 2, default), typeof(ArgumentException), "inputGrad"),
            ("short gradient", () => loss.ForwardBackward(x.View, 2, 3, 2, 2, gradient.View.SubView(0, 23)), typeof(ArgumentException), "inputGrad"),
            ("in place", () => loss.ForwardBackward(x.View, 2, 3, 2, 2, x.View), typeof(ArgumentException), "inputGrad"),
            ("shape not the input", () => loss.Forward(x.View, 2, 3, 2, 3), typeof(ArgumentException), "input"),
            ("reduction none", () => loss.Forward(x.View, 2, 3, 2, 2, Reduction.None), typeof(ArgumentOutOfRangeException), "reduction"),
            ("missing upstream", () => loss.Unreduced(x.View, 2, 3, 2, 2, output.View, gradient.View, default), typeof(ArgumentException), "upstream"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
