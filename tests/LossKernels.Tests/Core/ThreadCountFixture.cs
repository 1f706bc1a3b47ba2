namespace LossKernels.Tests.Core;

/// <summary>
/// A fixture whose tests may change <see cref="LossKernelsSettings.MaxThreads"/>: each test's value is put back after it, and
/// <see cref="AssertSameBits"/> runs a call at several thread counts.
/// </summary>
public abstract class ThreadCountFixture
{
    private int savedMaxThreads;

    [SetUp]
    public void SaveThreads() => savedMaxThreads = LossKernelsSettings.MaxThreads;

    [TearDown]
    public void RestoreThreads() => LossKernelsSettings.MaxThreads = savedMaxThreads;

    /// <summary>
    /// Runs <paramref name="run"/> (which returns the loss and fills the gradients it returns) at 1, 2 and 3 threads and asserts the same
    /// loss and the same gradient bits at each.
    /// </summary>
    protected static void AssertSameBits(string what, Func<(float Loss, float[][] Gradients)> run)
    {
        (float Loss, float[][] Gradients)? first = null;
        foreach (int threads in (int[])[1, 2, 3])
        {
            LossKernelsSettings.MaxThreads = threads;
            (float loss, float[][] gradients) = run();
            first ??= (loss, gradients);
            Assert.That(loss, Is.EqualTo(first.Value.Loss).Or.NaN, $"{what}: {threads} threads, the loss");
            for (int g = 0; g < gradients.Length; g++)
                Assert.That(Numerics.BitEqual(gradients[g], first.Value.Gradients[g]), $"{what}: {threads} threads, gradient {g}");
        }
    }
}
