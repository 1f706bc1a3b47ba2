namespace LossKernels.Tests.Reference;

/// <summary>
/// The float64 reference of the elementwise classification losses: ℓ(x, t) and ∂ℓ/∂x written plainly from the
/// formulas of PyTorch, torchvision and mmdetection, with the limits the library documents (a focal term whose
/// factor is 0 contributes 0 to the gradient).
/// </summary>
public static class ReferenceClassificationLosses
{
    public static readonly string[] Names =
    [
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "balanced_binary_cross_entropy", "sigmoid_focal_loss",
        "quality_focal_loss", "varifocal_loss", "hinge_loss", "hinge_embedding_loss", "kl_div", "zero_one_loss",
    ];

    /// <summary>ℓ(x, t) and ∂ℓ/∂x of <paramref name="loss"/> with PyTorch-named parameters.</summary>
    public static Func<double, double, (double Value, double Slope)> Element(string loss, IReadOnlyDictionary<string, object?> p)
    {
        double Param(string name, double fallback) => p.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v) : fallback;
        bool Flag(string name, bool fallback) => p.TryGetValue(name, out object? v) && v is bool b ? b : fallback;
        switch (loss)
        {
            case "binary_cross_entropy":
                return (x, t) => (-(t * Math.Max(Math.Log(x), -100) + (1 - t) * Math.Max(Math.Log(1 - x), -100)), (x - t) / Math.Max(x * (1 - x), 1e-12));
            case "binary_cross_entropy_with_logits":
            {
                double posWeight = Param("pos_weight", 1);
                return (x, t) =>
                {
                    double c = 1 + (posWeight - 1) * t;
                    return ((1 - t) * x + c * Softplus(-x), (1 - t) - c * Sigmoid(-x));
                };
            }

            case "balanced_binary_cross_entropy":
            {
                double alpha = Param("alpha", 0.25);
                return (x, t) => (alpha * t * Softplus(-x) + (1 - alpha) * (1 - t) * Softplus(x), (1 - alpha) * (1 - t) * Sigmoid(x) - alpha * t * Sigmoid(-x));
            }

            case "sigmoid_focal_loss":
            {
                double alpha = Param("alpha", 0.25), gamma = Param("gamma", 2);
                return (x, t) =>
                {
                    double p = Sigmoid(x), q = Sigmoid(-x), ce = CrossEntropy(x, t);
                    double m = t * q + (1 - t) * p;
                    double alphaT = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1;
                    double focusing = m > 0 ? gamma * ce * Math.Pow(m, gamma - 1) * p * q * (1 - 2 * t) : 0;
                    return (alphaT * ce * Math.Pow(m, gamma), alphaT * ((p - t) * Math.Pow(m, gamma) + focusing));
                };
            }

            case "quality_focal_loss":
            {
                double beta = Param("beta", 2);
                return (x, t) =>
                {
                    double p = Sigmoid(x), q = Sigmoid(-x), ce = CrossEntropy(x, t), d = p - t, a = Math.Abs(d);
                    double focusing = a > 0 ? beta * ce * p * q * Math.Pow(a, beta - 1) * Math.Sign(d) : 0;
                    return (ce * Math.Pow(a, beta), d * Math.Pow(a, beta) + focusing);
                };
            }

            case "varifocal_loss":
            {
                double alpha = Param("alpha", 0.75), gamma = Param("gamma", 2);
                bool iouWeighted = Flag("iou_weighted", true);
                return (x, t) =>
                {
                    double p = Sigmoid(x), q = Sigmoid(-x), ce = CrossEntropy(x, t), d = p - t, a = Math.Abs(d);
                    double weight = t > 0 ? (iouWeighted ? t : 1) : alpha * Math.Pow(a, gamma);
                    double focusing = t <= 0 && a > 0 ? alpha * gamma * ce * Math.Pow(a, gamma - 1) * p * q * Math.Sign(d) : 0;
                    return (ce * weight, d * weight + focusing);
                };
            }

            case "hinge_loss":
            {
                double margin = Param("margin", 1);
                return (x, t) =>
                {
                    double v = margin - t * x;
                    return double.IsNaN(v) ? (v, v) : v >= 0 ? (v, -t) : (0, 0);
                };
            }

            case "hinge_embedding_loss":
            {
                double margin = Param("margin", 1);
                return (x, t) =>
                {
                    double v = margin - x;
                    double hinge = double.IsNaN(v) ? v : Math.Max(v, 0), hingeSlope = double.IsNaN(v) ? v : v >= 0 ? -1 : 0;
                    return ((t != -1 ? x : 0) + (t != 1 ? hinge : 0), (t != -1 ? 1 : 0) + (t != 1 ? hingeSlope : 0));
                };
            }

            case "kl_div":
                return Flag("log_target", false)
                    ? (x, t) => (Math.Exp(t) * (t - x), -Math.Exp(t))
                    : (x, t) => ((t == 0 ? 0 : t * Math.Log(t)) - t * x, -t);
            case "zero_one_loss":
                return (x, t) => (double.IsNaN(x) ? x : (x > 0) != (t > 0) ? 1 : 0, 0);
            default:
                throw new ArgumentException($"No classification reference for '{loss}'.", nameof(loss));
        }
    }

    private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>ln(1 + e^x) without overflow.</summary>
    private static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    private static double CrossEntropy(double x, double t) => Math.Max(x, 0) - x * t + Math.Log(1 + Math.Exp(-Math.Abs(x)));
}
