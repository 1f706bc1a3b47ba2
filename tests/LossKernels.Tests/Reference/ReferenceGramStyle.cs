using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>
/// The Gram style loss in float64, written from the papers' formulas: per image G = s·F·Fᵀ, ℓ = w·Σ_ij (G_ij − A_ij)², and
/// ∂ℓ/∂F = 2·w·s·(E + Eᵀ)·F with E = G − A (s, w: Johnson's 1/(C·H·W) and 1, Gatys's 1 and 1/(4·C²·(H·W)²)).
/// </summary>
public static class ReferenceGramStyle
{
    /// <summary>G = s·F·Fᵀ per image in float64 ([N, C, C]).</summary>
    public static double[] Gram(GramNormalization normalization, float[] features, int images, int channels)
    {
        int spatial = features.Length / Math.Max(1, images * channels);
        double scale = normalization == GramNormalization.Gatys ? 1d : 1d / ((double)channels * spatial);
        var gram = new double[images * channels * channels];
        for (int n = 0; n < images; n++)
        {
            int image = n * channels * spatial;
            for (int i = 0; i < channels; i++)
                for (int j = 0; j <= i; j++)
                {
                    double sum = 0;
                    for (int k = 0; k < spatial; k++)
                        sum += (double)features[image + i * spatial + k] * features[image + j * spatial + k];
                    gram[(n * channels + i) * channels + j] = gram[(n * channels + j) * channels + i] = sum * scale;
                }
        }

        return gram;
    }

    /// <summary>Each image's ℓ_n and ∂(Σ_n upstream(n)·ℓ_n)/∂F; <paramref name="target"/> holds C² or N·C² values.</summary>
    public static (double[] Losses, double[] Gradient) Evaluate(GramNormalization normalization, float[] features, float[] target, int images, int channels,
        Func<int, double> upstream)
    {
        int spatial = features.Length / Math.Max(1, images * channels), c = channels;
        double scale = normalization == GramNormalization.Gatys ? 1d : 1d / ((double)c * spatial);
        double weight = normalization == GramNormalization.Gatys ? 1d / (4d * c * c * ((double)spatial * spatial)) : 1d;
        double[] gram = Gram(normalization, features, images, channels);
        var losses = new double[images];
        var gradient = new double[features.Length];
        var slopes = new double[c * c];
        for (int n = 0; n < images; n++)
        {
            int a = target.Length == c * c ? 0 : n * c * c;
            double sum = 0;
            for (int i = 0; i < c; i++)
                for (int j = 0; j < c; j++)
                {
                    double g = gram[(n * c + i) * c + j];
                    double e = g - target[a + i * c + j], eT = g - target[a + j * c + i];
                    sum += e * e;
                    slopes[i * c + j] = 2 * weight * scale * (e + eT) * upstream(n);
                }

            losses[n] = weight * sum;
            int image = n * c * spatial;
            for (int i = 0; i < c; i++)
                for (int j = 0; j < c; j++)
                {
                    double s = slopes[i * c + j];
                    for (int k = 0; k < spatial; k++)
                        gradient[image + i * spatial + k] += s * features[image + j * spatial + k];
                }
        }

        return (losses, gradient);
    }
}
