using BenchmarkDotNet.Attributes;
using LossKernels.Classification;

namespace LossKernels.Benchmarks;

/// <summary>
/// Cross entropy at the shape, [4096, 32000] float32 logits with label smoothing 0.1: the fused call (loss and
/// gradient), the same in place over the logits, and forward only; allocations measured. PyTorch's time for the same
/// call comes from <c>benchmarks/peers/torch_cross_entropy.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *CrossEntropyBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
public class CrossEntropyBenchmarks
{
    private const int Rows = 4096;
    private const int Classes = 32000;
    private readonly CrossEntropyLoss loss = new(ClassTargets.DefaultIgnoreIndex, 0.1f);
    private float[] logits = [];
    private float[] scratch = [];
    private float[] gradient = [];
    private long[] target = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        logits = new float[Rows * Classes];
        for (int i = 0; i < logits.Length; i++)
            logits[i] = (float)(random.NextDouble() * 12 - 6);
        target = new long[Rows];
        for (int r = 0; r < Rows; r++)
            target[r] = random.Next(Classes);
        gradient = new float[logits.Length];
        scratch = (float[])logits.Clone();
    }

    [Benchmark(Baseline = true)]
    public float Fused() => loss.ForwardBackward(logits, target, gradient);

    /// <summary>The gradient overwrites the logits: each call's input is the previous call's gradient, the same work on other values.</summary>
    [Benchmark]
    public float FusedInPlace() => loss.ForwardBackward(scratch, target, scratch);

    [Benchmark]
    public float Forward() => loss.Forward(logits, target);
}

/// <summary>
/// Cross entropy with probability targets (distillation against a learned distribution): the logits' fused call and the targets'
/// gradient (<c>TargetBackward</c>, its own pass), at the issue's [4096, 32000] and on a segmentation batch [8, 21, 256·256];
/// allocations measured.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *SoftTargetBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class SoftTargetBenchmarks
{
    private readonly CrossEntropyLoss loss = new(ClassTargets.DefaultIgnoreIndex, 0.1f);
    private float[] logits = [];
    private float[] probabilities = [];
    private float[] gradient = [];

    /// <summary>[N, C] rows, or an [N, C, D] segmentation batch.</summary>
    [Params("4096x32000", "8x21x65536")]
    public string Shape { get; set; } = "";

    private int Classes => Shape == "4096x32000" ? 32000 : 21;

    private int Spatial => Shape == "4096x32000" ? 1 : 65536;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        int length = Shape == "4096x32000" ? 4096 * 32000 : 8 * 21 * 65536;
        logits = new float[length];
        probabilities = new float[length];
        for (int i = 0; i < length; i++)
        {
            logits[i] = (float)(random.NextDouble() * 12 - 6);
            probabilities[i] = (float)random.NextDouble() / Classes;
        }

        gradient = new float[length];
    }

    [Benchmark(Baseline = true)]
    public float LogitsFused() => loss.ForwardBackward(logits, probabilities, Classes, gradient, spatialSize: Spatial);

    [Benchmark]
    public void TargetBackward() => loss.TargetBackward(logits, probabilities, Classes, 1f, gradient, spatialSize: Spatial);
}
