using LossKernels.Regression;

namespace LossKernels.Tests.Regression;

[TestFixture]
public class RmseTests
{
    [Test]
    public void PerfectPredictionHasZeroLossAndZeroGradientWhereAutogradGivesNaN()
    {
        float[] values = [1f, -2f, 3f], gradient = [9f, 9f, 9f];
        Assert.That(new RmseLoss().ForwardBackward(values, values, gradient), Is.Zero);
        Assert.That(gradient, Is.All.EqualTo(0f));
    }

    [Test]
    public void UpstreamScalesTheGradient()
    {
        float[] gradient = new float[2];
        float loss = new RmseLoss().ForwardBackward([3f, -3f], [0f, 0f], gradient, upstream: 2f);
        Assert.That(loss, Is.EqualTo(3f));
        Assert.That(gradient, Is.EqualTo(new[] { 2f * 3f / (2 * 3f), 2f * -3f / (2 * 3f) }));
    }

    [Test]
    public void EmptyInputIsNaN() => Assert.That(float.IsNaN(new RmseLoss().Forward([], [])));
}
