using LossKernels.Generative;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The relativistic average GAN loss on the CPU against ESRGAN's formula in float64: every type for both roles, full and detached means,
/// counts from 1 to odd large ones; the reference's full gradient against central differences; ±1e4, in place, thread counts,
/// allocations and bad arguments.
/// </summary>
[TestFixture]
public class RelativisticGanTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> Losses()
    {
        foreach (GanType type in Enum.GetValues<GanType>())
            foreach (bool disc in (bool[])[true, false])
                foreach (bool detach in (bool[])[false, true])
                {
                    var loss = new RelativisticGanLoss(type, disc, realLabel: 0.9f, fakeLabel: 0.05f, lossWeight: 0.25f, detachMeans: detach);
                    yield return new TestCaseData(loss).SetArgDisplayNames($"{type} {(disc ? "disc" : "gen")}{(detach ? " detached" : "")}");
                }
    }

    /// <summary>Logits for real data around +1 and fakes around −1.</summary>
    public static (float[] Real, float[] Fake) Logits(int real, int fake, int seed)
    {
        var random = new Random(seed);
        return (Enumerable.Range(0, real).Select(_ => (float)(1 + 6 * random.NextDouble() - 3)).ToArray(),
            Enumerable.Range(0, fake).Select(_ => (float)(-1 + 6 * random.NextDouble() - 3)).ToArray());
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheReference(RelativisticGanLoss loss)
    {
        foreach ((int real, int fake) in (ValueTuple<int, int>[])[(1, 1), (1, 7), (17, 3), (257, 256), (1031, 65), (300_001, 262_147)])
        {
            (float[] r, float[] f) = Logits(real, fake, real + fake);
            AssertMatches($"n_r={real} n_f={fake}", loss, r, f);
        }
    }

    internal static void AssertMatches(string what, RelativisticGanLoss loss, float[] r, float[] f)
    {
        (double realHalf, double fakeHalf, double[] realExpected, double[] fakeExpected) = ReferenceRelativisticGan.Evaluate(loss, r, f, 0.75);
        float[] realGrad = new float[r.Length], fakeGrad = new float[f.Length];
        RelativisticGanResult result = loss.ForwardBackward(r, f, realGrad, fakeGrad, 0.75f);
        double scale = Math.Max(1, Math.Abs(realHalf) + Math.Abs(fakeHalf));
        Numerics.AssertClose($"{what}: real half", result.Real, realHalf, 1e-5, 1e-6 * scale);
        Numerics.AssertClose($"{what}: fake half", result.Fake, fakeHalf, 1e-5, 1e-6 * scale);
        Numerics.AssertClose($"{what}: loss", result.Loss, realHalf + fakeHalf, 1e-5, 1e-6 * scale);
        // The means' share is a difference of slopes: its float32 rounding is about 1e-7 of the slopes' scale over the count.
        Numerics.AssertClose($"{what}: real gradient", realGrad, realExpected, 1e-4, 2e-6 / r.Length);
        Numerics.AssertClose($"{what}: fake gradient", fakeGrad, fakeExpected, 1e-4, 2e-6 / f.Length);
        Assert.That(loss.Forward(r, f), Is.EqualTo(result), $"{what}: forward");
        float[] realBackward = new float[r.Length], fakeBackward = new float[f.Length];
        loss.Backward(r, f, 0.75f, realBackward, fakeBackward);
        Assert.That(realBackward, Is.EqualTo(realGrad), $"{what}: backward");
        Assert.That(fakeBackward, Is.EqualTo(fakeGrad), $"{what}: backward");
    }

    /// <summary>The reference's full gradient (the means not detached) against central differences of its loss.</summary>
    [TestCaseSource(nameof(Losses))]
    public void TheGradientIsTheLossDerivative(RelativisticGanLoss loss)
    {
        if (loss.DetachMeans)
            return;
        (float[] r, float[] f) = Logits(5, 4, 2);
        (_, _, double[] realExpected, double[] fakeExpected) = ReferenceRelativisticGan.Evaluate(loss, r, f, 1);
        double Loss(float[] real, float[] fake)
        {
            (double a, double b, _, _) = ReferenceRelativisticGan.Evaluate(loss, real, fake, 1);
            return a + b;
        }

        foreach (bool real in (bool[])[true, false])
        {
            float[] moved = real ? r : f;
            double[] expected = real ? realExpected : fakeExpected;
            for (int i = 0; i < moved.Length; i++)
            {
                float saved = moved[i];
                moved[i] = saved + 1f / 1024;
                double plus = Loss(r, f);
                moved[i] = saved - 1f / 1024;
                double minus = Loss(r, f);
                moved[i] = saved;
                double difference = (plus - minus) / (2f / 1024);
                Assert.That(expected[i], Is.EqualTo(difference).Within(1e-4 + 1e-3 * Math.Abs(difference)), $"{(real ? "real" : "fake")} {i}");
            }
        }
    }

    [TestCaseSource(nameof(Losses))]
    public void EdgeCases(RelativisticGanLoss loss)
    {
        AssertMatches("±1e4", loss, [1e4f, -1e4f, 0f, 1f, 30f], [-1e4f, 2f, -30f]);
        AssertMatches("equal logits", loss, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f]);
        // No logits of a kind: every value NaN (a mean of none), as PyTorch's.
        Assert.That(loss.Forward([], [1f, 2f]).Loss, Is.NaN);
        // In place: each gradient over its own logits.
        (float[] r, float[] f) = Logits(300, 200, 9);
        float[] realGrad = new float[300], fakeGrad = new float[200];
        RelativisticGanResult expected = loss.ForwardBackward(r, f, realGrad, fakeGrad);
        Assert.That(loss.ForwardBackward(r, f, r, f), Is.EqualTo(expected));
        Assert.That(r, Is.EqualTo(realGrad));
        Assert.That(f, Is.EqualTo(fakeGrad));
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        (float[] r, float[] f) = Logits(1_000_003, 700_001, 5);
        var loss = new RelativisticGanLoss(GanType.Vanilla, isDiscriminator: true);
        AssertSameBits("relativistic", () =>
        {
            float[] realGrad = new float[r.Length], fakeGrad = new float[f.Length];
            return (loss.ForwardBackward(r, f, realGrad, fakeGrad).Loss, [realGrad, fakeGrad]);
        });
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        (float[] r, float[] f) = Logits(300_001, 300_001, 6);
        float[] realGrad = new float[r.Length], fakeGrad = new float[f.Length];
        DeterminismAndAllocationTests.AssertNoAllocation("relativistic gan", () =>
        {
            new RelativisticGanLoss().ForwardBackward(r, f, realGrad, fakeGrad);
            new RelativisticGanLoss(GanType.Hinge, true, detachMeans: true).ForwardBackward(r, f, realGrad, fakeGrad);
            new RelativisticGanLoss(GanType.LeastSquares, false).Forward(r, f);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] r = new float[8], f = new float[6], realGrad = new float[8], fakeGrad = new float[6], shared = new float[20];
        var loss = new RelativisticGanLoss();
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("type 9", () => _ = new RelativisticGanLoss((GanType)9, true), typeof(ArgumentOutOfRangeException), "type"),
            ("NaN weight", () => _ = new RelativisticGanLoss(GanType.Vanilla, false, lossWeight: float.NaN), typeof(ArgumentOutOfRangeException), "lossWeight"),
            ("real gradient short", () => loss.ForwardBackward(r, f, realGrad.AsSpan(1), fakeGrad), typeof(ArgumentException), "realGrad"),
            ("fake gradient short", () => loss.ForwardBackward(r, f, realGrad, fakeGrad.AsSpan(1)), typeof(ArgumentException), "fakeGrad"),
            ("real gradient over the fake logits", () => loss.ForwardBackward(r, shared.AsSpan(0, 6), shared.AsSpan(4, 8), fakeGrad), typeof(ArgumentException), "realGrad"),
            ("fake gradient over the real logits", () => loss.ForwardBackward(shared.AsSpan(0, 8), f, realGrad, shared.AsSpan(2, 6)), typeof(ArgumentException), "fakeGrad"),
            ("gradients overlapping", () => loss.ForwardBackward(r, f, shared.AsSpan(0, 8), shared.AsSpan(7, 6)), typeof(ArgumentException), "fakeGrad"),
            ("real gradient shifted over its logits", () => loss.ForwardBackward(shared.AsSpan(0, 8), f, shared.AsSpan(1, 8), fakeGrad), typeof(ArgumentException), "realGrad"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            foreach (float[] gradient in (float[][])[realGrad, fakeGrad, shared])
                Array.Fill(gradient, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            foreach (float[] gradient in (float[][])[realGrad, fakeGrad, shared])
                Assert.That(gradient, Is.All.EqualTo(-7f), name);
        }
    }
}
