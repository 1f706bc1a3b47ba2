namespace LossKernels.Tests.Reference;

/// <summary>mmdetection's GHMC.forward in float64: bins of g = |σ(x) − t| (edges b/bins as float divisions, as the kernels compare), weights v/(c_b·m) or v/(a_b·m).</summary>
public static class ReferenceGhmc
{
    /// <summary>Loss and input gradient; <paramref name="state"/> (a_b, or null for a fresh zero state) is updated when momentum &gt; 0.</summary>
    public static ReferenceResult Compute(double[] x, double[] t, double[]? labelWeight, int bins, double momentum, double[]? state, string reduction, double[]? upstream)
    {
        state ??= new double[bins];
        int n = x.Length;
        var bin = new int[n];
        var counts = new long[bins];
        long valid = 0;
        for (int i = 0; i < n; i++)
        {
            double g = Math.Abs(1 / (1 + Math.Exp(-x[i])) - t[i]);
            bin[i] = -1;
            for (int b = bins - 1; b >= 0; b--)
            {
                if (g >= (float)b / bins)
                {
                    bin[i] = b;
                    break;
                }
            }

            if ((labelWeight?[i] ?? 1) > 0 && bin[i] >= 0)
            {
                counts[bin[i]]++;
                valid++;
            }
        }

        double total = Math.Max(valid, 1);
        var weights = new double[bins];
        int nonEmpty = 0;
        for (int b = 0; b < bins; b++)
        {
            if (counts[b] == 0)
                continue;
            nonEmpty++;
            if (momentum > 0)
            {
                state[b] = momentum * state[b] + (1 - momentum) * counts[b];
                weights[b] = total / state[b];
            }
            else
            {
                weights[b] = total / counts[b];
            }
        }

        var losses = new double[n];
        var gradient = new double[n];
        for (int i = 0; i < n; i++)
        {
            double w = labelWeight?[i] ?? 1;
            if (w <= 0 || bin[i] < 0 || nonEmpty == 0)
                continue;
            double beta = weights[bin[i]] / nonEmpty * w;
            losses[i] = beta * (Math.Max(x[i], 0) - x[i] * t[i] + Math.Log(1 + Math.Exp(-Math.Abs(x[i]))));
            gradient[i] = beta * (1 / (1 + Math.Exp(-x[i])) - t[i]);
        }

        if (reduction == "none")
        {
            for (int i = 0; i < n; i++)
                gradient[i] *= upstream is null ? 1 : upstream.Length == 1 ? upstream[0] : upstream[i];
            return new ReferenceResult(losses, gradient);
        }

        double divisor = reduction == "sum" ? 1 : total + 1.1920928955078125e-07;
        double scale = (upstream?[0] ?? 1) / divisor;
        for (int i = 0; i < n; i++)
            gradient[i] *= scale;
        return new ReferenceResult([losses.Sum() / divisor], gradient);
    }
}
