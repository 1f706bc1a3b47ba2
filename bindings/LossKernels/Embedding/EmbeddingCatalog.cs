using LossKernels.Catalog;

namespace LossKernels.Embedding;

/// <summary>The catalog rows of the embedding losses.</summary>
internal static class EmbeddingCatalog
{
    /// <summary>Rows of this many elements in the samples (the quick report's triplet runs B = 65,536 rows of it in full).</summary>
    private const int SampleDim = 256;

    public static readonly LossDefinition[] Rows =
    [
        Row("triplet_margin_loss", "max(0, margin + ‖a − p + eps‖_p − ‖a − n + eps‖_p) per row of [B, D]", "F.triplet_margin_loss",
            p => new TripletMarginLoss(p.Float("margin", 1f), p.Int32("p", 2), p.Float("eps", 1e-6f), p.Bool("swap", false)), EmbeddingNames.Triplet, false,
            1 << 24, ["margin", "p", "eps", "swap"]),
        Row("contrastive_loss", "y·d² + (1 − y)·max(0, margin − d)², d = ‖x1 − x2 + eps‖₂, per row of [B, D]", "Hadsell et al. 2006 (formula in PyTorch)",
            p => new ContrastiveLoss(p.Float("margin", 1f), p.Float("eps", 1e-6f)), EmbeddingNames.Contrastive, false, 1 << 24, ["margin", "eps"]),
        Row("cosine_embedding_loss", "1 − cos (y = 1) | max(0, cos − margin) (y = −1) per row of [B, D]", "F.cosine_embedding_loss",
            p => new CosineEmbeddingLoss(p.Float("margin", 0f)), EmbeddingNames.Pair, false, 1 << 24, ["margin"]),
        Row("margin_ranking_loss", "max(0, −y·(x1 − x2) + margin)", "F.margin_ranking_loss",
            p => new MarginRankingLoss(p.Float("margin", 0f)), EmbeddingNames.Pair, true, 1 << 24, ["margin"]),
        new LossDefinition("triplet_mining_loss", "embedding", "mean over mined (a, p, n) of max(0, d_ap − d_an + margin) on a labelled [B, D] batch",
            "batch-hard / FaceNet semihard / all triplets (formula in PyTorch)", ["embeddings", "labels"], [],
            ["mining", "margin", "distance", "soft_margin", "normalize", "reduction"], MiningBatch * MiningDim,
            (p, inputs, upstream, device) => new TripletMiningBoundLoss(Mining(p), p, inputs, upstream, device), MiningSample,
            ["mean", "sum"]),
        new LossDefinition("discriminative_loss", "embedding",
            "α·mean_c mean_{i∈c} max(0, ‖μ_c − x_i‖ − δv)² + β·mean_{a≠b} max(0, 2δd − ‖μ_a − μ_b‖)² + γ·mean_c ‖μ_c‖ per image of [N, E, d…]",
            "De Brabandere et al. 2017 (formula in PyTorch)", ["embeddings", "labels"], [],
            ["delta_v", "delta_d", "alpha", "beta", "gamma", "ignore_label", "reduction"], 4 * 16 * 512 * 512,
            (p, inputs, upstream, device) => new DiscriminativeBoundLoss(Discriminative(p), p, inputs, upstream, device), InstanceSample, ["mean", "sum"]),
    ];

    /// <summary><c>delta_v</c> (0.5), <c>delta_d</c> (1.5), <c>alpha</c>, <c>beta</c> (1), <c>gamma</c> (0.001), <c>ignore_label</c> (0; null for none).</summary>
    private static DiscriminativeLoss Discriminative(LossParameters p) =>
        new(p.Float("delta_v", 0.5f), p.Float("delta_d", 1.5f), p.Float("alpha", 1f), p.Float("beta", 1f), p.Float("gamma", 0.001f),
            p.Has("ignore_label") ? p.OptionalInteger("ignore_label") : 0);

    /// <summary>
    /// Two to four images of 16 channels (fewer when <paramref name="length"/> is small) whose pixels fall in runs of eight instances and a
    /// background (id 0): each instance's embedding is a centre in [−1, 1) plus noise in [−0.6, 0.6), so that some pixels are pulled
    /// and some means pushed.
    /// </summary>
    private static Dictionary<string, LossTensor> InstanceSample(int length, int seed)
    {
        int channels = Math.Max(1, Math.Min(16, length / 8));
        int images = Math.Max(1, Math.Min(4, length / (channels * 64)));
        int pixels = Math.Max(1, length / (images * channels));
        var random = new Random(seed);
        var centres = new float[9 * channels];
        for (int i = 0; i < centres.Length; i++)
            centres[i] = (float)(random.NextDouble() * 2 - 1);
        var labels = new long[images * pixels];
        var x = new float[images * channels * pixels];
        for (int n = 0; n < images; n++)
        {
            int id = 0;
            for (int i = 0; i < pixels; i++)
            {
                if (random.Next(64) == 0)
                    id = random.Next(9);
                labels[n * pixels + i] = id * 7;
                for (int e = 0; e < channels; e++)
                    x[(n * channels + e) * pixels + i] = centres[id * channels + e] + (float)(random.NextDouble() * 1.2 - 0.6);
            }
        }

        return new() { ["embeddings"] = LossTensor.FromFloats(x, images, channels, pixels), ["labels"] = LossTensor.FromIntegers(labels, images, pixels) };
    }

    /// <summary>The quick report's full triplet-mining batch: B = 4,096 rows of D = 512 (the size).</summary>
    private const int MiningBatch = 4096, MiningDim = 512;

    /// <summary><c>mining</c> ("hard", "semihard", "all"), <c>margin</c> (0.2), <c>distance</c> ("euclidean", "squared", "cosine"), <c>soft_margin</c>, <c>normalize</c>.</summary>
    private static TripletMiningLoss Mining(LossParameters p)
    {
        TripletMining mining = p.String("mining", "hard") switch
        {
            "hard" => TripletMining.Hard,
            "semihard" => TripletMining.SemiHard,
            "all" => TripletMining.All,
            var other => throw new ArgumentException($"Parameter 'mining' must be 'hard', 'semihard' or 'all', got '{other}'.", "mining"),
        };
        TripletDistance distance = p.String("distance", "euclidean") switch
        {
            "euclidean" => TripletDistance.Euclidean,
            "squared" => TripletDistance.Squared,
            "cosine" => TripletDistance.Cosine,
            var other => throw new ArgumentException($"Parameter 'distance' must be 'euclidean', 'squared' or 'cosine', got '{other}'.", "distance"),
        };
        return new TripletMiningLoss(mining, p.Float("margin", 0.2f), distance, p.Bool("soft_margin", false), p.Bool("normalize", false));
    }

    /// <summary>
    /// A P×K batch of <paramref name="length"/> elements (rows of up to <see cref="MiningDim"/>): K = 4 rows per identity, each a shared
    /// centre in [−1, 1) plus noise in [−3, 3): a positive is then about 5% nearer than a negative on average, less than the spread of
    /// the distances, so that the hardest positive is often farther than the closest negative and the hinge is active (a milder noise
    /// would leave every mined triplet inactive, the loss and gradient 0).
    /// </summary>
    private static Dictionary<string, LossTensor> MiningSample(int length, int seed)
    {
        int dim = Math.Max(1, Math.Min(MiningDim, length / 8));
        int rows = length / dim;
        var random = new Random(seed);
        var x = new float[rows * dim];
        var labels = new long[rows];
        var centre = new float[dim];
        for (int r = 0; r < rows; r++)
        {
            labels[r] = r / 4;
            if (r % 4 == 0)
            {
                for (int j = 0; j < dim; j++)
                    centre[j] = (float)(random.NextDouble() * 2 - 1);
            }

            for (int j = 0; j < dim; j++)
                x[r * dim + j] = centre[j] + (float)(random.NextDouble() * 6 - 3);
        }

        return new() { ["embeddings"] = LossTensor.FromFloats(x, rows, dim), ["labels"] = LossTensor.FromIntegers(labels, rows) };
    }

    private static LossDefinition Row<TLoss>(string name, string formula, string equivalent, Func<LossParameters, TLoss> create, EmbeddingNames names,
        bool rowsOfOne, int reportSize, string[] parameters)
        where TLoss : struct, IEmbeddingLoss, IOpenCLEmbeddingLoss
    {
        TLoss probe = default;
        string[] inputs = probe.Inputs == 3 ? [names.X0, names.X1, names.X2] : [names.X0, names.X1, names.Label];
        return new LossDefinition(name, "embedding", formula, equivalent, inputs, [], [.. parameters, "reduction"], reportSize,
            (p, tensors, upstream, device) => new EmbeddingBoundLoss<TLoss>(create(p), names, rowsOfOne, p, tensors, upstream, device),
            (length, seed) => Sample(length, seed, inputs, probe.Labelled, rowsOfOne, name == "cosine_embedding_loss" || name == "margin_ranking_loss"));
    }

    /// <summary>
    /// Inputs in [−1, 1) of <paramref name="length"/> elements (rows of up to <see cref="SampleDim"/>), the second and third near the first so
    /// that every hinge is met on both sides; labels alternate 1, 0 (or 1, −1 for <paramref name="signed"/> targets).
    /// </summary>
    private static Dictionary<string, LossTensor> Sample(int length, int seed, string[] names, bool labelled, bool rowsOfOne, bool signed)
    {
        int dim = rowsOfOne ? 1 : Math.Max(1, Math.Min(SampleDim, length));
        int rows = length / dim;
        var random = new Random(seed);
        var first = new float[rows * dim];
        for (int i = 0; i < first.Length; i++)
            first[i] = (float)(random.NextDouble() * 2 - 1);
        int[] shape = rowsOfOne ? [rows] : [rows, dim];
        var sample = new Dictionary<string, LossTensor> { [names[0]] = LossTensor.FromFloats(first, shape) };
        int others = labelled ? 1 : 2;
        for (int k = 1; k <= others; k++)
        {
            // Rows at a spread of distances from the first: some pairs inside the margin, some outside.
            var other = new float[first.Length];
            for (int r = 0; r < rows; r++)
            {
                float spread = (float)(random.NextDouble() * (rowsOfOne ? 2 : 0.15));
                for (int j = 0; j < dim; j++)
                    other[r * dim + j] = first[r * dim + j] + spread * (float)(random.NextDouble() * 2 - 1);
            }

            sample[names[k]] = LossTensor.FromFloats(other, shape);
        }

        if (labelled)
        {
            var label = new float[rows];
            for (int r = 0; r < rows; r++)
                label[r] = r % 2 == 0 ? 1f : signed ? -1f : 0f;
            sample[names[2]] = LossTensor.FromFloats(label, rows);
        }

        return sample;
    }
}
