using LossKernels.Catalog;

namespace LossKernels.Tests.Reference;

/// <summary>
/// The float64 result of an embedding loss: the loss (a scalar, or one value per row) and the gradient of each float input, each with
/// the sum of the magnitudes of the terms it is computed from (the scale a float32 rounding error is relative to).
/// </summary>
public sealed record ReferenceEmbeddingResult(double[] Loss, double[][] Gradients, double[] LossScale, double[][] GradientScales);

/// <summary>
/// The embedding losses in float64, written plainly from PyTorch's formulas (triplet_margin_loss, cosine_embedding_loss,
/// margin_ranking_loss) and the contrastive formula of the issue: a loop per row, no SIMD, no code shared with the library;
/// PyTorch's conventions at the kinks (clamp_min passes the gradient at 0, a norm's gradient is 0 at 0, minimum splits a tie).
/// </summary>
public static class ReferenceEmbeddingLosses
{
    /// <summary>The catalog loss <paramref name="loss"/> on its catalog inputs, with <c>reduction</c> from <paramref name="parameters"/>; the upstream is a scalar (reduced) or per row (none), null for 1.</summary>
    public static ReferenceEmbeddingResult Compute(string loss, IReadOnlyDictionary<string, object?> parameters, IReadOnlyDictionary<string, LossTensor> inputs,
        double[]? upstream = null)
    {
        double Param(string name, double fallback) => parameters.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
        string reduction = parameters.TryGetValue("reduction", out object? r) && r is string s ? s : "mean";
        if (loss == "triplet_mining_loss")
            return Mining(parameters, inputs, reduction, upstream?[0] ?? 1d, Param);
        if (loss == "discriminative_loss")
            return Discriminative(parameters, inputs, reduction, upstream?[0] ?? 1d, Param);
        bool triplet = loss == "triplet_margin_loss";
        string[] names = triplet ? ["anchor", "positive", "negative"] : ["input1", "input2"];
        double[][] x = names.Select(name => Array.ConvertAll(inputs[name].RequireFloats(name), v => (double)v)).ToArray();
        LossTensor first = inputs[names[0]];
        int rows = loss == "margin_ranking_loss" ? first.Length : first.Shape[0];
        int dim = rows == 0 ? 0 : first.Length / rows;
        double[] label = triplet ? new double[rows]
            : inputs[loss == "contrastive_loss" ? "label" : "target"] is { } t ? (t.Floats is float[] f ? Array.ConvertAll(f, v => (double)v) : Array.ConvertAll(t.Integers!, v => (double)v)) : [];
        var values = new double[rows];
        var valueScales = new double[rows];
        double[][] gradients = names.Select(_ => new double[x[0].Length]).ToArray();
        double[][] scales = names.Select(_ => new double[x[0].Length]).ToArray();
        var result = new Result(gradients, scales);
        double divisor = reduction == "mean" ? rows : 1d;
        for (int row = 0; row < rows; row++)
        {
            double scale = (reduction == "none" ? upstream?[row] ?? 1d : (upstream?[0] ?? 1d) / divisor);
            (values[row], valueScales[row]) = loss switch
            {
                "triplet_margin_loss" => Triplet(x, result, row, dim, Param("margin", 1), (int)Param("p", 2), Param("eps", 1e-6),
                    parameters.TryGetValue("swap", out object? sw) && sw is true, scale),
                "contrastive_loss" => Contrastive(x, result, row, dim, label[row], Param("margin", 1), Param("eps", 1e-6), scale),
                "cosine_embedding_loss" => Cosine(x, result, row, dim, label[row], Param("margin", 0), scale),
                "margin_ranking_loss" => Ranking(x, result, row, label[row], Param("margin", 0), scale),
                _ => throw new ArgumentException($"No embedding reference for '{loss}'.", nameof(loss)),
            };
        }

        bool unreduced = reduction == "none";
        return new ReferenceEmbeddingResult(unreduced ? values : [values.Sum() / divisor], gradients, unreduced ? valueScales : [valueScales.Sum() / divisor], scales);
    }

    /// <summary><see cref="ReferenceTripletMining"/> on the catalog's <c>embeddings</c> and <c>labels</c>; each scale is the value's own magnitude.</summary>
    private static ReferenceEmbeddingResult Mining(IReadOnlyDictionary<string, object?> parameters, IReadOnlyDictionary<string, LossTensor> inputs,
        string reduction, double upstream, Func<string, double, double> param)
    {
        string Text(string name, string fallback) => parameters.TryGetValue(name, out object? v) && v is string text ? text : fallback;
        bool Flag(string name) => parameters.TryGetValue(name, out object? v) && v is true;
        var options = new LossKernels.Embedding.TripletMiningLoss(
            Enum.Parse<LossKernels.Embedding.TripletMining>(Text("mining", "hard"), ignoreCase: true),
            (float)param("margin", 0.2), Enum.Parse<LossKernels.Embedding.TripletDistance>(Text("distance", "euclidean"), ignoreCase: true),
            Flag("soft_margin"), Flag("normalize"));
        LossTensor embeddings = inputs["embeddings"];
        (double value, _, double[] gradient, _) = ReferenceTripletMining.Evaluate(options, embeddings.RequireFloats("embeddings"),
            inputs["labels"].RequireIntegers("labels"), embeddings.Shape[1], reduction == "sum" ? Reduction.Sum : Reduction.Mean, upstream);
        return new ReferenceEmbeddingResult([value], [gradient], [Math.Abs(value)], [Array.ConvertAll(gradient, Math.Abs)]);
    }

    /// <summary><see cref="ReferenceDiscriminative"/> on the catalog's <c>embeddings</c> [N, E, d…] and <c>labels</c>; each scale is the value's own magnitude.</summary>
    private static ReferenceEmbeddingResult Discriminative(IReadOnlyDictionary<string, object?> parameters, IReadOnlyDictionary<string, LossTensor> inputs,
        string reduction, double upstream, Func<string, double, double> param)
    {
        long? ignore = parameters.TryGetValue("ignore_label", out object? id) ? (id is null ? null : Convert.ToInt64(id, System.Globalization.CultureInfo.InvariantCulture)) : 0;
        var options = new LossKernels.Embedding.DiscriminativeLoss((float)param("delta_v", 0.5), (float)param("delta_d", 1.5), (float)param("alpha", 1),
            (float)param("beta", 1), (float)param("gamma", 0.001), ignore);
        LossTensor embeddings = inputs["embeddings"];
        ReferenceDiscriminative.Result result = ReferenceDiscriminative.Evaluate(options, embeddings.RequireFloats("embeddings"),
            inputs["labels"].RequireIntegers("labels"), embeddings.Shape[0], embeddings.Shape[1], reduction == "sum" ? Reduction.Sum : Reduction.Mean, upstream);
        return new ReferenceEmbeddingResult([result.Loss], [result.Gradient], [Math.Abs(result.Loss)], [Array.ConvertAll(result.Gradient, Math.Abs)]);
    }

    /// <summary>The gradients being added up, and beside each the sum of the magnitudes of its terms.</summary>
    private sealed record Result(double[][] Gradients, double[][] Scales)
    {
        public void Add(int input, int i, double term)
        {
            Gradients[input][i] += term;
            Scales[input][i] += Math.Abs(term);
        }
    }

    private static (double Value, double Scale) Triplet(double[][] x, Result g, int row, int dim, double margin, int p, double eps, bool swap, double scale)
    {
        (double ap, double[] uap) = Distance(x[0], x[1], row, dim, p, eps);
        (double an, double[] uan) = Distance(x[0], x[2], row, dim, p, eps);
        (double pn, double[] upn) = Distance(x[1], x[2], row, dim, p, eps);
        double negative = an, shareAn = 1, sharePn = 0;
        if (swap)
        {
            negative = Math.Min(an, pn);
            (shareAn, sharePn) = an < pn ? (1d, 0d) : pn < an ? (0d, 1d) : (0.5, 0.5);
        }

        double z = margin + ap - negative;
        double k = z >= 0 ? scale : 0;
        for (int j = 0; j < dim; j++)
        {
            int i = row * dim + j;
            double dap = k * uap[j], dan = -k * shareAn * uan[j], dpn = -k * sharePn * upn[j];
            g.Add(0, i, dap);
            g.Add(0, i, dan);
            g.Add(1, i, -dap);
            g.Add(1, i, dpn);
            g.Add(2, i, -dan);
            g.Add(2, i, -dpn);
        }

        return (Math.Max(z, 0), Math.Abs(margin) + ap + negative);
    }

    /// <summary>‖x − y + eps‖_p of a row and its gradient with respect to x (u/d, 0 at d = 0; sign(u) for p = 1).</summary>
    private static (double Distance, double[] Slope) Distance(double[] x, double[] y, int row, int dim, int p, double eps)
    {
        var u = new double[dim];
        double sum = 0;
        for (int j = 0; j < dim; j++)
        {
            u[j] = x[row * dim + j] - y[row * dim + j] + eps;
            sum += p == 2 ? u[j] * u[j] : Math.Abs(u[j]);
        }

        double d = p == 2 ? Math.Sqrt(sum) : sum;
        for (int j = 0; j < dim; j++)
            u[j] = p == 2 ? (d == 0 ? 0 : u[j] / d) : Math.Sign(u[j]);
        return (d, u);
    }

    private static (double Value, double Scale) Contrastive(double[][] x, Result g, int row, int dim, double y, double margin, double eps, double scale)
    {
        (double d, double[] slope) = Distance(x[0], x[1], row, dim, 2, eps);
        double hinge = Math.Max(margin - d, 0);
        double similar = 2 * y * d * scale, dissimilar = -2 * (1 - y) * hinge * scale;
        for (int j = 0; j < dim; j++)
        {
            g.Add(0, row * dim + j, similar * slope[j]);
            g.Add(0, row * dim + j, dissimilar * slope[j]);
            g.Add(1, row * dim + j, -similar * slope[j]);
            g.Add(1, row * dim + j, -dissimilar * slope[j]);
        }

        double reach = Math.Abs(margin) + d;
        return (y * d * d + (1 - y) * hinge * hinge, Math.Abs(y) * d * d + Math.Abs(1 - y) * reach * reach);
    }

    private static (double Value, double Scale) Cosine(double[][] x, Result g, int row, int dim, double y, double margin, double scale)
    {
        const double Epsilon = 1e-12;
        double dot = 0, m1 = Epsilon, m2 = Epsilon;
        for (int j = 0; j < dim; j++)
        {
            double a = x[0][row * dim + j], b = x[1][row * dim + j];
            dot += a * b;
            m1 += a * a;
            m2 += b * b;
        }

        double denominator = Math.Sqrt(m1 * m2), cos = dot / denominator;
        double k = y == 1 ? -scale : y == -1 && cos - margin >= 0 ? scale : 0;
        for (int j = 0; j < dim; j++)
        {
            double a = x[0][row * dim + j], b = x[1][row * dim + j];
            g.Add(0, row * dim + j, k * b / denominator);
            g.Add(0, row * dim + j, -k * cos * a / m1);
            g.Add(1, row * dim + j, k * a / denominator);
            g.Add(1, row * dim + j, -k * cos * b / m2);
        }

        return (y == 1 ? 1 - cos : y == -1 ? Math.Max(cos - margin, 0) : 0, 1 + Math.Abs(cos) + Math.Abs(margin));
    }

    private static (double Value, double Scale) Ranking(double[][] x, Result g, int row, double y, double margin, double scale)
    {
        double z = -y * (x[0][row] - x[1][row]) + margin;
        double k = z >= 0 ? scale : 0;
        g.Add(0, row, -y * k);
        g.Add(1, row, y * k);
        return (Math.Max(z, 0), Math.Abs(y) * (Math.Abs(x[0][row]) + Math.Abs(x[1][row])) + Math.Abs(margin));
    }
}
