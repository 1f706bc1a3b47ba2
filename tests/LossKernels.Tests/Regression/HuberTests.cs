using LossKernels.Regression;

namespace LossKernels.Tests.Regression;

[TestFixture]
public class HuberTests
{
    [Test]
    public void HuberIsDeltaTimesSmoothL1WithBetaDelta()
    {
        const float delta = 0.75f;
        (float[] input, float[] target) = Core.CatalogHarness.Sample(1000, seed: 5);
        float[] huber = new float[1000], smooth = new float[1000];
        float huberLoss = new HuberLoss(delta).ForwardBackward(input, target, huber, Reduction.Sum);
        float smoothLoss = new SmoothL1Loss(delta).ForwardBackward(input, target, smooth, Reduction.Sum);
        Assert.That(huberLoss, Is.EqualTo(delta * smoothLoss).Within(1e-5).Percent);
        for (int i = 0; i < huber.Length; i++)
            Assert.That(huber[i], Is.EqualTo(delta * smooth[i]).Within(1e-6), $"element {i}");
    }

    [Test]
    public void GradientAtTheKinksIsPlusMinusDelta()
    {
        float[] gradient = new float[3];
        new HuberLoss(2f).ForwardBackward([2f, -2f, 0f], [0f, 0f, 0f], gradient, Reduction.Sum);
        Assert.That(gradient, Is.EqualTo(new[] { 2f, -2f, 0f }));
    }
}
