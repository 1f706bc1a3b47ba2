using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>WGAN-GP's and R1's penalties in float64, row by row: the row values and the gradient of Σ_b scale_b·ℓ_b.</summary>
public static class ReferenceGradientPenalty
{
    /// <summary>The B row values of <paramref name="g"/> ([B, D]) and the gradient of Σ_b scale(b)·ℓ_b (0 at a zero row for WGAN-GP).</summary>
    public static (double[] Values, double[] Gradient) Evaluate(GradientPenaltyLoss loss, float[] g, int batch, Func<int, double> scale)
    {
        var values = new double[batch];
        var gradient = new double[g.Length];
        int dim = batch == 0 ? 0 : g.Length / batch;
        for (int b = 0; b < batch; b++)
        {
            double squares = 0;
            for (int j = 0; j < dim; j++)
                squares += (double)g[b * dim + j] * g[b * dim + j];
            double w = loss.GpWeight, coefficient;
            if (loss.Kind == GradientPenaltyKind.R1)
            {
                values[b] = w / 2 * squares;
                coefficient = w;
            }
            else
            {
                double norm = Math.Sqrt(squares);
                values[b] = w * (norm - 1) * (norm - 1);
                coefficient = norm == 0 ? 0 : 2 * w * (norm - 1) / norm;
            }

            for (int j = 0; j < dim; j++)
                gradient[b * dim + j] = scale(b) * coefficient * g[b * dim + j];
        }

        return (values, gradient);
    }
}
