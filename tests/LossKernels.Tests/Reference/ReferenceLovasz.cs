namespace LossKernels.Tests.Reference;

/// <summary>
/// The Lovász losses in float64, written as smp writes them: per group (the batch, or each image) and class present (softmax)
/// or per group (hinge), the errors of the elements not ignored sorted from the largest down (equal errors in element
/// order, torch.sort(stable=True)), J_r = 1 − (G − cumsum fg)/(G + cumsum bg), w = J_r − J_{r−1}, ℓ = Σ relu(e)·w;
/// the gradient is w at each element (∓, 0 where e ≤ 0), through the softmax.
/// </summary>
public static class ReferenceLovasz
{
    /// <summary>Lovász-softmax on input [N, C, S] with class indices [N, S].</summary>
    public static (double Loss, double[] Gradient) Softmax(float[] input, long[] labels, int n, int c, int s, bool fromLogits, bool perImage, long? ignore, double upstream = 1d)
    {
        var p = new double[input.Length];
        for (int image = 0; image < n; image++)
        {
            for (int j = 0; j < s; j++)
            {
                double max = double.NegativeInfinity, sum = 0d;
                for (int k = 0; k < c; k++)
                    max = Math.Max(max, input[(image * c + k) * s + j]);
                for (int k = 0; k < c; k++)
                    sum += Math.Exp(input[(image * c + k) * s + j] - max);
                for (int k = 0; k < c; k++)
                    p[(image * c + k) * s + j] = fromLogits ? Math.Exp(input[(image * c + k) * s + j] - max) / sum : input[(image * c + k) * s + j];
            }
        }

        int groups = perImage ? n : 1, images = perImage ? 1 : n;
        var dp = new double[input.Length];
        double loss = 0d;
        for (int g = 0; g < groups; g++)
        {
            var perClass = new List<(double Loss, int Class, List<(int At, double Weight)> Gradient)>();
            for (int k = 0; k < c; k++)
            {
                var elements = new List<(double Error, bool Foreground, int At)>();
                for (int image = g * images; image < (g + 1) * images; image++)
                {
                    for (int j = 0; j < s; j++)
                    {
                        long label = labels[image * s + j];
                        if (label == ignore)
                            continue;
                        double prob = p[(image * c + k) * s + j];
                        elements.Add((label == k ? 1d - prob : prob, label == k, (image * c + k) * s + j));
                    }
                }

                if (!elements.Any(e => e.Foreground))
                    continue;
                (double value, List<(int, double)> gradient) = Sorted(elements);
                perClass.Add((value, k, gradient));
            }

            if (perClass.Count == 0)
                continue;
            foreach ((double value, _, List<(int At, double Weight)> gradient) in perClass)
            {
                loss += value / perClass.Count / groups;
                foreach ((int at, double weight) in gradient)
                    dp[at] += upstream * weight / perClass.Count / groups;
            }
        }

        if (!fromLogits)
            return (loss, dp);
        var dx = new double[input.Length];
        for (int image = 0; image < n; image++)
        {
            for (int j = 0; j < s; j++)
            {
                double dot = 0d;
                for (int k = 0; k < c; k++)
                    dot += p[(image * c + k) * s + j] * dp[(image * c + k) * s + j];
                for (int k = 0; k < c; k++)
                    dx[(image * c + k) * s + j] = p[(image * c + k) * s + j] * (dp[(image * c + k) * s + j] - dot);
            }
        }

        return (loss, dx);
    }

    /// <summary>Lovász hinge on logits [N, C, S] with targets 0/1 (or the ignored value) shaped like them.</summary>
    public static (double Loss, double[] Gradient) Hinge(float[] input, float[] target, int n, int c, int s, bool perImage, long? ignore, double upstream = 1d)
    {
        int groups = perImage ? n : 1, length = input.Length / Math.Max(groups, 1);
        var dx = new double[input.Length];
        double loss = 0d;
        for (int g = 0; g < groups; g++)
        {
            var elements = new List<(double Error, bool Foreground, int At)>();
            for (int i = g * length; i < (g + 1) * length; i++)
            {
                if (ignore is long ignored && target[i] == ignored)
                    continue;
                bool foreground = target[i] == 1f;
                elements.Add((1d - input[i] * (foreground ? 1d : -1d), foreground, i));
            }

            (double value, List<(int At, double Weight)> gradient) = Sorted(elements);
            loss += value / groups;
            foreach ((int at, double weight) in gradient)
                dx[at] += upstream * weight / groups;
        }

        return (loss, dx);
    }

    /// <summary>Σ relu(e_(r))·(J_r − J_{r−1}) over the errors sorted down (stable), and ∂/∂input per element (−w on the foreground where e &gt; 0).</summary>
    private static (double Loss, List<(int At, double Weight)> Gradient) Sorted(List<(double Error, bool Foreground, int At)> elements)
    {
        // Ties in float32 order, as the library sorts float32 errors.
        var order = elements.Select((e, i) => (Key: (float)e.Error, Index: i)).OrderByDescending(e => e.Key).ThenBy(e => e.Index).Select(e => elements[e.Index]).ToList();
        double foregroundCount = order.Count(e => e.Foreground), foregroundSum = 0d, backgroundSum = 0d, previous = 0d, loss = 0d;
        var gradient = new List<(int, double)>();
        foreach ((double error, bool foreground, int at) in order)
        {
            foregroundSum += foreground ? 1 : 0;
            backgroundSum += foreground ? 0 : 1;
            double jaccard = 1d - (foregroundCount - foregroundSum) / (foregroundCount + backgroundSum);
            double weight = jaccard - previous;
            previous = jaccard;
            loss += Math.Max(error, 0d) * weight;
            gradient.Add((at, error > 0d ? (foreground ? -weight : weight) : 0d));
        }

        return (loss, gradient);
    }
}
