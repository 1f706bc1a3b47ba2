using System.Globalization;
using LossKernels.Catalog;
using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>
/// The feature-space and generative losses in float64 on their catalog inputs: the value (a scalar, or one per image, row or element for
/// <c>"none"</c>) and the first input's gradient.
/// </summary>
public static class ReferenceGenerativeLosses
{
    /// <summary>The catalog loss <paramref name="loss"/>; the upstream is a scalar (reduced) or one per loss value (none), null for 1.</summary>
    public static ReferenceResult Compute(string loss, IReadOnlyDictionary<string, object?> parameters, IReadOnlyDictionary<string, LossTensor> inputs,
        double[]? upstream = null)
    {
        var p = new Parameters(parameters);
        return loss switch
        {
            "total_variation_loss" => TotalVariation(p, inputs["input"], upstream),
            "gan_loss" => Gan(p, inputs["input"].RequireFloats("input"), upstream),
            "relativistic_gan_loss" => Relativistic(p, inputs, upstream?[0] ?? 1d),
            "cycle_consistency_loss" => Cycle(p, inputs, upstream?[0] ?? 1d),
            "gradient_penalty" => Penalty(p, inputs["input"], upstream),
            "feature_reconstruction_loss" => FeatureReconstruction(p, inputs["input"], inputs["target"], upstream?[0] ?? 1d),
            "gram_style_loss" => GramStyle(p, inputs, upstream?[0] ?? 1d),
            "content_style_loss" => ContentStyle(p, inputs, upstream?[0] ?? 1d),
            "topology_aware_loss" => TopologyAware(p, inputs, upstream?[0] ?? 1d),
            _ => throw new ArgumentException($"No generative reference for '{loss}'.", nameof(loss)),
        };
    }

    private static ReferenceResult TotalVariation(Parameters p, LossTensor x, double[]? upstream)
    {
        var options = new TotalVariationLoss(Enum.Parse<TotalVariationNorm>(p.Text("norm", "anisotropic"), ignoreCase: true), (float)p.Number("eps", 1e-8),
            (float)p.Number("beta", 2));
        int[] shape = x.Shape.Length == 3 ? [1, .. x.Shape] : x.Shape;
        string reduction = p.Text("reduction", "mean");
        int images = shape[0];
        Func<int, double> scale = reduction switch
        {
            "none" => n => upstream?[n] ?? 1d,
            "sum" => _ => upstream?[0] ?? 1d,
            _ => _ => (upstream?[0] ?? 1d) / images,
        };
        (double[] values, double[] gradient) = ReferenceTotalVariation.Evaluate(options, x.RequireFloats("input"), images, shape[1], shape[2], shape[3], scale);
        double[] value = reduction == "none" ? (x.Shape.Length == 3 ? [values[0]] : values) : [reduction == "sum" ? values.Sum() : values.Average()];
        return new ReferenceResult(value, gradient);
    }

    private static ReferenceResult Gan(Parameters p, float[] logits, double[]? upstream)
    {
        var gan = new GanLoss(p.GanType(), p.Flag("target_is_real", true), p.Flag("is_disc", false), (float)p.Number("real_label_val", 1),
            (float)p.Number("fake_label_val", 0), (float)p.Number("loss_weight", 1));
        Reduction reduction = Enum.Parse<Reduction>(p.Text("reduction", "mean"), ignoreCase: true);
        double[] up = upstream ?? (reduction == Reduction.None ? Enumerable.Repeat(1d, logits.Length).ToArray() : [1d]);
        (double[] values, double[] gradient) = ReferenceGan.Evaluate(gan, logits, reduction, up);
        return new ReferenceResult(values, gradient);
    }

    private static ReferenceResult Relativistic(Parameters p, IReadOnlyDictionary<string, LossTensor> inputs, double upstream)
    {
        var loss = new RelativisticGanLoss(p.GanType(), p.Flag("is_disc", false), (float)p.Number("real_label_val", 1), (float)p.Number("fake_label_val", 0),
            (float)p.Number("loss_weight", 1), p.Flag("detach_means", false));
        (double real, double fake, double[] realGrad, _) = ReferenceRelativisticGan.Evaluate(loss, inputs["real_logits"].RequireFloats("real_logits"),
            inputs["fake_logits"].RequireFloats("fake_logits"), upstream);
        return new ReferenceResult([real + fake], realGrad);
    }

    private static ReferenceResult Cycle(Parameters p, IReadOnlyDictionary<string, LossTensor> inputs, double upstream)
    {
        var cycle = new CycleConsistencyLoss((float)p.Number("lambda_a", 10), (float)p.Number("lambda_b", 10), (float)p.Number("lambda_identity", 0.5));
        float[]? Image(string name) => inputs.GetValueOrDefault(name)?.RequireFloats(name);
        (double[] terms, double[][] gradients) = ReferenceCycleConsistency.Evaluate(cycle, Image("reconstruction_a")!, Image("real_a")!,
            Image("reconstruction_b")!, Image("real_b")!, Image("identity_a"), Image("identity_b"), upstream);
        return new ReferenceResult([terms.Sum()], gradients[0]);
    }

    private static ReferenceResult Penalty(Parameters p, LossTensor g, double[]? upstream)
    {
        var penalty = new GradientPenaltyLoss(p.Text("penalty", "wgan_gp") == "r1" ? GradientPenaltyKind.R1 : GradientPenaltyKind.WganGp, (float)p.Number("gp_weight", 10));
        int batch = g.Shape[0];
        string reduction = p.Text("reduction", "mean");
        (double[] rows, double[] gradient) = ReferenceGradientPenalty.Evaluate(penalty, g.RequireFloats("input"), batch, reduction switch
        {
            "none" => b => upstream?[b] ?? 1d,
            "sum" => _ => upstream?[0] ?? 1d,
            _ => _ => (upstream?[0] ?? 1d) / batch,
        });
        return new ReferenceResult(reduction == "none" ? rows : [reduction == "sum" ? rows.Sum() : rows.Average()], gradient);
    }

    /// <summary>The mean over images of Σ|d|^p/(C·H·W) is the mean over all elements; the sum over images is that times N.</summary>
    private static ReferenceResult FeatureReconstruction(Parameters p, LossTensor input, LossTensor target, double upstream)
    {
        float[] x = input.RequireFloats("input"), t = target.RequireFloats("target");
        bool l1 = p.Number("p", 2) == 1;
        double scale = (p.Text("reduction", "mean") == "sum" ? input.Shape[0] : 1d) / Math.Max(1, x.Length), total = 0;
        var gradient = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double d = (double)x[i] - t[i];
            total += l1 ? Math.Abs(d) : d * d;
            gradient[i] = upstream * scale * (l1 ? Math.Sign(d) : 2 * d);
        }

        return new ReferenceResult([total * scale], gradient);
    }

    /// <summary>Against the style's Gram (<c>target_gram</c>) or its features (<c>target</c>, their Gram in float64 too).</summary>
    private static ReferenceResult GramStyle(Parameters p, IReadOnlyDictionary<string, LossTensor> inputs, double upstream)
    {
        GramNormalization normalization = p.Text("normalization", "johnson") == "gatys" ? GramNormalization.Gatys : GramNormalization.Johnson;
        LossTensor x = inputs["input"];
        int images = x.Shape[0], channels = x.Shape[1];
        float[] target = inputs.TryGetValue("target_gram", out LossTensor? gram)
            ? gram.RequireFloats("target_gram")
            : Array.ConvertAll(ReferenceGramStyle.Gram(normalization, inputs["target"].RequireFloats("target"), inputs["target"].Shape[0], channels), v => (float)v);
        double scale = p.Text("reduction", "mean") == "sum" ? 1d : 1d / images;
        (double[] losses, double[] gradient) = ReferenceGramStyle.Evaluate(normalization, x.RequireFloats("input"), target, images, channels, _ => upstream * scale);
        return new ReferenceResult([losses.Sum() * scale], gradient);
    }

    /// <summary>
    /// α·content + β·style + γ·TV from the single-layer references: the features' gradient the content's and the style's added (the image's
    /// gradient is the total variation reference's, checked by the content-style tests).
    /// </summary>
    private static ReferenceResult ContentStyle(Parameters p, IReadOnlyDictionary<string, LossTensor> inputs, double upstream)
    {
        double alpha = p.Number("content_weight", 1), beta = p.Number("style_weight", 1), gamma = p.Number("tv_weight", 1);
        LossTensor x = inputs["input"];
        var gradient = new double[x.Length];
        double loss = 0;
        void Add(ReferenceResult part, double weight)
        {
            loss += weight * part.Loss[0];
            for (int i = 0; i < gradient.Length; i++)
                gradient[i] += part.InputGradient[i];
        }

        if (inputs.TryGetValue("content_target", out LossTensor? content))
            Add(FeatureReconstruction(p, x, content, upstream * alpha), alpha);
        if (inputs.TryGetValue("style_gram", out LossTensor? gram))
            Add(GramStyle(p, new Dictionary<string, LossTensor> { ["input"] = x, ["target_gram"] = gram }, upstream * beta), beta);
        if (inputs.TryGetValue("image", out LossTensor? image))
            loss += gamma * TotalVariation(p, image, null).Loss[0];
        return new ReferenceResult([loss], gradient);
    }

    /// <summary>
    /// BCE with logits (the mean over pixels or the sum) + μ·the features' squared norm per image (or its mean over C·H·W) over images; the
    /// logits' gradient (the features' is the feature reconstruction reference's, checked by the topology-aware tests).
    /// </summary>
    private static ReferenceResult TopologyAware(Parameters p, IReadOnlyDictionary<string, LossTensor> inputs, double upstream)
    {
        float[] x = inputs["input"].RequireFloats("input"), m = inputs["target"].RequireFloats("target");
        double scale = p.Text("reduction", "mean") == "sum" ? 1d : 1d / x.Length, bce = 0;
        var gradient = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double logit = x[i];
            bce += Math.Max(logit, 0) - logit * m[i] + Math.Log(1 + Math.Exp(-Math.Abs(logit)));
            gradient[i] = upstream * scale * (1 / (1 + Math.Exp(-logit)) - m[i]);
        }

        LossTensor features = inputs["input_features"];
        double layer = FeatureReconstruction(p, features, inputs["target_features"], 1d).Loss[0];
        double perImageSum = p.Flag("feature_mean", false) ? 1d : (double)features.Length / features.Shape[0];
        return new ReferenceResult([bce * scale + p.Number("mu", 1) * layer * perImageSum], gradient);
    }

    /// <summary>The catalog parameters with their defaults.</summary>
    private readonly struct Parameters(IReadOnlyDictionary<string, object?> values)
    {
        public string Text(string name, string fallback) => values.TryGetValue(name, out object? v) && v is string text ? text : fallback;

        public double Number(string name, double fallback) =>
            values.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v, CultureInfo.InvariantCulture) : fallback;

        public bool Flag(string name, bool fallback) => values.TryGetValue(name, out object? v) && v is bool flag ? flag : fallback;

        /// <summary><c>gan_type</c> by its catalog name.</summary>
        public GanType GanType() => Text("gan_type", "vanilla") switch
        {
            "lsgan" => LossKernels.Generative.GanType.LeastSquares,
            "wgan" => LossKernels.Generative.GanType.Wasserstein,
            "wgan_softplus" => LossKernels.Generative.GanType.WassersteinSoftplus,
            "hinge" => LossKernels.Generative.GanType.Hinge,
            "minimax" => LossKernels.Generative.GanType.Minimax,
            _ => LossKernels.Generative.GanType.Vanilla,
        };
    }
}
