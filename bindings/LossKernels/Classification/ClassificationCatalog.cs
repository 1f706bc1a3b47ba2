using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>The catalog rows of the elementwise classification losses.</summary>
internal static class ClassificationCatalog
{
    /// <summary>Elementwise losses run at 16,777,216 elements in the quick report.</summary>
    private const int ReportSize = 1 << 24;

    public static readonly LossDefinition[] Rows =
    [
        TargetRow("binary_cross_entropy", "−(t·max(ln p, −100) + (1 − t)·max(ln(1 − p), −100))", "F.binary_cross_entropy",
            _ => new BinaryCrossEntropyLoss(), Probabilities),
        new LossDefinition("binary_cross_entropy_with_logits", "classification", "(1 − t)·x + (1 + (w₊ − 1)·t)·softplus(−x)",
            "F.binary_cross_entropy_with_logits (pos_weight a tensor of C over the last axis, or a scalar parameter)",
            ["input", "target"], ["weight", "pos_weight"], ["pos_weight", "reduction", "avg_factor", "target_grad"], ReportSize, BindBinaryCrossEntropyWithLogits, Logits),
        Row("balanced_binary_cross_entropy", "α·t·softplus(−x) + (1 − α)(1 − t)·softplus(x)", "torchvision sigmoid_focal_loss, γ = 0 (0/1 targets)",
            p => new BalancedBinaryCrossEntropyLoss(p.Float("alpha", 0.25f)), Logits, "alpha"),
        Row("sigmoid_focal_loss", "α_t·ce·(1 − p_t)^γ", "torchvision.ops.sigmoid_focal_loss; mmdet FocalLoss (sigmoid)",
            p => new SigmoidFocalLoss(p.Float("alpha", 0.25f), p.Float("gamma", 2f)), Logits, "alpha", "gamma"),
        Row("quality_focal_loss", "ce(x, t)·|σ(x) − t|^β", "mmdet quality_focal_loss (dense target)",
            p => new QualityFocalLoss(p.Float("beta", 2f)), Scores, "beta"),
        Row("varifocal_loss", "ce(x, t)·(t > 0 ? t : α·|σ(x) − t|^γ)", "mmdet varifocal_loss",
            p => new VarifocalLoss(p.Float("alpha", 0.75f), p.Float("gamma", 2f), p.Bool("iou_weighted", true)), Scores, "alpha", "gamma", "iou_weighted"),
        TargetRow("hinge_loss", "max(0, margin − t·x), t = ±1", "torch.clamp(margin − t·x, min=0)",
            p => new HingeLoss(p.Float("margin", 1f)), SignedLabels, "margin"),
        Row("hinge_embedding_loss", "[t ≠ −1]·x + [t ≠ 1]·max(0, margin − x)", "F.hinge_embedding_loss",
            p => new HingeEmbeddingLoss(p.Float("margin", 1f)), Distances, "margin"),
        LossDefinition.ElementwiseWithTarget("kl_div", "classification", "t·(ln t − x), or e^t·(t − x) with log targets", "F.kl_div", ReportSize,
            p => new KlDivergenceLoss(p.Bool("log_target", false)), LogProbabilities, ["log_target"], acceptsBatchMean: true),
        new LossDefinition("cross_entropy", "classification", "(1 − ε)·w_y·(lse − x_y) + (ε/C)·Σ_c w_c·(lse − x_c) + z·lse²",
            "F.cross_entropy on [N, C] (+ Liger-Kernel's lse_square_scale)", ["input", "target"], ["weight"],
            ["ignore_index", "label_smoothing", "lse_square_scale", "reduction", "target_grad"], CrossEntropyReportRows * CrossEntropyReportClasses,
            (p, inputs, upstream, device) => new CrossEntropyBoundLoss(p, inputs, upstream, device), CrossEntropySample),
        new LossDefinition("nll_loss", "classification", "−w_y·x[r, y] per row of [N, C] log-probabilities", "F.nll_loss", ["input", "target"], ["weight"],
            ["ignore_index", "reduction"], CrossEntropyReportRows * CrossEntropyReportClasses,
            (p, inputs, upstream, device) => new CrossEntropyBoundLoss(p, inputs, upstream, device, logProbabilities: true), CrossEntropySample),
        new LossDefinition("distribution_focal_loss", "classification", "(i + 1 − l)·CE(x, i) + (l − i)·CE(x, i + 1), i = ⌊l⌋, per row of [N, C]",
            "mmdet distribution_focal_loss", ["input", "target"], ["weight"], ["reduction", "avg_factor"], ReportSize,
            (p, inputs, upstream, device) => new DistributionFocalBoundLoss(p, inputs, upstream, device), DistributionSample),
        new LossDefinition("softmax_focal_loss", "classification", "−α·w_y·(1 − p_y)^γ·ln p_y per row of [N, C], p = softmax(x)",
            "mmcv softmax_focal_loss (+ ignore_index)", ["input", "target"], ["weight"], ["alpha", "gamma", "ignore_index", "reduction"],
            CrossEntropyReportRows * CrossEntropyReportClasses,
            (p, inputs, upstream, device) => new CrossEntropyBoundLoss(p, inputs, upstream, device, softmaxFocal: true), CrossEntropySample),
        new LossDefinition("multi_margin_loss", "classification", "(w_y/C)·Σ_{c≠y} max(0, margin − x_y + x_c)^p per row of [N, C]",
            "F.multi_margin_loss", ["input", "target"], ["weight"], ["p", "margin", "reduction"], ReportSize,
            (p, inputs, upstream, device) => new MultiMarginBoundLoss(p, inputs, upstream, device), MarginSample),
        new LossDefinition("ghm_c", "classification", "β_bin(|σ(x) − t|)·ce(x, t), β = v/(count of the bin·non-empty bins)", "mmdet GHMC (use_sigmoid)",
            ["input", "target"], ["weight"], ["bins", "momentum", "reduction"], ReportSize,
            (p, inputs, upstream, device) => new GhmcBoundLoss(p, inputs, upstream, device), BinaryLabels),
        Row("zero_one_loss", "[x > 0] ≠ [t > 0] (forward only)", "sklearn zero_one_loss",
            _ => new ZeroOneLoss(), SignedLabels),
    ];

    /// <summary>The benchmark shape: a language model's [4096, 32000] logits.</summary>
    private const int CrossEntropyReportRows = 4096;
    private const int CrossEntropyReportClasses = 32000;

    /// <summary>A pos_weight tensor of more than one value takes the per-class path; one value (or the scalar parameter) the elementwise loss.</summary>
    private static BoundLoss BindBinaryCrossEntropyWithLogits(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream,
        LossDevice? device)
    {
        if (inputs.TryGetValue("pos_weight", out LossTensor? posWeight) && posWeight.Length > 1)
            return new PosWeightBoundLoss(parameters, inputs, upstream, device);

        float scalar = posWeight is not null ? posWeight.RequireFloats("pos_weight")[0] : parameters.Float("pos_weight", 1f);
        var elementwise = inputs.Where(pair => pair.Key != "pos_weight").ToDictionary(pair => pair.Key, pair => pair.Value);
        return new ElementwiseTargetBoundLoss<BinaryCrossEntropyWithLogitsLoss>(new BinaryCrossEntropyWithLogitsLoss(scalar), parameters, elementwise, upstream, device);
    }

    private static LossDefinition TargetRow<TLoss>(string name, string formula, string equivalent, Func<LossParameters, TLoss> create,
        Func<int, int, Dictionary<string, LossTensor>> sample, params string[] parameters)
        where TLoss : struct, IElementwiseTargetLoss =>
        LossDefinition.ElementwiseWithTarget(name, "classification", formula, equivalent, ReportSize, create, sample, parameters);

    private static LossDefinition Row<TLoss>(string name, string formula, string equivalent, Func<LossParameters, TLoss> create,
        Func<int, int, Dictionary<string, LossTensor>> sample, params string[] parameters)
        where TLoss : struct, IElementwiseLoss =>
        LossDefinition.Elementwise(name, "classification", formula, equivalent, ReportSize, create, sample, parameters);

    /// <summary>Logits in [−8, 8); targets 0, 1 or a probability in equal shares.</summary>
    private static Dictionary<string, LossTensor> Logits(int length, int seed) =>
        Make(length, seed, r => (float)(r.NextDouble() * 16 - 8), (r, i) => (i % 3) switch { 0 => 0f, 1 => 1f, _ => (float)r.NextDouble() });

    /// <summary>Logits in [−8, 8); targets 0 or 1, one in four positive: GHM-C's input (mmdetection's GHMC takes binary class targets).</summary>
    private static Dictionary<string, LossTensor> BinaryLabels(int length, int seed) =>
        Make(length, seed, r => (float)(r.NextDouble() * 16 - 8), (r, i) => r.NextDouble() < 0.25 ? 1f : 0f);

    /// <summary>Probabilities σ(u), u in [−8, 8); targets as <see cref="Logits"/>.</summary>
    private static Dictionary<string, LossTensor> Probabilities(int length, int seed) =>
        Make(length, seed, r => (float)(1 / (1 + Math.Exp(-(r.NextDouble() * 16 - 8)))), (r, i) => (i % 3) switch { 0 => 0f, 1 => 1f, _ => (float)r.NextDouble() });

    /// <summary>Logits in [−8, 8); targets mostly 0, one in four an IoU score in (0, 1] (quality and varifocal targets).</summary>
    private static Dictionary<string, LossTensor> Scores(int length, int seed) =>
        Make(length, seed, r => (float)(r.NextDouble() * 16 - 8), (r, i) => i % 4 == 0 ? (float)(1 - r.NextDouble()) : 0f);

    /// <summary>Scores in [−3, 3); targets ±1.</summary>
    private static Dictionary<string, LossTensor> SignedLabels(int length, int seed) =>
        Make(length, seed, r => (float)(r.NextDouble() * 6 - 3), (r, _) => r.Next(2) == 0 ? -1f : 1f);

    /// <summary>Distances in [0, 3); targets ±1.</summary>
    private static Dictionary<string, LossTensor> Distances(int length, int seed) =>
        Make(length, seed, r => (float)(r.NextDouble() * 3), (r, _) => r.Next(2) == 0 ? -1f : 1f);

    /// <summary>Log-probabilities ln u, u in (0, 1]; targets probabilities, one in five exactly 0.</summary>
    private static Dictionary<string, LossTensor> LogProbabilities(int length, int seed) =>
        Make(length, seed, r => (float)Math.Log(1 - r.NextDouble()), (r, i) => i % 5 == 0 ? 0f : (float)r.NextDouble());

    /// <summary>
    /// About <paramref name="length"/> logits as [N, C]: C = 32,000 from 128,000 elements up (the report's [4096, 32000]),
    /// else C ≈ √length; logits in [−6, 6), targets uniform over the classes, every tenth row ignored (−100).
    /// </summary>
    private static Dictionary<string, LossTensor> CrossEntropySample(int length, int seed)
    {
        int classes = length >= 4 * CrossEntropyReportClasses ? CrossEntropyReportClasses : Math.Max(1, (int)Math.Sqrt(length));
        int rows = length / classes;
        var random = new Random(seed);
        var logits = new float[rows * classes];
        for (int i = 0; i < logits.Length; i++)
            logits[i] = (float)(random.NextDouble() * 12 - 6);
        var target = new long[rows];
        for (int r = 0; r < rows; r++)
            target[r] = r % 10 == 9 ? ClassTargets.DefaultIgnoreIndex : random.Next(classes);
        return new() { ["input"] = LossTensor.FromFloats(logits, rows, classes), ["target"] = LossTensor.FromIntegers(target, rows) };
    }

    /// <summary>[N, 17] logits (GFL's reg_max 16), labels in [0, 16] with every seventh a whole number and every eleventh exactly 16.</summary>
    private static Dictionary<string, LossTensor> DistributionSample(int length, int seed)
    {
        const int Bins = 17;
        int rows = length / Bins;
        var random = new Random(seed);
        var logits = new float[rows * Bins];
        for (int i = 0; i < logits.Length; i++)
            logits[i] = (float)(random.NextDouble() * 8 - 4);
        var label = new float[rows];
        for (int r = 0; r < rows; r++)
            label[r] = r % 11 == 10 ? Bins - 1 : r % 7 == 6 ? random.Next(Bins) : (float)(random.NextDouble() * (Bins - 1));
        return new() { ["input"] = LossTensor.FromFloats(logits, rows, Bins), ["target"] = LossTensor.FromFloats(label, rows) };
    }

    /// <summary>[N, 100] scores in [−2, 2) (margins near every hinge), targets uniform over the classes.</summary>
    private static Dictionary<string, LossTensor> MarginSample(int length, int seed)
    {
        int classes = Math.Max(1, Math.Min(100, length));
        int rows = length / classes;
        var random = new Random(seed);
        var scores = new float[rows * classes];
        for (int i = 0; i < scores.Length; i++)
            scores[i] = (float)(random.NextDouble() * 4 - 2);
        var target = new long[rows];
        for (int r = 0; r < rows; r++)
            target[r] = random.Next(classes);
        return new() { ["input"] = LossTensor.FromFloats(scores, rows, classes), ["target"] = LossTensor.FromIntegers(target, rows) };
    }

    private static Dictionary<string, LossTensor> Make(int length, int seed, Func<Random, float> input, Func<Random, int, float> target)
    {
        var random = new Random(seed);
        var x = new float[length];
        var t = new float[length];
        for (int i = 0; i < length; i++)
        {
            x[i] = input(random);
            t[i] = target(random, i);
        }

        return new() { ["input"] = LossTensor.FromFloats(x, length), ["target"] = LossTensor.FromFloats(t, length) };
    }
}
