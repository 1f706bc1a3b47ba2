using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.ILGPU;

/// <summary>The gradient penalty on the ILGPU accelerator (small rows: the CPU accelerator is slow): both penalties against the reference; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUGradientPenaltyTests
{
    [TestCaseSource(typeof(GradientPenaltyTests), nameof(GradientPenaltyTests.Losses))]
    public void MatchesTheReference(GradientPenaltyLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        foreach ((int batch, int dim) in (ValueTuple<int, int>[])[(1, 1), (4, 7), (3, 257)])
        {
            float[] g = GradientPenaltyTests.Gradients(batch, dim, batch + dim);
            string what = $"ilgpu B={batch} D={dim}";
            float[] upstream = Enumerable.Range(0, batch).Select(b => 0.5f + b).ToArray();
            (double[] values, double[] perRow) = ReferenceGradientPenalty.Evaluate(loss, g, batch, b => upstream[b]);
            (_, double[] mean) = ReferenceGradientPenalty.Evaluate(loss, g, batch, _ => 1.5 / batch);
            double atol = 1e-6 * loss.GpWeight;
            using var input = accelerator.Upload(g);
            using var gradient = accelerator.Allocate1D<float>(g.Length);
            using var output = accelerator.Allocate1D<float>(batch);
            using var up = accelerator.Upload(upstream);
            loss.ForwardBackward(input.View, batch, output.View, gradient.View, up.View);
            accelerator.Synchronize();
            Numerics.AssertClose($"{what}: values", output.GetAsArray1D(), values, 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (none)", gradient.GetAsArray1D(), perRow, 1e-5, atol);
            float value = loss.ForwardBackward(input.View, batch, gradient.View, Reduction.Mean, 1.5f);
            Numerics.AssertClose($"{what}: mean", value, values.Average(), 1e-5, 1e-6);
            Numerics.AssertClose($"{what}: gradient (mean)", gradient.GetAsArray1D(), mean, 1e-5, atol);
            loss.ForwardBackward(input.View, batch, input.View, Reduction.Mean, 1.5f);
            accelerator.Synchronize();
            Numerics.AssertClose($"{what}: in place", input.GetAsArray1D(), mean, 1e-5, atol);
        }
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var g = accelerator.Allocate1D<float>(24);
        using var gradient = accelerator.Allocate1D<float>(24);
        var loss = new GradientPenaltyLoss(GradientPenaltyKind.R1);
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent input", () => loss.ForwardBackward(default(global::ILGPU.ArrayView<float>), 1, gradient.View), typeof(ArgumentException), "input"),
            ("short gradient", () => loss.ForwardBackward(g.View, 4, gradient.View.SubView(0, 23)), typeof(ArgumentException), "inputGrad"),
            ("batch not dividing", () => loss.ForwardBackward(g.View, 5, gradient.View), typeof(ArgumentException), "input"),
            ("reduction none", () => loss.ForwardBackward(g.View, 4, gradient.View, Reduction.None), typeof(ArgumentException), "reduction"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
