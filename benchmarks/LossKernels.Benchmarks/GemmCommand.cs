using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossKernels.Benchmarks;

/// <summary>
/// <c>gemm</c>: the CPU SGEMM's GFLOP/s against the core's measured FP32 peak, on the Gram style loss's shapes at [C, H·W] = [256, 16384]:
/// the Gram matrix (SYRK, lower triangle) and the backward's [C, C]·[C, H·W] product, on one thread and on every thread.
/// </summary>
internal static unsafe class GemmCommand
{
    public static int Run(string[] args)
    {
        int channels = 256, spatial = 16384;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--channels")
                channels = int.Parse(args[i + 1]);
            else if (args[i] == "--spatial")
                spatial = int.Parse(args[i + 1]);
        }

        double peak = MeasurePeak();
        Console.WriteLine($"FP32 peak of one core (FMA loop, {(Vector512.IsHardwareAccelerated ? 512 : 256)}-bit): {peak:F1} GFLOP/s");
        var random = new Random(1);
        float[] features = Enumerable.Range(0, channels * spatial).Select(_ => (float)random.NextDouble()).ToArray();
        float[] gram = new float[channels * channels], product = new float[channels * spatial];
        int saved = LossKernelsSettings.MaxThreads;
        try
        {
            foreach (int threads in new[] { 1, saved }.Distinct())
            {
                LossKernelsSettings.MaxThreads = threads;
                fixed (float* f = features, g = gram, p = product)
                {
                    float* fp = f, gp = g, pp = p;
                    // The SYRK's useful work is the lower triangle's: C·(C + 1)/2 dot products of H·W.
                    double syrk = Median(() => Gemm.GramLower(fp, channels, spatial, gp), (double)channels * (channels + 1) * spatial);
                    double gemm = Median(() => Gemm.Multiply(gp, channels, fp, spatial, pp, spatial, channels, spatial, channels), 2.0 * channels * channels * spatial);
                    Console.WriteLine($"{threads} thread(s): SYRK [{channels}, {spatial}] {syrk:F1} GFLOP/s ({syrk / (peak * threads):P0} of peak), " +
                        $"GEMM [{channels}, {channels}]·[{channels}, {spatial}] {gemm:F1} GFLOP/s ({gemm / (peak * threads):P0} of peak)");
                }
            }
        }
        finally
        {
            LossKernelsSettings.MaxThreads = saved;
        }

        return 0;
    }

    /// <summary>The median GFLOP/s of 9 timed runs after 2 warm-ups.</summary>
    private static double Median(Action run, double flops)
    {
        var rates = new double[9];
        run();
        run();
        for (int r = 0; r < rates.Length; r++)
        {
            long start = Stopwatch.GetTimestamp();
            run();
            rates[r] = flops / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9;
        }

        Array.Sort(rates);
        return rates[rates.Length / 2];
    }

    /// <summary>The best of five runs of twenty independent FMA chains (more than latency × throughput) over the widest vectors.</summary>
    internal static double MeasurePeak()
    {
        double best = 0;
        for (int r = 0; r < 5; r++)
        {
            const int iterations = 2_000_000;
            long start = Stopwatch.GetTimestamp();
            double sink = Vector512.IsHardwareAccelerated ? Chains<Vector512<float>, Width512>(iterations) : Chains<Vector256<float>, Width256>(iterations);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            int lanes = Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;
            best = Math.Max(best, iterations * 20.0 * lanes * 2 / seconds / 1e9 + (sink == 12345d ? 1e-9 : 0));
        }

        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double Chains<TVec, TMath>(int iterations)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec m = TMath.Create(0.999f), d = TMath.Create(1e-6f);
        TVec a0 = TMath.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
        TVec b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0, b8 = a0, b9 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = TMath.MultiplyAdd(a0, m, d); a1 = TMath.MultiplyAdd(a1, m, d); a2 = TMath.MultiplyAdd(a2, m, d); a3 = TMath.MultiplyAdd(a3, m, d);
            a4 = TMath.MultiplyAdd(a4, m, d); a5 = TMath.MultiplyAdd(a5, m, d); a6 = TMath.MultiplyAdd(a6, m, d); a7 = TMath.MultiplyAdd(a7, m, d);
            a8 = TMath.MultiplyAdd(a8, m, d); a9 = TMath.MultiplyAdd(a9, m, d); b0 = TMath.MultiplyAdd(b0, m, d); b1 = TMath.MultiplyAdd(b1, m, d);
            b2 = TMath.MultiplyAdd(b2, m, d); b3 = TMath.MultiplyAdd(b3, m, d); b4 = TMath.MultiplyAdd(b4, m, d); b5 = TMath.MultiplyAdd(b5, m, d);
            b6 = TMath.MultiplyAdd(b6, m, d); b7 = TMath.MultiplyAdd(b7, m, d); b8 = TMath.MultiplyAdd(b8, m, d); b9 = TMath.MultiplyAdd(b9, m, d);
        }

        TVec a = TMath.Add(TMath.Add(TMath.Add(TMath.Add(a0, a1), TMath.Add(a2, a3)), TMath.Add(TMath.Add(a4, a5), TMath.Add(a6, a7))), TMath.Add(a8, a9));
        TVec b = TMath.Add(TMath.Add(TMath.Add(TMath.Add(b0, b1), TMath.Add(b2, b3)), TMath.Add(TMath.Add(b4, b5), TMath.Add(b6, b7))), TMath.Add(b8, b9));
        return TMath.Sum(TMath.Add(a, b));
    }
}
