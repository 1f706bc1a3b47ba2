using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.ILGPU;

/// <summary>The relativistic GAN loss on the ILGPU accelerator (small counts: the CPU accelerator is slow): against the reference; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPURelativisticGanTests
{
    [TestCaseSource(typeof(RelativisticGanTests), nameof(RelativisticGanTests.Losses))]
    public void MatchesTheReference(RelativisticGanLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        (float[] r, float[] f) = RelativisticGanTests.Logits(257, 18, 3);
        (double realHalf, double fakeHalf, double[] realExpected, double[] fakeExpected) = ReferenceRelativisticGan.Evaluate(loss, r, f, 0.75);
        using var realLogits = accelerator.Upload(r);
        using var fakeLogits = accelerator.Upload(f);
        using var realGrad = accelerator.Allocate1D<float>(r.Length);
        using var fakeGrad = accelerator.Allocate1D<float>(f.Length);
        RelativisticGanResult result = loss.ForwardBackward(realLogits.View, fakeLogits.View, realGrad.View, fakeGrad.View, 0.75f);
        accelerator.Synchronize();
        Numerics.AssertClose("ilgpu: loss", result.Loss, realHalf + fakeHalf, 1e-5, 1e-6);
        Numerics.AssertClose("ilgpu: real gradient", realGrad.GetAsArray1D(), realExpected, 1e-4, 2e-6 / r.Length);
        Numerics.AssertClose("ilgpu: fake gradient", fakeGrad.GetAsArray1D(), fakeExpected, 1e-4, 2e-6 / f.Length);
        Numerics.AssertClose("ilgpu: forward", loss.Forward(realLogits.View, fakeLogits.View).Real, realHalf, 1e-5, 1e-6);
        float[] fused = fakeGrad.GetAsArray1D();
        fakeGrad.MemSetToZero();
        loss.Backward(realLogits.View, fakeLogits.View, 0.75f, realGrad.View, fakeGrad.View);
        Assert.That(fakeGrad.GetAsArray1D(), Is.EqualTo(fused), "ilgpu: backward");
    }

    [Test]
    public void BadArgumentsThrow()
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        using var logits = accelerator.Allocate1D<float>(14);
        using var gradients = accelerator.Allocate1D<float>(14);
        (var r, var f) = (logits.View.SubView(0, 8), logits.View.SubView(8, 6));
        (var realGrad, var fakeGrad) = (gradients.View.SubView(0, 8), gradients.View.SubView(8, 6));
        var loss = new RelativisticGanLoss(GanType.Hinge, true);
        var cases = new (string Name, TestDelegate Call, Type Exception, string ParamName)[]
        {
            ("absent real logits", () => loss.ForwardBackward(default, f, realGrad, fakeGrad), typeof(ArgumentException), "realLogits"),
            ("short real gradient", () => loss.ForwardBackward(r, f, realGrad.SubView(0, 7), fakeGrad), typeof(ArgumentException), "realGrad"),
            ("real gradient over the fake logits", () => loss.ForwardBackward(r, f, logits.View.SubView(6, 8), fakeGrad), typeof(ArgumentException), "realGrad"),
            ("gradients overlapping", () => loss.ForwardBackward(r, f, realGrad, gradients.View.SubView(7, 6)), typeof(ArgumentException), "fakeGrad"),
        };
        foreach ((string name, TestDelegate call, Type exception, string paramName) in cases)
        {
            Exception thrown = Assert.Catch(call, name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
        }
    }
}
