using System.Text.Json.Nodes;

namespace LossKernels.Tests.Golden;

/// <summary>A malformed case is rejected with a message that names the file and the field.</summary>
[TestFixture]
public class GoldenFormatTests
{
    private string directory = "";
    private JsonObject template = new();

    [OneTimeSetUp]
    public void Setup()
    {
        directory = Directory.CreateTempSubdirectory("losskernels-golden-").FullName;
        string sample = Directory.EnumerateFiles(GoldenCases.BuiltInDirectory, "smooth_l1__*__mean__n7.json").First();
        template = JsonNode.Parse(File.ReadAllText(sample))!.AsObject();
    }

    [OneTimeTearDown]
    public void Cleanup() => Directory.Delete(directory, recursive: true);

    [TestCase("format", "\"losskernels-golden/0\"", "format")]
    [TestCase("loss", "\"no_such_loss\"", "loss")]
    [TestCase("loss", null, "loss")]
    [TestCase("inputs", "[]", "inputs")]
    [TestCase("tolerance", "{\"rtol\": 1e-5}", "tolerance.atol")]
    [TestCase("tolerance", "{\"rtol\": -1, \"atol\": 0}", "tolerance.rtol")]
    [TestCase("expected", "{}", "expected.loss")]
    [TestCase("params", "{\"beta\": [1]}", "params.beta")]
    public void TopLevelFieldIsNamed(string field, string? json, string expectedField)
    {
        JsonObject broken = template.DeepClone().AsObject();
        if (json is null)
            broken.Remove(field);
        else
            broken[field] = JsonNode.Parse(json);
        AssertRejected(broken, expectedField);
    }

    [TestCase("dtype", "\"float16\"", "inputs.input.dtype")]
    [TestCase("shape", "[3]", "inputs.input.data")]
    [TestCase("shape", "[-1]", "inputs.input.shape")]
    [TestCase("data", "\"not base64!\"", "inputs.input.data")]
    [TestCase("data", null, "inputs.input.data")]
    public void TensorFieldIsNamed(string field, string? json, string expectedField)
    {
        JsonObject broken = template.DeepClone().AsObject();
        JsonObject input = broken["inputs"]!["input"]!.AsObject();
        if (json is null)
            input.Remove(field);
        else
            input[field] = JsonNode.Parse(json);
        AssertRejected(broken, expectedField);
    }

    [Test]
    public void InvalidJsonIsNamed()
    {
        string path = Path.Combine(directory, "truncated.json");
        File.WriteAllText(path, "{\"format\": ");
        var error = Assert.Throws<GoldenCaseException>(() => GoldenCase.Load(path))!;
        Assert.That(error.Message, Does.StartWith("truncated.json: field '(file)'"));
    }

    [Test]
    public void UnknownParameterFailsTheCaseNamingIt()
    {
        JsonObject broken = template.DeepClone().AsObject();
        broken["params"]!["betta"] = 0.5;
        string path = Path.Combine(directory, "typo.json");
        File.WriteAllText(path, broken.ToJsonString());
        var error = Assert.Throws<ArgumentException>(() => new GoldenCases().Case(path))!;
        Assert.That(error.ParamName, Is.EqualTo("betta"));
    }

    [Test]
    public void ToleranceOverrideForAnUnknownKeyIsRejected()
    {
        JsonObject broken = template.DeepClone().AsObject();
        broken["tolerances"] = JsonNode.Parse("{\"grad.target\": {\"rtol\": 1e-3, \"atol\": 0}}");
        AssertRejected(broken, "tolerances.grad.target");
    }

    [Test]
    public void ToleranceOverrideAppliesToItsKeyOnly()
    {
        JsonObject perturbed = template.DeepClone().AsObject();
        JsonObject gradient = perturbed["expected"]!["grad.input"]!.AsObject();
        double[] values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Convert.FromBase64String(gradient["data"]!.GetValue<string>())).ToArray();
        for (int i = 0; i < values.Length; i++)
            values[i] *= 1 + 1e-4;
        gradient["data"] = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        string path = Path.Combine(directory, "perturbed.json");
        File.WriteAllText(path, perturbed.ToJsonString());
        Assert.Throws<AssertionException>(() => new GoldenCases().Case(path), "a 1e-4 relative error must fail rtol 1e-5");

        perturbed["tolerances"] = JsonNode.Parse("{\"grad.input\": {\"rtol\": 1e-3, \"atol\": 0}}");
        File.WriteAllText(path, perturbed.ToJsonString());
        Assert.DoesNotThrow(() => new GoldenCases().Case(path));
    }

    /// <summary>The check reports, per mode and key, the worst element: one gradient element moved by 50 tolerances fails fused and backward at that index, and nothing else.</summary>
    [Test]
    public void TheCheckNamesTheWorstElementOfEachKeyAndMode()
    {
        JsonObject perturbed = template.DeepClone().AsObject();
        JsonObject gradient = perturbed["expected"]!["grad.input"]!.AsObject();
        double[] values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Convert.FromBase64String(gradient["data"]!.GetValue<string>())).ToArray();
        GoldenCase original = GoldenCase.Load(Directory.EnumerateFiles(GoldenCases.BuiltInDirectory, "smooth_l1__*__mean__n7.json").First());
        Tolerance tolerance = original.ToleranceFor("grad.input");
        values[3] += 50 * (tolerance.Atol + tolerance.Rtol * Math.Abs(values[3]));
        gradient["data"] = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        string path = Path.Combine(directory, "one-element.json");
        File.WriteAllText(path, perturbed.ToJsonString());

        List<GoldenComparison> comparisons = GoldenCheck.Run(GoldenCase.Load(path), device: null);
        Assert.That(comparisons.Select(c => $"{c.Mode} {c.Key}"), Is.EqualTo(new[] { "forward loss", "fused loss", "fused grad.input", "backward grad.input" }));
        GoldenComparison[] failed = [.. comparisons.Where(c => !c.Passed)];
        Assert.That(failed.Select(c => c.Mode), Is.EqualTo(new[] { "fused", "backward" }));
        Assert.That(failed.Select(c => c.Index), Is.All.EqualTo(3));
        Assert.That(failed.Select(c => c.Excess), Is.All.InRange(49.0, 51.0));
        Assert.That(comparisons.Where(c => c.Passed).Select(c => c.Excess), Is.All.LessThanOrEqualTo(1.0));
    }

    [Test]
    public void ExtraFoldersComeFromTheEnvironmentVariable()
    {
        string? saved = Environment.GetEnvironmentVariable(GoldenCases.DirectoriesVariable);
        try
        {
            Environment.SetEnvironmentVariable(GoldenCases.DirectoriesVariable, $"{directory}: /no/such/folder");
            Assert.That(GoldenCases.Directories(), Is.EqualTo(new[] { GoldenCases.BuiltInDirectory, directory, "/no/such/folder" }));
            Assert.That(GoldenCases.Cases().Select(c => c.TestName), Has.Some.EqualTo("missing folder /no/such/folder"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(GoldenCases.DirectoriesVariable, saved);
        }
    }

    private void AssertRejected(JsonObject broken, string expectedField)
    {
        string path = Path.Combine(directory, "broken.json");
        File.WriteAllText(path, broken.ToJsonString());
        var error = Assert.Throws<GoldenCaseException>(() => GoldenCase.Load(path))!;
        Assert.That(error.Field, Is.EqualTo(expectedField));
        Assert.That(error.Message, Does.StartWith($"broken.json: field '{expectedField}'"));
    }
}
