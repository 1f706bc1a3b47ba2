using BenchmarkDotNet.Attributes;
using LossKernels.Segmentation;

namespace LossKernels.Benchmarks;

/// <summary>
/// The overlap losses at the two shapes: a Pascal VOC batch [8, 21, 256, 256] (multiclass, class indices) and
/// [2, 1, 1024, 1024] (binary, a 0/1 mask): fused (loss and gradient), in place over the logits, and forward only; allocations
/// measured. PyTorch's time for the same formulas comes from <c>benchmarks/peers/torch_segmentation.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *SegmentationBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
public class SegmentationBenchmarks
{
    private float[] input = [];
    private float[] scratch = [];
    private float[] gradient = [];
    private long[] labels = [];
    private float[] mask = [];

    /// <summary>The loss: dice_loss, tversky_loss, focal_tversky_loss or generalized_dice_loss.</summary>
    [Params("dice_loss", "tversky_loss")]
    public string Loss { get; set; } = "dice_loss";

    /// <summary>multiclass [8, 21, 256, 256] or binary [2, 1, 1024, 1024].</summary>
    [Params("multiclass", "binary")]
    public string Mode { get; set; } = "multiclass";

    private SegmentationShape Shape => Mode == "multiclass" ? new SegmentationShape(8, 21, 256 * 256) : new SegmentationShape(2, 1, 1024 * 1024);

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        SegmentationShape shape = Shape;
        input = new float[shape.InputLength];
        for (int i = 0; i < input.Length; i++)
            input[i] = (float)(random.NextDouble() * 8 - 4);
        labels = new long[shape.Pixels];
        for (int i = 0; i < labels.Length; i++)
            labels[i] = random.Next(20);
        mask = new float[shape.InputLength];
        for (int i = 0; i < mask.Length; i++)
            mask[i] = random.NextDouble() < 0.3 ? 1f : 0f;
        gradient = new float[input.Length];
        scratch = (float[])input.Clone();
    }

    [Benchmark(Baseline = true)]
    public float Fused() => Run(input, gradient);

    /// <summary>The gradient overwrites the logits: each call's input is the previous call's gradient, the same work on other values.</summary>
    [Benchmark]
    public float FusedInPlace() => Run(scratch, scratch);

    [Benchmark]
    public float Forward() => Run(input, default);

    private float Run(float[] x, Span<float> g)
    {
        SegmentationMode mode = Mode == "multiclass" ? SegmentationMode.Multiclass : SegmentationMode.Binary;
        return Loss == "dice_loss" ? Call(new DiceLoss(new OverlapOptions(mode)), x, g) : Call(new TverskyLoss(new OverlapOptions(mode), 0.3f, 0.7f), x, g);
    }

    private float Call<TLoss>(TLoss loss, float[] x, Span<float> g)
        where TLoss : struct, IOverlapLoss
    {
        bool classes = loss.Options.Mode == SegmentationMode.Multiclass;
        if (g.IsEmpty)
            return classes ? loss.Forward(x, labels, Shape) : loss.Forward(x, mask, Shape);
        return classes ? loss.ForwardBackward(x, labels, g, Shape) : loss.ForwardBackward(x, mask, g, Shape);
    }
}
