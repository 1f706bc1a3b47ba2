using BenchmarkDotNet.Attributes;
using LossKernels.Generative;

namespace LossKernels.Benchmarks;

/// <summary>
/// Total variation at the quick report's full size, [4, 4, 1024, 1024] (16M elements, the catalog's sample), for each norm: fused and
/// forward; allocations measured. PyTorch's time comes from <c>benchmarks/peers/torch_generative.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *GenerativeBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class GenerativeBenchmarks
{
    private const int Images = 4, Channels = 4, Side = 1024;
    private float[] input = [];
    private float[] gradient = [];

    /// <summary>Which total variation.</summary>
    [Params(TotalVariationNorm.Anisotropic, TotalVariationNorm.Isotropic, TotalVariationNorm.Beta)]
    public TotalVariationNorm Norm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        input = Catalog.LossCatalog.Get("total_variation_loss").SampleInputs(Images * Channels * Side * Side, seed: 1)["input"].RequireFloats("input");
        gradient = new float[input.Length];
    }

    [Benchmark(Baseline = true)]
    public float Fused() => new TotalVariationLoss(Norm, beta: 1.5f).ForwardBackward(input, Images, Channels, Side, Side, gradient);

    [Benchmark]
    public float Forward() => new TotalVariationLoss(Norm, beta: 1.5f).Forward(input, Images, Channels, Side, Side);
}
