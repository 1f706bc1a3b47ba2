using System.Runtime.Intrinsics;
using LossKernels.Box;

namespace LossKernels.Tests.Box;

/// <summary>The pieces under the box losses: the vector atan, the row transposes, pairwise IoU and FCOS centerness targets.</summary>
[TestFixture]
public class BoxUtilityTests
{
    /// <summary>The max error written in <see cref="VectorFunctions.Atan{TVec, TMath}"/>'s doc, over 2^24 float bit patterns of ±[1e-30, 1e30].</summary>
    [Test]
    public void AtanIsWithinTwoUlpsOfTheDoubleAtan()
    {
        double worst = Math.Max(WorstAtanUlps<Vector128<float>, Width128>(), Vector256.IsHardwareAccelerated ? WorstAtanUlps<Vector256<float>, Width256>() : 0);
        if (Vector512.IsHardwareAccelerated)
            worst = Math.Max(worst, WorstAtanUlps<Vector512<float>, Width512>());
        TestContext.Out.WriteLine($"atan: max error {worst:F3} ulp");
        Assert.That(worst, Is.LessThanOrEqualTo(2.0));
    }

    [Test]
    public void AtanSpecialValues()
    {
        Vector128<float> input = Vector128.Create(float.PositiveInfinity, float.NegativeInfinity, float.NaN, -0f);
        Vector128<float> result = VectorFunctions.Atan<Vector128<float>, Width128>(input);
        Assert.That(result[0], Is.EqualTo(MathF.PI / 2));
        Assert.That(result[1], Is.EqualTo(-MathF.PI / 2));
        Assert.That(float.IsNaN(result[2]));
        Assert.That(result[3], Is.EqualTo(0f));
    }

    private static double WorstAtanUlps<TVec, TMath>()
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        int low = BitConverter.SingleToInt32Bits(1e-30f), high = BitConverter.SingleToInt32Bits(1e30f);
        const int Samples = 1 << 24;
        int count = TMath.Count;
        var lanes = new float[count];
        var results = new float[count];
        double worst = 0;
        for (int k = 0; k < Samples; k += count)
        {
            for (int j = 0; j < count; j++)
            {
                float x = BitConverter.Int32BitsToSingle(low + (int)((long)(high - low) * (k + j) / Samples));
                lanes[j] = (k + j) % 2 == 0 ? x : -x;
            }

            TMath.Store(VectorFunctions.Atan<TVec, TMath>(TMath.Load(ref lanes[0])), ref results[0]);
            for (int j = 0; j < count; j++)
            {
                double exact = Math.Atan(lanes[j]);
                float rounded = (float)exact;
                double ulp = Math.Abs(MathF.BitIncrement(Math.Abs(rounded)) - Math.Abs(rounded));
                worst = Math.Max(worst, Math.Abs(results[j] - exact) / ulp);
            }
        }

        return worst;
    }

    [Test]
    public void RowTransposesRoundTripAtEveryWidth()
    {
        RoundTrip<Vector128<float>, Width128>();
        if (Vector256.IsHardwareAccelerated)
            RoundTrip<Vector256<float>, Width256>();
        if (Vector512.IsHardwareAccelerated)
            RoundTrip<Vector512<float>, Width512>();
    }

    private static void RoundTrip<TVec, TMath>()
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        int count = TMath.Count;
        float[] rows = [.. Enumerable.Range(0, 4 * count).Select(i => (float)i)];
        TMath.LoadRows(ref rows[0], out TVec c0, out TVec c1, out TVec c2, out TVec c3);
        float[] column = new float[count];
        TVec[] columns = [c0, c1, c2, c3];
        for (int c = 0; c < 4; c++)
        {
            TMath.Store(columns[c], ref column[0]);
            Assert.That(column, Is.EqualTo(Enumerable.Range(0, count).Select(k => (float)(4 * k + c))), $"width {count}: column {c}");
        }

        float[] back = new float[4 * count];
        TMath.StoreRows(c0, c1, c2, c3, ref back[0]);
        Assert.That(back, Is.EqualTo(rows), $"width {count}: rows stored back");
    }

    /// <summary>
    /// Square blocks of a lane count's rows transposed between strided places (short rows of classes, one row per lane):
    /// every element lands at its transposed place and nothing around the destination block is written, at every width
    /// (the element-by-element form where the machine lacks a width's shuffles).
    /// </summary>
    [Test]
    public void SquareTransposesAtEveryWidth([Values(0, 1, 7)] int extraSourceColumns)
    {
        Square<Vector128<float>, Width128>(extraSourceColumns);
        Square<Vector256<float>, Width256>(extraSourceColumns);
        Square<Vector512<float>, Width512>(extraSourceColumns);
    }

    private static void Square<TVec, TMath>(int extraSourceColumns)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        int count = TMath.Count, sourceStride = count + extraSourceColumns, destinationStride = count + 3;
        float[] source = [.. Enumerable.Range(0, count * sourceStride).Select(i => (float)i)];
        float[] destination = [.. Enumerable.Repeat(-1f, count * destinationStride)];
        TMath.TransposeSquare(ref source[0], sourceStride, ref destination[0], destinationStride);
        for (int row = 0; row < count; row++)
        {
            for (int column = 0; column < destinationStride; column++)
            {
                float expected = column < count ? source[column * sourceStride + row] : -1f;
                Assert.That(destination[row * destinationStride + column], Is.EqualTo(expected), $"width {count}, row {row}, column {column}");
            }
        }
    }

    [TestCase(1, 1)]
    [TestCase(3, 2)]
    [TestCase(5, 3)]
    [TestCase(7, 17)]
    [TestCase(33, 100)]
    [TestCase(2, 40_001)]
    public void PairwiseIouMatchesTheReference(int n, int m)
    {
        (float[] a, _) = BoxHarness.Boxes(n, seed: n);
        (_, float[] b) = BoxHarness.Boxes(m, seed: m + 1);
        foreach (BoxFormat format in new[] { BoxFormat.Xyxy, BoxFormat.Cxcywh })
        {
            float[] first = format == BoxFormat.Xyxy ? a : BoxLossTests.ToCenterSize(a);
            float[] second = format == BoxFormat.Xyxy ? b : BoxLossTests.ToCenterSize(b);
            var iou = new float[n * m];
            BoxIou.Pairwise(first, second, iou, format);
            Numerics.AssertClose($"box_iou {n}x{m} {format}", iou, ReferenceIou(a, b), 1e-4, 1e-6);
        }
    }

    /// <summary>torchvision's box_iou in float64.</summary>
    internal static double[] ReferenceIou(float[] a, float[] b)
    {
        int n = a.Length / 4, m = b.Length / 4;
        var iou = new double[n * m];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < m; j++)
            {
                double w = Math.Max(Math.Min(a[4 * i + 2], b[4 * j + 2]) - Math.Max(a[4 * i], b[4 * j]), 0);
                double h = Math.Max(Math.Min(a[4 * i + 3], b[4 * j + 3]) - Math.Max(a[4 * i + 1], b[4 * j + 1]), 0);
                double areaA = ((double)a[4 * i + 2] - a[4 * i]) * ((double)a[4 * i + 3] - a[4 * i + 1]);
                double areaB = ((double)b[4 * j + 2] - b[4 * j]) * ((double)b[4 * j + 3] - b[4 * j + 1]);
                iou[i * m + j] = w * h / (areaA + areaB - w * h);
            }
        }

        return iou;
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(37)]
    [TestCase(4099)]
    public void CenternessTargetsMatchMMDetection(int n)
    {
        float[] ltrb = CatalogHarnessLtrb(n);
        var centerness = new float[n];
        FcosCenterness.Targets(ltrb, centerness);
        Numerics.AssertClose($"centerness n{n}", centerness, ReferenceCenterness(ltrb), 1e-6, 1e-7);
    }

    [Test]
    public void CenternessOfAZeroSizedAxisIsZeroNotNaN()
    {
        float[] centerness = new float[2];
        FcosCenterness.Targets([0, 1, 0, 1, 2, 0, 2, 0], centerness);
        Assert.That(centerness, Is.EqualTo(new[] { 0f, 0f }));
    }

    internal static float[] CatalogHarnessLtrb(int n) => Core.CatalogHarness.Uniform(4 * n, n + 17, 0.01f, 12f);

    internal static double[] ReferenceCenterness(float[] ltrb)
    {
        var result = new double[ltrb.Length / 4];
        for (int i = 0; i < result.Length; i++)
        {
            double l = ltrb[4 * i], t = ltrb[4 * i + 1], r = ltrb[4 * i + 2], b = ltrb[4 * i + 3];
            result[i] = Math.Sqrt(Math.Min(l, r) / Math.Max(l, r) * (Math.Min(t, b) / Math.Max(t, b)));
        }

        return result;
    }
}
