using LossKernels.ILGPU;

namespace LossKernels.Tests.ILGPU;

/// <summary>The device's double ln and exp (PTX has none): within a few ulp of the runtime's, over the ranges the row losses use and the edges.</summary>
[TestFixture]
public class ILGPUDeviceFunctionTests
{
    [Test]
    public void LogIsWithinFourUlpsOfTheRuntimes()
    {
        var random = new Random(1);
        double worst = 0;
        for (int i = 0; i < 200_000; i++)
        {
            double x = Math.Exp(random.NextDouble() * 1400 - 700);
            worst = Math.Max(worst, Ulps(DeviceRowFunctions.Log(x), Math.Log(x)));
        }

        foreach (double x in new[] { 1d, 2d, Math.Sqrt(2), 1 + 1e-15, 32000d, double.Epsilon, 2.2250738585072014e-308, 1e-310, double.MaxValue })
            worst = Math.Max(worst, Ulps(DeviceRowFunctions.Log(x), Math.Log(x)));
        Assert.That(worst, Is.LessThanOrEqualTo(4), $"worst {worst} ulp");
        Assert.That(DeviceRowFunctions.Log(0d), Is.EqualTo(double.NegativeInfinity));
        Assert.That(double.IsNaN(DeviceRowFunctions.Log(-1d)) && double.IsNaN(DeviceRowFunctions.Log(double.NaN)));
        Assert.That(DeviceRowFunctions.Log(double.PositiveInfinity), Is.EqualTo(double.PositiveInfinity));
    }

    [Test]
    public void ExpAndPowAreWithinFourUlpsOfTheRuntimes()
    {
        var random = new Random(2);
        double worstExp = 0, worstPow = 0;
        for (int i = 0; i < 200_000; i++)
        {
            double x = random.NextDouble() * 1400 - 700;
            worstExp = Math.Max(worstExp, Ulps(DeviceRowFunctions.Exp(x), Math.Exp(x)));
            double m = random.NextDouble(), gamma = random.NextDouble() * 5;
            worstPow = Math.Max(worstPow, Ulps(DeviceRowFunctions.Pow(m, gamma), Math.Pow(m, gamma)));
        }

        Assert.That(worstExp, Is.LessThanOrEqualTo(4), $"exp worst {worstExp} ulp");
        Assert.That(worstPow, Is.LessThanOrEqualTo(64), $"pow worst {worstPow} ulp (e^(γ·ln m): the ln's error scaled by γ·ln m)");
        Assert.That(DeviceRowFunctions.Exp(710d), Is.EqualTo(double.PositiveInfinity));
        Assert.That(DeviceRowFunctions.Exp(-746d), Is.EqualTo(0d));
        Assert.That(DeviceRowFunctions.Exp(-740d), Is.EqualTo(Math.Exp(-740d)).Within(1e-3).Percent, "into the subnormals");
        Assert.That(double.IsNaN(DeviceRowFunctions.Exp(double.NaN)));
    }

    private static double Ulps(double got, double expected)
    {
        if (got == expected)
            return 0;
        double ulp = Math.BitIncrement(Math.Abs(expected)) - Math.Abs(expected);
        return Math.Abs(got - expected) / ulp;
    }
}
