using BenchmarkDotNet.Attributes;
using LossKernels.Catalog;
using LossKernels.OpenCL;

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

/// <summary>
/// The regression losses on the OpenCL device <see cref="OpenCLDevice.Select()"/> picks, beside the CPU SIMD
/// kernels (the baseline) on the same data: the GPU-vs-AVX table. Each OpenCL call waits for its kernel.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *RegressionOpenCL*</c>.
/// </summary>
public class RegressionOpenCLBenchmarks : CatalogOpenCLBenchmarks
{
    [ParamsSource(nameof(Losses))]
    public override string Loss { get; set; } = "";

    [Params(4096, 1_048_583, 16_777_216)]
    public override int N { get; set; }

    public static IEnumerable<string> Losses() => RegressionBenchmarks.Losses();
}

/// <summary>
/// A catalog loss on the OpenCL device <see cref="OpenCLDevice.Select()"/> picks, beside the CPU SIMD kernels (the
/// baseline) on the same data, with allocations measured; a family's class names its losses and sizes.
/// </summary>
[MemoryDiagnoser]
public abstract class CatalogOpenCLBenchmarks
{
    private OpenCLDevice device = null!;
    private BoundLoss simd = null!;
    private BoundLoss opencl = null!;

    /// <summary>The catalog name, from the family's <c>ParamsSource</c>.</summary>
    public abstract string Loss { get; set; }

    /// <summary>Items (elements or box pairs), from the family's <c>Params</c>.</summary>
    public abstract int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        device = OpenCLDevice.Select();
        LossDefinition definition = LossCatalog.Get(Loss);
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(N, seed: 1);
        simd = definition.Bind(LossParameters.Empty, inputs);
        opencl = definition.Bind(LossParameters.Empty, inputs, device: device);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        opencl.Dispose();
        device.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void SimdFused() => simd.Run(LossMode.Fused);

    [Benchmark]
    public void OpenCLFused() => opencl.Run(LossMode.Fused);

    [Benchmark]
    public void OpenCLForward() => opencl.Run(LossMode.Forward);

    [Benchmark]
    public void OpenCLBackward() => opencl.Run(LossMode.Backward);
}
