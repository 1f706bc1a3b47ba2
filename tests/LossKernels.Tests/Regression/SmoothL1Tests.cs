using LossKernels.Regression;

namespace LossKernels.Tests.Regression;

[TestFixture]
public class SmoothL1Tests
{
    [Test]
    public void GradientAtTheKinksIsPyTorchs()
    {
        float[] gradient = new float[5];
        new SmoothL1Loss(0.5f).ForwardBackward([0.5f, -0.5f, 0f, 0.25f, 2f], [0f, 0f, 0f, 0f, 0f], gradient, Reduction.Sum);
        Assert.That(gradient, Is.EqualTo(new[] { 1f, -1f, 0f, 0.5f, 1f }));
    }

    [Test]
    public void BetaZeroIsL1ExceptTheGradientAtATie()
    {
        float[] input = [0f, 1.5f, -2f, 0.25f], target = [0f, 0f, 0f, 0.5f];
        float[] smooth = new float[4], l1 = new float[4];
        float smoothLoss = new SmoothL1Loss(0f).ForwardBackward(input, target, smooth);
        float l1Loss = new L1Loss().ForwardBackward(input, target, l1);
        Assert.That(smoothLoss, Is.EqualTo(l1Loss));
        Assert.That(smooth[1..], Is.EqualTo(l1[1..]));
        Assert.That(smooth[0], Is.EqualTo(-0.25f), "PyTorch tests d <= -beta first, so a tie gives -1 (times 1/n)");
    }
}
