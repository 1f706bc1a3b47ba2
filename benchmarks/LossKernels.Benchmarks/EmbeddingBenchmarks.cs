using BenchmarkDotNet.Attributes;
using LossKernels.Embedding;

namespace LossKernels.Benchmarks;

/// <summary>
/// Triplet mining at the size, B = 4,096 rows of D = 512 with K = 4 rows per identity (the catalog's sample): the Gram
/// matrix alone (B²·D/2 useful multiply-adds: GFLOP/s = B²·D / time), and the fused loss and gradient for each mining, plus the
/// forward of batch-hard; allocations measured. PyTorch's batch-hard time comes from <c>benchmarks/peers/torch_triplet_mining.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *EmbeddingBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public unsafe class EmbeddingBenchmarks
{
    private const int Rows = 4096, Dim = 512;
    private float[] embeddings = [];
    private long[] labels = [];
    private float[] gradient = [];
    private float[] gram = [];

    /// <summary>Which triplets the fused runs mine.</summary>
    [Params(TripletMining.Hard, TripletMining.SemiHard, TripletMining.All)]
    public TripletMining Mining { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Dictionary<string, Catalog.LossTensor> sample = Catalog.LossCatalog.Get("triplet_mining_loss").SampleInputs(Rows * Dim, seed: 1);
        embeddings = sample["embeddings"].RequireFloats("embeddings");
        labels = sample["labels"].RequireIntegers("labels");
        gradient = new float[embeddings.Length];
        gram = new float[Rows * Rows];
    }

    /// <summary>The lower triangle of E·Eᵀ (the same for every <see cref="Mining"/>).</summary>
    [Benchmark]
    public void GramLower()
    {
        fixed (float* x = embeddings, g = gram)
            Gemm.GramLower(x, Rows, Dim, g);
    }

    [Benchmark(Baseline = true)]
    public float Fused() => new TripletMiningLoss(Mining).ForwardBackward(embeddings, labels, Dim, gradient).Loss;

    [Benchmark]
    public float Forward() => new TripletMiningLoss(Mining).Forward(embeddings, labels, Dim).Loss;
}
