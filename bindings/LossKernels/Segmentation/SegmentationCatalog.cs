using LossKernels.Catalog;

namespace LossKernels.Segmentation;

/// <summary>The segmentation family's rows of the <see cref="LossCatalog"/>.</summary>
internal static class SegmentationCatalog
{
    /// <summary>The quick report's shape: a Pascal VOC batch, [8, 21, 256, 256].</summary>
    private const int ReportBatch = 8, ReportClasses = 21, ReportSide = 256;

    private static readonly string[] OptionNames = ["mode", "from_logits", "per_image", "ignore_index"];

    public static readonly LossDefinition[] Rows =
    [
        Row("dice_loss", "mean_c w_c·(1 − (2Σpt + s)/max(Σp + Σt + s, eps)), classes without target pixels 0", "smp DiceLoss (+ MONAI's squared_pred, batch=False, weight)",
            (p, o) => new DiceLoss(o, p.Float("smooth", 0f), p.Float("eps", 1e-7f), p.Bool("log_loss", false), p.Bool("squared", false)),
            "smooth", "eps", "log_loss", "squared"),
        Row("tversky_loss", "(mean_c w_c·(1 − (TP + s)/max(TP + α·FP + β·FN + s, eps)))^γ", "smp TverskyLoss",
            (p, o) => new TverskyLoss(o, p.Float("alpha", 0.5f), p.Float("beta", 0.5f), p.Float("gamma", 1f), p.Float("smooth", 0f), p.Float("eps", 1e-7f)),
            "alpha", "beta", "gamma", "smooth", "eps"),
        Row("focal_tversky_loss", "mean_c w_c·(1 − T_c)^(1/γ), T_c the Tversky index", "Abraham & Khan 2019",
            (p, o) => new FocalTverskyLoss(o, p.Float("alpha", 0.7f), p.Float("beta", 0.3f), p.Float("gamma", 4f / 3f), p.Float("smooth", 0f), p.Float("eps", 1e-7f)),
            "alpha", "beta", "gamma", "smooth", "eps"),
        Row("generalized_dice_loss", "1 − (2Σ_c w_c·Σpt + s_nr)/(Σ_c w_c·Σ(p + t) + s_dr), w_c = 1/(Σt)²", "MONAI GeneralizedDiceLoss",
            (p, o) => new GeneralizedDiceLoss(o, WeightType(p.String("weight_type", "square")), p.Float("smooth_nr", 1e-5f), p.Float("smooth_dr", 1e-5f)),
            "weight_type", "smooth_nr", "smooth_dr"),
        new LossDefinition("lovasz_softmax_loss", "segmentation", "mean_{g, c present} Σ_r |t − p|_(r)·(J_r − J_{r−1}), errors sorted down, J the Jaccard loss of the first r",
            "smp LovaszLoss(mode='multiclass') (lovasz_softmax on softmax probabilities, classes='present')", ["input", "target"], [],
            ["from_logits", "per_image", "ignore_index"], ReportBatch * ReportClasses * ReportSide * ReportSide,
            (p, inputs, upstream, device) => new LovaszBoundLoss(new LovaszSoftmaxLoss(p.Bool("from_logits", true), p.Bool("per_image", false), p.OptionalInteger("ignore_index")).Options,
                false, inputs, upstream, device), Sample),
        new LossDefinition("lovasz_hinge_loss", "segmentation", "mean_g Σ_r relu(1 − x·(2t − 1))_(r)·(J_r − J_{r−1}) over every element of the group",
            "smp LovaszLoss(mode='binary' or 'multilabel') (lovasz_hinge)", ["input", "target"], [], ["mode", "per_image", "ignore_index"], 2 * 1024 * 1024,
            (p, inputs, upstream, device) => new LovaszBoundLoss(HingeOptions(p), true, inputs, upstream, device), BinarySample),
        new LossDefinition("pixel_weighted_cross_entropy", "segmentation", "w_i·c_y·(lse_i − x_{i,y}) per position of [N, C, d…], mean over the positions kept",
            "U-Net's weighted cross entropy: (w * F.cross_entropy(x, y, reduction='none')).sum() / kept", ["input", "target", "pixel_weight"], ["weight"],
            ["ignore_index", "reduction", "avg_factor"], ReportBatch * ReportClasses * ReportSide * ReportSide,
            (p, inputs, upstream, device) => new PixelWeightedCrossEntropyBoundLoss(p, inputs, upstream, device), WeightedSample),
    ];

    private static LossDefinition Row<TLoss>(string name, string formula, string equivalent, Func<LossParameters, OverlapOptions, TLoss> create, params string[] parameters)
        where TLoss : struct, IOverlapLoss =>
        new(name, "segmentation", formula, equivalent, ["input", "target"], ["weight"], [.. parameters, .. OptionNames],
            ReportBatch * ReportClasses * ReportSide * ReportSide,
            (p, inputs, upstream, device) => new OverlapBoundLoss<TLoss>(create(p, Options(p)), inputs, upstream, device), Sample);

    /// <summary>The options every overlap loss reads: <c>mode</c> ("multiclass", "multilabel", "binary"), <c>from_logits</c>, <c>per_image</c>, <c>ignore_index</c>.</summary>
    private static OverlapOptions Options(LossParameters parameters)
    {
        SegmentationMode mode = parameters.String("mode", "multiclass") switch
        {
            "multiclass" => SegmentationMode.Multiclass,
            "multilabel" => SegmentationMode.Multilabel,
            "binary" => SegmentationMode.Binary,
            var other => throw new ArgumentException($"Parameter 'mode' must be 'multiclass', 'multilabel' or 'binary', got '{other}'.", "mode"),
        };
        return new OverlapOptions(mode, parameters.Bool("from_logits", true), parameters.Bool("per_image", false), parameters.OptionalInteger("ignore_index"));
    }

    /// <summary>The Lovász hinge's options: <c>mode</c> ("binary" or "multilabel"), <c>per_image</c>, <c>ignore_index</c>.</summary>
    private static OverlapOptions HingeOptions(LossParameters parameters)
    {
        SegmentationMode mode = parameters.String("mode", "binary") switch
        {
            "binary" => SegmentationMode.Binary,
            "multilabel" => SegmentationMode.Multilabel,
            var other => throw new ArgumentException($"Parameter 'mode' must be 'binary' or 'multilabel', got '{other}'.", "mode"),
        };
        return new LovaszHingeLoss(parameters.Bool("per_image", false), parameters.OptionalInteger("ignore_index"), mode).Options;
    }

    private static GeneralizedDiceWeight WeightType(string name) => name switch
    {
        "square" => GeneralizedDiceWeight.Square,
        "simple" => GeneralizedDiceWeight.Simple,
        "uniform" => GeneralizedDiceWeight.Uniform,
        _ => throw new ArgumentException($"Parameter 'weight_type' must be 'square', 'simple' or 'uniform', got '{name}'.", "weight_type"),
    };

    /// <summary>The multiclass sample with a U-Net weight map in [0.5, 3.5) per position.</summary>
    private static Dictionary<string, LossTensor> WeightedSample(int length, int seed)
    {
        Dictionary<string, LossTensor> inputs = Sample(length, seed);
        LossTensor target = inputs["target"];
        var random = new Random(seed + 1);
        var weights = new float[target.Length];
        for (int i = 0; i < weights.Length; i++)
            weights[i] = (float)(0.5 + random.NextDouble() * 3);
        inputs["pixel_weight"] = LossTensor.FromFloats(weights, target.Shape);
        return inputs;
    }

    /// <summary>Binary samples of about <paramref name="length"/> elements: [N, 1, H, W] logits in [−4, 4] and masks of about 30 % foreground ([2, 1, 1024, 1024] at the report's size).</summary>
    private static Dictionary<string, LossTensor> BinarySample(int length, int seed)
    {
        var random = new Random(seed);
        int batch = length >= 2 * 1024 * 1024 ? 2 : 1, spatial = Math.Max(1, length / batch);
        var input = new float[batch * spatial];
        var target = new float[batch * spatial];
        for (int i = 0; i < input.Length; i++)
        {
            input[i] = (float)(random.NextDouble() * 8 - 4);
            target[i] = random.NextDouble() < 0.3 ? 1f : 0f;
        }

        return new Dictionary<string, LossTensor>
        {
            ["input"] = LossTensor.FromFloats(input, batch, 1, spatial),
            ["target"] = LossTensor.FromFloats(target, batch, 1, spatial),
        };
    }

    /// <summary>
    /// Multiclass samples of about <paramref name="length"/> input elements: [N, 21, H, W] logits in [−4, 4] and class indices
    /// in which class 20 is absent, so that the absent-class rule runs too.
    /// </summary>
    private static Dictionary<string, LossTensor> Sample(int length, int seed)
    {
        var random = new Random(seed);
        int batch = length >= ReportClasses * ReportSide * ReportSide ? Math.Max(1, length / (ReportClasses * ReportSide * ReportSide)) : 1;
        int spatial = Math.Max(1, (length + batch * ReportClasses - 1) / (batch * ReportClasses));
        var input = new float[batch * ReportClasses * spatial];
        for (int i = 0; i < input.Length; i++)
            input[i] = (float)(random.NextDouble() * 8 - 4);
        var target = new long[batch * spatial];
        for (int i = 0; i < target.Length; i++)
            target[i] = random.Next(ReportClasses - 1);
        return new Dictionary<string, LossTensor>
        {
            ["input"] = LossTensor.FromFloats(input, batch, ReportClasses, spatial),
            ["target"] = LossTensor.FromIntegers(target, batch, spatial),
        };
    }
}
