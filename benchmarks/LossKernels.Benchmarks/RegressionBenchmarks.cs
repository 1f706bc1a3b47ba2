using BenchmarkDotNet.Attributes;
using LossKernels.Catalog;

namespace LossKernels.Benchmarks;

/// <summary>
/// The regression losses under BenchmarkDotNet: our fused, forward and backward kernels against a
/// TensorPrimitives composition (the baseline) and a naive scalar loop, with allocations measured.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *Regression*</c>.
/// </summary>
[MemoryDiagnoser]
public class RegressionBenchmarks
{
    private BoundLoss bound = null!;
    private TensorPrimitivesRegression baseline = null!;
    private ScalarRegression scalar = null!;

    [ParamsSource(nameof(Losses))]
    public string Loss { get; set; } = "";

    [Params(4096, 1_048_583, 16_777_216)]
    public int N { get; set; }

    public static IEnumerable<string> Losses() => LossCatalog.All.Where(d => d.Family == "regression").Select(d => d.Name);

    [GlobalSetup]
    public void Setup()
    {
        LossDefinition definition = LossCatalog.Get(Loss);
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(N, seed: 1);
        bound = definition.Bind(LossParameters.Empty, inputs);
        float[] input = inputs["input"].Floats!, target = inputs["target"].Floats!;
        baseline = new TensorPrimitivesRegression(Loss, input, target);
        scalar = new ScalarRegression(Loss, input, target);
    }

    [Benchmark(Baseline = true)]
    public void TensorPrimitivesFused() => baseline.Run(LossMode.Fused);

    [Benchmark]
    public void Fused() => bound.Run(LossMode.Fused);

    [Benchmark]
    public void Forward() => bound.Run(LossMode.Forward);

    [Benchmark]
    public void Backward() => bound.Run(LossMode.Backward);

    [Benchmark]
    public void ScalarFused() => scalar.Run(LossMode.Fused);
}
