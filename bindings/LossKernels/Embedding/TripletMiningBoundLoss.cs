using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>
/// <see cref="TripletMiningLoss"/> bound for the catalog: <c>embeddings</c> [B, D] and int64 <c>labels</c> [B]; the loss is a scalar (mean
/// or sum) and the fused and backward runs write <c>grad.embeddings</c>. <see cref="Triplets"/> holds the last run's triplet count.
/// </summary>
internal sealed class TripletMiningBoundLoss : BoundLoss
{
    internal readonly TripletMiningLoss loss;
    internal readonly float[] embeddings;
    internal readonly long[] labels;
    internal readonly int dim;
    internal readonly Reduction reduction;
    internal readonly float upstream;

    public TripletMiningBoundLoss(TripletMiningLoss loss, LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream,
        LossDevice? device)
        : base([], inputs["embeddings"].Length, "embeddings")
    {
        this.loss = loss;
        LossTensor x = inputs["embeddings"], t = inputs["labels"];
        if (x.Shape.Length != 2)
            throw new ArgumentException($"embeddings must be [B, D], got [{string.Join(", ", x.Shape)}].", "embeddings");
        if (t.Shape.Length != 1 || t.Shape[0] != x.Shape[0])
            throw new ArgumentException($"labels must be [{x.Shape[0]}], got [{string.Join(", ", t.Shape)}].", "labels");
        embeddings = x.RequireFloats("embeddings");
        labels = t.RequireIntegers("labels");
        dim = x.Shape[1];
        reduction = parameters.Reduction();
        TripletMiningDriver.CheckArguments(loss, embeddings.Length, labels.Length, Math.Max(dim, 1), reduction);
        this.upstream = CatalogUpstream.Split(upstream, reduction, 1).Scalar;
        Place(device, device?.TripletMining(this));
    }

    /// <summary>The triplets the last forward or fused run averaged over.</summary>
    public long Triplets { get; internal set; }

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
                Store(loss.Forward(embeddings, labels, dim, reduction));
                break;
            case LossMode.Fused:
                Store(loss.ForwardBackward(embeddings, labels, dim, InputGradient, reduction, upstream));
                break;
            default:
                loss.Backward(embeddings, labels, dim, upstream, InputGradient, reduction);
                break;
        }
    }

    internal void Store(TripletMiningResult result)
    {
        Loss[0] = result.Loss;
        Triplets = result.Triplets;
    }

    /// <summary>
    /// The floor of what a run moves: the embeddings read (and written as the gradient), the labels, and the B² distance matrix
    /// written once and read once by the mining (twice more with a gradient: the symmetric coefficients and the gradient's scan).
    /// </summary>
    public override long BytesMoved(LossMode mode)
    {
        long rows = labels.Length, matrix = 4L * rows * rows;
        long bytes = 4L * embeddings.Length + 8L * rows + 2 * matrix;
        return mode == LossMode.Forward ? bytes : bytes + 4L * embeddings.Length + 3 * matrix;
    }
}

/// <summary>A <see cref="TripletMiningBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLTripletMiningRun(TripletMiningBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.embeddings, [], [], [], null, classes: bound.labels)
{
    public override void Run(LossMode mode)
    {
        switch (mode)
        {
            case LossMode.Forward:
                bound.Store(bound.loss.Forward(Input, Classes!, bound.dim, bound.reduction));
                break;
            case LossMode.Fused:
                bound.Store(bound.loss.ForwardBackward(Input, Classes!, bound.dim, Gradient, bound.reduction, bound.upstream));
                break;
            default:
                bound.loss.Backward(Input, Classes!, bound.dim, bound.upstream, Gradient, bound.reduction);
                break;
        }
    }
}
