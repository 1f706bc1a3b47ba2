using LossKernels.Catalog;

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
        List<GoldenComparison> failures = GoldenCheck.Run(golden, device).Where(c => !c.Passed).ToList();
        Assert.That(failures, Is.Empty, $"{golden.Name}: " + string.Join("; ", failures));
    }
}
