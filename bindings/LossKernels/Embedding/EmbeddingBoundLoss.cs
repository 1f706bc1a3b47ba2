using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>
/// An <see cref="IEmbeddingLoss"/> bound for the catalog: one, two or three float inputs of one shape ([B, D], or any shape for rows of
/// one element; a one-input loss's [B, …] is B rows of the rest) and, for a labelled loss, B labels (float32 or int64); on the CPU or a
/// device. Fused and backward runs write a gradient per input.
/// </summary>
internal sealed class EmbeddingBoundLoss<TLoss> : BoundLoss
    where TLoss : struct, IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    internal readonly TLoss loss;
    internal readonly EmbeddingNames names;
    internal readonly Reduction reduction;
    internal readonly float[] x0, x1, x2;
    internal readonly float[] floatLabels;
    internal readonly long[]? longLabels;
    internal readonly int rows, dim;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamRows;

    /// <param name="loss">The loss.</param>
    /// <param name="names">Its input and label names (<see cref="EmbeddingNames"/>).</param>
    /// <param name="rowsOfOne">Whether rows hold one element (margin ranking: inputs of any shape, one label each).</param>
    /// <param name="parameters">The parameters; <c>reduction</c> is read here.</param>
    /// <param name="inputs">The inputs by name.</param>
    /// <param name="upstream">The upstream.</param>
    /// <param name="device">Null for the CPU, or the device.</param>
    public EmbeddingBoundLoss(TLoss loss, EmbeddingNames names, bool rowsOfOne, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs,
        LossTensor? upstream, LossDevice? device)
        : base(ShapeOfLoss(parameters, inputs[names.X0], rowsOfOne, loss.Inputs, names), inputs[names.X0].Length, names.X0, loss.Inputs >= 2 ? names.X1 : null,
            loss.Inputs == 3 ? names.X2 : null)
    {
        this.loss = loss;
        this.names = names;
        reduction = parameters.Reduction();
        LossTensor first = inputs[names.X0];
        (rows, dim) = rowsOfOne ? (first.Length, 1)
            : loss.Inputs == 1 ? (first.Shape[0], first.Shape[0] == 0 ? 1 : first.Length / first.Shape[0])
            : (first.Shape[0], first.Shape[1]);
        x0 = first.RequireFloats(names.X0);
        // A one-input loss's second stream is its input (one upload on a device).
        x1 = loss.Inputs >= 2 ? Same(inputs, names.X1, first) : x0;
        x2 = loss.Inputs == 3 ? Same(inputs, names.X2, first) : [];
        floatLabels = [];
        if (loss.Labelled)
        {
            LossTensor label = inputs[names.Label];
            if (label.Length != rows || (!rowsOfOne && label.Shape.Length != 1))
                throw new ArgumentException($"{names.Label} must hold one value per row: [{rows}], got [{string.Join(", ", label.Shape)}].", names.Label);
            floatLabels = label.Floats ?? [];
            longLabels = label.Integers;
        }

        (upstreamScalar, upstreamRows) = CatalogUpstream.Split(upstream, reduction, rows);
        Place(device, device?.Embedding(this));
    }


    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        bool gradient = mode != LossMode.Forward;
        bool unreduced = reduction == Reduction.None;
        Span<float> g0 = gradient ? InputGradient : default, g1 = gradient ? SecondGradient : default, g2 = gradient ? ThirdGradient : default;
        float value = longLabels is not null
            ? EmbeddingLoss.Run<TLoss, long>(loss, names, dim, x0, x1, x2, longLabels, unreduced ? Loss : default, g0, g1, g2, upstreamRows, reduction, upstreamScalar, gradient)
            : EmbeddingLoss.Run<TLoss, float>(loss, names, dim, x0, x1, x2, floatLabels, unreduced ? Loss : default, g0, g1, g2, upstreamRows, reduction, upstreamScalar, gradient);
        if (!unreduced && mode != LossMode.Backward)
            Loss[0] = value;
    }

    /// <summary>The inputs read once (a row stays in cache between its two sweeps), a label per row, the gradients written once.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = x0.Length * (long)loss.Inputs;
        long labels = loss.Labelled ? (longLabels is null ? 4L : 8L) * rows : 0;
        return 4 * n + labels + (mode == LossMode.Forward ? 0 : 4 * n) + (reduction == Reduction.None ? 4L * rows : 0);
    }

    private static int[] ShapeOfLoss(LossParameters parameters, LossTensor first, bool rowsOfOne, int inputs, in EmbeddingNames names)
    {
        if (inputs == 1 && first.Shape.Length == 0)
            throw new ArgumentException($"{names.X0} must be [B, …], got a scalar.", names.X0);
        if (!rowsOfOne && inputs > 1 && first.Shape.Length != 2)
            throw new ArgumentException($"{names.X0} must be [B, D], got [{string.Join(", ", first.Shape)}].", names.X0);
        return parameters.Reduction() != Reduction.None ? [] : rowsOfOne ? first.Shape : [first.Shape[0]];
    }

    private static float[] Same(IReadOnlyDictionary<string, LossTensor> inputs, string name, LossTensor first)
    {
        LossTensor tensor = inputs[name];
        if (!tensor.Shape.SequenceEqual(first.Shape))
            throw new ArgumentException($"{name} must have the shape of the first input, [{string.Join(", ", first.Shape)}]; got [{string.Join(", ", tensor.Shape)}].", name);
        return tensor.RequireFloats(name);
    }
}

/// <summary>An <see cref="EmbeddingBoundLoss{TLoss}"/> on an OpenCL device: the inputs, labels and upstream uploaded once.</summary>
internal sealed class OpenCLEmbeddingRun<TLoss> : OpenCLRun
    where TLoss : struct, IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    private readonly EmbeddingBoundLoss<TLoss> bound;
    private readonly DeviceBuffer<float>? floatLabels;
    private readonly DeviceBuffer<float>? thirdGradient;

    public OpenCLEmbeddingRun(EmbeddingBoundLoss<TLoss> bound, OpenCLDevice device)
        : base(device, bound.x0, bound.x1, [], bound.upstreamRows, bound.reduction == Reduction.None ? bound.rows : null, targetGradient: bound.loss.Inputs >= 2,
            classes: bound.longLabels, extra: bound.loss.Inputs == 3 ? bound.x2 : null)
    {
        this.bound = bound;
        if (bound.loss.Labelled && bound.longLabels is null)
        {
            floatLabels = device.Allocate<float>(bound.floatLabels.Length);
            floatLabels.Upload(bound.floatLabels);
        }

        thirdGradient = bound.loss.Inputs == 3 ? device.Allocate<float>(bound.x2.Length) : null;
    }

    public override void Run(LossMode mode)
    {
        bool gradient = mode != LossMode.Forward;
        float value = Classes is not null
            ? Launch(Classes, gradient)
            : Launch(floatLabels, gradient);
        if (bound.reduction != Reduction.None && mode != LossMode.Backward)
            bound.Loss[0] = value;
        Device.Finish();
    }

    private float Launch<TLabel>(DeviceBuffer<TLabel>? labels, bool gradient)
        where TLabel : unmanaged =>
        EmbeddingDeviceLoss.Run(bound.loss, bound.names, bound.dim, Input, Target, Extra, labels, Output, gradient ? Gradient : null, gradient ? TargetGradient : null,
            gradient ? thirdGradient : null, Upstream, bound.reduction, bound.upstreamScalar);

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? third)
    {
        base.Fetch(loss, gradient, targetGradient, third);
        if (third is not null)
            thirdGradient!.Download(third);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        if (thirdGradient is null)
            return;
        var filled = new float[thirdGradient.Length];
        Array.Fill(filled, value);
        thirdGradient.Upload(filled);
    }

    public override void Dispose()
    {
        base.Dispose();
        floatLabels?.Dispose();
        thirdGradient?.Dispose();
    }
}
