using System.Runtime.InteropServices;

namespace LossKernels.Tests;

/// <summary>The one comparison every test uses: <c>|got − expected| ≤ atol + rtol·|expected|</c>; NaN matches only NaN, ±∞ only itself.</summary>
public static class Numerics
{
    /// <summary>Fails with the first offending index, its values and the bound.</summary>
    public static void AssertClose(string what, ReadOnlySpan<float> got, ReadOnlySpan<double> expected, double rtol, double atol)
    {
        Assert.That(got.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < got.Length; i++)
        {
            if (!IsClose(got[i], expected[i], rtol, atol))
                Assert.Fail($"{what}[{i}]: got {got[i]:R}, expected {expected[i]:R} (atol {atol}, rtol {rtol})");
        }
    }

    /// <summary>The scalar form of <see cref="AssertClose(string, ReadOnlySpan{float}, ReadOnlySpan{double}, double, double)"/>.</summary>
    public static void AssertClose(string what, float got, double expected, double rtol, double atol) =>
        AssertClose(what, [got], [expected], rtol, atol);

    public static bool IsClose(double got, double expected, double rtol, double atol)
    {
        if (double.IsNaN(expected) || double.IsNaN(got))
            return double.IsNaN(expected) && double.IsNaN(got);
        if (double.IsInfinity(expected) || double.IsInfinity(got))
            return got == expected;
        return Math.Abs(got - expected) <= atol + rtol * Math.Abs(expected);
    }

    /// <summary>Both NaN, both the same infinity, or finite and within <paramref name="rtol"/> of each other (a device's results against the CPU kernels' at edge values).</summary>
    public static void AssertSameClass(float got, float expected, double rtol, string what)
    {
        if (float.IsNaN(expected) || float.IsInfinity(expected))
            Assert.That(got, Is.EqualTo(expected), what);
        else
            Assert.That(got, Is.EqualTo(expected).Within(rtol * Math.Abs(expected) + 1e-30), what);
    }

    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = values[i];
        return result;
    }

    /// <summary>Runs <paramref name="action"/> on a new thread with a stack of <paramref name="stackBytes"/> and rethrows what it throws: scratch that grows with a shape on the stack kills the test host here instead of passing on a large main-thread stack.</summary>
    public static void OnThreadWithStack(int stackBytes, Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, stackBytes);
        thread.Start();
        thread.Join();
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on <paramref name="workers"/> threads at once (each given its index and a way to report a
    /// failure; an exception counts as one) and fails with every failure reported.
    /// </summary>
    public static void AssertWorkersSucceed(int workers, Action<int, Action<string>> work)
    {
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Thread[] threads = [.. Enumerable.Range(0, workers).Select(worker => new Thread(() =>
        {
            try
            {
                work(worker, failures.Enqueue);
            }
            catch (Exception e)
            {
                failures.Enqueue($"thread {worker}: {e}");
            }
        }))];
        foreach (Thread thread in threads)
            thread.Start();
        foreach (Thread thread in threads)
            thread.Join();
        Assert.That(failures, Is.Empty);
    }

    /// <summary>The same bits in every element (NaN payloads and the sign of zero included).</summary>
    public static bool BitEqual(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        MemoryMarshal.Cast<float, int>(a).SequenceEqual(MemoryMarshal.Cast<float, int>(b));
}
