using LossKernels.Catalog;
using LossKernels.OpenCL;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.Box;

/// <summary>Runs the box losses through the catalog and compares them with their float64 reference, both gradients included.</summary>
public static class BoxHarness
{
    /// <summary>Every box loss, with non-default settings where a loss has variants, so that tests cover them.</summary>
    public static readonly (string Loss, Dictionary<string, object?> Parameters)[] Configurations =
    [
        ("iou_loss", new() { ["mode"] = "log" }),
        ("iou_loss", new() { ["mode"] = "square", ["eps"] = 1e-3 }),
        ("generalized_box_iou_loss", new()),
        ("distance_box_iou_loss", new()),
        ("complete_box_iou_loss", new()),
        ("complete_box_iou_loss", new() { ["variant"] = "mmdet" }),
        ("efficient_iou_loss", new()),
        ("extended_iou_loss", new() { ["smooth_point"] = 0.3 }),
        ("scylla_iou_loss", new()),
        ("scylla_iou_loss", new() { ["neg_gamma"] = true }),
        ("bounded_iou_loss", new()),
    ];

    public static IEnumerable<TestCaseData> ConfigurationsAndReductions()
    {
        foreach ((string loss, Dictionary<string, object?> parameters) in Configurations)
        {
            foreach (string reduction in new[] { "none", "mean", "sum" })
                yield return new TestCaseData(loss, Describe(parameters), reduction).SetArgDisplayNames(loss, Describe(parameters), reduction);
        }
    }

    /// <summary>The parameters of a configuration named by <see cref="Describe"/>, with a reduction.</summary>
    public static Dictionary<string, object?> ParametersFor(string loss, string description, string reduction)
    {
        (string _, Dictionary<string, object?> parameters) = Configurations.First(c => c.Loss == loss && Describe(c.Parameters) == description);
        return new Dictionary<string, object?>(parameters) { ["reduction"] = reduction };
    }

    public static string Describe(Dictionary<string, object?> parameters) =>
        parameters.Count == 0 ? "default" : string.Join(",", parameters.Select(p => $"{p.Key}={p.Value}"));

    /// <summary>Predicted and target boxes as the catalog samples them (centers in [0, 100), sizes in [1, 20)).</summary>
    public static (float[] Prediction, float[] Target) Boxes(int count, int seed)
    {
        Dictionary<string, LossTensor> sample = LossCatalog.Get("generalized_box_iou_loss").SampleInputs(count, seed);
        return (sample["boxes1"].Floats!, sample["boxes2"].Floats!);
    }

    public static BoundLoss Bind(string loss, Dictionary<string, object?> parameters, float[] prediction, float[] target, float[]? weight = null,
        float[]? upstream = null, LossDevice? device = null) =>
        Core.CatalogHarness.Bind(loss, parameters, prediction, target, weight, upstream, device);

    public static ReferenceResult Reference(string loss, Dictionary<string, object?> parameters, float[] prediction, float[] target, float[]? weight = null, float[]? upstream = null) =>
        ReferenceBoxLosses.Compute(loss, parameters, Numerics.ToDouble(prediction), Numerics.ToDouble(target),
            weight is null ? null : Numerics.ToDouble(weight), upstream is null ? null : Numerics.ToDouble(upstream));

    /// <summary>Runs all three modes, on the CPU or on <paramref name="device"/>, and checks the loss and both gradients against the reference.</summary>
    public static void RunAndCompare(string what, string loss, Dictionary<string, object?> parameters, float[] prediction, float[] target,
        float[]? weight = null, float[]? upstream = null, double rtol = 1e-5, double atol = 1e-6, LossDevice? device = null)
    {
        using BoundLoss bound = Bind(loss, parameters, prediction, target, weight, upstream, device);
        ReferenceResult expected = Reference(loss, parameters, prediction, target, weight, upstream);
        string targetName = LossCatalog.Get(loss).Inputs[1];
        foreach (LossMode mode in new[] { LossMode.Forward, LossMode.Fused, LossMode.Backward })
        {
            bound.Poison(float.NaN);
            bound.Run(mode);
            bound.FetchResults();
            if (mode != LossMode.Backward)
                Numerics.AssertClose($"{what} {mode} loss", bound.Loss, expected.Loss, rtol, atol);
            if (mode == LossMode.Forward)
                continue;
            Numerics.AssertClose($"{what} {mode} prediction gradient", bound.InputGradient, expected.InputGradient, rtol, atol);
            Numerics.AssertClose($"{what} {mode} target gradient", bound.Gradients[targetName], expected.TargetGradient!, rtol, atol);
        }
    }
}
