using LossKernels.Regression;
using LossKernels.Tests.Core;

namespace LossKernels.Tests.Regression;

[TestFixture]
public class BalancedL1Tests
{
    [Test]
    public void LossAndGradientAreContinuousAtBeta()
    {
        var loss = new BalancedL1Loss(0.5f, 1.5f, 1f);
        float[] below = new float[1], above = new float[1];
        float inner = loss.ForwardBackward([1f - 1e-4f], [0f], below, Reduction.Sum);
        float outer = loss.ForwardBackward([1f + 1e-4f], [0f], above, Reduction.Sum);
        Assert.That(outer - inner, Is.EqualTo(2e-4f * 1.5f).Within(2e-5f));
        Assert.That(below[0], Is.EqualTo(above[0]).Within(1e-3f), "the slope at beta is gamma from both sides when beta = 1");
    }

    [Test]
    public void SmallDifferencesKeepFullRelativeAccuracy()
    {
        float[] input = [1e-6f, 3e-5f, -2e-4f, 1e-3f], target = [0f, 0f, 0f, 0f];
        var parameters = CatalogHarness.ParametersFor("balanced_l1", "none");
        var expected = CatalogHarness.Reference("balanced_l1", parameters, input, target);
        float[] output = new float[4], gradient = new float[4];
        new BalancedL1Loss(0.4f, 1.2f, 0.8f).ForwardBackward(input, target, output, gradient);
        Numerics.AssertClose("gradient", gradient, expected.InputGradient, rtol: 2e-5, atol: 0);
    }
}
