using LossKernels.Regression;

namespace LossKernels.Tests.Regression;

[TestFixture]
public class MseTests
{
    [Test]
    public void SumIsTheSumOfSquaredErrors()
    {
        float[] gradient = new float[3];
        float sse = new MseLoss().ForwardBackward([1f, 2f, 3f], [0f, 0f, 5f], gradient, Reduction.Sum);
        Assert.That(sse, Is.EqualTo(1f + 4f + 4f));
        Assert.That(gradient, Is.EqualTo(new[] { 2f, 4f, -4f }));
    }

    [Test]
    public void EmptyMeanIsNaNAndEmptySumIsZeroAsPyTorch()
    {
        Assert.That(float.IsNaN(new MseLoss().Forward([], [])));
        Assert.That(new MseLoss().Forward([], [], Reduction.Sum), Is.Zero);
    }
}
