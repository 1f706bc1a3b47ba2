using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>
/// <see cref="DiscriminativeLoss"/> bound for the catalog: <c>embeddings</c> [N, E, d1, …] and int64 <c>labels</c> [N, d1, …]; the loss is a
/// scalar (mean over images or sum) and the fused and backward runs write <c>grad.embeddings</c>. <see cref="Terms"/> holds the last run's terms.
/// </summary>
internal sealed class DiscriminativeBoundLoss : BoundLoss
{
    internal readonly DiscriminativeLoss loss;
    internal readonly float[] embeddings;
    internal readonly long[] labels;
    internal readonly int images, channels;
    internal readonly Reduction reduction;
    internal readonly float upstream;

    public DiscriminativeBoundLoss(DiscriminativeLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream,
        LossDevice? device)
        : base([], inputs["embeddings"].Length, "embeddings")
    {
        this.loss = loss;
        LossTensor x = inputs["embeddings"], t = inputs["labels"];
        if (x.Shape.Length < 2)
            throw new ArgumentException($"embeddings must be [N, E, d1, …], got [{string.Join(", ", x.Shape)}].", "embeddings");
        if (t.Shape.Length != x.Shape.Length - 1 || t.Shape[0] != x.Shape[0] || !t.Shape.AsSpan(1).SequenceEqual(x.Shape.AsSpan(2)))
            throw new ArgumentException($"labels must be [N, d1, …] of embeddings [{string.Join(", ", x.Shape)}], got [{string.Join(", ", t.Shape)}].", "labels");
        embeddings = x.RequireFloats("embeddings");
        labels = t.RequireIntegers("labels");
        images = x.Shape[0];
        channels = x.Shape[1];
        reduction = parameters.Reduction();
        DiscriminativeDriver.CheckArguments(loss, embeddings.Length, labels.Length, images, Math.Max(channels, 1), reduction);
        this.upstream = CatalogUpstream.Split(upstream, reduction, 1).Scalar;
        Place(device, device?.Discriminative(this));
    }

    /// <summary>The variance, distance and regularizer terms of the last forward or fused run.</summary>
    public DiscriminativeLossResult Terms { get; private set; }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        switch (mode)
        {
            case LossMode.Forward:
                Store(loss.Forward(embeddings, labels, images, channels, reduction));
                break;
            case LossMode.Fused:
                Store(loss.ForwardBackward(embeddings, labels, images, channels, InputGradient, reduction, upstream));
                break;
            default:
                loss.Backward(embeddings, labels, images, channels, upstream, InputGradient, reduction);
                break;
        }
    }

    internal void Store(DiscriminativeLossResult result)
    {
        Loss[0] = result.Loss;
        Terms = result;
    }

    /// <summary>The floor of what a run moves: the embeddings read twice (the means, then the pulls) and the ids once, plus the gradient's read and write.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long bytes = 8L * embeddings.Length + 8L * labels.Length;
        return mode == LossMode.Forward ? bytes : bytes + 8L * embeddings.Length;
    }
}

/// <summary>A <see cref="DiscriminativeBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLDiscriminativeRun(DiscriminativeBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.embeddings, [], [], [], null, classes: bound.labels)
{
    public override void Run(LossMode mode)
    {
        switch (mode)
        {
            case LossMode.Forward:
                bound.Store(bound.loss.Forward(Input, Classes!, bound.images, bound.channels, bound.reduction));
                break;
            case LossMode.Fused:
                bound.Store(bound.loss.ForwardBackward(Input, Classes!, bound.images, bound.channels, Gradient, bound.reduction, bound.upstream));
                break;
            default:
                bound.loss.Backward(Input, Classes!, bound.images, bound.channels, bound.upstream, Gradient, bound.reduction);
                break;
        }
    }
}
