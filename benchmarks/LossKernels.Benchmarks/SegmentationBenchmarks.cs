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
        (input, labels, mask) = Sample(Shape);
        gradient = new float[input.Length];
        scratch = (float[])input.Clone();
    }

    /// <summary>Logits in [−4, 4), class indices 0…19 (class 20 absent) and a 0/1 mask of about 30 % ones for <paramref name="shape"/>.</summary>
    internal static (float[] Input, long[] Labels, float[] Mask) Sample(SegmentationShape shape)
    {
        var random = new Random(1);
        var input = new float[shape.InputLength];
        for (int i = 0; i < input.Length; i++)
            input[i] = (float)(random.NextDouble() * 8 - 4);
        var labels = new long[shape.Pixels];
        for (int i = 0; i < labels.Length; i++)
            labels[i] = random.Next(20);
        var mask = new float[shape.InputLength];
        for (int i = 0; i < mask.Length; i++)
            mask[i] = random.NextDouble() < 0.3 ? 1f : 0f;
        return (input, labels, mask);
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

/// <summary>
/// The Lovász losses at the shapes: Lovász-softmax on a Pascal VOC batch [8, 21, 256, 256] (21 sorts of 524,288
/// pixels, one per thread) and the Lovász hinge on [2, 1, 1024, 1024] (one sort of 2,097,152 elements in chunks across the
/// threads), fused and forward; and the radix sort alone on one thread (<see cref="RadixSort.Sort"/>) over as many keys as one
/// of those sorts, each call restoring the unsorted keys first (a copy of 8 bytes per key, counted in the time).
/// PyTorch's time for smp's formulas comes from <c>benchmarks/peers/torch_segmentation.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *LovaszBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
public unsafe class LovaszBenchmarks
{
    private float[] input = [];
    private float[] gradient = [];
    private long[] labels = [];
    private float[] mask = [];
    private uint[] keys = [];
    private uint[] sortBuffers = [];

    /// <summary>multiclass (Lovász-softmax) [8, 21, 256, 256] or binary (Lovász hinge) [2, 1, 1024, 1024].</summary>
    [Params("multiclass", "binary")]
    public string Mode { get; set; } = "multiclass";

    private SegmentationShape Shape => Mode == "multiclass" ? new SegmentationShape(8, 21, 256 * 256) : new SegmentationShape(2, 1, 1024 * 1024);

    [GlobalSetup]
    public void Setup()
    {
        SegmentationShape shape = Shape;
        (input, labels, mask) = SegmentationBenchmarks.Sample(shape);
        gradient = new float[input.Length];
        var random = new Random(2);
        // One sort's keys: softmax errors in [0, 1] of one class over the batch, or hinge errors 1 ± x.
        keys = new uint[Mode == "multiclass" ? shape.Pixels : shape.InputLength];
        for (int i = 0; i < keys.Length; i++)
            keys[i] = LovaszMath.Key<FloatBits>(Mode == "multiclass" ? (float)random.NextDouble() : LovaszMath.HingeError(input[i], mask[i] == 1f));
        sortBuffers = new uint[4 * keys.Length];
    }

    [Benchmark(Baseline = true)]
    public float Fused() => Mode == "multiclass"
        ? new LovaszSoftmaxLoss().ForwardBackward(input, labels, gradient, Shape)
        : new LovaszHingeLoss().ForwardBackward(input, mask, gradient, Shape);

    [Benchmark]
    public float Forward() => Mode == "multiclass" ? new LovaszSoftmaxLoss().Forward(input, labels, Shape) : new LovaszHingeLoss().Forward(input, mask, Shape);

    /// <summary>One task's sort on one thread: its keys restored, positions as payloads, three 11-bit passes.</summary>
    [Benchmark]
    public bool Sort()
    {
        int n = keys.Length;
        fixed (uint* buffers = sortBuffers)
        fixed (uint* source = keys)
        {
            new ReadOnlySpan<uint>(source, n).CopyTo(new Span<uint>(buffers, n));
            for (int i = 0; i < n; i++)
                buffers[n + i] = (uint)i;
            return RadixSort.Sort(buffers, buffers + n, buffers + 2 * n, buffers + 3 * n, n);
        }
    }
}
