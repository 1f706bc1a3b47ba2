namespace LossKernels.Tests.Reference;

/// <summary>
/// PyTorch's cross_entropy on [N, C] logits in float64, written as PyTorch composes it: log_softmax, then
/// (1 − ε)·nll_loss(weight, ignore_index) + (ε/C)·smooth_loss, the mean of both over Σ w_y of the rows not ignored,
/// plus the z-loss z·lse² (Liger-Kernel), and the gradient of upstream × that.
/// </summary>
public static class ReferenceCrossEntropy
{
    /// <summary>
    /// Probability targets ([N, C]), as PyTorch: t' = (1 − ε)·t + ε/C, ℓ_r = −Σ_c w_c·t'_c·log_softmax_c + z·lse², the mean over N.
    /// </summary>
    public static ReferenceResult ComputeSoft(double[] logits, double[] target, int classes, double[]? weight, double smoothing, double lseSquareScale,
        string reduction, double[]? upstream)
    {
        int rows = logits.Length / classes;
        var losses = new double[rows];
        var gradient = new double[logits.Length];
        for (int r = 0; r < rows; r++)
        {
            (double max, double sum, double lse) = RowLse(logits, r, classes);
            double mass = 0;
            for (int c = 0; c < classes; c++)
            {
                double share = (weight?[c] ?? 1) * ((1 - smoothing) * target[r * classes + c] + smoothing / classes);
                losses[r] -= share * (logits[r * classes + c] - lse);
                mass += share;
            }

            losses[r] += lseSquareScale * lse * lse;
            for (int c = 0; c < classes; c++)
            {
                double share = (weight?[c] ?? 1) * ((1 - smoothing) * target[r * classes + c] + smoothing / classes);
                gradient[r * classes + c] = Math.Exp(logits[r * classes + c] - lse) * (mass + 2 * lseSquareScale * lse) - share;
            }
        }

        return Reduce(losses, gradient, classes, reduction, rows, upstream);
    }

    /// <summary>
    /// mmdetection's distribution_focal_loss: (i + 1 − l)·CE(x, i) + (l − i)·CE(x, i + 1), i = ⌊l⌋ (the second term absent at l = C − 1),
    /// times the row weight; the mean over N or over avg_factor + ε.
    /// </summary>
    public static ReferenceResult ComputeDistribution(double[] logits, double[] label, double[]? weight, string reduction, double? avgFactor, double[]? upstream)
    {
        int rows = label.Length;
        int classes = rows == 0 ? 1 : logits.Length / rows;
        var losses = new double[rows];
        var gradient = new double[logits.Length];
        for (int r = 0; r < rows; r++)
        {
            (double max, double sum, double lse) = RowLse(logits, r, classes);
            int left = (int)label[r];
            double w = weight?[r] ?? 1;
            double leftShare = w * (left + 1 - label[r]), rightShare = left + 1 < classes ? w * (label[r] - left) : 0;
            losses[r] = leftShare * (lse - logits[r * classes + left]) + (rightShare != 0 ? rightShare * (lse - logits[r * classes + left + 1]) : 0);
            for (int c = 0; c < classes; c++)
                gradient[r * classes + c] = (leftShare + rightShare) * Math.Exp(logits[r * classes + c] - lse) - (c == left ? leftShare : 0) - (c == left + 1 ? rightShare : 0);
        }

        return Reduce(losses, gradient, classes, reduction, avgFactor is double factor ? factor + 1.1920928955078125e-07 : rows, upstream);
    }

    /// <summary>mmcv's softmax_focal_loss with ignore_index: ℓ_r = −α·w_y·(1 − p)^γ·ln p, the mean over the rows not ignored; the gradient's limit where p = 1.</summary>
    public static ReferenceResult ComputeSoftmaxFocal(double[] logits, long[] target, double[]? weight, long ignoreIndex, double alpha, double gamma, string reduction,
        double[]? upstream)
    {
        int rows = target.Length;
        int classes = rows == 0 ? 1 : logits.Length / rows;
        var losses = new double[rows];
        var gradient = new double[logits.Length];
        int kept = 0;
        for (int r = 0; r < rows; r++)
        {
            long y = target[r];
            if (y == ignoreIndex)
                continue;
            kept++;
            (double max, double sum, _) = RowLse(logits, r, classes);
            double logP = logits[r * classes + y] - max - Math.Log(sum), p = Math.Exp(logP), m = 1 - p;
            double w = alpha * (weight?[y] ?? 1), modulation = m > 0 ? Math.Pow(m, gamma) : gamma == 0 ? 1 : 0;
            losses[r] = -w * modulation * logP;
            double k = w * modulation * (1 - gamma * p * (m > 0 ? logP / m : -1));
            for (int c = 0; c < classes; c++)
                gradient[r * classes + c] = k * (Math.Exp(logits[r * classes + c] - max) / sum - (c == y ? 1 : 0));
        }

        return Reduce(losses, gradient, classes, reduction, kept, upstream);
    }

    /// <summary>PyTorch's multi_margin_loss: ℓ_r = (w_y/C)·Σ_{c≠y} max(0, margin − x_y + x_c)^p, the mean over N.</summary>
    public static ReferenceResult ComputeMultiMargin(double[] input, long[] target, double[]? weight, int p, double margin, string reduction, double[]? upstream)
    {
        int rows = target.Length;
        int classes = rows == 0 ? 1 : input.Length / rows;
        var losses = new double[rows];
        var gradient = new double[input.Length];
        for (int r = 0; r < rows; r++)
        {
            long y = target[r];
            double factor = (weight?[y] ?? 1) / classes;
            for (int c = 0; c < classes; c++)
            {
                double z = margin - input[r * classes + y] + input[r * classes + c];
                if (c == y || !(z > 0))
                    continue;
                losses[r] += factor * (p == 1 ? z : z * z);
                double slope = factor * (p == 1 ? 1 : 2 * z);
                gradient[r * classes + c] += slope;
                gradient[r * classes + y] -= slope;
            }
        }

        return Reduce(losses, gradient, classes, reduction, rows, upstream);
    }

    /// <summary>nll_loss: ℓ_r = −w_y·x[r, y], the mean over Σ w_y of the rows not ignored.</summary>
    public static ReferenceResult ComputeNll(double[] input, long[] target, double[]? weight, long ignoreIndex, string reduction, double[]? upstream)
    {
        int rows = target.Length;
        int classes = rows == 0 ? 0 : input.Length / rows;
        var losses = new double[rows];
        var gradient = new double[input.Length];
        double totalWeight = 0;
        for (int r = 0; r < rows; r++)
        {
            if (target[r] == ignoreIndex)
                continue;
            double w = weight?[target[r]] ?? 1;
            totalWeight += w;
            losses[r] = -w * input[r * classes + target[r]];
            gradient[r * classes + target[r]] = -w;
        }

        return Reduce(losses, gradient, classes, reduction, totalWeight, upstream);
    }

    /// <summary>Loss (scalar, or one per row for 'none') and the [N·C] logits gradient.</summary>
    public static ReferenceResult Compute(double[] logits, long[] target, double[]? weight, long ignoreIndex, double smoothing, double lseSquareScale,
        string reduction, double[]? upstream)
    {
        int rows = target.Length;
        int classes = rows == 0 ? 0 : logits.Length / rows;
        var losses = new double[rows];
        var gradient = new double[logits.Length];
        double totalWeight = 0;
        for (int r = 0; r < rows; r++)
        {
            long y = target[r];
            if (y == ignoreIndex)
                continue;
            (double max, double sum, double lse) = RowLse(logits, r, classes);
            double wy = weight?[y] ?? 1;
            totalWeight += wy;
            double nll = -wy * (logits[r * classes + y] - lse);
            double smooth = 0, weightSum = 0;
            for (int c = 0; c < classes; c++)
            {
                double wc = weight?[c] ?? 1;
                smooth -= wc * (logits[r * classes + c] - lse);
                weightSum += wc;
            }

            losses[r] = (1 - smoothing) * nll + smoothing / classes * smooth + lseSquareScale * lse * lse;
            for (int c = 0; c < classes; c++)
            {
                double softmax = Math.Exp(logits[r * classes + c] - lse);
                double wc = weight?[c] ?? 1;
                gradient[r * classes + c] = (1 - smoothing) * wy * (softmax - (c == y ? 1 : 0))
                    + smoothing / classes * (weightSum * softmax - wc) + 2 * lseSquareScale * lse * softmax;
            }
        }

        return Reduce(losses, gradient, classes, reduction, totalWeight, upstream);
    }

    /// <summary>Row losses reduced (the mean over <paramref name="meanDivisor"/>) and the gradient of upstream × that.</summary>
    private static ReferenceResult Reduce(double[] losses, double[] gradient, int classes, string reduction, double meanDivisor, double[]? upstream)
    {
        if (reduction == "none")
        {
            for (int r = 0; r < losses.Length; r++)
            {
                for (int c = 0; c < classes; c++)
                    gradient[r * classes + c] *= upstream is null ? 1 : upstream.Length == 1 ? upstream[0] : upstream[r];
            }

            return new ReferenceResult(losses, gradient);
        }

        double divisor = reduction == "sum" ? 1 : meanDivisor;
        double scale = (upstream?[0] ?? 1) / divisor;
        for (int i = 0; i < gradient.Length; i++)
            gradient[i] *= scale;
        return new ReferenceResult([losses.Sum() / divisor], gradient);
    }

    /// <summary>Row r's max, Σ e^(x − max) and log-sum-exp, in double.</summary>
    internal static (double Max, double Sum, double Lse) RowLse(double[] logits, int r, int classes)
    {
        double max = double.NegativeInfinity;
        for (int c = 0; c < classes; c++)
            max = Math.Max(max, logits[r * classes + c]);
        double sum = 0;
        for (int c = 0; c < classes; c++)
            sum += Math.Exp(logits[r * classes + c] - max);
        return (max, sum, max + Math.Log(sum));
    }
}
