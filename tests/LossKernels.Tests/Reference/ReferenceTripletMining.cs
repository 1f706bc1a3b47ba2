using LossKernels.Embedding;

namespace LossKernels.Tests.Reference;

/// <summary>
/// Triplet loss with online mining in float64, written plainly: distances from the rows' differences (not the Gram matrix), the
/// mining by brute force over every anchor, positive and negative, and the gradient from each mined triplet's ∂ℓ/∂d chained through
/// the distance and the normalization. Ties go to the lowest index, as the kernels promise.
/// </summary>
public static class ReferenceTripletMining
{
    /// <summary>One mined triplet.</summary>
    public readonly record struct Triplet(int Anchor, int Positive, int Negative);

    /// <summary>
    /// The smallest |d_ap − d_an + margin| over every valid triplet: where it is within float rounding of 0, float and double may
    /// disagree on whether a triplet's hinge is active, which <see cref="TripletMining.All"/> counts.
    /// </summary>
    public static double SmallestHinge(TripletMiningLoss loss, float[] x, long[] labels, int dim)
    {
        int rows = labels.Length;
        double[,] d = Distances(loss, x, dim, rows, out _, out _);
        double smallest = double.PositiveInfinity;
        for (int a = 0; a < rows; a++)
            for (int p = 0; p < rows; p++)
                for (int n = 0; n < rows; n++)
                    if (p != a && labels[p] == labels[a] && labels[n] != labels[a])
                        smallest = Math.Min(smallest, Math.Abs(d[a, p] - d[a, n] + loss.Margin));
        return smallest;
    }

    /// <summary>The loss, its triplet count, the gradient of upstream·L (when wanted) and the mined triplets.</summary>
    public static (double Loss, long Count, double[] Gradient, List<Triplet> Triplets) Evaluate(TripletMiningLoss loss, float[] x, long[] labels, int dim,
        Reduction reduction = Reduction.Mean, double upstream = 1d)
    {
        int rows = labels.Length;
        bool normalized = loss.Normalize || loss.Distance == TripletDistance.Cosine;
        double[,] d = Distances(loss, x, dim, rows, out double[] e, out double[] norms);
        var triplets = new List<Triplet>();
        for (int a = 0; a < rows; a++)
            Mine(loss.Mining, d, labels, a, loss.Margin, loss.SoftMargin, triplets);

        double total = 0;
        long count = 0;
        var coefficient = new double[rows, rows];
        foreach (Triplet t in triplets)
        {
            double h = d[t.Anchor, t.Positive] - d[t.Anchor, t.Negative] + loss.Margin;
            double l = loss.SoftMargin ? Math.Max(h, 0) + Math.Log(1 + Math.Exp(-Math.Abs(h))) : Math.Max(h, 0);
            double slope = loss.SoftMargin ? 1 / (1 + Math.Exp(-h)) : h > 0 ? 1 : 0;
            total += l;
            count++;
            coefficient[t.Anchor, t.Positive] += slope;
            coefficient[t.Anchor, t.Negative] -= slope;
        }

        bool mean = reduction == Reduction.Mean;
        double value = count == 0 ? 0 : mean ? total / count : total;
        double scale = count == 0 ? 0 : mean ? upstream / count : upstream;
        var ge = new double[x.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < rows; j++)
            {
                double c = coefficient[i, j] * scale;
                if (c == 0)
                    continue;
                // ∂d_ij/∂e_i and ∂d_ij/∂e_j.
                for (int k = 0; k < dim; k++)
                {
                    double ei = e[i * dim + k], ej = e[j * dim + k];
                    switch (loss.Distance)
                    {
                        case TripletDistance.Euclidean:
                            double u = d[i, j] > 0 ? (ei - ej) / d[i, j] : 0;
                            ge[i * dim + k] += c * u;
                            ge[j * dim + k] -= c * u;
                            break;
                        case TripletDistance.Squared:
                            ge[i * dim + k] += c * 2 * (ei - ej);
                            ge[j * dim + k] -= c * 2 * (ei - ej);
                            break;
                        default:
                            ge[i * dim + k] -= c * ej;
                            ge[j * dim + k] -= c * ei;
                            break;
                    }
                }
            }
        }

        if (!normalized)
            return (value, count, ge, triplets);
        var gx = new double[x.Length];
        for (int i = 0; i < rows; i++)
        {
            if (norms[i] > 1e-12)
            {
                double along = 0;
                for (int k = 0; k < dim; k++)
                    along += e[i * dim + k] * ge[i * dim + k];
                for (int k = 0; k < dim; k++)
                    gx[i * dim + k] = (ge[i * dim + k] - along * e[i * dim + k]) / norms[i];
            }
            else
            {
                for (int k = 0; k < dim; k++)
                    gx[i * dim + k] = ge[i * dim + k] / 1e-12;
            }
        }

        return (value, count, gx, triplets);
    }

    /// <summary>The rows e (normalized when the loss says so), their norms, and every distance.</summary>
    private static double[,] Distances(TripletMiningLoss loss, float[] x, int dim, int rows, out double[] e, out double[] norms)
    {
        bool normalized = loss.Normalize || loss.Distance == TripletDistance.Cosine;
        e = new double[x.Length];
        norms = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double norm = 0;
            for (int k = 0; k < dim; k++)
                norm += (double)x[i * dim + k] * x[i * dim + k];
            norms[i] = Math.Sqrt(norm);
            double divisor = normalized ? Math.Max(norms[i], 1e-12) : 1d;
            for (int k = 0; k < dim; k++)
                e[i * dim + k] = x[i * dim + k] / divisor;
        }

        var d = new double[rows, rows];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < rows; j++)
                d[i, j] = Distance(e, i, j, dim, loss.Distance);
        return d;
    }

    private static double Distance(double[] e, int i, int j, int dim, TripletDistance distance)
    {
        double sum = 0;
        for (int k = 0; k < dim; k++)
        {
            double ei = e[i * dim + k], ej = e[j * dim + k];
            sum += distance == TripletDistance.Cosine ? ei * ej : (ei - ej) * (ei - ej);
        }

        return distance switch
        {
            TripletDistance.Euclidean => Math.Sqrt(sum),
            TripletDistance.Squared => sum,
            _ => 1 - sum,
        };
    }

    /// <summary>Anchor <paramref name="a"/>'s triplets by brute force.</summary>
    private static void Mine(TripletMining mining, double[,] d, long[] labels, int a, double margin, bool soft, List<Triplet> into)
    {
        int rows = labels.Length;
        var positives = Enumerable.Range(0, rows).Where(j => j != a && labels[j] == labels[a]).ToList();
        var negatives = Enumerable.Range(0, rows).Where(j => labels[j] != labels[a]).ToList();
        if (positives.Count == 0 || negatives.Count == 0)
            return;
        // The first index among the best: OrderBy is stable.
        switch (mining)
        {
            case TripletMining.Hard:
                into.Add(new Triplet(a, positives.OrderByDescending(j => d[a, j]).First(), negatives.OrderBy(j => d[a, j]).First()));
                break;
            case TripletMining.SemiHard:
                foreach (int p in positives)
                {
                    var farther = negatives.Where(n => d[a, n] > d[a, p]).OrderBy(n => d[a, n]).ToList();
                    into.Add(new Triplet(a, p, farther.Count > 0 ? farther[0] : negatives.OrderByDescending(n => d[a, n]).First()));
                }

                break;
            default:
                foreach (int p in positives)
                    foreach (int n in negatives)
                        if (soft || d[a, p] - d[a, n] + margin > 0)
                            into.Add(new Triplet(a, p, n));
                break;
        }
    }
}
