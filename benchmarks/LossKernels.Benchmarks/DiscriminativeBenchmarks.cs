using BenchmarkDotNet.Attributes;
using LossKernels.Embedding;

namespace LossKernels.Benchmarks;

/// <summary>
/// The discriminative loss at the size, [4, 16, 512, 512] embeddings with the catalog's sample ids (runs of eight instances and a
/// background): fused, forward, and the host's id-to-instance map alone; allocations measured. PyTorch's time comes from
/// <c>benchmarks/peers/torch_discriminative.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *DiscriminativeBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class DiscriminativeBenchmarks
{
    private const int Images = 4, Channels = 16, Pixels = 512 * 512;
    private float[] embeddings = [];
    private long[] labels = [];
    private float[] gradient = [];

    [GlobalSetup]
    public void Setup()
    {
        Dictionary<string, Catalog.LossTensor> sample = Catalog.LossCatalog.Get("discriminative_loss").SampleInputs(Images * Channels * Pixels, seed: 1);
        embeddings = sample["embeddings"].RequireFloats("embeddings");
        labels = sample["labels"].RequireIntegers("labels");
        gradient = new float[embeddings.Length];
    }

    [Benchmark(Baseline = true)]
    public float Fused() => new DiscriminativeLoss().ForwardBackward(embeddings, labels, Images, Channels, gradient).Loss;

    [Benchmark]
    public float Forward() => new DiscriminativeLoss().Forward(embeddings, labels, Images, Channels).Loss;

    /// <summary>The ids mapped to instances (every backend's first step, on the host).</summary>
    [Benchmark]
    public int InstanceMap()
    {
        Embedding.InstanceMap map = Embedding.InstanceMap.Build(labels, Images, Pixels, new DiscriminativeLoss());
        int instances = map.InstanceTotal;
        map.Return();
        return instances;
    }
}
