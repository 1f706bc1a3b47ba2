using BenchmarkDotNet.Attributes;
using LossKernels.Catalog;
using LossKernels.Classification;

namespace LossKernels.Benchmarks;

/// <summary>
/// GHM-C beside BCE with logits on the same 16M logits and targets (the catalog's sample, the quick report's size): the issue's
/// goal is GHM-C fused within 2× BCE fused. Allocations measured.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *GhmcBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class GhmcBenchmarks
{
    private float[] logits = [];
    private float[] target = [];
    private float[] gradient = [];

    [GlobalSetup]
    public void Setup()
    {
        Dictionary<string, LossTensor> inputs = LossCatalog.Get("ghm_c").SampleInputs(1 << 24, seed: 1);
        logits = inputs["input"].RequireFloats("input");
        target = inputs["target"].RequireFloats("target");
        gradient = new float[logits.Length];
    }

    [Benchmark(Baseline = true)]
    public float BceWithLogitsFused() => new BinaryCrossEntropyWithLogitsLoss().ForwardBackward(logits, target, gradient);

    [Benchmark]
    public float GhmcFused() => new GhmcLoss().ForwardBackward(logits, target, gradient);

    [Benchmark]
    public float GhmcForward() => new GhmcLoss().Forward(logits, target);
}
