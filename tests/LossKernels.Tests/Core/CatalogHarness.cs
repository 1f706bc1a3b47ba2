using LossKernels.Catalog;
using LossKernels.OpenCL;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Core;

/// <summary>Runs a catalog loss and its float64 reference on the same data.</summary>
public static class CatalogHarness
{
    public static readonly string[] ElementwiseLosses = ["l1", "mse", "smooth_l1", "huber", "balanced_l1"];

    public static readonly string[] AllLosses = [.. ElementwiseLosses, "rmse"];

    /// <summary>The elementwise classification losses (their own samples and tests: logits, probabilities, labels).</summary>
    public static readonly string[] ClassificationLosses =
    [
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "balanced_binary_cross_entropy", "sigmoid_focal_loss",
        "quality_focal_loss", "varifocal_loss", "hinge_loss", "hinge_embedding_loss", "kl_div", "zero_one_loss",
    ];

    /// <summary>Non-default hyperparameters per loss, so that tests do not pass on defaults alone.</summary>
    public static Dictionary<string, object?> Parameters(string loss, string? reduction) =>
        new(loss switch
        {
            "smooth_l1" => [new("beta", 0.7)],
            "huber" => [new("delta", 0.6)],
            "balanced_l1" => [new("alpha", 0.4), new("gamma", 1.2), new("beta", 0.8)],
            "binary_cross_entropy_with_logits" => [new("pos_weight", 2.5)],
            "balanced_binary_cross_entropy" => [new("alpha", 0.35)],
            "sigmoid_focal_loss" => [new("alpha", 0.3), new("gamma", 1.5)],
            "quality_focal_loss" => [new("beta", 1.5)],
            "varifocal_loss" => [new("alpha", 0.6), new("gamma", 1.5), new("iou_weighted", false)],
            "hinge_loss" => [new("margin", 0.8)],
            "hinge_embedding_loss" => [new("margin", 1.3)],
            "kl_div" => [new("log_target", false)],
            _ => Array.Empty<KeyValuePair<string, object?>>(),
        })
        {
            ["reduction"] = reduction,
        };

    public static Dictionary<string, object?> ParametersFor(string loss, string reduction)
    {
        Dictionary<string, object?> parameters = Parameters(loss, reduction);
        if (loss == "rmse")
            parameters.Remove("reduction");
        return parameters;
    }

    /// <summary>
    /// Binds a loss to its two inputs, by the catalog's names for them: <c>input</c> is one value per element, and a
    /// box-family input other than <c>input</c> (boxes, FCOS (l, t, r, b) targets) is rows of four, shaped [n, 4].
    /// </summary>
    public static BoundLoss Bind(string loss, Dictionary<string, object?> parameters, float[] input, float[] target, float[]? weight = null, float[]? upstream = null,
        LossDevice? device = null)
    {
        LossDefinition definition = LossCatalog.Get(loss);
        LossTensor Tensor(string name, float[] data) =>
            definition.Family == "box" && name != "input" ? LossTensor.FromFloats(data, data.Length / 4, 4) : LossTensor.FromFloats(data, data.Length);
        var inputs = new Dictionary<string, LossTensor>
        {
            [definition.Inputs[0]] = Tensor(definition.Inputs[0], input),
            [definition.Inputs[1]] = Tensor(definition.Inputs[1], target),
        };
        if (weight is not null)
            inputs["weight"] = LossTensor.FromFloats(weight, weight.Length);
        LossTensor? up = upstream is null ? null : LossTensor.FromFloats(upstream, upstream.Length == 1 ? [] : [upstream.Length]);
        return definition.Bind(new LossParameters(parameters), inputs, up, device);
    }

    public static ReferenceResult Reference(string loss, Dictionary<string, object?> parameters, float[] input, float[] target, float[]? weight = null, float[]? upstream = null) =>
        ReferenceLosses.Compute(loss, parameters, Numerics.ToDouble(input), Numerics.ToDouble(target),
            weight is null ? null : Numerics.ToDouble(weight), upstream is null ? null : Numerics.ToDouble(upstream));

    /// <summary>Runs all three modes, on the CPU or on <paramref name="device"/>, and checks each against the reference.</summary>
    public static void RunAndCompare(string what, string loss, Dictionary<string, object?> parameters, float[] input, float[] target,
        float[]? weight = null, float[]? upstream = null, double rtol = 1e-5, double atol = 1e-6, LossDevice? device = null)
    {
        using BoundLoss bound = Bind(loss, parameters, input, target, weight, upstream, device);
        ReferenceResult expected = Reference(loss, parameters, input, target, weight, upstream);
        bound.Poison(float.NaN);
        RunAndFetch(bound, LossMode.Forward);
        Numerics.AssertClose($"{what} forward", bound.Loss, expected.Loss, rtol, atol);
        bound.Poison(float.NaN);
        RunAndFetch(bound, LossMode.Fused);
        Numerics.AssertClose($"{what} fused loss", bound.Loss, expected.Loss, rtol, atol);
        Numerics.AssertClose($"{what} fused grad", bound.InputGradient, expected.InputGradient, rtol, atol);
        bound.Poison(float.NaN);
        RunAndFetch(bound, LossMode.Backward);
        Numerics.AssertClose($"{what} backward grad", bound.InputGradient, expected.InputGradient, rtol, atol);
    }

    /// <summary>Runs the fused mode <paramref name="runs"/> times over NaN-poisoned outputs: every run's loss and gradient bitwise the first's.</summary>
    public static void AssertRunsBitEqual(BoundLoss bound, string what, int runs = 5)
    {
        float[]? firstLoss = null, firstGradient = null;
        for (int run = 0; run < runs; run++)
        {
            bound.Poison(float.NaN);
            RunAndFetch(bound, LossMode.Fused);
            if (firstLoss is null)
            {
                (firstLoss, firstGradient) = ((float[])bound.Loss.Clone(), (float[])bound.InputGradient.Clone());
                continue;
            }

            Assert.That(Numerics.BitEqual(bound.Loss, firstLoss), $"{what}: loss of run {run}");
            Assert.That(Numerics.BitEqual(bound.InputGradient, firstGradient!), $"{what}: gradient of run {run}");
        }
    }

    /// <summary>Runs <paramref name="mode"/> and brings a device's results into the bound loss's arrays.</summary>
    public static void RunAndFetch(BoundLoss bound, LossMode mode)
    {
        bound.Run(mode);
        bound.FetchResults();
    }

    /// <summary>Predictions in [−2, 2), targets in [−1, 1), as the catalog samples them.</summary>
    public static (float[] Input, float[] Target) Sample(int length, int seed) => Sample("mse", length, seed);

    /// <summary>The catalog's sample inputs of <paramref name="loss"/> (logits, probabilities, ±1 labels… as it takes them).</summary>
    public static (float[] Input, float[] Target) Sample(string loss, int length, int seed)
    {
        Dictionary<string, LossTensor> sample = LossCatalog.Get(loss).SampleInputs(length, seed);
        return (sample["input"].Floats!, sample["target"].Floats!);
    }

    public static float[] Uniform(int length, int seed, float low, float high)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
            values[i] = (float)(low + random.NextDouble() * (high - low));
        return values;
    }
}
