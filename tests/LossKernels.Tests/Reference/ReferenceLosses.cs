namespace LossKernels.Tests.Reference;

/// <summary>A loss and its input gradient in float64: one value when reduced, one per element for 'none'; box losses add the target gradient.</summary>
public sealed record ReferenceResult(double[] Loss, double[] InputGradient)
{
    public double[]? TargetGradient { get; init; }
}

/// <summary>
/// The float64 reference of every catalog loss, written plainly (a loop per loss, no SIMD, no
/// shared code with the library), from the formulas of PyTorch and mmdetection. The tests compare
/// the kernels with it, and the quick report prints the largest relative error against it.
/// </summary>
public static class ReferenceLosses
{
    private const double Float32Epsilon = 1.1920928955078125e-07;

    /// <summary>Computes <paramref name="loss"/> with PyTorch-named <paramref name="parameters"/>; <paramref name="upstream"/> is null (1), one value, or one per element for 'none'.</summary>
    public static ReferenceResult Compute(string loss, IReadOnlyDictionary<string, object?> parameters, double[] input, double[] target, double[]? weight, double[]? upstream)
    {
        if (loss == "rmse")
            return Rmse(input, target, upstream?[0] ?? 1d);
        if (ReferenceBoxLosses.Names.Contains(loss))
            return ReferenceBoxLosses.Compute(loss, parameters, input, target, weight, upstream);
        if (loss == "fcos_centerness_loss")
            return CenternessLoss(parameters, input, target, weight, upstream);
        if (loss == "distribution_focal_loss")
            return ReferenceCrossEntropy.ComputeDistribution(input, target, weight, parameters.TryGetValue("reduction", out object? dr) && dr is string ds ? ds : "mean",
                parameters.TryGetValue("avg_factor", out object? af) && af is not null ? Convert.ToDouble(af) : null, upstream);
        if (loss == "softmax_focal_loss")
        {
            double Get(string name, double fallback) => parameters.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v) : fallback;
            return ReferenceCrossEntropy.ComputeSoftmaxFocal(input, Array.ConvertAll(target, t => (long)t), weight, (long)Get("ignore_index", -100), Get("alpha", 0.25),
                Get("gamma", 2), parameters.TryGetValue("reduction", out object? fr) && fr is string fs ? fs : "mean", upstream);
        }

        if (loss == "multi_margin_loss")
            return ReferenceCrossEntropy.ComputeMultiMargin(input, Array.ConvertAll(target, t => (long)t), weight,
                parameters.TryGetValue("p", out object? mp) && mp is not null ? Convert.ToInt32(mp) : 1,
                parameters.TryGetValue("margin", out object? mm) && mm is not null ? Convert.ToDouble(mm) : 1,
                parameters.TryGetValue("reduction", out object? mr) && mr is string ms ? ms : "mean", upstream);
        if (loss == "ghm_c")
            return ReferenceGhmc.Compute(input, target, weight, parameters.TryGetValue("bins", out object? gb) && gb is not null ? Convert.ToInt32(gb) : 10,
                parameters.TryGetValue("momentum", out object? gm) && gm is not null ? Convert.ToDouble(gm) : 0, null,
                parameters.TryGetValue("reduction", out object? gr) && gr is string gs ? gs : "mean", upstream);

        if (loss == "nll_loss")
            return ReferenceCrossEntropy.ComputeNll(input, Array.ConvertAll(target, t => (long)t), weight,
                parameters.TryGetValue("ignore_index", out object? i) && i is not null ? Convert.ToInt64(i) : -100,
                parameters.TryGetValue("reduction", out object? nr) && nr is string ns ? ns : "mean", upstream);
        if (loss == "cross_entropy")
        {
            double Param(string name, double fallback) => parameters.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v) : fallback;
            return ReferenceCrossEntropy.Compute(input, Array.ConvertAll(target, t => (long)t), weight, (long)Param("ignore_index", -100), Param("label_smoothing", 0),
                Param("lse_square_scale", 0), parameters.TryGetValue("reduction", out object? r) && r is string s ? s : "mean", upstream);
        }

        int n = input.Length;
        var values = new double[n];
        var slopes = new double[n];
        if (ReferenceClassificationLosses.Names.Contains(loss))
        {
            Func<double, double, (double Value, double Slope)> classification = ReferenceClassificationLosses.Element(loss, parameters);
            for (int i = 0; i < n; i++)
                (values[i], slopes[i]) = classification(input[i], target[i]);
            return WeightAndReduce(values, slopes, parameters, weight, upstream);
        }

        Func<double, (double Value, double Slope)> element = ElementFunction(loss, parameters);
        for (int i = 0; i < n; i++)
            (values[i], slopes[i]) = element(input[i] - target[i]);
        return WeightAndReduce(values, slopes, parameters, weight, upstream);
    }

    /// <summary>mmdetection's weight_reduce_loss on per-element values and slopes, and the gradient of upstream × the result.</summary>
    private static ReferenceResult WeightAndReduce(double[] values, double[] slopes, IReadOnlyDictionary<string, object?> parameters, double[]? weight, double[]? upstream)
    {
        string reduction = parameters.TryGetValue("reduction", out object? r) && r is string s ? s : "mean";
        double? avgFactor = parameters.TryGetValue("avg_factor", out object? a) && a is not null ? Convert.ToDouble(a) : null;
        int n = values.Length;
        var weighted = new double[n];
        var gradient = new double[n];
        for (int i = 0; i < n; i++)
        {
            double w = weight?[i] ?? 1d;
            weighted[i] = w * values[i];
            gradient[i] = w * slopes[i];
        }

        if (reduction == "none")
        {
            for (int i = 0; i < n; i++)
                gradient[i] *= upstream is null ? 1d : upstream.Length == 1 ? upstream[0] : upstream[i];
            return new ReferenceResult(weighted, gradient);
        }

        double sum = 0d;
        foreach (double value in weighted)
            sum += value;
        // 'batchmean' divides by the first dimension, which for the one-dimensional inputs of these tests is n.
        double divisor = reduction == "sum" ? 1d : avgFactor is double factor ? factor + Float32Epsilon : n;
        double scale = (upstream?[0] ?? 1d) / divisor;
        for (int i = 0; i < n; i++)
            gradient[i] *= scale;
        return new ReferenceResult([sum / divisor], gradient);
    }

    /// <summary>ℓ(d) and dℓ/dd for d = x − t, as PyTorch's kernels and autograd compute them (sign(0) = 0).</summary>
    private static Func<double, (double Value, double Slope)> ElementFunction(string loss, IReadOnlyDictionary<string, object?> p)
    {
        double Param(string name, double fallback) => p.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v) : fallback;
        switch (loss)
        {
            case "l1":
                return d => (Math.Abs(d), Math.Sign(d));
            case "mse":
                return d => (d * d, 2 * d);
            case "smooth_l1":
            {
                double beta = Param("beta", 1d);
                return d => (Math.Abs(d) < beta ? 0.5 * d * d / beta : Math.Abs(d) - 0.5 * beta, d <= -beta ? -1 : d >= beta ? 1 : d / beta);
            }
            case "huber":
            {
                double delta = Param("delta", 1d);
                return d => Math.Abs(d) < delta ? (0.5 * d * d, d) : (delta * (Math.Abs(d) - 0.5 * delta), delta * Math.Sign(d));
            }
            case "balanced_l1":
            {
                double alpha = Param("alpha", 0.5), gamma = Param("gamma", 1.5), beta = Param("beta", 1d);
                double b = Math.Exp(gamma / alpha) - 1;
                return d =>
                {
                    double a = Math.Abs(d);
                    if (a >= beta)
                        return (gamma * a + gamma / b - alpha * beta, Math.Sign(d) * gamma);
                    double log = Math.Log(b * a / beta + 1);
                    double value = alpha / b * (b * a + 1) * log - alpha * a;
                    double slope = alpha * log + alpha * (b * a + 1) / (b * a + beta) - alpha;
                    return (value, Math.Sign(d) * slope);
                };
            }
            default:
                throw new ArgumentException($"No reference for '{loss}'.", nameof(loss));
        }
    }

    /// <summary>mmdetection's FCOS centerness target from (l, t, r, b), then BCE with logits, weighted and reduced as the others.</summary>
    private static ReferenceResult CenternessLoss(IReadOnlyDictionary<string, object?> parameters, double[] logits, double[] ltrb, double[]? weight, double[]? upstream)
    {
        int n = logits.Length;
        var values = new double[n];
        var slopes = new double[n];
        for (int i = 0; i < n; i++)
        {
            double l = ltrb[4 * i], t = ltrb[4 * i + 1], right = ltrb[4 * i + 2], b = ltrb[4 * i + 3];
            double target = Math.Sqrt(Math.Min(l, right) / Math.Max(l, right) * (Math.Min(t, b) / Math.Max(t, b)));
            double x = logits[i];
            values[i] = Math.Max(x, 0) - x * target + Math.Log(1 + Math.Exp(-Math.Abs(x)));
            slopes[i] = 1 / (1 + Math.Exp(-x)) - target;
        }

        return WeightAndReduce(values, slopes, parameters, weight, upstream);
    }

    private static ReferenceResult Rmse(double[] input, double[] target, double upstream)
    {
        int n = input.Length;
        double sum = 0d;
        for (int i = 0; i < n; i++)
            sum += (input[i] - target[i]) * (input[i] - target[i]);
        double root = Math.Sqrt(sum / n);
        var gradient = new double[n];
        for (int i = 0; i < n; i++)
            gradient[i] = root == 0 ? 0 : upstream * (input[i] - target[i]) / (n * root);
        return new ReferenceResult([root], gradient);
    }
}
