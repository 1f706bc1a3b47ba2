using LossKernels.Catalog;
using LossKernels.OpenCL;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.Golden;

/// <summary>
/// Runs every golden case in tests/golden/cases/ and in each folder of LOSSKERNELS_GOLDEN_DIRS
/// (separated by ':') through the catalog, in every mode, and compares with the case's tolerances.
/// </summary>
[TestFixture]
public class GoldenCases
{
    public const string DirectoriesVariable = "LOSSKERNELS_GOLDEN_DIRS";

    /// <summary>The repository's own case folder, found by walking up from the test binaries.</summary>
    public static string BuiltInDirectory
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                string candidate = Path.Combine(directory.FullName, "tests", "golden", "cases");
                if (Directory.Exists(candidate))
                    return candidate;
            }

            throw new DirectoryNotFoundException("tests/golden/cases not found above " + AppContext.BaseDirectory);
        }
    }

    public static IEnumerable<string> Directories()
    {
        yield return BuiltInDirectory;
        string? extra = Environment.GetEnvironmentVariable(DirectoriesVariable);
        if (string.IsNullOrWhiteSpace(extra))
            yield break;
        foreach (string directory in extra.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            yield return directory;
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (string directory in Directories())
        {
            if (!Directory.Exists(directory))
            {
                yield return new TestCaseData(directory).SetName($"missing folder {directory}");
                continue;
            }

            foreach (string file in Directory.EnumerateFiles(directory, "*.json").Order(StringComparer.Ordinal))
                yield return new TestCaseData(file).SetName(Path.GetFileNameWithoutExtension(file));
        }
    }

    [OneTimeSetUp]
    public void FormatIsLittleEndian() => Assert.That(BitConverter.IsLittleEndian, "the golden format stores little-endian data");

    [TestCaseSource(nameof(Cases))]
    public void Case(string path) => Check(path, device: null);

    /// <summary>Runs one case in every mode on the CPU or on <paramref name="device"/> and compares with its tolerances.</summary>
    public static void Check(string path, LossDevice? device)
    {
        Assert.That(File.Exists(path), $"golden folder or file not found: {path}");
        GoldenCase golden = GoldenCase.Load(path);
        using BoundLoss bound = LossCatalog.Get(golden.Loss).Bind(new LossParameters(golden.Params), golden.Inputs, golden.Upstream, device);
        ExpectedTensor loss = golden.Expected["loss"];
        Tolerance lossTolerance = golden.ToleranceFor("loss");
        Assert.That(bound.LossShape, Is.EqualTo(loss.Shape), $"{golden.Name}: loss shape");
        var gradients = new List<(string Key, float[] Got, ExpectedTensor Expected, Tolerance Tolerance)>();
        foreach ((string key, ExpectedTensor expected) in golden.Expected)
        {
            if (!key.StartsWith("grad.", StringComparison.Ordinal))
                continue;
            string input = key["grad.".Length..];
            Assert.That(bound.Gradients.TryGetValue(input, out float[]? got), $"{golden.Name}: the loss writes no gradient for '{input}'");
            gradients.Add((key, got!, expected, golden.ToleranceFor(key)));
        }

        bound.Poison(float.NaN);
        RunAndFetch(bound, LossMode.Forward);
        Numerics.AssertClose($"{golden.Name} forward loss", bound.Loss, loss.Data, lossTolerance.Rtol, lossTolerance.Atol);

        bound.Poison(float.NaN);
        RunAndFetch(bound, LossMode.Fused);
        Numerics.AssertClose($"{golden.Name} fused loss", bound.Loss, loss.Data, lossTolerance.Rtol, lossTolerance.Atol);
        foreach ((string key, float[] got, ExpectedTensor expected, Tolerance tolerance) in gradients)
            Numerics.AssertClose($"{golden.Name} fused {key}", got, expected.Data, tolerance.Rtol, tolerance.Atol);

        if (gradients.Count == 0)
            return;
        bound.Poison(float.NaN);
        RunAndFetch(bound, LossMode.Backward);
        foreach ((string key, float[] got, ExpectedTensor expected, Tolerance tolerance) in gradients)
            Numerics.AssertClose($"{golden.Name} backward {key}", got, expected.Data, tolerance.Rtol, tolerance.Atol);
    }
}
