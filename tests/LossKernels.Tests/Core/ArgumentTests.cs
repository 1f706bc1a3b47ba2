using LossKernels.Regression;

namespace LossKernels.Tests.Core;

/// <summary>Every bad argument throws the right exception with ParamName set, and writes nothing.</summary>
[TestFixture]
public class ArgumentTests
{
    internal const float Sentinel = 12345f;
    private const int N = 37;

    private static readonly IElementwiseLoss[] Losses = [new L1Loss(), new MseLoss(), new SmoothL1Loss(0.5f), new HuberLoss(2f), new BalancedL1Loss()];

    public static IEnumerable<TestCaseData> LossCases() => Losses.Select(l => new TestCaseData(l).SetArgDisplayNames(l.GetType().Name));

    [TestCaseSource(nameof(LossCases))]
    public void BadSpansAndReductionsThrowBeforeWriting(IElementwiseLoss loss)
    {
        switch (loss)
        {
            case L1Loss l: Check(l); break;
            case MseLoss l: Check(l); break;
            case SmoothL1Loss l: Check(l); break;
            case HuberLoss l: Check(l); break;
            case BalancedL1Loss l: Check(l); break;
            default: Assert.Fail("unhandled loss"); break;
        }
    }

    private static void Check<TLoss>(TLoss loss) where TLoss : struct, IElementwiseLoss
    {
        float[] input = CatalogHarness.Uniform(N, 1, -2f, 2f), target = CatalogHarness.Uniform(N, 2, -1f, 1f);
        float[] shortTarget = new float[N - 1], shortWeight = new float[N - 1], shortUpstream = new float[N - 1], ones = Enumerable.Repeat(1f, N).ToArray();
        float[] gradient = Filled(N), output = Filled(N), shortGradient = Filled(N - 1), shortOutput = Filled(N - 1);
        float[] shifted = Filled(N + 1);

        Expect<ArgumentException>("target", () => loss.Forward(input, shortTarget));
        Expect<ArgumentException>("weight", () => loss.Forward(input, target, Reduction.Mean, shortWeight));
        Expect<ArgumentException>("reduction", () => loss.Forward(input, target, Reduction.None));
        Expect<ArgumentOutOfRangeException>("reduction", () => loss.Forward(input, target, (Reduction)7));
        Expect<ArgumentException>("avgFactor", () => loss.Forward(input, target, Reduction.Sum, avgFactor: 3f));
        Expect<ArgumentOutOfRangeException>("avgFactor", () => loss.Forward(input, target, Reduction.Mean, avgFactor: -1f));
        Expect<ArgumentOutOfRangeException>("avgFactor", () => loss.Forward(input, target, Reduction.Mean, avgFactor: float.NaN));

        Expect<ArgumentException>("output", () => loss.Forward(input, target, shortOutput));
        Expect<ArgumentException>("target", () => loss.Forward(input, shortTarget, output));

        Expect<ArgumentException>("inputGrad", () => loss.ForwardBackward(input, target, shortGradient));
        Expect<ArgumentException>("target", () => loss.ForwardBackward(input, shortTarget, gradient));
        Expect<ArgumentException>("reduction", () => loss.ForwardBackward(input, target, gradient, Reduction.None));
        Expect<ArgumentException>("avgFactor", () => loss.ForwardBackward(input, target, gradient, Reduction.Sum, avgFactor: 2f));
        Expect<ArgumentException>("inputGrad", () => loss.ForwardBackward(shifted.AsSpan(0, N), target, shifted.AsSpan(1, N)));

        Expect<ArgumentException>("upstream", () => loss.ForwardBackward(input, target, output, gradient, shortUpstream));
        Expect<ArgumentException>("output", () => loss.ForwardBackward(input, target, shortOutput, gradient));
        Expect<ArgumentException>("inputGrad", () => loss.ForwardBackward(input, target, output, shortGradient));
        Expect<ArgumentException>("inputGrad", () => loss.ForwardBackward(input, target, output, output));
        Expect<ArgumentException>("output", () => loss.ForwardBackward(input, target, shifted.AsSpan(1, N), gradient, shifted.AsSpan(0, N)));

        Expect<ArgumentException>("inputGrad", () => loss.Backward(input, target, 1f, shortGradient));
        Expect<ArgumentException>("reduction", () => loss.Backward(input, target, 1f, gradient, Reduction.None));
        Expect<ArgumentException>("upstream", () => loss.Backward(input, target, shortUpstream, gradient));
        Expect<ArgumentException>("weight", () => loss.Backward(input, target, ones, gradient, shortWeight));
        Expect<ArgumentException>("inputGrad", () => loss.Backward(input, target, shifted.AsSpan(0, N), shifted.AsSpan(1, N)));

        Assert.That(gradient.Concat(output).Concat(shortGradient).Concat(shortOutput), Is.All.EqualTo(Sentinel), "nothing written");
        Assert.That(shifted, Is.All.EqualTo(Sentinel), "nothing written to overlapping spans");
    }

    [Test]
    public void HyperparametersOutOfRangeAreRejectedByName()
    {
        Expect<ArgumentOutOfRangeException>("beta", () => new SmoothL1Loss(-0.1f));
        Expect<ArgumentOutOfRangeException>("beta", () => new SmoothL1Loss(float.NaN));
        Expect<ArgumentOutOfRangeException>("beta", () => new SmoothL1Loss(float.PositiveInfinity));
        Expect<ArgumentOutOfRangeException>("delta", () => new HuberLoss(0f));
        Expect<ArgumentOutOfRangeException>("delta", () => new HuberLoss(float.NaN));
        Expect<ArgumentOutOfRangeException>("alpha", () => new BalancedL1Loss(0f, 1.5f, 1f));
        Expect<ArgumentOutOfRangeException>("gamma", () => new BalancedL1Loss(0.5f, -1f, 1f));
        Expect<ArgumentOutOfRangeException>("beta", () => new BalancedL1Loss(0.5f, 1.5f, 0f));
        // b = e^(γ/α) − 1 overflows float at γ/α = 150: every loss would be NaN.
        Expect<ArgumentOutOfRangeException>("alpha", () => new BalancedL1Loss(0.01f, 1.5f, 1f));
        Assert.That(new BalancedL1Loss(1.5f / 88f, 1.5f, 1f).Forward([0.5f, 3f], [0f, 0f]), Is.Positive.And.Not.NaN, "γ/α = 88 still fits");
    }

    [Test]
    public void DefaultStructsWithInvalidHyperparametersThrowAtTheCall()
    {
        float[] values = [1f, 2f], gradient = Filled(2);
        Expect<ArgumentOutOfRangeException>("Delta", () => default(HuberLoss).ForwardBackward(values, values, gradient));
        Expect<ArgumentOutOfRangeException>("Alpha", () => default(BalancedL1Loss).ForwardBackward(values, values, gradient));
        Assert.That(gradient, Is.All.EqualTo(Sentinel));
        Assert.That(default(SmoothL1Loss).Forward([3f], [1f]), Is.EqualTo(2f), "default(SmoothL1Loss) is beta = 0: L1");
    }

    [Test]
    public void ThreadCapBelowOneIsRejected() =>
        Expect<ArgumentOutOfRangeException>("value", () => LossKernelsSettings.MaxThreads = 0);

    [Test]
    public void RmseChecksItsSpans()
    {
        float[] input = [1f, 2f, 3f], gradient = Filled(2);
        Expect<ArgumentException>("target", () => new RmseLoss().Forward(input, [1f]));
        Expect<ArgumentException>("inputGrad", () => new RmseLoss().ForwardBackward(input, input, gradient));
        Assert.That(gradient, Is.All.EqualTo(Sentinel));
    }

    internal static float[] Filled(int length) => Enumerable.Repeat(Sentinel, length).ToArray();

    internal static void Expect<TException>(string paramName, TestDelegate call) where TException : ArgumentException
    {
        var error = Assert.Throws<TException>(call)!;
        Assert.That(error.ParamName, Is.EqualTo(paramName), error.Message);
    }
}
