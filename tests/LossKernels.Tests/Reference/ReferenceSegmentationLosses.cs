using LossKernels.Catalog;

namespace LossKernels.Tests.Reference;

/// <summary>
/// One overlap-loss problem: an input [N, C, S], class indices [N, S] (multiclass) or float targets [N, C, S], the catalog
/// parameters (PyTorch names), optional class weights and a scalar upstream gradient.
/// </summary>
public sealed record SegmentationProblem(string Loss, Dictionary<string, object?> Parameters, float[] Input, long[]? Labels, float[]? Dense, int N, int C, int S,
    float[]? Weight, float Upstream = 1f)
{
    public string Mode => Parameters.TryGetValue("mode", out object? mode) && mode is string text ? text : "multiclass";

    public override string ToString() =>
        $"{Loss} {string.Join(",", Parameters.Select(p => $"{p.Key}={p.Value}"))} [{N},{C},{S}]{(Weight is null ? "" : " weighted")}{(Upstream != 1f ? $" upstream {Upstream}" : "")}";
}

/// <summary>
/// The overlap losses in float64, written plainly: probabilities (softmax or sigmoid per pixel), the ignore mask, per-class sums
/// over the batch or each image, the smp / MONAI / paper formula from the sums. The gradient is the chain rule written out: the
/// loss's derivative with respect to each sum by central differences of the formula (independent of the library's analytic
/// derivatives), then ∂I/∂p = t, ∂P/∂p = 1, ∂P₂/∂p = 2p, then the softmax Jacobian or σ'.
/// </summary>
public static class ReferenceSegmentationLosses
{
    private const int Sums = 5;

    /// <summary>The reference for catalog tensors: <c>input</c> [N, C, d…] and <c>target</c> (int64 class indices, or floats shaped like the input; with <c>pixel_weight</c>, U-Net's weighted cross entropy; the Lovász losses by <see cref="ReferenceLovasz"/>).</summary>
    public static ReferenceResult Compute(string loss, IReadOnlyDictionary<string, object?> parameters, LossTensor input, LossTensor target, LossTensor? pixelWeight = null)
    {
        if (pixelWeight is not null)
        {
            string reduction = parameters.TryGetValue("reduction", out object? r) && r is string text ? text : "mean";
            (double weightedLoss, double[] perRow, double[] weightedGradient) = PixelWeighted(input.RequireFloats("input"), target.RequireIntegers("target"), pixelWeight.RequireFloats("pixel_weight"),
                null, parameters.TryGetValue("ignore_index", out object? i) && i is not null ? Convert.ToInt64(i) : -100, input.Shape[2..].Aggregate(1, (a, b) => a * b),
                reduction, 1d, null);
            return new ReferenceResult(reduction == "none" ? perRow : [weightedLoss], weightedGradient);
        }

        int n = input.Shape[0], c = input.Shape[1], s = input.Shape[2..].Aggregate(1, (a, b) => a * b);
        if (loss.StartsWith("lovasz", StringComparison.Ordinal))
        {
            bool perImage = parameters.TryGetValue("per_image", out object? grouped) && grouped is true;
            long? ignore = parameters.TryGetValue("ignore_index", out object? index) && index is not null ? Convert.ToInt64(index) : null;
            (double lovasz, double[] lovaszGradient) = loss == "lovasz_hinge_loss"
                ? ReferenceLovasz.Hinge(input.RequireFloats("input"), target.RequireFloats("target"), n, c, s, perImage, ignore)
                : ReferenceLovasz.Softmax(input.RequireFloats("input"), target.RequireIntegers("target"), n, c, s, !parameters.TryGetValue("from_logits", out object? logits) || logits is not false,
                    perImage, ignore);
            return new ReferenceResult([lovasz], lovaszGradient);
        }

        var problem = new SegmentationProblem(loss, new Dictionary<string, object?>(parameters), input.RequireFloats("input"), target.Integers, target.Floats, n, c, s, null);
        (double value, double[] gradient) = Compute(problem);
        return new ReferenceResult([value], gradient);
    }

    public static (double Loss, double[] Gradient) Compute(SegmentationProblem problem)
    {
        (double[] p, double[] t, bool[] kept) = Probabilities(problem, Array.ConvertAll(problem.Input, v => (double)v));
        bool perImage = Flag(problem.Parameters, "per_image");
        int groups = perImage ? problem.N : 1, c = problem.C, s = problem.S;
        double[] sums = SumsOf(problem, p, t, kept, groups);
        double loss = FromSums(problem, sums, groups);
        var perSum = new double[sums.Length];
        for (int k = 0; k < sums.Length; k++)
        {
            if (k % Sums is 2 or 4)
                continue;
            double h = 1e-6 * Math.Max(1d, Math.Abs(sums[k]));
            double[] plus = (double[])sums.Clone(), minus = (double[])sums.Clone();
            plus[k] += h;
            minus[k] -= h;
            perSum[k] = (FromSums(problem, plus, groups) - FromSums(problem, minus, groups)) / (2 * h);
        }

        if (problem.Loss == "focal_tversky_loss")
            ZeroWherePerfect(problem, sums, perSum);
        var gradient = new double[problem.Input.Length];
        var perProbability = new double[c];
        for (int n = 0; n < problem.N; n++)
        {
            for (int pixel = 0; pixel < s; pixel++)
            {
                for (int k = 0; k < c; k++)
                {
                    int at = (n * c + k) * s + pixel, sum = ((perImage ? n : 0) * c + k) * Sums;
                    perProbability[k] = kept[at] ? problem.Upstream * (perSum[sum] * t[at] + perSum[sum + 1] + 2 * perSum[sum + 3] * p[at]) : 0d;
                }

                double[] softmax = problem.Mode == "multiclass" && FromLogits(problem) ? Softmax(problem.Input, n, c, s, pixel) : [];
                for (int k = 0; k < c; k++)
                {
                    int at = (n * c + k) * s + pixel;
                    if (!FromLogits(problem))
                    {
                        gradient[at] = perProbability[k];
                    }
                    else if (problem.Mode == "multiclass")
                    {
                        // The softmax Jacobian: ∂p_j/∂x_k = p_j(δ_jk − p_k), with p unmasked.
                        double total = 0d;
                        for (int j = 0; j < c; j++)
                            total += perProbability[j] * softmax[j] * ((j == k ? 1d : 0d) - softmax[k]);
                        gradient[at] = total;
                    }
                    else
                    {
                        double sigma = 1d / (1d + Math.Exp(-(double)problem.Input[at]));
                        gradient[at] = perProbability[k] * sigma * (1d - sigma);
                    }
                }
            }
        }

        return (loss, gradient);
    }

    /// <summary>
    /// U-Net's pixel-weighted cross entropy on [N, C, S] logits: the float64 cross-entropy reference on the transposed rows
    /// [N·S, C], each row's loss times its weight, and its gradient with the weight (over the mean's divisor) as the row's upstream.
    /// Returns the reduced loss (or the sum of the weighted row losses for "none"), the weighted row losses and the gradient.
    /// </summary>
    public static (double Loss, double[] PerRow, double[] Gradient) PixelWeighted(float[] logits, long[] target, float[] pixelWeight, float[]? classWeight,
        long ignoreIndex, int spatial, string reduction, double upstream, float? avgFactor)
    {
        int rows = target.Length, classes = rows == 0 ? 1 : logits.Length / rows, images = rows / Math.Max(spatial, 1);
        double kept = 0d;
        for (int r = 0; r < rows; r++)
            kept += target[r] == ignoreIndex ? 0d : classWeight?[target[r]] ?? 1d;
        double divisor = reduction != "mean" ? 1d : avgFactor is float factor ? factor + 1.1920929e-07 : kept;
        var transposed = new double[logits.Length];
        for (int n = 0; n < images; n++)
            for (int c = 0; c < classes; c++)
                for (int s = 0; s < spatial; s++)
                    transposed[(n * spatial + s) * classes + c] = logits[(n * classes + c) * spatial + s];
        double[] rowUpstream = pixelWeight.Select(w => w * upstream / divisor).ToArray();
        ReferenceResult rowsResult = ReferenceCrossEntropy.Compute(transposed, target, classWeight is null ? null : Array.ConvertAll(classWeight, w => (double)w), ignoreIndex,
            0, 0, "none", rowUpstream);
        double[] perRow = rowsResult.Loss.Select((l, r) => l * pixelWeight[r]).ToArray();
        var gradient = new double[logits.Length];
        for (int n = 0; n < images; n++)
            for (int c = 0; c < classes; c++)
                for (int s = 0; s < spatial; s++)
                    gradient[(n * classes + c) * spatial + s] = rowsResult.InputGradient[(n * spatial + s) * classes + c];
        return (perRow.Sum() / divisor, perRow, gradient);
    }

    /// <summary>The focal Tversky loss's documented convention: where 1 − T = 0 (its derivative's limit is infinite for γ &gt; 1) the derivative is 0.</summary>
    private static void ZeroWherePerfect(SegmentationProblem problem, double[] sums, double[] perSum)
    {
        Dictionary<string, object?> q = problem.Parameters;
        double alpha = Number(q, "alpha", 0.7), beta = Number(q, "beta", 0.3), smooth = Number(q, "smooth", 0d), eps = Number(q, "eps", 1e-7);
        for (int at = 0; at < sums.Length; at += Sums)
        {
            double tp = sums[at], fp = sums[at + 1] - tp, fn = sums[at + 2] - tp;
            if (1 - (tp + smooth) / Math.Max(tp + alpha * fp + beta * fn + smooth, eps) <= 0)
                Array.Clear(perSum, at, Sums);
        }
    }

    /// <summary>The loss alone from a float64 input (for finite differences over the input itself).</summary>
    public static double Loss(SegmentationProblem problem, double[] input)
    {
        (double[] p, double[] t, bool[] kept) = Probabilities(problem, input);
        int groups = Flag(problem.Parameters, "per_image") ? problem.N : 1;
        return FromSums(problem, SumsOf(problem, p, t, kept, groups), groups);
    }

    private static bool FromLogits(SegmentationProblem problem) => !problem.Parameters.TryGetValue("from_logits", out object? value) || value is not false;

    private static bool Flag(Dictionary<string, object?> parameters, string name) => parameters.TryGetValue(name, out object? value) && value is true;

    private static double Number(Dictionary<string, object?> parameters, string name, double fallback) =>
        parameters.TryGetValue(name, out object? value) && value is not null ? Convert.ToDouble(value) : fallback;

    private static double[] Softmax(IReadOnlyList<float> input, int n, int c, int s, int pixel)
    {
        var values = new double[c];
        double max = double.NegativeInfinity;
        for (int k = 0; k < c; k++)
            max = Math.Max(max, input[(n * c + k) * s + pixel]);
        double total = 0d;
        for (int k = 0; k < c; k++)
            total += values[k] = Math.Exp(input[(n * c + k) * s + pixel] - max);
        for (int k = 0; k < c; k++)
            values[k] /= total;
        return values;
    }

    private static (double[] P, double[] T, bool[] Kept) Probabilities(SegmentationProblem problem, double[] input)
    {
        int c = problem.C, s = problem.S;
        var p = new double[input.Length];
        var t = new double[input.Length];
        var kept = new bool[input.Length];
        long? ignore = problem.Parameters.TryGetValue("ignore_index", out object? value) && value is not null ? Convert.ToInt64(value) : null;
        for (int n = 0; n < problem.N; n++)
        {
            for (int pixel = 0; pixel < s; pixel++)
            {
                double max = double.NegativeInfinity, total = 0d;
                for (int k = 0; k < c; k++)
                    max = Math.Max(max, input[(n * c + k) * s + pixel]);
                for (int k = 0; k < c; k++)
                    total += Math.Exp(input[(n * c + k) * s + pixel] - max);
                for (int k = 0; k < c; k++)
                {
                    int at = (n * c + k) * s + pixel;
                    double x = input[at];
                    if (problem.Mode == "multiclass")
                    {
                        long label = problem.Labels![n * s + pixel];
                        kept[at] = label != ignore;
                        t[at] = kept[at] && label == k ? 1d : 0d;
                        p[at] = !kept[at] ? 0d : FromLogits(problem) ? Math.Exp(x - max) / total : x;
                    }
                    else
                    {
                        double target = problem.Dense![at];
                        kept[at] = ignore is null || target != ignore.Value;
                        t[at] = kept[at] ? target : 0d;
                        p[at] = !kept[at] ? 0d : FromLogits(problem) ? 1d / (1d + Math.Exp(-x)) : x;
                    }
                }
            }
        }

        return (p, t, kept);
    }

    private static double[] SumsOf(SegmentationProblem problem, double[] p, double[] t, bool[] kept, int groups)
    {
        int c = problem.C, s = problem.S;
        var sums = new double[groups * c * Sums];
        for (int n = 0; n < problem.N; n++)
        {
            for (int k = 0; k < c; k++)
            {
                int at = ((groups == 1 ? 0 : n) * c + k) * Sums;
                for (int pixel = 0; pixel < s; pixel++)
                {
                    int i = (n * c + k) * s + pixel;
                    if (!kept[i])
                        continue;
                    sums[at] += p[i] * t[i];
                    sums[at + 1] += p[i];
                    sums[at + 2] += t[i];
                    sums[at + 3] += p[i] * p[i];
                    sums[at + 4] += t[i] * t[i];
                }
            }
        }

        return sums;
    }

    /// <summary>The formulas of smp's DiceLoss and TverskyLoss, the focal Tversky paper and MONAI's GeneralizedDiceLoss, from the sums.</summary>
    private static double FromSums(SegmentationProblem problem, double[] sums, int groups)
    {
        Dictionary<string, object?> q = problem.Parameters;
        int c = problem.C;
        double eps = Number(q, "eps", 1e-7), smooth = Number(q, "smooth", 0d);
        double Weight(int k) => problem.Weight is null ? 1d : problem.Weight[k];
        double total = 0d;
        switch (problem.Loss)
        {
            case "dice_loss":
                for (int g = 0; g < groups; g++)
                {
                    for (int k = 0; k < c; k++)
                    {
                        int at = (g * c + k) * Sums;
                        if (!(sums[at + 2] > 0))
                            continue;
                        double cardinality = Flag(q, "squared") ? sums[at + 3] + sums[at + 4] : sums[at + 1] + sums[at + 2];
                        double score = (2 * sums[at] + smooth) / Math.Max(cardinality + smooth, eps);
                        total += Weight(k) * (Flag(q, "log_loss") ? -Math.Log(Math.Max(score, eps)) : 1 - score);
                    }
                }

                return total / (groups * c);
            case "tversky_loss":
            case "focal_tversky_loss":
                bool focal = problem.Loss == "focal_tversky_loss";
                double alpha = Number(q, "alpha", focal ? 0.7 : 0.5), beta = Number(q, "beta", focal ? 0.3 : 0.5), gamma = Number(q, "gamma", focal ? 4d / 3d : 1d);
                for (int g = 0; g < groups; g++)
                {
                    for (int k = 0; k < c; k++)
                    {
                        int at = (g * c + k) * Sums;
                        if (!(sums[at + 2] > 0))
                            continue;
                        double tp = sums[at], fp = sums[at + 1] - tp, fn = sums[at + 2] - tp;
                        double score = (tp + smooth) / Math.Max(tp + alpha * fp + beta * fn + smooth, eps);
                        total += Weight(k) * (focal ? Math.Pow(1 - score, 1 / gamma) : 1 - score);
                    }
                }

                return focal ? total / (groups * c) : Math.Pow(total / (groups * c), gamma);
            default:
                string type = q.TryGetValue("weight_type", out object? w) && w is string text ? text : "square";
                for (int g = 0; g < groups; g++)
                {
                    var weights = new double[c];
                    double largest = 0d;
                    for (int k = 0; k < c; k++)
                    {
                        double ground = sums[(g * c + k) * Sums + 2];
                        weights[k] = type == "square" ? 1 / (ground * ground) : type == "simple" ? 1 / ground : 1d;
                        if (!double.IsInfinity(weights[k]))
                            largest = Math.Max(largest, weights[k]);
                    }

                    double numerator = Number(q, "smooth_nr", 1e-5), denominator = Number(q, "smooth_dr", 1e-5);
                    for (int k = 0; k < c; k++)
                    {
                        int at = (g * c + k) * Sums;
                        double weight = double.IsInfinity(weights[k]) ? largest : weights[k];
                        numerator += 2 * weight * sums[at];
                        denominator += weight * (sums[at + 1] + sums[at + 2]);
                    }

                    total += 1 - numerator / denominator;
                }

                return total / groups;
        }
    }
}
