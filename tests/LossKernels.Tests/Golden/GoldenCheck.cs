using LossKernels.Catalog;

namespace LossKernels.Tests.Golden;

/// <summary>
/// One expected tensor of a golden case in one mode, reduced to its worst element: how far it is from the expected value
/// against the tolerance there (<see cref="Excess"/> = |got − expected| / (atol + rtol·|expected|); at most 1 passes).
/// </summary>
/// <param name="Mode">forward, fused or backward.</param>
/// <param name="Key">The expected key: <c>loss</c> or <c>grad.NAME</c>.</param>
/// <param name="Tolerance">The key's tolerance.</param>
/// <param name="Index">The worst element; −1 when the key could not be compared.</param>
/// <param name="Got">The library's value there.</param>
/// <param name="Expected">The case's value there.</param>
/// <param name="Excess">The worst element's error over its allowance: 0 for exact agreement, +∞ for NaN or ±∞ where the other is not.</param>
/// <param name="Problem">Why the key could not be compared (a shape or a gradient the loss does not have), else null.</param>
public sealed record GoldenComparison(string Mode, string Key, Tolerance Tolerance, int Index, double Got, double Expected, double Excess, string? Problem)
{
    /// <summary>Every element within its tolerance.</summary>
    public bool Passed => Problem is null && Excess <= 1d;

    /// <summary>The worst element's absolute error.</summary>
    public double AbsoluteError => Math.Abs(Got - Expected);

    /// <summary>A line for a failure message: mode, key, worst element, values and tolerance, or the problem.</summary>
    public override string ToString() => Problem is not null
        ? $"{Mode} {Key}: {Problem}"
        : $"{Mode} {Key}[{Index}]: got {Got:R}, expected {Expected:R} (atol {Tolerance.Atol}, rtol {Tolerance.Rtol}; {Excess:G3}× the tolerance)";
}

/// <summary>
/// Runs a golden case through the catalog on the CPU or a device, in every mode (forward, fused and, when the case has
/// gradients, backward), each run over NaN-poisoned outputs so that an element a run does not write fails; shared by the
/// <c>GoldenCases</c> tests and the benchmarks app's <c>golden</c> command.
/// </summary>
public static class GoldenCheck
{
    /// <summary>Every comparison of <paramref name="golden"/> on <paramref name="device"/> (null: the CPU kernels).</summary>
    /// <exception cref="ArgumentException">The catalog rejects the case's parameters or inputs.</exception>
    public static List<GoldenComparison> Run(GoldenCase golden, LossDevice? device)
    {
        var comparisons = new List<GoldenComparison>();
        using BoundLoss bound = LossCatalog.Get(golden.Loss).Bind(new LossParameters(golden.Params), golden.Inputs, golden.Upstream, device);
        ExpectedTensor loss = golden.Expected["loss"];
        Tolerance lossTolerance = golden.ToleranceFor("loss");
        if (!bound.LossShape.SequenceEqual(loss.Shape))
        {
            comparisons.Add(Unmatched("bind", "loss", lossTolerance, $"the loss has shape [{string.Join(", ", bound.LossShape)}], the case [{string.Join(", ", loss.Shape)}]"));
            return comparisons;
        }

        var gradients = new List<(string Key, float[] Got, ExpectedTensor Expected, Tolerance Tolerance)>();
        foreach ((string key, ExpectedTensor expected) in golden.Expected)
        {
            if (!key.StartsWith("grad.", StringComparison.Ordinal))
                continue;
            string input = key["grad.".Length..];
            if (bound.Gradients.TryGetValue(input, out float[]? got))
                gradients.Add((key, got, expected, golden.ToleranceFor(key)));
            else
                comparisons.Add(Unmatched("bind", key, golden.ToleranceFor(key), $"the loss writes no gradient for '{input}'"));
        }

        Run(bound, LossMode.Forward);
        comparisons.Add(Compare("forward", "loss", bound.Loss, loss, lossTolerance));
        Run(bound, LossMode.Fused);
        comparisons.Add(Compare("fused", "loss", bound.Loss, loss, lossTolerance));
        foreach ((string key, float[] got, ExpectedTensor expected, Tolerance tolerance) in gradients)
            comparisons.Add(Compare("fused", key, got, expected, tolerance));
        if (gradients.Count > 0)
        {
            Run(bound, LossMode.Backward);
            foreach ((string key, float[] got, ExpectedTensor expected, Tolerance tolerance) in gradients)
                comparisons.Add(Compare("backward", key, got, expected, tolerance));
        }

        return comparisons;
    }

    /// <summary>The worst element of <paramref name="got"/> against <paramref name="expected"/>: NaN matches only NaN, ±∞ only itself.</summary>
    public static GoldenComparison Compare(string mode, string key, ReadOnlySpan<float> got, ExpectedTensor expected, Tolerance tolerance)
    {
        if (got.Length != expected.Data.Length)
            return Unmatched(mode, key, tolerance, $"{got.Length} values, the case {expected.Data.Length}");
        int worst = -1;
        double worstExcess = 0d;
        for (int i = 0; i < got.Length; i++)
        {
            double excess = Excess(got[i], expected.Data[i], tolerance);
            if (worst < 0 || excess > worstExcess)
            {
                worst = i;
                worstExcess = excess;
            }
        }

        return worst < 0
            ? new GoldenComparison(mode, key, tolerance, -1, 0d, 0d, 0d, null)
            : new GoldenComparison(mode, key, tolerance, worst, got[worst], expected.Data[worst], worstExcess, null);
    }

    /// <summary>|got − expected| over atol + rtol·|expected|, with the tests' rules for NaN and ±∞ (each matches only itself).</summary>
    private static double Excess(double got, double expected, Tolerance tolerance)
    {
        if (double.IsNaN(expected) || double.IsNaN(got) || double.IsInfinity(expected) || double.IsInfinity(got))
            return got.Equals(expected) ? 0d : double.PositiveInfinity;
        double difference = Math.Abs(got - expected);
        double allowance = tolerance.Atol + tolerance.Rtol * Math.Abs(expected);
        return difference == 0d ? 0d : allowance == 0d ? double.PositiveInfinity : difference / allowance;
    }

    private static void Run(BoundLoss bound, LossMode mode)
    {
        bound.Poison(float.NaN);
        bound.Run(mode);
        bound.FetchResults();
    }

    private static GoldenComparison Unmatched(string mode, string key, Tolerance tolerance, string problem) =>
        new(mode, key, tolerance, -1, double.NaN, double.NaN, double.PositiveInfinity, problem);
}
