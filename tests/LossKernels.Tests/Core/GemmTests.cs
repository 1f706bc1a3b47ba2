using NUnit.Framework;

namespace LossKernels.Tests.Core;

/// <summary>
/// The CPU SGEMM and SYRK (<see cref="Gemm"/>): every element is one fused multiply-add chain over k in index order, so each is checked
/// bit for bit against that chain in scalar code, at every panel, tile and depth-block remainder, and at 1, 2 and 3 threads.
/// </summary>
public sealed unsafe class GemmTests : ThreadCountFixture
{
    private static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>start + Σ_k a[aOffset + k·aStep]·b[bOffset + k·bStep] as one FMA chain in k order.</summary>
    private static float Chain(float[] a, int aOffset, int aStep, float[] b, int bOffset, int bStep, int depth, float start = 0f)
    {
        float sum = start;
        for (int k = 0; k < depth; k++)
            sum = MathF.FusedMultiplyAdd(a[aOffset + k * aStep], b[bOffset + k * bStep], sum);
        return sum;
    }

    [Test]
    public void TheGramLowerTriangleIsOneChainPerElement()
    {
        foreach (int rows in (int[])[1, 2, 5, 6, 7, 13, 31, 32, 33, 64, 97])
            foreach (int dim in (int[])[0, 1, 3, 16, 17, 100, 256, 257, 600])
            {
                float[] x = Random(rows * dim, rows * 1000 + dim);
                var gram = new float[rows * rows];
                fixed (float* px = x, pg = gram)
                    Gemm.GramLower(px, rows, dim, pg);
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j <= i; j++)
                        Assert.That(gram[i * rows + j], Is.EqualTo(Chain(x, i * dim, 1, x, j * dim, 1, dim)), $"B={rows} D={dim} G[{i},{j}]");
            }
    }

    [Test]
    public void TheProductIsOneChainPerElement()
    {
        foreach (int m in (int[])[1, 5, 6, 7, 13])
            foreach (int n in (int[])[1, 15, 31, 32, 33, 100])
                foreach (int depth in (int[])[0, 1, 255, 257, 513])
                {
                    // Strided operands: A and C inside wider rows, so that the strides are read as strides.
                    int lda = depth + 3, ldb = n + 5, ldc = n + 2;
                    float[] a = Random(m * lda, m + n + depth), b = Random(depth * ldb, depth + 7);
                    float[] c = Enumerable.Repeat(float.NaN, m * ldc).ToArray();
                    fixed (float* pa = a, pb = b, pc = c)
                        Gemm.Multiply(pa, lda, pb, ldb, pc, ldc, m, n, depth);
                    for (int i = 0; i < m; i++)
                    {
                        for (int j = 0; j < n; j++)
                            Assert.That(c[i * ldc + j], Is.EqualTo(Chain(a, i * lda, 1, b, j, ldb, depth)), $"{m}×{depth}·{depth}×{n} C[{i},{j}]");
                        for (int j = n; j < ldc; j++)
                            Assert.That(c[i * ldc + j], Is.NaN, $"{m}×{depth}·{depth}×{n}: C[{i},{j}] past the columns was written");
                    }
                }
    }

    [Test]
    public void AnAccumulatedProductContinuesEachElementsChainFromC()
    {
        foreach (int m in (int[])[1, 6, 7, 13])
            foreach (int n in (int[])[1, 31, 33, 100])
                foreach (int depth in (int[])[0, 1, 257])
                {
                    int lda = depth + 1, ldb = n + 3, ldc = n + 2;
                    float[] a = Random(m * lda, m + n + depth), b = Random(depth * ldb, depth + 11), c = Random(m * ldc, m * n + 5);
                    float[] before = (float[])c.Clone();
                    fixed (float* pa = a, pb = b, pc = c)
                        Gemm.Multiply(pa, lda, pb, ldb, pc, ldc, m, n, depth, accumulate: true);
                    for (int i = 0; i < m; i++)
                    {
                        for (int j = 0; j < n; j++)
                        {
                            float expected = Chain(a, i * lda, 1, b, j, ldb, depth, before[i * ldc + j]);
                            Assert.That(c[i * ldc + j], Is.EqualTo(expected), $"{m}×{depth}·{depth}×{n} C[{i},{j}]");
                        }

                        for (int j = n; j < ldc; j++)
                            Assert.That(c[i * ldc + j], Is.EqualTo(before[i * ldc + j]), $"C[{i},{j}] past the columns was written");
                    }
                }
    }

    [Test]
    public void EveryThreadCountGivesTheSameBits()
    {
        // Large enough to run on several threads: 5·10⁶ multiply-adds each.
        const int rows = 70, dim = 2100, n = 1000, depth = 75;
        float[] x = Random(rows * dim, 1), a = Random(rows * depth, 2), b = Random(depth * n, 3);
        AssertSameBits("gram", () =>
        {
            var gram = new float[rows * rows];
            fixed (float* px = x, pg = gram)
                Gemm.GramLower(px, rows, dim, pg);
            for (int i = 0; i < rows; i++)
                for (int j = i + 1; j < rows; j++)
                    gram[i * rows + j] = 0f;
            return (0f, [gram]);
        });
        AssertSameBits("product", () =>
        {
            var c = new float[rows * n];
            fixed (float* pa = a, pb = b, pc = c)
                Gemm.Multiply(pa, depth, pb, n, pc, n, rows, n, depth);
            return (0f, [c]);
        });
    }
}
