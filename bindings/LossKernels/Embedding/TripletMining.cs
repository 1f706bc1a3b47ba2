namespace LossKernels.Embedding;

/// <summary>Which triplets <see cref="TripletMiningLoss"/> mines from a labelled batch.</summary>
public enum TripletMining
{
    /// <summary>Per anchor the farthest positive and the closest negative (batch-hard, Hermans et al. 2017); the mean is over the anchors that have both.</summary>
    Hard,

    /// <summary>
    /// Per anchor and positive, the closest negative farther than the positive (FaceNet's semihard, Schroff et al. 2015), or the
    /// farthest negative where none is farther (TensorFlow Addons' <c>triplet_semihard_loss</c>); the mean is over those pairs.
    /// </summary>
    SemiHard,

    /// <summary>Every valid triplet; the mean is over the triplets with ℓ &gt; 0 (every triplet with a soft margin).</summary>
    All,
}

/// <summary>The distance <see cref="TripletMiningLoss"/> mines and measures with.</summary>
public enum TripletDistance
{
    /// <summary>‖e_i − e_j‖₂, with gradient (e_i − e_j)/d and 0 at d = 0.</summary>
    Euclidean,

    /// <summary>‖e_i − e_j‖₂².</summary>
    Squared,

    /// <summary>1 − cos(e_i, e_j), through L2-normalized rows (whether or not <see cref="TripletMiningLoss.Normalize"/> is set).</summary>
    Cosine,
}

/// <summary>What a <see cref="TripletMiningLoss"/> call returns: the loss and the number of triplets it averaged over.</summary>
/// <param name="Loss">The reduced loss (times nothing: the upstream scales the gradient only).</param>
/// <param name="Triplets">The mined triplets the mean divides by: anchors (hard), anchor–positive pairs (semihard) or triplets with ℓ &gt; 0 (all).</param>
public readonly record struct TripletMiningResult(float Loss, long Triplets);

/// <summary>
/// Triplet loss with online mining over a labelled batch of B embeddings of D elements (FaceNet, Schroff et al. 2015; batch-hard,
/// Hermans et al. 2017): rows e_i (the inputs, L2-normalized first when <see cref="Normalize"/>: e = x / max(‖x‖, 1e-12) as
/// <c>F.normalize</c>), distances d_ij (<see cref="TripletDistance"/>) from the Gram matrix E·Eᵀ
/// (d² = G_ii + G_jj − 2·G_ij, clamped at 0), triplets (a, p, n) mined per anchor (<see cref="TripletMining"/>; a positive has the
/// anchor's label and is not the anchor, a negative has another label), and per triplet <c>ℓ = max(0, d_ap − d_an + margin)</c>, or
/// <c>softplus(d_ap − d_an + margin)</c> with <see cref="SoftMargin"/>.
/// L = Σ ℓ / count (mean) or Σ ℓ (sum). Gradient: ∂L/∂d_ap = ℓ′, ∂L/∂d_an = −ℓ′ per triplet (over count for the mean), chained
/// through the distances (euclidean: (e_i − e_j)/d, 0 at d = 0; squared: 2(e_i − e_j); cosine: −e_j on normalized rows) and the
/// normalization; the mined triplets are constants, as in every autograd implementation.
/// </summary>
/// <remarks>
/// <para>PyTorch has no such function: the reference is the batch-hard recipe (<c>torch.cdist</c>, label masks, max/min) and
/// pytorch-metric-learning's <c>TripletMarginLoss</c> with a <c>TripletMarginMiner</c>, written in PyTorch float64 for the golden
/// cases. Differences from those: ties between equal distances go to the lowest index (<c>torch.max</c> does not promise which);
/// the hinge's gradient is 0 at exactly 0 (<c>F.relu</c>); the distances come from the Gram matrix in float32, as <c>torch.cdist</c>'s
/// matrix-multiply path computes them, so two distances within float rounding of each other may mine either; semihard falls back to
/// the farthest negative (TensorFlow Addons) where pytorch-metric-learning's miner drops the pair; the mean of <c>All</c> is over the
/// triplets with ℓ &gt; 0 (its <c>AvgNonZeroReducer</c>).</para>
/// <para>The work is B²·D/2 multiply-adds in a blocked SIMD SYRK (<c>Gram</c>), then O(B²) mining for hard, O(B²·P) for
/// semihard and all (P positives per anchor), and a gradient pass over the nonzero coefficients. It needs B² floats of scratch
/// (pooled), so B is at most 46,340. Every result is the same bits for any thread count.</para>
/// </remarks>
public readonly partial struct TripletMiningLoss
{
    /// <summary>The batch-hard defaults: hard mining, margin 0.2, euclidean distance, hinge, no normalization.</summary>
    public TripletMiningLoss()
        : this(TripletMining.Hard)
    {
    }

    /// <summary>With the given options.</summary>
    /// <param name="mining">Which triplets.</param>
    /// <param name="margin">The margin (finite, ≥ 0).</param>
    /// <param name="distance">The distance.</param>
    /// <param name="softMargin">softplus instead of the hinge (Hermans et al.'s soft margin).</param>
    /// <param name="normalize">L2-normalize the embeddings first, through the gradient.</param>
    /// <exception cref="ArgumentOutOfRangeException">An enum value is not defined, or margin is negative or not finite.</exception>
    public TripletMiningLoss(TripletMining mining, float margin = 0.2f, TripletDistance distance = TripletDistance.Euclidean, bool softMargin = false,
        bool normalize = false)
    {
        Check(mining, margin, distance, nameof(mining), nameof(margin), nameof(distance));
        Mining = mining;
        Margin = margin;
        Distance = distance;
        softMarginFlag = softMargin ? (byte)1 : (byte)0;
        normalizeFlag = normalize ? (byte)1 : (byte)0;
    }

    /// <summary>Which triplets are mined.</summary>
    public TripletMining Mining { get; }

    /// <summary>The margin.</summary>
    public float Margin { get; }

    /// <summary>The distance.</summary>
    public TripletDistance Distance { get; }

    /// <summary>Whether ℓ is softplus instead of the hinge.</summary>
    public bool SoftMargin => softMarginFlag != 0;

    /// <summary>Whether the embeddings are L2-normalized first (always so for the cosine distance).</summary>
    public bool Normalize => normalizeFlag != 0;

    /// <summary>Whether the rows the distances see are normalized: <see cref="Normalize"/> or the cosine distance.</summary>
    internal bool Normalized => Normalize || Distance == TripletDistance.Cosine;

    // Bytes, not bools: the struct goes by value to GPU kernels, which take blittable fields only.
    private readonly byte softMarginFlag, normalizeFlag;

    /// <summary>The largest batch: B² distances must fit a pooled array.</summary>
    public const int MaxBatch = 46340;

    /// <summary>Fused forward+backward: returns L and its triplet count, and writes ∂(upstream·L)/∂embeddings.</summary>
    /// <param name="embeddings">B rows of D floats.</param>
    /// <param name="labels">B labels (any int64 values; equal labels are one class).</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="gradient">Receives B·D floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over the triplet count) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <exception cref="ArgumentException">A length is not B·D or B, the gradient overlaps the embeddings without being them, reduction is None, or B exceeds <see cref="MaxBatch"/>.</exception>
    public TripletMiningResult ForwardBackward(ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int dim, Span<float> gradient,
        Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        TripletMiningDriver.Run(this, embeddings, labels, dim, gradient, reduction, upstream, gradientWanted: true);

    /// <summary>Forward only: L and its triplet count.</summary>
    /// <param name="embeddings">B rows of D floats.</param>
    /// <param name="labels">B labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public TripletMiningResult Forward(ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int dim, Reduction reduction = Reduction.Mean) =>
        TripletMiningDriver.Run(this, embeddings, labels, dim, default, reduction, 1f, gradientWanted: false);

    /// <summary>Backward only: writes ∂(upstream·L)/∂embeddings (the forward's work is redone: the mining decides the gradient).</summary>
    /// <param name="embeddings">B rows of D floats.</param>
    /// <param name="labels">B labels.</param>
    /// <param name="dim">D (&gt; 0).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="gradient">Receives B·D floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int dim, float upstream, Span<float> gradient, Reduction reduction = Reduction.Mean) =>
        TripletMiningDriver.Run(this, embeddings, labels, dim, gradient, reduction, upstream, gradientWanted: true);

    /// <summary>Throws when an option is out of range (a default-constructed struct is valid: hard, margin 0, euclidean).</summary>
    internal void Validate() => Check(Mining, Margin, Distance, nameof(Mining), nameof(Margin), nameof(Distance));

    private static void Check(TripletMining mining, float margin, TripletDistance distance, string miningName, string marginName, string distanceName)
    {
        if (mining is not (TripletMining.Hard or TripletMining.SemiHard or TripletMining.All))
            ThrowHelper.OutOfRange(miningName, (int)mining, "Hard, SemiHard or All");
        ThrowHelper.IfNegative(margin, marginName);
        if (distance is not (TripletDistance.Euclidean or TripletDistance.Squared or TripletDistance.Cosine))
            ThrowHelper.OutOfRange(distanceName, (int)distance, "Euclidean, Squared or Cosine");
    }
}
