using LossKernels.Catalog;
using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>The feature-space and generative losses in float64 on their catalog inputs: the value (a scalar, or one per image) and the input's gradient.</summary>
public static class ReferenceGenerativeLosses
{
    /// <summary>The catalog loss <paramref name="loss"/>; the upstream is a scalar (reduced) or one per loss value (none), null for 1.</summary>
    public static ReferenceResult Compute(string loss, IReadOnlyDictionary<string, object?> parameters, IReadOnlyDictionary<string, LossTensor> inputs,
        double[]? upstream = null)
    {
        string Text(string name, string fallback) => parameters.TryGetValue(name, out object? v) && v is string text ? text : fallback;
        double Number(string name, double fallback) =>
            parameters.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
        bool Flag(string name, bool fallback) => parameters.TryGetValue(name, out object? v) && v is bool flag ? flag : fallback;
        if (loss == "gan_loss")
        {
            GanType type = Text("gan_type", "vanilla") switch
            {
                "lsgan" => GanType.LeastSquares,
                "wgan" => GanType.Wasserstein,
                "wgan_softplus" => GanType.WassersteinSoftplus,
                "hinge" => GanType.Hinge,
                "minimax" => GanType.Minimax,
                _ => GanType.Vanilla,
            };
            var gan = new GanLoss(type, Flag("target_is_real", true), Flag("is_disc", false), (float)Number("real_label_val", 1), (float)Number("fake_label_val", 0),
                (float)Number("loss_weight", 1));
            float[] logits = inputs["input"].RequireFloats("input");
            Reduction ganReduction = Enum.Parse<Reduction>(Text("reduction", "mean"), ignoreCase: true);
            double[] up = upstream ?? (ganReduction == Reduction.None ? Enumerable.Repeat(1d, logits.Length).ToArray() : [1d]);
            (double[] ganValues, double[] ganGradient) = ReferenceGan.Evaluate(gan, logits, ganReduction, up);
            return new ReferenceResult(ganValues, ganGradient);
        }

        if (loss == "cycle_consistency_loss")
        {
            var cycle = new CycleConsistencyLoss((float)Number("lambda_a", 10), (float)Number("lambda_b", 10), (float)Number("lambda_identity", 0.5));
            float[]? Image(string name) => inputs.GetValueOrDefault(name)?.RequireFloats(name);
            (double[] terms, double[][] gradients) = ReferenceCycleConsistency.Evaluate(cycle, Image("reconstruction_a")!, Image("real_a")!,
                Image("reconstruction_b")!, Image("real_b")!, Image("identity_a"), Image("identity_b"), upstream?[0] ?? 1d);
            return new ReferenceResult([terms.Sum()], gradients[0]);
        }

        if (loss == "gradient_penalty")
        {
            var penalty = new GradientPenaltyLoss(Text("penalty", "wgan_gp") == "r1" ? GradientPenaltyKind.R1 : GradientPenaltyKind.WganGp, (float)Number("gp_weight", 10));
            LossTensor g = inputs["input"];
            int batch = g.Shape[0];
            string penaltyReduction = Text("reduction", "mean");
            (double[] rowValues, double[] penaltyGradient) = ReferenceGradientPenalty.Evaluate(penalty, g.RequireFloats("input"), batch, penaltyReduction switch
            {
                "none" => b => upstream?[b] ?? 1d,
                "sum" => _ => upstream?[0] ?? 1d,
                _ => _ => (upstream?[0] ?? 1d) / batch,
            });
            double[] penaltyValue = penaltyReduction == "none" ? rowValues : [penaltyReduction == "sum" ? rowValues.Sum() : rowValues.Average()];
            return new ReferenceResult(penaltyValue, penaltyGradient);
        }

        if (loss != "total_variation_loss")
            throw new ArgumentException($"No generative reference for '{loss}'.", nameof(loss));
        var options = new TotalVariationLoss(Enum.Parse<TotalVariationNorm>(Text("norm", "anisotropic"), ignoreCase: true), (float)Number("eps", 1e-8),
            (float)Number("beta", 2));
        LossTensor x = inputs["input"];
        int[] shape = x.Shape.Length == 3 ? [1, .. x.Shape] : x.Shape;
        string reduction = Text("reduction", "mean");
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
}
