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
