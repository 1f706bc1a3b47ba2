using LossKernels.Generative;
using LossKernels.Tests.Core;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Generative;

/// <summary>
/// The cycle-consistency loss on the CPU against CycleGAN's terms in float64: with and without identities, domains of different lengths
/// (0..257 and odd large ones), weights, ties, ±1e4, in place, thread counts, allocations and every bad argument.
/// </summary>
[TestFixture]
public class CycleConsistencyTests : ThreadCountFixture
{
    public static IEnumerable<TestCaseData> Losses()
    {
        yield return new TestCaseData(new CycleConsistencyLoss()).SetArgDisplayNames("CycleGAN's 10, 10, 0.5");
        yield return new TestCaseData(new CycleConsistencyLoss(5f, 2.5f, 0.1f)).SetArgDisplayNames("5, 2.5, 0.1");
        yield return new TestCaseData(new CycleConsistencyLoss(1f, 0f, 0f)).SetArgDisplayNames("1, 0, 0");
    }

    /// <summary>A CycleGAN step's six images: a domain of n_A and one of n_B values on a grid of 1/16, the generated ones near them with ties.</summary>
    public static float[][] Images(int lengthA, int lengthB, int seed)
    {
        var random = new Random(seed);
        float[] Real(int n) => Enumerable.Range(0, n).Select(_ => random.Next(-16, 17) / 16f).ToArray();
        float[] Near(float[] real) => Array.ConvertAll(real, v => random.Next(8) == 0 ? v : v + (float)(0.2 * random.NextDouble() - 0.1));
        float[] a = Real(lengthA), b = Real(lengthB);
        return [Near(a), a, Near(b), b, Near(a), Near(b)];
    }

    [TestCaseSource(nameof(Losses))]
    public void MatchesTheReference(CycleConsistencyLoss loss)
    {
        int[] lengths = [.. Enumerable.Range(0, 258).Where(n => n < 10 || n % 31 == 0 || n == 257), 1031, 300_007];
        foreach (int a in lengths)
        {
            int b = lengths[(Array.IndexOf(lengths, a) * 7 + 3) % lengths.Length];
            float[][] images = Images(a, b, a);
            AssertMatches($"n_A={a} n_B={b}", loss, images, withIdentities: true);
            AssertMatches($"n_A={a} n_B={b} without identities", loss, images, withIdentities: false);
        }
    }

    internal static void AssertMatches(string what, CycleConsistencyLoss loss, float[][] images, bool withIdentities, double atol = 1e-6)
    {
        (float[] recA, float[] a, float[] recB, float[] b) = (images[0], images[1], images[2], images[3]);
        float[]? idtA = withIdentities ? images[4] : null, idtB = withIdentities ? images[5] : null;
        (double[] terms, double[][] expected) = ReferenceCycleConsistency.Evaluate(loss, recA, a, recB, b, idtA, idtB, 0.75);
        float[][] gradients = [new float[a.Length], new float[b.Length], new float[a.Length], new float[b.Length]];
        CycleConsistencyResult result = loss.ForwardBackward(recA, a, recB, b, gradients[0], gradients[1], idtA, idtB,
            withIdentities ? gradients[2] : default, withIdentities ? gradients[3] : default, 0.75f);
        double scale = Math.Max(1, terms.Max(Math.Abs));
        float[] parts = [result.CycleA, result.CycleB, result.IdentityA, result.IdentityB];
        for (int k = 0; k < 4; k++)
        {
            bool empty = (k % 2 == 0 ? a.Length : b.Length) == 0 && k < 2;
            if (empty)
                Assert.That(parts[k], Is.NaN, $"{what}: term {k} of no elements");
            else
                Numerics.AssertClose($"{what}: term {k}", parts[k], terms[k], 1e-5, atol * scale);
            if (k < 2 || withIdentities)
                Numerics.AssertClose($"{what}: gradient {k}", gradients[k], expected[k], 1e-6, 1e-12);
        }

        if (a.Length > 0 && b.Length > 0)
            Numerics.AssertClose($"{what}: loss", result.Loss, terms.Sum(), 1e-5, atol * scale);
        CycleConsistencyResult forward = loss.Forward(recA, a, recB, b, idtA, idtB);
        Assert.That(forward.Loss, Is.EqualTo(result.Loss).Or.NaN, $"{what}: forward");
        float[][] backward = [new float[a.Length], new float[b.Length], new float[a.Length], new float[b.Length]];
        loss.Backward(recA, a, recB, b, 0.75f, backward[0], backward[1], idtA, idtB, withIdentities ? backward[2] : default, withIdentities ? backward[3] : default);
        for (int k = 0; k < 4; k++)
            Assert.That(backward[k], Is.EqualTo(gradients[k]), $"{what}: backward {k}");
    }

    /// <summary>The reference's gradient against its central differences (away from ties), for every generated image.</summary>
    [TestCaseSource(nameof(Losses))]
    public void TheGradientIsTheLossDerivative(CycleConsistencyLoss loss)
    {
        var random = new Random(4);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[][] images = [Random(6), Random(6), Random(9), Random(9), Random(6), Random(9)];
        (_, double[][] expected) = ReferenceCycleConsistency.Evaluate(loss, images[0], images[1], images[2], images[3], images[4], images[5], 1);
        foreach ((int image, int term) in (ValueTuple<int, int>[])[(0, 0), (2, 1), (4, 2), (5, 3)])
            for (int i = 0; i < images[image].Length; i++)
            {
                double Loss(float delta)
                {
                    float[][] moved = images.Select(x => (float[])x.Clone()).ToArray();
                    moved[image][i] += delta;
                    return ReferenceCycleConsistency.Evaluate(loss, moved[0], moved[1], moved[2], moved[3], moved[4], moved[5], 1).Terms.Sum();
                }

                double difference = (Loss(1f / 1024) - Loss(-1f / 1024)) / (2f / 1024);
                Assert.That(expected[term][i], Is.EqualTo(difference).Within(1e-4 + 1e-4 * Math.Abs(difference)), $"image {image} element {i}");
            }
    }

    [TestCaseSource(nameof(Losses))]
    public void EdgeCases(CycleConsistencyLoss loss)
    {
        // Perfect reconstructions: every term 0, every gradient 0 (sign's 0 at 0).
        float[] a = [0.5f, -1f, 0.25f], b = [1f, 2f];
        AssertMatches("perfect", loss, [(float[])a.Clone(), a, (float[])b.Clone(), b, (float[])a.Clone(), (float[])b.Clone()], true);
        // ±1e4.
        float[][] large = Images(37, 41, 8).Select(x => Array.ConvertAll(x, v => v * 1e4f)).ToArray();
        AssertMatches("±1e4", loss, large, true, atol: 1e-5);
        // In place: each gradient over its own generated image.
        float[][] images = Images(300, 200, 9);
        float[][] gradients = [new float[300], new float[200], new float[300], new float[200]];
        CycleConsistencyResult expected = loss.ForwardBackward(images[0], images[1], images[2], images[3], gradients[0], gradients[1], images[4], images[5],
            gradients[2], gradients[3]);
        float[][] inPlace = images.Select(x => (float[])x.Clone()).ToArray();
        CycleConsistencyResult result = loss.ForwardBackward(inPlace[0], inPlace[1], inPlace[2], inPlace[3], inPlace[0], inPlace[2], inPlace[4], inPlace[5],
            inPlace[4], inPlace[5]);
        Assert.That(result, Is.EqualTo(expected));
        Assert.That(new[] { inPlace[0], inPlace[2], inPlace[4], inPlace[5] }, Is.EqualTo(gradients));
    }

    [Test]
    public void ThreadCountsGiveTheSameBits()
    {
        float[][] images = Images(600_001, 400_003, 5);
        AssertSameBits("cycle consistency", () =>
        {
            float[][] gradients = [new float[600_001], new float[400_003], new float[600_001], new float[400_003]];
            CycleConsistencyResult result = new CycleConsistencyLoss().ForwardBackward(images[0], images[1], images[2], images[3], gradients[0], gradients[1],
                images[4], images[5], gradients[2], gradients[3]);
            return (result.Loss, gradients);
        });
    }

    [Test]
    public void NothingIsAllocatedPerCall()
    {
        float[][] images = Images(300_001, 1_001, 6);
        float[][] gradients = [new float[300_001], new float[1_001], new float[300_001], new float[1_001]];
        DeterminismAndAllocationTests.AssertNoAllocation("cycle consistency", () =>
        {
            new CycleConsistencyLoss().ForwardBackward(images[0], images[1], images[2], images[3], gradients[0], gradients[1], images[4], images[5],
                gradients[2], gradients[3]);
            new CycleConsistencyLoss().Forward(images[0], images[1], images[2], images[3]);
        });
    }

    /// <summary>Every bad argument throws before anything is written, naming the parameter.</summary>
    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        float[] recA = new float[8], a = new float[8], recB = new float[6], b = new float[6], idtA = new float[8], idtB = new float[6];
        float[] gradA = new float[8], gradB = new float[6], gradIdtA = new float[8], gradIdtB = new float[6];
        float[] shared = new float[20];
        var loss = new CycleConsistencyLoss();
        var cases = new (string Name, Action Call, Type Exception, string ParamName)[]
        {
            ("negative lambda_a", () => _ = new CycleConsistencyLoss(-1f, 10f, 0.5f), typeof(ArgumentOutOfRangeException), "lambdaA"),
            ("NaN lambda_b", () => _ = new CycleConsistencyLoss(10f, float.NaN, 0.5f), typeof(ArgumentOutOfRangeException), "lambdaB"),
            ("infinite lambda_identity", () => _ = new CycleConsistencyLoss(10f, 10f, float.PositiveInfinity), typeof(ArgumentOutOfRangeException), "lambdaIdentity"),
            ("rec_A length", () => loss.ForwardBackward(recA.AsSpan(1), a, recB, b, gradA, gradB), typeof(ArgumentException), "reconstructionA"),
            ("rec_B length", () => loss.ForwardBackward(recA, a, recB, b.AsSpan(1), gradA, gradB), typeof(ArgumentException), "reconstructionB"),
            ("idt_A length", () => loss.ForwardBackward(recA, a, recB, b, gradA, gradB, idtA.AsSpan(1), idtB, gradIdtA, gradIdtB), typeof(ArgumentException), "identityA"),
            ("idt_B length", () => loss.Forward(recA, a, recB, b, idtA, idtB.AsSpan(2)), typeof(ArgumentException), "identityB"),
            ("rec_A gradient short", () => loss.ForwardBackward(recA, a, recB, b, gradA.AsSpan(1), gradB), typeof(ArgumentException), "reconstructionAGrad"),
            ("rec_B gradient short", () => loss.Backward(recA, a, recB, b, 1f, gradA, gradB.AsSpan(1)), typeof(ArgumentException), "reconstructionBGrad"),
            ("idt_A gradient missing", () => loss.ForwardBackward(recA, a, recB, b, gradA, gradB, idtA, idtB, default, gradIdtB), typeof(ArgumentException), "identityAGrad"),
            ("rec_A gradient over A", () => loss.ForwardBackward(recA, gradA, recB, b, gradA, gradB), typeof(ArgumentException), "reconstructionAGrad"),
            ("rec_A gradient over B", () => loss.ForwardBackward(recA, a, recB, shared.AsSpan(0, 6), shared.AsSpan(2, 8), gradB), typeof(ArgumentException), "reconstructionAGrad"),
            ("rec_B gradient over idt_A", () => loss.ForwardBackward(recA, a, recB, b, gradA, idtA.AsSpan(0, 6), idtA, idtB, gradIdtA, gradIdtB), typeof(ArgumentException), "reconstructionBGrad"),
            ("two gradients overlapping", () => loss.ForwardBackward(recA, a, recB, b, shared.AsSpan(0, 8), shared.AsSpan(4, 6)), typeof(ArgumentException), "reconstructionAGrad"),
            ("gradient shifted over its image", () => loss.ForwardBackward(shared.AsSpan(0, 8), a, recB, b, shared.AsSpan(1, 8), gradB), typeof(ArgumentException), "reconstructionAGrad"),
        };
        foreach ((string name, Action call, Type exception, string paramName) in cases)
        {
            foreach (float[] gradient in (float[][])[gradA, gradB, gradIdtA, gradIdtB, idtA, shared])
                Array.Fill(gradient, -7f);
            var thrown = (ArgumentException)Assert.Throws(exception, () => call())!;
            Assert.That(thrown.ParamName, Is.EqualTo(paramName), name);
            foreach (float[] gradient in (float[][])[gradA, gradB, gradIdtA, gradIdtB, idtA, shared])
                Assert.That(gradient, Is.All.EqualTo(-7f), name);
        }
    }
}
