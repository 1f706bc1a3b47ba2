using LossKernels.Segmentation;

namespace LossKernels.Tests.Segmentation;

/// <summary>U-Net's weight map against a brute-force reference: every background pixel's distance to every pixel of every instance.</summary>
[TestFixture]
public class UNetWeightMapTests
{
    /// <summary>The map by brute force, in double: d1 and d2 the two smallest of the per-instance minimum distances.</summary>
    private static double[] BruteForce(long[] labels, int batch, int height, int width, double w0, double sigma, float[]? classWeights)
    {
        var result = new double[labels.Length];
        int pixels = height * width;
        for (int n = 0; n < batch; n++)
        {
            long[] image = labels[(n * pixels)..((n + 1) * pixels)];
            long[] ids = image.Where(id => id != 0).Distinct().ToArray();
            int foregroundPixels = image.Count(id => id != 0);
            double background = classWeights?[0] ?? pixels / (2d * Math.Max(pixels - foregroundPixels, 1));
            double foreground = classWeights?[1] ?? pixels / (2d * Math.Max(foregroundPixels, 1));
            for (int i = 0; i < pixels; i++)
            {
                if (image[i] != 0)
                {
                    result[n * pixels + i] = foreground;
                    continue;
                }

                double[] distances = ids.Select(id => Enumerable.Range(0, pixels).Where(j => image[j] == id)
                    .Min(j => Math.Sqrt(Math.Pow(j / width - i / width, 2) + Math.Pow(j % width - i % width, 2)))).OrderBy(d => d).ToArray();
                double border = distances.Length < 2 ? 0d : w0 * Math.Exp(-Math.Pow(distances[0] + distances[1], 2) / (2 * sigma * sigma));
                result[n * pixels + i] = background + border;
            }
        }

        return result;
    }

    /// <summary>Random blobs of non-contiguous ids (7, 1000, 3, …) on a background of zeros.</summary>
    private static long[] Blobs(int batch, int height, int width, int instances, int seed)
    {
        var random = new Random(seed);
        var labels = new long[batch * height * width];
        long[] ids = [7, 1000, 3, 42, 5, 99, 12345678901];
        for (int n = 0; n < batch; n++)
        {
            for (int k = 0; k < instances; k++)
            {
                int cy = random.Next(height), cx = random.Next(width), ry = random.Next(0, 3), rx = random.Next(0, 4);
                for (int y = Math.Max(0, cy - ry); y <= Math.Min(height - 1, cy + ry); y++)
                {
                    for (int x = Math.Max(0, cx - rx); x <= Math.Min(width - 1, cx + rx); x++)
                        labels[(n * height + y) * width + x] = ids[k % ids.Length];
                }
            }
        }

        return labels;
    }

    [TestCase(1, 1, 1, 0)]
    [TestCase(1, 1, 9, 2)]
    [TestCase(2, 7, 1, 2)]
    [TestCase(2, 17, 23, 4)]
    [TestCase(3, 32, 29, 6)]
    [TestCase(1, 12, 12, 1)]
    [TestCase(2, 9, 11, 0)]
    public void MatchesTheBruteForceDistances(int batch, int height, int width, int instances)
    {
        long[] labels = Blobs(batch, height, width, instances, seed: height * 31 + width);
        var weight = new float[labels.Length];
        UNetWeightMap.Compute(labels, batch, height, width, weight, 10f, 5f);
        Numerics.AssertClose("balanced", weight, BruteForce(labels, batch, height, width, 10, 5, null), 1e-6, 1e-6);
        UNetWeightMap.Compute(labels.Select(l => (int)(l % 1_000_000)).ToArray(), batch, height, width, weight, 3f, 2.5f, [0.5f, 2f]);
        Numerics.AssertClose("given class weights, int32", weight,
            BruteForce(labels.Select(l => l % 1_000_000).ToArray(), batch, height, width, 3, 2.5, [0.5f, 2f]), 1e-6, 1e-6);
    }

    [Test]
    public void AllForegroundAndSameResultForAnyThreadCount()
    {
        var weight = new float[12];
        UNetWeightMap.Compute(Enumerable.Repeat(4L, 12).ToArray(), 1, 3, 4, weight);
        Assert.That(weight, Is.All.EqualTo(0.5f), "every pixel foreground: P/(2·P)");
        long[] labels = Blobs(6, 70, 80, 5, seed: 3);
        var one = new float[labels.Length];
        var two = new float[labels.Length];
        int saved = LossKernelsSettings.MaxThreads;
        try
        {
            LossKernelsSettings.MaxThreads = 1;
            UNetWeightMap.Compute(labels, 6, 70, 80, one);
            LossKernelsSettings.MaxThreads = 2;
            UNetWeightMap.Compute(labels, 6, 70, 80, two);
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }

        Assert.That(Numerics.BitEqual(one, two), Is.True);
    }

    [Test]
    public void BadArgumentsThrow()
    {
        long[] labels = new long[12];
        float[] weight = new float[12];
        Assert.That(Assert.Throws<ArgumentException>(() => UNetWeightMap.Compute(labels, 1, 3, 5, weight))!.ParamName, Is.EqualTo("instances"));
        Assert.That(Assert.Throws<ArgumentException>(() => UNetWeightMap.Compute(labels, 1, 3, 4, weight.AsSpan(1)))!.ParamName, Is.EqualTo("weight"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => UNetWeightMap.Compute(labels, 1, 0, 4, weight))!.ParamName, Is.EqualTo("height"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => UNetWeightMap.Compute(labels, -1, 3, 4, weight))!.ParamName, Is.EqualTo("batch"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => UNetWeightMap.Compute(labels, 1, 3, 4, weight, sigma: 0f))!.ParamName, Is.EqualTo("sigma"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => UNetWeightMap.Compute(labels, 1, 3, 4, weight, w0: -1f))!.ParamName, Is.EqualTo("w0"));
        Assert.That(Assert.Throws<ArgumentException>(() => UNetWeightMap.Compute(labels, 1, 3, 4, weight, classWeights: [1f]))!.ParamName, Is.EqualTo("classWeights"));
    }
}
