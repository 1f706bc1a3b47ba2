using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>ESRGAN's relativistic average GAN loss in float64 from BasicSR's element losses (<see cref="ReferenceGan"/>): the halves and both gradients.</summary>
public static class ReferenceRelativisticGan
{
    /// <summary>½·mean ℓ(r − mean f; real half) and ½·mean ℓ(f − mean r; fake half), and the gradients of upstream·L.</summary>
    public static (double Real, double Fake, double[] RealGrad, double[] FakeGrad) Evaluate(RelativisticGanLoss loss, float[] real, float[] fake, double upstream)
    {
        bool disc = loss.IsDiscriminator;
        var realHalf = new GanLoss(loss.Type, targetIsReal: disc, disc, loss.RealLabel, loss.FakeLabel, loss.LossWeight);
        var fakeHalf = new GanLoss(loss.Type, targetIsReal: !disc, disc, loss.RealLabel, loss.FakeLabel, loss.LossWeight);
        double meanReal = real.Average(v => (double)v), meanFake = fake.Average(v => (double)v);
        double realSum = 0, fakeSum = 0, realSlopes = 0, fakeSlopes = 0;
        var realGrad = new double[real.Length];
        var fakeGrad = new double[fake.Length];
        for (int i = 0; i < real.Length; i++)
        {
            (double value, double slope) = ReferenceGan.Element(realHalf, real[i] - meanFake);
            realSum += value;
            realGrad[i] = upstream * 0.5 * slope / real.Length;
            realSlopes += realGrad[i];
        }

        for (int j = 0; j < fake.Length; j++)
        {
            (double value, double slope) = ReferenceGan.Element(fakeHalf, fake[j] - meanReal);
            fakeSum += value;
            fakeGrad[j] = upstream * 0.5 * slope / fake.Length;
            fakeSlopes += fakeGrad[j];
        }

        if (!loss.DetachMeans)
        {
            for (int i = 0; i < real.Length; i++)
                realGrad[i] -= fakeSlopes / real.Length;
            for (int j = 0; j < fake.Length; j++)
                fakeGrad[j] -= realSlopes / fake.Length;
        }

        return (0.5 * realSum / real.Length, 0.5 * fakeSum / fake.Length, realGrad, fakeGrad);
    }
}
