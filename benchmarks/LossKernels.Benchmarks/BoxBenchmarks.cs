using BenchmarkDotNet.Attributes;
using LossKernels.Box;
using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Benchmarks;

/// <summary>
/// The box losses under BenchmarkDotNet on the CPU: the catalog's fused run (both gradients, the baseline), the
/// fused call a detector makes (the prediction gradient only), forward and backward, with allocations measured.
/// PyTorch's times for the same boxes come from <c>benchmarks/peers/torch_box.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *BoxBenchmarks*</c>
/// (<c>LOSSKERNELS_BENCHMARK_LOSSES=generalized_box_iou_loss,complete_box_iou_loss</c> to run a few).
/// </summary>
[MemoryDiagnoser]
public class BoxBenchmarks
{
    private BoundLoss bound = null!;
    private float[] prediction = [];
    private float[] target = [];
    private float[] gradient = [];
    private float[] centerness = [];

    [ParamsSource(nameof(Losses))]
    public string Loss { get; set; } = "";

    [Params(4096, 1_048_576)]
    public int N { get; set; }

    /// <summary>Every box loss, or those named in <c>LOSSKERNELS_BENCHMARK_LOSSES</c> (comma-separated), to keep a run short.</summary>
    public static IEnumerable<string> Losses()
    {
        string[] chosen = Environment.GetEnvironmentVariable("LOSSKERNELS_BENCHMARK_LOSSES")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        return LossCatalog.All.Where(d => d.Family == "box" && (chosen.Length == 0 || chosen.Contains(d.Name))).Select(d => d.Name);
    }

    [GlobalSetup]
    public void Setup()
    {
        LossDefinition definition = LossCatalog.Get(Loss);
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(N, seed: 1);
        bound = definition.Bind(LossParameters.Empty, inputs);
        prediction = inputs[definition.Inputs[0]].Floats!;
        target = inputs[definition.Inputs[1]].Floats!;
        gradient = new float[prediction.Length];
        if (Loss == "fcos_centerness_loss")
        {
            centerness = new float[N];
            FcosCenterness.Targets(target, centerness);
        }
    }

    [Benchmark(Baseline = true)]
    public void Fused() => bound.Run(LossMode.Fused);

    /// <summary>Fused with the prediction gradient only, through the span API with the loss's default hyperparameters (centerness: against targets computed once).</summary>
    [Benchmark]
    public float FusedPredictionGradient() => Loss switch
    {
        "iou_loss" => new IoULoss().ForwardBackward(prediction, target, gradient),
        "generalized_box_iou_loss" => new GeneralizedIoULoss().ForwardBackward(prediction, target, gradient),
        "distance_box_iou_loss" => new DistanceIoULoss().ForwardBackward(prediction, target, gradient),
        "complete_box_iou_loss" => new CompleteIoULoss().ForwardBackward(prediction, target, gradient),
        "efficient_iou_loss" => new EfficientIoULoss().ForwardBackward(prediction, target, gradient),
        "extended_iou_loss" => new ExtendedIoULoss().ForwardBackward(prediction, target, gradient),
        "scylla_iou_loss" => new ScyllaIoULoss().ForwardBackward(prediction, target, gradient),
        "bounded_iou_loss" => new BoundedIoULoss().ForwardBackward(prediction, target, gradient),
        _ => new FcosCenternessLoss().ForwardBackward(prediction, centerness, gradient),
    };

    [Benchmark]
    public void Forward() => bound.Run(LossMode.Forward);

    [Benchmark]
    public void Backward() => bound.Run(LossMode.Backward);
}

/// <summary>
/// The box losses on the OpenCL device <see cref="OpenCLDevice.Select()"/> picks, beside the CPU SIMD kernels (the
/// baseline) on the same boxes. Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *BoxOpenCL*</c>.
/// </summary>
public class BoxOpenCLBenchmarks : CatalogOpenCLBenchmarks
{
    [ParamsSource(nameof(Losses))]
    public override string Loss { get; set; } = "";

    [Params(4096, 1_048_576)]
    public override int N { get; set; }

    public static IEnumerable<string> Losses() => BoxBenchmarks.Losses();
}
