using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;

namespace LossKernels.Benchmarks;

/// <summary>
/// The library's float exp and log (<see cref="VectorFunctions"/>) against the runtime's <c>Vector512.Exp/Log(float)</c>,
/// which compute in double, over 4,096 floats held in L1: exp of [−87, 88], log of (0, 1e4].
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *VectorFunctionsBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
public class VectorFunctionsBenchmarks
{
    private const int Length = 4096;
    private readonly float[] exponents = new float[Length];
    private readonly float[] positives = new float[Length];
    private readonly float[] results = new float[Length];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        for (int i = 0; i < Length; i++)
        {
            exponents[i] = (float)(random.NextDouble() * 175 - 87);
            positives[i] = (float)(random.NextDouble() * 1e4) + float.Epsilon;
        }
    }

    [Benchmark(Baseline = true)]
    public void RuntimeExp()
    {
        for (int i = 0; i < Length; i += Vector512<float>.Count)
            Vector512.Exp(Vector512.LoadUnsafe(ref exponents[i])).StoreUnsafe(ref results[i]);
    }

    [Benchmark]
    public void OwnExp()
    {
        for (int i = 0; i < Length; i += Vector512<float>.Count)
            VectorFunctions.Exp<Vector512<float>, Width512>(Vector512.LoadUnsafe(ref exponents[i])).StoreUnsafe(ref results[i]);
    }

    [Benchmark]
    public void RuntimeLog()
    {
        for (int i = 0; i < Length; i += Vector512<float>.Count)
            Vector512.Log(Vector512.LoadUnsafe(ref positives[i])).StoreUnsafe(ref results[i]);
    }

    [Benchmark]
    public void OwnLog()
    {
        for (int i = 0; i < Length; i += Vector512<float>.Count)
            VectorFunctions.Log<Vector512<float>, Width512>(Vector512.LoadUnsafe(ref positives[i])).StoreUnsafe(ref results[i]);
    }
}
