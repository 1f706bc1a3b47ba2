using LossKernels.Catalog;
using LossKernels.Classification;

namespace LossKernels.Tests.Core;

/// <summary>The catalog's own arguments: tensor shapes, integer parameters and input ranks are rejected with ArgumentException naming them, never wrapped, truncated or crashed on.</summary>
[TestFixture]
public class CatalogArgumentTests
{
    /// <summary>A shape whose element count passes int (even one that wraps long to 0, or hides behind a zero dimension) is rejected, never taken for the data's length.</summary>
    [Test]
    public void ShapesWhoseProductPassesIntAreRejected()
    {
        Expect(() => LossTensor.FromFloats([], 65536, 65536, 65536, 65536), "shape");
        Expect(() => LossTensor.FromFloats([], int.MaxValue, int.MaxValue, 4), "shape");
        Expect(() => LossTensor.FromFloats([], 0, 100_000, 100_000), "shape");
        Expect(() => LossTensor.FromIntegers([], 65536, 0, 65536), "shape");
        Expect(() => LossTensor.FromFloats([1f, 2f], 3), "shape");
        Assert.That(LossTensor.FromFloats([], 0, 46_340, 46_340).Shape, Is.EqualTo(new[] { 0, 46_340, 46_340 }), "a zero dimension beside ones that multiply within int");
    }

    /// <summary>Counts and exponents outside int are rejected by name (bins = 2³² + 10 once ran with 10 bins, p = 2³² + 1 with p = 1).</summary>
    [TestCase("ghm_c", "bins", 4294967306.0)]
    [TestCase("ghm_c", "bins", -4294967286.0)]
    [TestCase("multi_margin_loss", "p", 4294967297.0)]
    public void IntegerParametersOutsideIntAreRejectedNotTruncated(string loss, string parameter, double value)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Bind(loss, new() { [parameter] = value }))!;
        Assert.That(error.ParamName, Is.EqualTo(parameter));
    }

    /// <summary>cross_entropy takes [N, C] or [N, C, d…]: a 0-d or 1-d input is an ArgumentException naming the input for every reduction.</summary>
    [Test]
    public void CrossEntropyInputsOfRankBelowTwoAreRejectedByName([Values("none", "mean", "sum")] string reduction)
    {
        LossDefinition definition = LossCatalog.Get("cross_entropy");
        var parameters = new LossParameters(new Dictionary<string, object?> { ["reduction"] = reduction });
        foreach (int[] shape in new[] { Array.Empty<int>(), [3] })
        {
            int length = shape.Aggregate(1, (a, b) => a * b);
            var inputs = new Dictionary<string, LossTensor>
            {
                ["input"] = LossTensor.FromFloats(new float[length], shape),
                ["target"] = LossTensor.FromIntegers([0L], []),
            };
            var error = Assert.Throws<ArgumentException>(() => definition.Bind(parameters, inputs, null))!;
            Assert.That(error.ParamName, Is.EqualTo("input"), $"shape [{string.Join(", ", shape)}]");
        }
    }

    /// <summary>A one-hot matrix of more elements than an int holds is an output too short, not an overflow.</summary>
    [Test]
    public void OneHotOfMoreElementsThanIntIsAnArgumentError()
    {
        float[] output = [.. Enumerable.Repeat(3f, 8)];
        Expect(() => OneHot.Encode([0L, 1L], int.MaxValue, output), "output");
        Assert.That(output, Is.All.EqualTo(3f));
    }

    private static BoundLoss Bind(string loss, Dictionary<string, object?> parameters)
    {
        parameters["reduction"] = "mean";
        float[] input = loss == "multi_margin_loss" ? new float[6] : new float[4];
        LossDefinition definition = LossCatalog.Get(loss);
        var inputs = new Dictionary<string, LossTensor>
        {
            ["input"] = loss == "multi_margin_loss" ? LossTensor.FromFloats(input, 2, 3) : LossTensor.FromFloats(input, 4),
            ["target"] = loss == "multi_margin_loss" ? LossTensor.FromIntegers([0L, 1L], 2) : LossTensor.FromFloats(new float[4], 4),
        };
        return definition.Bind(new LossParameters(parameters), inputs, null);
    }

    private static void Expect(TestDelegate call, string paramName)
    {
        var error = Assert.Throws(Is.InstanceOf<ArgumentException>(), call)!;
        Assert.That(((ArgumentException)error).ParamName, Is.EqualTo(paramName), error.Message);
    }
}
