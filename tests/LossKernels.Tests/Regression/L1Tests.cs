using LossKernels.Regression;

namespace LossKernels.Tests.Regression;

[TestFixture]
public class L1Tests
{
    [Test]
    public void GradientAtATieIsZeroAsPyTorch()
    {
        float[] gradient = new float[3];
        new L1Loss().ForwardBackward([1f, 2f, -1f], [1f, 0f, 0f], gradient, Reduction.Sum);
        Assert.That(gradient, Is.EqualTo(new[] { 0f, 1f, -1f }));
    }

    [Test]
    public void CycleConsistencyIsL1ScaledByLambdaThroughUpstream()
    {
        const float lambda = 10f;
        float[] reconstruction = [0.5f, -0.25f, 1f, 0f], original = [0f, 0f, 0f, 0f], gradient = new float[4];
        float loss = new L1Loss().ForwardBackward(reconstruction, original, gradient, upstream: lambda);
        Assert.That(lambda * loss, Is.EqualTo(lambda * 1.75f / 4));
        Assert.That(gradient, Is.EqualTo(new[] { lambda / 4, -lambda / 4, lambda / 4, 0f }));
    }
}
