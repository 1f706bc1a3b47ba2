using LossKernels.Embedding;

namespace LossKernels.Tests.Reference;

/// <summary>
/// The discriminative loss (De Brabandere et al. 2017) in float64, written as the paper's terms per image over its sorted distinct ids,
/// with the gradient written out by hand (its own central differences check it in <c>DiscriminativeTests</c>): the kernels' reference.
/// </summary>
public static class ReferenceDiscriminative
{
    public sealed record Result(double Loss, double Variance, double Distance, double Regularizer, double[] Gradient);

    public static Result Evaluate(DiscriminativeLoss loss, float[] x, long[] labels, int images, int channels, Reduction reduction = Reduction.Mean,
        double upstream = 1d)
    {
        var gradient = new double[x.Length];
        if (images == 0)
            return new Result(0, 0, 0, 0, gradient);
        int pixels = labels.Length / images;
        double scale = reduction == Reduction.Mean ? upstream / images : upstream;
        double variance = 0, distance = 0, regularizer = 0;
        for (int n = 0; n < images; n++)
        {
            var members = new SortedDictionary<long, List<int>>();
            for (int i = 0; i < pixels; i++)
            {
                long id = labels[n * pixels + i];
                if (loss.IgnoreLabel == id)
                    continue;
                if (!members.TryGetValue(id, out List<int>? list))
                    members[id] = list = [];
                list.Add(i);
            }

            List<int>[] instances = [.. members.Values];
            int count = instances.Length;
            if (count == 0)
                continue;
            double X(int e, int i) => x[((long)n * channels + e) * pixels + i];
            var means = new double[count][];
            for (int c = 0; c < count; c++)
            {
                means[c] = new double[channels];
                for (int e = 0; e < channels; e++)
                    means[c][e] = instances[c].Sum(i => X(e, i)) / instances[c].Count;
            }

            // ∂L_n/∂μ_c from the distance and regularizer terms, and the pull's v_i.
            var throughMean = new double[count][];
            double imageVariance = 0, push = 0, norms = 0;
            for (int a = 0; a < count; a++)
            {
                throughMean[a] = new double[channels];
                double norm = Norm(means[a], new double[channels]);
                norms += norm;
                for (int e = 0; e < channels && norm > 0; e++)
                    throughMean[a][e] += loss.Gamma / count * means[a][e] / norm;
                for (int b = 0; b < count; b++)
                {
                    if (b == a)
                        continue;
                    double d = Norm(means[a], means[b]);
                    double hinge = Math.Max(0, 2.0 * loss.DeltaD - d);
                    push += hinge * hinge;
                    for (int e = 0; e < channels && hinge > 0 && d > 0; e++)
                        throughMean[a][e] += loss.Beta / (count * (count - 1.0)) * 4 * hinge * -(means[a][e] - means[b][e]) / d;
                }
            }

            for (int c = 0; c < count; c++)
            {
                List<int> member = instances[c];
                int size = member.Count;
                var v = new double[size, channels];
                var total = new double[channels];
                double pulls = 0;
                for (int k = 0; k < size; k++)
                {
                    var pixel = new double[channels];
                    for (int e = 0; e < channels; e++)
                        pixel[e] = X(e, member[k]);
                    double d = Norm(pixel, means[c]);
                    double hinge = Math.Max(0, d - loss.DeltaV);
                    pulls += hinge * hinge;
                    for (int e = 0; e < channels && hinge > 0; e++)
                    {
                        v[k, e] = 2 * hinge * (pixel[e] - means[c][e]) / d;
                        total[e] += v[k, e];
                    }
                }

                imageVariance += pulls / size;
                for (int k = 0; k < size; k++)
                    for (int e = 0; e < channels; e++)
                    {
                        double value = loss.Alpha / ((double)count * size) * (v[k, e] - total[e] / size) + throughMean[c][e] / size;
                        gradient[((long)n * channels + e) * pixels + member[k]] = scale * value;
                    }
            }

            variance += imageVariance / count;
            distance += count > 1 ? push / (count * (count - 1.0)) : 0;
            regularizer += norms / count;
        }

        if (reduction == Reduction.Mean)
        {
            variance /= images;
            distance /= images;
            regularizer /= images;
        }

        return new Result(loss.Alpha * variance + loss.Beta * distance + loss.Gamma * regularizer, variance, distance, regularizer, gradient);
    }

    private static double Norm(double[] a, double[] b)
    {
        double sum = 0;
        for (int e = 0; e < a.Length; e++)
            sum += (a[e] - b[e]) * (a[e] - b[e]);
        return Math.Sqrt(sum);
    }
}
