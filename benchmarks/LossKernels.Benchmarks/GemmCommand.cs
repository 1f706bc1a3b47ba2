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
            float sink = Vector512.IsHardwareAccelerated ? Chains512(iterations) : Chains256(iterations);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
            best = Math.Max(best, iterations * 20.0 * lanes * 2 / seconds / 1e9 + (sink == 12345f ? 1e-9 : 0));
        }

        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(int iterations)
    {
        Vector512<float> m = Vector512.Create(0.999f), d = Vector512.Create(1e-6f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
        Vector512<float> b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0, b8 = a0, b9 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, d); a1 = Vector512.FusedMultiplyAdd(a1, m, d); a2 = Vector512.FusedMultiplyAdd(a2, m, d);
            a3 = Vector512.FusedMultiplyAdd(a3, m, d); a4 = Vector512.FusedMultiplyAdd(a4, m, d); a5 = Vector512.FusedMultiplyAdd(a5, m, d);
            a6 = Vector512.FusedMultiplyAdd(a6, m, d); a7 = Vector512.FusedMultiplyAdd(a7, m, d); a8 = Vector512.FusedMultiplyAdd(a8, m, d);
            a9 = Vector512.FusedMultiplyAdd(a9, m, d); b0 = Vector512.FusedMultiplyAdd(b0, m, d); b1 = Vector512.FusedMultiplyAdd(b1, m, d);
            b2 = Vector512.FusedMultiplyAdd(b2, m, d); b3 = Vector512.FusedMultiplyAdd(b3, m, d); b4 = Vector512.FusedMultiplyAdd(b4, m, d);
            b5 = Vector512.FusedMultiplyAdd(b5, m, d); b6 = Vector512.FusedMultiplyAdd(b6, m, d); b7 = Vector512.FusedMultiplyAdd(b7, m, d);
            b8 = Vector512.FusedMultiplyAdd(b8, m, d); b9 = Vector512.FusedMultiplyAdd(b9, m, d);
        }

        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(int iterations)
    {
        Vector256<float> m = Vector256.Create(0.999f), d = Vector256.Create(1e-6f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
        Vector256<float> b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0, b8 = a0, b9 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, d); a1 = Vector256.FusedMultiplyAdd(a1, m, d); a2 = Vector256.FusedMultiplyAdd(a2, m, d);
            a3 = Vector256.FusedMultiplyAdd(a3, m, d); a4 = Vector256.FusedMultiplyAdd(a4, m, d); a5 = Vector256.FusedMultiplyAdd(a5, m, d);
            a6 = Vector256.FusedMultiplyAdd(a6, m, d); a7 = Vector256.FusedMultiplyAdd(a7, m, d); a8 = Vector256.FusedMultiplyAdd(a8, m, d);
            a9 = Vector256.FusedMultiplyAdd(a9, m, d); b0 = Vector256.FusedMultiplyAdd(b0, m, d); b1 = Vector256.FusedMultiplyAdd(b1, m, d);
            b2 = Vector256.FusedMultiplyAdd(b2, m, d); b3 = Vector256.FusedMultiplyAdd(b3, m, d); b4 = Vector256.FusedMultiplyAdd(b4, m, d);
            b5 = Vector256.FusedMultiplyAdd(b5, m, d); b6 = Vector256.FusedMultiplyAdd(b6, m, d); b7 = Vector256.FusedMultiplyAdd(b7, m, d);
            b8 = Vector256.FusedMultiplyAdd(b8, m, d); b9 = Vector256.FusedMultiplyAdd(b9, m, d);
        }

        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9);
    }
}
