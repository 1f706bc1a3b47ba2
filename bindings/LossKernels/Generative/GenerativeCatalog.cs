using LossKernels.Catalog;
using LossKernels.Embedding;

namespace LossKernels.Generative;

/// <summary>The catalog rows of the feature-space and generative losses.</summary>
internal static class GenerativeCatalog
{
    /// <summary>The quick report's full shape: [4, 4, 1024, 1024], 16M elements.</summary>
    private const int ReportImages = 4, ReportChannels = 4, ReportSide = 1024;

    public static readonly LossDefinition[] Rows =
    [
        new LossDefinition("feature_reconstruction_loss", "generative", "per image of [N, …]: ‖φ(ŷ) − φ(y)‖_p^p/(C·H·W) (p = 2 or 1), the mean or sum over images",
            "Johnson et al.'s perceptual loss: F.mse_loss (p = 2) or F.l1_loss (p = 1) on one layer's features (BasicSR PerceptualLoss)", ["input", "target"], [],
            ["p", "reduction"], ElementwiseReportSize,
            (p, inputs, upstream, device) => new FeatureReconstructionBoundLoss(new FeatureReconstructionLoss(p.Int32("p", 2)), p, inputs, upstream, device),
            FeatureSample, ["mean", "sum"]),
        new LossDefinition("gram_style_loss", "generative",
            "per image of [N, C, …]: ‖G(ŷ) − A‖²_F, G = F·Fᵀ/(C·H·W) (johnson) or ‖F·Fᵀ − A‖²_F/(4·C²·(H·W)²) (gatys), the mean or sum over images",
            "Johnson's / Gatys's style loss: torch.bmm(F, F.transpose(1, 2)) against the style's Gram through autograd", ["input"], ["target", "target_gram"],
            ["normalization", "reduction"], 4 * 256 * 128 * 128,
            (p, inputs, upstream, device) => new GramStyleBoundLoss(CreateGram(p), p, inputs, upstream, device), GramSample, ["mean", "sum"]),
        new LossDefinition("content_style_loss", "generative",
            "α·‖φ(ŷ) − φ(y)‖_p^p/(C·H·W) + β·‖G(φ(ŷ)) − A‖²_F (johnson or gatys) + γ·TV(image), per image, the mean or sum over images; one layer both terms read",
            "Johnson's / Gatys's style transfer: content_weight·F.mse_loss + style_weight·Gram loss (torch.bmm) + tv_weight·kornia TotalVariation through autograd",
            ["input"], ["content_target", "style_gram", "image"],
            ["content_weight", "style_weight", "tv_weight", "p", "normalization", "norm", "eps", "beta", "reduction"], 4 * 128 * 128 * 128,
            (p, inputs, upstream, device) => new ContentStyleBoundLoss(CreateContentStyle(p), p, inputs, upstream, device), ContentStyleSample, ["mean", "sum"]),
        new LossDefinition("topology_aware_loss", "generative",
            "BCE-with-logits(x, m) + μ·‖φ(σ(x)) − φ(m)‖² per image (or its mean over C·H·W, feature_mean), the BCE's mean over pixels and the features' over images (or sums)",
            "Mosinska et al. 2018: F.binary_cross_entropy_with_logits + mu·Σ_l ((phi_l(sigmoid(x)) − phi_l(m))**2).sum()/N through autograd",
            ["input", "target", "input_features", "target_features"], [], ["mu", "feature_mean", "reduction"], ElementwiseReportSize,
            (p, inputs, upstream, device) => new TopologyAwareBoundLoss(new TopologyAwareLoss(p.Float("mu", 1f), p.Bool("feature_mean", false)), p, inputs, upstream,
                device), TopologySample, ["mean", "sum"]),
        new LossDefinition("total_variation_loss", "generative",
            "per image of [N, C, H, W]: Σ|Δx| + Σ|Δy| (anisotropic), Σ√(Δx² + Δy² + eps) (isotropic) or Σ(Δx² + Δy²)^(β/2)",
            "kornia TotalVariation (per image); the isotropic and β norms in PyTorch", ["input"], [], ["norm", "eps", "beta", "reduction"],
            ReportImages * ReportChannels * ReportSide * ReportSide,
            (p, inputs, upstream, device) => new TotalVariationBoundLoss(Create(p), p, inputs, upstream, device), Sample),
        new LossDefinition("gan_loss", "generative",
            "c·ℓ(x): BCE with logits to the label (vanilla), (x − y)² (lsgan), ∓x (wgan), softplus(∓x) (wgan_softplus), relu(1 ∓ x) or −x (hinge), −BCE(x, y_fake) (minimax generator)",
            "BasicSR GANLoss(gan_type, real_label_val, fake_label_val, loss_weight)(input, target_is_real, is_disc)", ["input"], [],
            ["gan_type", "target_is_real", "is_disc", "real_label_val", "fake_label_val", "loss_weight", "reduction"], ElementwiseReportSize, BindGan, GanSample),
        new LossDefinition("relativistic_gan_loss", "generative",
            "½·[mean ℓ(r − mean f; real) + mean ℓ(f − mean r; fake)] (discriminator; the generator's swaps real and fake), ℓ the gan_loss element",
            "ESRGAN's relativistic average GAN loss (BasicSR ESRGANModel with GANLoss)", ["real_logits", "fake_logits"], [],
            ["gan_type", "is_disc", "real_label_val", "fake_label_val", "loss_weight", "detach_means"], ElementwiseReportSize,
            (p, inputs, upstream, device) => new RelativisticGanBoundLoss(new RelativisticGanLoss(GanTypeOf(p), p.Bool("is_disc", false),
                p.Float("real_label_val", 1f), p.Float("fake_label_val", 0f), p.Float("loss_weight", 1f), p.Bool("detach_means", false)), inputs, upstream, device),
            RelativisticSample),
        new LossDefinition("cycle_consistency_loss", "generative",
            "λ_A·mean|rec_A − A| + λ_B·mean|rec_B − B| + λ_id·(λ_A·mean|idt_A − A| + λ_B·mean|idt_B − B|)",
            "CycleGAN backward_G's cycle and identity terms (L1Loss)", ["reconstruction_a", "real_a", "reconstruction_b", "real_b"], ["identity_a", "identity_b"],
            ["lambda_a", "lambda_b", "lambda_identity"], ElementwiseReportSize,
            (p, inputs, upstream, device) => new CycleConsistencyBoundLoss(
                new CycleConsistencyLoss(p.Float("lambda_a", 10f), p.Float("lambda_b", 10f), p.Float("lambda_identity", 0.5f)), inputs, upstream, device),
            CycleSample),
        new LossDefinition("gradient_penalty", "generative", "per row b of [B, …]: w·(‖g_b‖₂ − 1)² (wgan_gp) or w/2·‖g_b‖₂² (r1)",
            "WGAN-GP's ((g.norm(2, dim=1) − 1)²).mean()·λ; R1's γ/2·‖g‖² (StyleGAN2)", ["input"], [], ["penalty", "gp_weight", "reduction"], ElementwiseReportSize,
            (p, inputs, upstream, device) => new EmbeddingBoundLoss<GradientPenaltyLoss>(CreatePenalty(p), GradientPenaltyLoss.Names, false, p, inputs, upstream,
                device), PenaltySample),
    ];

    /// <summary><c>normalization</c>: "johnson" (the default) or "gatys".</summary>
    private static GramStyleLoss CreateGram(LossParameters p) => new(p.String("normalization", "johnson") switch
    {
        "johnson" => GramNormalization.Johnson,
        "gatys" => GramNormalization.Gatys,
        var other => throw new ArgumentException($"Parameter 'normalization' must be 'johnson' or 'gatys', got '{other}'.", "normalization"),
    });

    /// <summary>
    /// One layer's features [N, C, H·W] = [4, 256, 16384] at the report's 16M (a VGG relu3 layer of a 512² image, 128² by 256 channels;
    /// fewer images and channels below), ReLU-like (non-negative, a third zero), and the Gram of one style image's (sparser, wider) features
    /// [1, C, C], computed once as a caller keeps it.
    /// </summary>
    private static Dictionary<string, LossTensor> GramSample(int length, int seed)
    {
        var random = new Random(seed);
        int images = Math.Max(1, Math.Min(4, length / 4096));
        int perImage = Math.Max(1, length / images);
        int channels = Math.Clamp((int)Math.Sqrt(perImage), 1, 256), spatial = Math.Max(1, perImage / channels);
        float[] Features(int count, int zeroOneIn, double range) =>
            Enumerable.Range(0, count).Select(_ => random.Next(zeroOneIn) == 0 ? 0f : (float)(range * random.NextDouble())).ToArray();
        // The style's statistics differ from the prediction's (sparser, wider), as a style image's do at the start of a transfer.
        float[] x = Features(images * channels * spatial, 3, 2), style = Features(channels * spatial, 2, 3);
        var gram = new float[channels * channels];
        new GramStyleLoss().ComputeGram(style, 1, channels, gram);
        return new() { ["input"] = LossTensor.FromFloats(x, images, channels, spatial), ["target_gram"] = LossTensor.FromFloats(gram, 1, channels, channels) };
    }

    /// <summary>
    /// <c>content_weight</c>, <c>style_weight</c>, <c>tv_weight</c> (α, β, γ, each 1 by default) and the terms' options: the content's
    /// <c>p</c>, the style's <c>normalization</c>, the total variation's <c>norm</c>, <c>eps</c> and <c>beta</c>.
    /// </summary>
    private static ContentStyleLoss CreateContentStyle(LossParameters p) =>
        new(p.Float("content_weight", 1f), p.Float("style_weight", 1f), p.Float("tv_weight", 1f), new FeatureReconstructionLoss(p.Int32("p", 2)),
            CreateGram(p), Create(p));

    /// <summary>
    /// A style-transfer step's one layer that both terms read, four fifths of the length, as <see cref="GramSample"/> draws it (ReLU-like
    /// features and the Gram of a sparser, wider style; [4, 256, 6553] at the report's 8M floats), the content target near the features; and the
    /// generated image in the last fifth, as <see cref="Sample"/> draws it.
    /// </summary>
    private static Dictionary<string, LossTensor> ContentStyleSample(int length, int seed)
    {
        Dictionary<string, LossTensor> inputs = GramSample(Math.Max(1, length - length / 5), seed);
        LossTensor x = inputs["input"];
        float[] features = x.RequireFloats("input");
        var random = new Random(seed + 1);
        float[] content = Array.ConvertAll(features, v => random.Next(8) == 0 ? v : Math.Max(0f, v + (float)(random.NextDouble() - 0.5)));
        inputs["content_target"] = LossTensor.FromFloats(content, x.Shape);
        inputs["style_gram"] = inputs["target_gram"];
        inputs.Remove("target_gram");
        inputs["image"] = Sample(Math.Max(1, length / 5), seed + 2)["input"];
        return inputs;
    }

    /// <summary>
    /// A delineation step's mask logits [N, 1, H, W] (most in [−6, 6], a few ±30) and its thin-structure mask (0 or 1, a fifth ones), half of
    /// the length; and one layer's features of σ(logits) and of the mask, ReLU-like, the other half (as <see cref="FeatureSample"/> draws them).
    /// </summary>
    private static Dictionary<string, LossTensor> TopologySample(int length, int seed)
    {
        var random = new Random(seed);
        int images = Math.Max(1, Math.Min(4, length / 64)), plane = Math.Max(1, length / 2 / images);
        var logits = new float[images * plane];
        var mask = new float[logits.Length];
        for (int i = 0; i < logits.Length; i++)
        {
            mask[i] = random.Next(5) == 0 ? 1f : 0f;
            logits[i] = random.Next(64) == 0 ? (random.Next(2) == 0 ? -30f : 30f) : (float)(12 * random.NextDouble() - 6);
        }

        Dictionary<string, LossTensor> features = FeatureSample(Math.Max(images, length - logits.Length), seed + 1);
        return new()
        {
            ["input"] = LossTensor.FromFloats(logits, images, 1, plane), ["target"] = LossTensor.FromFloats(mask, images, 1, plane),
            ["input_features"] = features["input"], ["target_features"] = features["target"],
        };
    }

    /// <summary><c>penalty</c> ("wgan_gp", "r1") and <c>gp_weight</c> (10).</summary>
    private static GradientPenaltyLoss CreatePenalty(LossParameters p)
    {
        GradientPenaltyKind kind = p.String("penalty", "wgan_gp") switch
        {
            "wgan_gp" => GradientPenaltyKind.WganGp,
            "r1" => GradientPenaltyKind.R1,
            var other => throw new ArgumentException($"Parameter 'penalty' must be 'wgan_gp' or 'r1', got '{other}'.", "penalty"),
        };
        return new GradientPenaltyLoss(kind, p.Float("gp_weight", 10f));
    }

    /// <summary>
    /// A critic's gradients: up to 16 rows (a batch) of images' worth of values, of norms around 1 (where WGAN-GP's penalty changes sign
    /// of slope), a zero row where there are several.
    /// </summary>
    private static Dictionary<string, LossTensor> PenaltySample(int length, int seed)
    {
        var random = new Random(seed);
        int batch = Math.Max(1, Math.Min(16, length / 64));
        int dim = Math.Max(1, length / batch);
        var g = new float[batch * dim];
        float spread = 2f / MathF.Sqrt(dim);
        for (int i = 0; i < g.Length; i++)
            g[i] = batch > 2 && i / dim == 1 ? 0f : (float)((2 * random.NextDouble() - 1) * spread * (0.5 + i / dim % 3 * 0.5));
        return new() { ["input"] = LossTensor.FromFloats(g, batch, dim) };
    }

    /// <summary>One-stream elementwise losses run at 16,777,216 elements in the quick report.</summary>
    private const int ElementwiseReportSize = 1 << 24;

    /// <summary>
    /// <see cref="GanLoss"/>'s element math bound as an elementwise loss whose target is the input's own array (one upload, one stream
    /// read); <c>avg_factor</c>, which the elementwise binding would read, is not a parameter of this row.
    /// </summary>
    private static BoundLoss BindGan(LossParameters p, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
    {
        if (p.Has("avg_factor"))
            throw new ArgumentException("Loss 'gan_loss' has no parameter 'avg_factor'.", "avg_factor");
        var loss = new GanLoss(GanTypeOf(p), p.Bool("target_is_real", true), p.Bool("is_disc", false), p.Float("real_label_val", 1f), p.Float("fake_label_val", 0f),
            p.Float("loss_weight", 1f));
        var streams = new Dictionary<string, LossTensor> { ["input"] = inputs["input"], ["target"] = inputs["input"] };
        return loss.Dispatch<GanBinding, BoundLoss>(new GanBinding(p, streams, upstream, device));
    }

    /// <summary>
    /// One layer's features of [N, C, H, W] = [4, 256, 128, 128] at the report's 16M (fewer channels and sides below): a ReLU network's
    /// (non-negative, a third zero), the target's near them.
    /// </summary>
    private static Dictionary<string, LossTensor> FeatureSample(int length, int seed)
    {
        var random = new Random(seed);
        int images = Math.Max(1, Math.Min(4, length / 64));
        int perImage = Math.Max(1, length / images);
        var x = new float[images * perImage];
        var t = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = random.Next(3) == 0 ? 0f : (float)(2 * random.NextDouble());
            t[i] = random.Next(8) == 0 ? x[i] : Math.Max(0f, x[i] + (float)(random.NextDouble() - 0.5));
        }

        return new() { ["input"] = LossTensor.FromFloats(x, images, perImage), ["target"] = LossTensor.FromFloats(t, images, perImage) };
    }

    /// <summary><c>gan_type</c> by BasicSR's names ("vanilla" by default), and "minimax".</summary>
    private static GanType GanTypeOf(LossParameters p)
    {
        string type = p.String("gan_type", "vanilla");
        return type switch
        {
            "vanilla" => GanType.Vanilla,
            "lsgan" => GanType.LeastSquares,
            "wgan" => GanType.Wasserstein,
            "wgan_softplus" => GanType.WassersteinSoftplus,
            "hinge" => GanType.Hinge,
            "minimax" => GanType.Minimax,
            _ => throw new ArgumentException($"Parameter 'gan_type' must be 'vanilla', 'lsgan', 'wgan', 'wgan_softplus', 'hinge' or 'minimax', got '{type}'.", "gan_type"),
        };
    }

    /// <summary>A discriminator's logits for real data (centred near 2) and for fakes (near −1), half of <paramref name="length"/> each.</summary>
    private static Dictionary<string, LossTensor> RelativisticSample(int length, int seed)
    {
        var random = new Random(seed);
        int n = Math.Max(1, length / 2);
        float[] Logits(double centre) => Enumerable.Range(0, n).Select(_ => (float)(centre + 6 * random.NextDouble() - 3)).ToArray();
        return new() { ["real_logits"] = LossTensor.FromFloats(Logits(2), n), ["fake_logits"] = LossTensor.FromFloats(Logits(-1), n) };
    }

    /// <summary>Binds the GAN loss's element math of its form as an elementwise loss.</summary>
    private readonly struct GanBinding(LossParameters parameters, Dictionary<string, LossTensor> streams, LossTensor? upstream, LossDevice? device)
        : IGanCall<BoundLoss>
    {
        public BoundLoss Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss => new ElementwiseBoundLoss<TTerms>(terms, parameters, streams, upstream, device);
    }

    /// <summary>
    /// The four images of a CycleGAN step with identities, a quarter of <paramref name="length"/> each (4M floats, 16 MB, apiece at the report's
    /// 16M): images in [−1, 1] (a tanh generator's range), the generated ones near them.
    /// </summary>
    private static Dictionary<string, LossTensor> CycleSample(int length, int seed)
    {
        var random = new Random(seed);
        int n = Math.Max(1, length / 4);
        float[] Image() => Enumerable.Range(0, n).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
        float[] Near(float[] real) => Array.ConvertAll(real, v => random.Next(16) == 0 ? v : v + (float)(0.2 * random.NextDouble() - 0.1));
        float[] a = Image(), b = Image();
        return new()
        {
            ["reconstruction_a"] = LossTensor.FromFloats(Near(a), n), ["real_a"] = LossTensor.FromFloats(a, n),
            ["reconstruction_b"] = LossTensor.FromFloats(Near(b), n), ["real_b"] = LossTensor.FromFloats(b, n),
            ["identity_a"] = LossTensor.FromFloats(Near(a), n), ["identity_b"] = LossTensor.FromFloats(Near(b), n),
        };
    }

    /// <summary>Discriminator logits: most in [−6, 6], where every form's branches and the sigmoid's both halves are taken, and a few of ±30.</summary>
    private static Dictionary<string, LossTensor> GanSample(int length, int seed)
    {
        var random = new Random(seed);
        var x = new float[length];
        for (int i = 0; i < x.Length; i++)
            x[i] = random.Next(64) == 0 ? (random.Next(2) == 0 ? -30f : 30f) : (float)(12 * random.NextDouble() - 6);
        return new() { ["input"] = LossTensor.FromFloats(x, length) };
    }

    /// <summary><c>norm</c> ("anisotropic", "isotropic", "beta"), <c>eps</c> (1e-8), <c>beta</c> (2).</summary>
    private static TotalVariationLoss Create(LossParameters p)
    {
        TotalVariationNorm norm = p.String("norm", "anisotropic") switch
        {
            "anisotropic" => TotalVariationNorm.Anisotropic,
            "isotropic" => TotalVariationNorm.Isotropic,
            "beta" => TotalVariationNorm.Beta,
            var other => throw new ArgumentException($"Parameter 'norm' must be 'anisotropic', 'isotropic' or 'beta', got '{other}'.", "norm"),
        };
        return new TotalVariationLoss(norm, p.Float("eps", 1e-8f), p.Float("beta", 2f));
    }

    /// <summary>
    /// Images of <paramref name="length"/> elements (up to four of four channels, square planes where the length allows): a smooth ramp
    /// plus noise, and a share of equal neighbours (where |·|'s subgradient is taken).
    /// </summary>
    private static Dictionary<string, LossTensor> Sample(int length, int seed)
    {
        int images = Math.Max(1, Math.Min(ReportImages, length / 4096));
        int channels = Math.Max(1, Math.Min(ReportChannels, length / (images * 64)));
        int plane = Math.Max(1, length / (images * channels));
        int height = Math.Max(1, (int)Math.Sqrt(plane)), width = Math.Max(1, plane / height);
        var random = new Random(seed);
        var x = new float[images * channels * height * width];
        for (int i = 0; i < x.Length; i++)
            x[i] = random.Next(5) == 0 ? 0.25f : (float)(0.001 * (i % width) + random.NextDouble() - 0.5);
        return new() { ["input"] = LossTensor.FromFloats(x, images, channels, height, width) };
    }
}
