using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>Total variation in float64: every difference of every plane in plain loops, the gradient by the chain rule per term.</summary>
public static class ReferenceTotalVariation
{
    /// <summary>Per-image values and the gradient of Σ scale_n·TV_n (scale_n: the upstream per image, or one for all).</summary>
    public static (double[] Values, double[] Gradient) Evaluate(TotalVariationLoss loss, float[] x, int images, int channels, int height, int width,
        Func<int, double> scale)
    {
        var values = new double[images];
        var gradient = new double[x.Length];
        for (int n = 0; n < images; n++)
            for (int c = 0; c < channels; c++)
            {
                long plane = ((long)n * channels + c) * height * width;
                double X(int i, int j) => x[plane + (long)i * width + j];
                void Add(int i, int j, double value) => gradient[plane + (long)i * width + j] += scale(n) * value;
                for (int i = 0; i < height; i++)
                    for (int j = 0; j < width; j++)
                    {
                        if (loss.Norm == TotalVariationNorm.Anisotropic)
                        {
                            if (j + 1 < width)
                            {
                                double dx = X(i, j + 1) - X(i, j);
                                values[n] += Math.Abs(dx);
                                Add(i, j + 1, Math.Sign(dx));
                                Add(i, j, -Math.Sign(dx));
                            }

                            if (i + 1 < height)
                            {
                                double dy = X(i + 1, j) - X(i, j);
                                values[n] += Math.Abs(dy);
                                Add(i + 1, j, Math.Sign(dy));
                                Add(i, j, -Math.Sign(dy));
                            }

                            continue;
                        }

                        if (i + 1 >= height || j + 1 >= width)
                            continue;
                        double h = X(i, j + 1) - X(i, j), v = X(i + 1, j) - X(i, j);
                        bool isotropic = loss.Norm == TotalVariationNorm.Isotropic;
                        double s = h * h + v * v + (isotropic ? loss.Eps : 0d);
                        double beta = isotropic ? 1d : loss.Beta;
                        double term = s > 0 ? Math.Pow(s, beta / 2) : 0d;
                        values[n] += term;
                        double factor = s > 0 ? beta * term / s : 0d;
                        Add(i, j + 1, factor * h);
                        Add(i + 1, j, factor * v);
                        Add(i, j, -factor * (h + v));
                    }
            }

        return (values, gradient);
    }
}
