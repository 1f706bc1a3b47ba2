using LossKernels.Catalog;
using LossKernels.OpenCL;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.OpenCL;

/// <summary>The elementwise classification losses on the OpenCL device, in both reduction variants: against the float64 reference and, at edge values, against the CPU kernels.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLClassificationTests
{
    private static readonly int[] Lengths = [0, 1, 2, 3, 5, 15, 16, 17, 63, 64, 65, 255, 257, 1031, 4099, 65537];

    public static IEnumerable<TestCaseData> LossesReductionsAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from loss in ClassificationLosses
        from reduction in new[] { "none", "mean", "sum" }
        select new TestCaseData(loss, reduction, variant);

    public static IEnumerable<TestCaseData> LossesAndVariants() =>
        from variant in OpenCLTestDevice.Variants
        from loss in ClassificationLosses
        select new TestCaseData(loss, variant);

    [TestCaseSource(nameof(LossesReductionsAndVariants))]
    public void LengthsWeightsAndUpstreamMatchTheReference(string loss, string reduction, OpenCLReductionVariant variant)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        Dictionary<string, object?> parameters = Parameters(loss, reduction);
        foreach (int length in Lengths)
        {
            (float[] input, float[] target) = Sample(loss, length, seed: length);
            RunAndCompare($"{loss}/{reduction}/n{length}/{variant}", loss, parameters, input, target, device: device);
            float[] weight = Uniform(length, length + 1, 0f, 2f);
            float[] upstream = reduction == "none" ? Uniform(length, length + 2, -1f, 1f) : [0.37f];
            RunAndCompare($"{loss}/{reduction}/n{length}/{variant} weighted", loss, parameters, input, target, weight, upstream, device: device);
        }
    }

    /// <summary>Logits at ±1e4 and the exp edges, probabilities 0 and 1, targets 0, ½, 1 and ±1: the device's values are those of the CPU kernels.</summary>
    [TestCaseSource(nameof(LossesAndVariants))]
    public void EdgeValuesMatchTheCpuKernels(string loss, OpenCLReductionVariant variant)
    {
        float[] inputs = [0f, -0f, 1e4f, -1e4f, 88.7f, -88.7f, -103.9f, 1e-30f, 0.5f, 1f, -1f, 0.99999994f, float.NaN];
        float[] targets = [0f, 1f, 0.5f, -1f, 1e-30f];
        float[] input = [.. from x in inputs from t in targets select x];
        float[] target = [.. from x in inputs from t in targets select t];
        Dictionary<string, object?> parameters = Parameters(loss, "none");
        using BoundLoss cpu = Bind(loss, parameters, input, target);
        using BoundLoss gpu = Bind(loss, parameters, input, target, device: OpenCLTestDevice.Get(variant));
        cpu.Run(LossMode.Fused);
        RunAndFetch(gpu, LossMode.Fused);
        for (int i = 0; i < input.Length; i++)
        {
            string what = $"{loss} x={input[i]} t={target[i]}";
            Numerics.AssertSameClass(gpu.Loss[i], cpu.Loss[i], 2e-5, what + " loss");
            Numerics.AssertSameClass(gpu.InputGradient[i], cpu.InputGradient[i], 2e-5, what + " gradient");
        }
    }
}
