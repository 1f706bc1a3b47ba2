using System.Text.Json;
using LossKernels.Catalog;

namespace LossKernels.Tests.Golden;

/// <summary>A golden case file is not in the losskernels-golden/1 format; the message names the file and the field.</summary>
public sealed class GoldenCaseException(string file, string field, string problem)
    : Exception($"{file}: field '{field}': {problem}")
{
    public string File { get; } = file;
    public string Field { get; } = field;
}

/// <summary>An expected tensor of a golden case, in float64.</summary>
public sealed record ExpectedTensor(int[] Shape, double[] Data);

/// <summary>An element-wise tolerance: <c>|got − expected| ≤ Atol + Rtol·|expected|</c>.</summary>
public sealed record Tolerance(double Rtol, double Atol);

/// <summary>One golden case (format <c>losskernels-golden/1</c>, see the README), loaded and checked field by field.</summary>
public sealed class GoldenCase
{
    public const string Format = "losskernels-golden/1";

    public required string File { get; init; }
    public required string Name { get; init; }
    public required string Loss { get; init; }
    public required Dictionary<string, object?> Params { get; init; }
    public required Dictionary<string, LossTensor> Inputs { get; init; }
    public LossTensor? Upstream { get; init; }
    public required Dictionary<string, ExpectedTensor> Expected { get; init; }
    public required Tolerance Tolerance { get; init; }
    public required Dictionary<string, Tolerance> Tolerances { get; init; }
    public required string Source { get; init; }

    /// <summary>The tolerance for one expected key: its override, else the case's.</summary>
    public Tolerance ToleranceFor(string key) => Tolerances.TryGetValue(key, out Tolerance? t) ? t : Tolerance;

    /// <summary>Loads and checks <paramref name="path"/>.</summary>
    /// <exception cref="GoldenCaseException">The file is not valid JSON or a field is missing or malformed.</exception>
    public static GoldenCase Load(string path)
    {
        string file = Path.GetFileName(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(System.IO.File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new GoldenCaseException(file, "(file)", $"not valid JSON: {e.Message}");
        }

        using (document)
        {
            var reader = new FieldReader(file);
            JsonElement root = reader.Object(document.RootElement, "(root)");
            string format = reader.String(root, "format");
            if (format != Format)
                throw new GoldenCaseException(file, "format", $"expected '{Format}', got '{format}'");
            string loss = reader.String(root, "loss");
            if (!LossCatalog.TryGet(loss, out _))
                throw new GoldenCaseException(file, "loss", $"no loss named '{loss}' in the catalog");

            var inputs = new Dictionary<string, LossTensor>();
            foreach (JsonProperty input in reader.Object(reader.Required(root, "inputs"), "inputs").EnumerateObject())
                inputs[input.Name] = reader.InputTensor(input.Value, $"inputs.{input.Name}");

            var expected = new Dictionary<string, ExpectedTensor>();
            foreach (JsonProperty key in reader.Object(reader.Required(root, "expected"), "expected").EnumerateObject())
                expected[key.Name] = reader.ExpectedTensor(key.Value, $"expected.{key.Name}");
            if (!expected.ContainsKey("loss"))
                throw new GoldenCaseException(file, "expected.loss", "missing");

            var tolerances = new Dictionary<string, Tolerance>();
            if (root.TryGetProperty("tolerances", out JsonElement overrides) && overrides.ValueKind != JsonValueKind.Null)
            {
                foreach (JsonProperty key in reader.Object(overrides, "tolerances").EnumerateObject())
                {
                    if (!expected.ContainsKey(key.Name))
                        throw new GoldenCaseException(file, $"tolerances.{key.Name}", "names no expected tensor");
                    tolerances[key.Name] = reader.Tolerance(key.Value, $"tolerances.{key.Name}");
                }
            }

            return new GoldenCase
            {
                File = path,
                Name = reader.String(root, "name"),
                Loss = loss,
                Params = reader.Params(root.TryGetProperty("params", out JsonElement p) ? p : default),
                Inputs = inputs,
                Upstream = root.TryGetProperty("upstream", out JsonElement up) && up.ValueKind != JsonValueKind.Null ? reader.InputTensor(up, "upstream") : null,
                Expected = expected,
                Tolerance = reader.Tolerance(reader.Required(root, "tolerance"), "tolerance"),
                Tolerances = tolerances,
                Source = root.TryGetProperty("source", out JsonElement source) && source.ValueKind == JsonValueKind.String ? source.GetString()! : "",
            };
        }
    }

    /// <summary>Reads fields, throwing <see cref="GoldenCaseException"/> with the file and the field's path.</summary>
    private sealed class FieldReader(string file)
    {
        public JsonElement Required(JsonElement parent, string name) =>
            parent.TryGetProperty(name, out JsonElement value) ? value : throw Fail(name, "missing");

        public JsonElement Object(JsonElement element, string field) =>
            element.ValueKind == JsonValueKind.Object ? element : throw Fail(field, $"expected an object, got {element.ValueKind}");

        public string String(JsonElement parent, string name)
        {
            JsonElement value = Required(parent, name);
            return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Fail(name, $"expected a string, got {value.ValueKind}");
        }

        public Dictionary<string, object?> Params(JsonElement element)
        {
            var result = new Dictionary<string, object?>();
            if (element.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
                return result;
            foreach (JsonProperty p in Object(element, "params").EnumerateObject())
            {
                result[p.Name] = p.Value.ValueKind switch
                {
                    JsonValueKind.Number => p.Value.GetDouble(),
                    JsonValueKind.String => p.Value.GetString(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Null => null,
                    var kind => throw Fail($"params.{p.Name}", $"expected a number, string, boolean or null, got {kind}"),
                };
            }

            return result;
        }

        public Tolerance Tolerance(JsonElement element, string field)
        {
            Object(element, field);
            return new Tolerance(Number(element, field, "rtol"), Number(element, field, "atol"));
        }

        public LossTensor InputTensor(JsonElement element, string field)
        {
            (string dtype, int[] shape, byte[] bytes) = Raw(element, field);
            return dtype switch
            {
                "float32" => LossTensor.FromFloats(Decode<float>(bytes, shape, field), shape),
                "float64" => LossTensor.FromFloats(Array.ConvertAll(Decode<double>(bytes, shape, field), v => (float)v), shape),
                "int64" => LossTensor.FromIntegers(Decode<long>(bytes, shape, field), shape),
                _ => LossTensor.FromIntegers(Array.ConvertAll(Decode<int>(bytes, shape, field), v => (long)v), shape),
            };
        }

        public ExpectedTensor ExpectedTensor(JsonElement element, string field)
        {
            (string dtype, int[] shape, byte[] bytes) = Raw(element, field);
            double[] data = dtype switch
            {
                "float64" => Decode<double>(bytes, shape, field),
                "float32" => Array.ConvertAll(Decode<float>(bytes, shape, field), v => (double)v),
                "int64" => Array.ConvertAll(Decode<long>(bytes, shape, field), v => (double)v),
                _ => Array.ConvertAll(Decode<int>(bytes, shape, field), v => (double)v),
            };
            return new ExpectedTensor(shape, data);
        }

        private (string Dtype, int[] Shape, byte[] Bytes) Raw(JsonElement element, string field)
        {
            Object(element, field);
            string dtype = element.TryGetProperty("dtype", out JsonElement d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : throw Fail($"{field}.dtype", "missing or not a string");
            if (dtype is not ("float32" or "float64" or "int32" or "int64"))
                throw Fail($"{field}.dtype", $"'{dtype}' is not one of float32, float64, int32, int64");
            if (!element.TryGetProperty("shape", out JsonElement s) || s.ValueKind != JsonValueKind.Array)
                throw Fail($"{field}.shape", "missing or not an array");
            var shape = new int[s.GetArrayLength()];
            int k = 0;
            foreach (JsonElement dimension in s.EnumerateArray())
            {
                if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt32(out int value) || value < 0)
                    throw Fail($"{field}.shape", "dimensions must be non-negative integers");
                shape[k++] = value;
            }

            string data = element.TryGetProperty("data", out JsonElement b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : throw Fail($"{field}.data", "missing or not a string");
            try
            {
                return (dtype, shape, Convert.FromBase64String(data));
            }
            catch (FormatException)
            {
                throw Fail($"{field}.data", "not valid base64");
            }
        }

        private T[] Decode<T>(byte[] bytes, int[] shape, string field) where T : unmanaged
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            if (bytes.Length != count * size)
                throw Fail($"{field}.data", $"{bytes.Length} bytes, but shape [{string.Join(", ", shape)}] needs {count * size}");
            var values = new T[count];
            // The format is little-endian, as this platform (checked once in the fixture).
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).CopyTo(values);
            return values;
        }

        private double Number(JsonElement parent, string field, string name) =>
            parent.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number && v.GetDouble() >= 0
                ? v.GetDouble()
                : throw Fail($"{field}.{name}", "missing or not a non-negative number");

        private GoldenCaseException Fail(string field, string problem) => new(file, field, problem);
    }
}
