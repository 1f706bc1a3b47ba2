using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json;
using System.Text.Json.Serialization;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using LossKernels.Catalog;
using LossKernels.ILGPU;
using LossKernels.OpenCL;
using LossKernels.Tests.Reference;
using Spectre.Console;

namespace LossKernels.Benchmarks;

/// <summary>One row of the quick report; the JSON names are the report's contract.</summary>
internal sealed record ReportRow(
    [property: JsonPropertyName("loss")] string Loss,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("n")] int N,
    [property: JsonPropertyName("ms")] double Ms,
    [property: JsonPropertyName("gbps")] double Gbps,
    [property: JsonPropertyName("roofline_fraction")] double RooflineFraction,
    [property: JsonPropertyName("max_rel_err")] double MaxRelErr,
    [property: JsonPropertyName("memmove_fraction")] double MemmoveFraction,
    [property: JsonPropertyName("simd_throughput_ratio"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? SimdThroughputRatio = null,
    [property: JsonPropertyName("gflops"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Gflops = null);

/// <summary>
/// The README's main command: every catalog loss × backend × mode at its report size, timed
/// (median), with GB/s over the bytes the loss must move, the fraction of a copy roofline measured
/// in this process over the same bytes, and the largest relative error against the float64 reference.
/// </summary>
internal static class QuickReport
{
    private static readonly LossMode[] Modes = [LossMode.Fused, LossMode.Forward, LossMode.Backward];

    /// <summary>
    /// The default run measures each loss at a quarter of its catalog report size (4M elements, 256K boxes, [1024, 32000] logits):
    /// every array still far past the last-level cache, and the whole report about two minutes on 2 cores; <c>--full</c> runs the
    /// catalog sizes.
    /// </summary>
    private const int QuickDivisor = 4;

    /// <summary>The elements a loss is run at: <paramref name="size"/> if given, else its catalog report size (<paramref name="full"/>) or a quarter of it.</summary>
    internal static int SizeOf(LossDefinition definition, int? size, bool full) =>
        size ?? (full ? definition.ReportSize : Math.Max(1, definition.ReportSize / QuickDivisor));

    public static int Run(string[] args)
    {
        string? jsonPath = Option(args, "--json");
        string[] filter = Option(args, "--filter")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        int? size = Option(args, "--size") is string s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : null;
        bool full = args.Contains("--full");
        int SizeOf(LossDefinition definition) => QuickReport.SizeOf(definition, size, full);
        LossDefinition[] losses = LossCatalog.All.Where(d => filter.Length == 0 || filter.Any(f => d.Name.Contains(f, StringComparison.Ordinal))).ToArray();
        if (losses.Length == 0)
        {
            AnsiConsole.MarkupLine($"[red]No loss matches --filter {Markup.Escape(string.Join(",", filter))}.[/] Known: {string.Join(", ", LossCatalog.All.Select(d => d.Name))}");
            return 2;
        }

        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 132;
            AnsiConsole.Profile.Capabilities.Ansi = false;
        }
        PrintMachine();
        long largestBytes = losses.Max(d => LargestBytesMoved(d, SizeOf(d)));
        using OpenCLDevice? openCL = args.Contains("--no-opencl") ? null : OpenDevice(Option(args, "--opencl-variant"));
        using Context? ilgpuContext = args.Contains("--no-ilgpu") ? null : CudaContext();
        using Accelerator? cuda = ilgpuContext is null ? null : OpenCuda(ilgpuContext);
        var devices = new List<IReportDevice>();
        if (openCL is not null)
            devices.Add(new OpenCLCopyRoofline(openCL, largestBytes));
        if (cuda is not null)
            devices.Add(new IlgpuCopyRoofline(new IlgpuDevice(cuda), largestBytes));
        var rows = new List<ReportRow>();
        var copy = new CopyRoofline(largestBytes);
        try
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new SpinnerColumn())
                .Start(context =>
                {
                    foreach (LossDefinition definition in losses)
                    {
                        ProgressTask task = context.AddTask(definition.Name, maxValue: (3 + devices.Count) * Modes.Length);
                        rows.AddRange(Measure(definition, SizeOf(definition), copy, devices, task));
                    }
                });
        }
        finally
        {
            foreach (IReportDevice device in devices)
                device.Dispose();
        }

        PrintTable(rows);
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"Wrote {rows.Count} rows to [bold]{Markup.Escape(jsonPath)}[/].");
        }

        return 0;
    }

    /// <summary>
    /// The most bytes a run of <paramref name="definition"/> moves at <paramref name="n"/> items, so the copy buffers fit every loss: bound at
    /// <paramref name="n"/> itself, since what some losses move is not linear in n (triplet mining's B² distances).
    /// </summary>
    private static long LargestBytesMoved(LossDefinition definition, int n)
    {
        LossParameters parameters = definition.Reductions.Count > 0 ? new([new("reduction", definition.Reductions[0])]) : LossParameters.Empty;
        using BoundLoss probe = definition.Bind(parameters, definition.SampleInputs(n, seed: 1));
        return Modes.Max(probe.BytesMoved);
    }

    /// <summary>The device <see cref="OpenCLDevice.Select()"/> picks, with <c>--opencl-variant</c> applied, or null (the report or golden run then has no opencl backend and says why).</summary>
    internal static OpenCLDevice? OpenDevice(string? variant)
    {
        try
        {
            OpenCLDevice device = OpenCLDevice.Select();
            if (variant is not null)
                device.Variant = Enum.Parse<OpenCLReductionVariant>(variant, ignoreCase: true);
            AnsiConsole.MarkupLine($"OpenCL: {Markup.Escape(device.Info.ToString())}, {device.Info.Version}, reduction variant {device.ResolvedVariant}");
            return device;
        }
        catch (InvalidOperationException e)
        {
            AnsiConsole.MarkupLine($"[yellow]No opencl backend:[/] {Markup.Escape(e.Message)}");
            return null;
        }
    }

    /// <summary>An ILGPU context with its CUDA devices (the native libraries mapped first), or null when ILGPU finds none.</summary>
    internal static Context? CudaContext()
    {
        IlgpuRuntime.MapNativeLibraries();
        Context context = Context.Create(builder => builder.Cuda());
        if (context.Devices.Any(d => d.AcceleratorType == AcceleratorType.Cuda))
            return context;
        context.Dispose();
        AnsiConsole.MarkupLine("[yellow]No ilgpu-cuda backend:[/] ILGPU finds no CUDA device.");
        return null;
    }

    /// <summary>The first CUDA accelerator (never the CPU accelerator: its rows would not be a GPU's).</summary>
    private static Accelerator? OpenCuda(Context context)
    {
        Accelerator? accelerator = context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)?.CreateAccelerator(context);
        if (accelerator is not null)
            AnsiConsole.MarkupLine($"ILGPU CUDA: {Markup.Escape(accelerator.Name)}, {accelerator.MemorySize / (1L << 30)} GiB, {accelerator.NumMultiprocessors} SMs");
        return accelerator;
    }

    /// <summary>A target's values as doubles, float or integer.</summary>
    private static double[] TargetValues(LossTensor target, string name) =>
        target.Floats is float[] floats ? ToDouble(floats) : Array.ConvertAll(target.RequireIntegers(name), v => (double)v);

    private static IEnumerable<ReportRow> Measure(LossDefinition definition, int n, CopyRoofline copy, List<IReportDevice> devices, ProgressTask task)
    {
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(n, seed: 1);
        var parameters = new Dictionary<string, object?>();
        if (definition.Parameters.Contains("reduction"))
            parameters["reduction"] = "mean";
        BoundLoss bound = definition.Bind(new LossParameters(parameters), inputs);
        float[] input = inputs[definition.Inputs[0]].RequireFloats(definition.Inputs[0]);
        // A loss of one input (total variation) has no target.
        LossTensor? targetTensor = definition.Inputs.Count > 1 ? inputs[definition.Inputs[1]] : null;
        ReferenceResult reference = definition.Family switch
        {
            "segmentation" => ReferenceSegmentationLosses.Compute(definition.Name, parameters, inputs["input"], targetTensor!, inputs.GetValueOrDefault("pixel_weight")),
            "embedding" => ReferenceEmbeddingLosses.Compute(definition.Name, parameters, inputs) is var embedding ? new ReferenceResult(embedding.Loss, embedding.Gradients[0]) : null!,
            "generative" => ReferenceGenerativeLosses.Compute(definition.Name, parameters, inputs),
            _ => ReferenceLosses.Compute(definition.Name, parameters, ToDouble(input), TargetValues(targetTensor!, definition.Inputs[1]), null, null),
        };

        var deviceBounds = devices.Select(d => definition.Bind(new LossParameters(parameters), inputs, null, d.Device)).ToList();
        var runners = new List<IReportRunner> { new CatalogRunner(bound) };
        runners.AddRange(deviceBounds.Select(b => new CatalogRunner(b)));
        if (definition.Family == "regression")
        {
            float[] target = targetTensor!.RequireFloats(definition.Inputs[1]);
            runners.Add(new TensorPrimitivesRegression(definition.Name, input, target));
            runners.Add(new ScalarRegression(definition.Name, input, target));
        }

        var rows = new List<ReportRow>();
        try
        {
            foreach (IReportRunner runner in runners)
            {
                IReportDevice? device = devices.FirstOrDefault(d => d.Device.Backend == runner.Backend);
                foreach (LossMode mode in Modes)
                {
                    long bytes = bound.BytesMoved(mode);
                    copy.Prepare(bytes);
                    double[] medians;
                    double roofMs, memmoveMs;
                    double? simdRatio = null;
                    if (device is not null)
                    {
                        // A device in the host's memory is bounded by the host copies too; a GPU by its own copy only.
                        device.Prepare(bytes);
                        // The CPU kernel runs right after the device's in each round; the ratio is the median of the rounds' ratios.
                        List<double>[] times = AlternatingTimes(() => runner.Run(mode), () => runners[0].Run(mode), device.Copy, copy.Memmove, copy.Streaming);
                        medians = times.Select(Median).ToArray();
                        roofMs = device.SharesHostMemory ? medians[2..].Min() : medians[2];
                        memmoveMs = medians[2];
                        simdRatio = Median(times[1].Zip(times[0], (simd, onDevice) => simd / onDevice));
                    }
                    else
                    {
                        medians = AlternatingTimes(() => runner.Run(mode), copy.Memmove, copy.Streaming).Select(Median).ToArray();
                        roofMs = Math.Min(medians[1], medians[2]);
                        memmoveMs = medians[1];
                    }

                    double ms = medians[0];
                    double roofGbps = bytes / roofMs / 1e6;
                    double memmoveGbps = bytes / memmoveMs / 1e6;
                    double gbps = bytes / ms / 1e6;
                    double error = mode switch
                    {
                        LossMode.Forward => RelativeError([runner.Loss], reference.Loss),
                        LossMode.Backward => RelativeError(runner.Gradient, reference.InputGradient),
                        _ => Math.Max(RelativeError([runner.Loss], reference.Loss), RelativeError(runner.Gradient, reference.InputGradient)),
                    };
                    // A loss that is matrix products (the Gram style loss) is bounded by the FMA units, not the copy: its GFLOP/s too.
                    double? gflops = bound is Generative.GramStyleBoundLoss gram ? gram.Flops(mode) / ms / 1e6 : null;
                    rows.Add(new ReportRow(definition.Name, runner.Backend, mode.ToString().ToLowerInvariant(), n, ms, gbps, gbps / roofGbps, error, gbps / memmoveGbps, simdRatio,
                        gflops));
                    task.Increment(1);
                }
            }
        }
        finally
        {
            foreach (BoundLoss deviceBound in deviceBounds)
                deviceBound.Dispose();
        }

        return rows;
    }

    /// <summary>
    /// Times of the given runs timed in turn (so that a noisy neighbour slows all of them alike), one list per
    /// run and one entry per round, after two warm-up rounds (page faults, JIT tiers): at least 7 rounds,
    /// then until 0.4 s or 25 rounds.
    /// </summary>
    private static List<double>[] AlternatingTimes(params Action[] runs)
    {
        var times = runs.Select(_ => new List<double>()).ToArray();
        for (int warmup = 0; warmup < 2; warmup++)
        {
            foreach (Action run in runs)
                run();
        }

        var total = Stopwatch.StartNew();
        while (times[0].Count < 7 || (total.Elapsed.TotalSeconds < 0.4 && times[0].Count < 25))
        {
            for (int r = 0; r < runs.Length; r++)
            {
                long start = Stopwatch.GetTimestamp();
                runs[r]();
                times[r].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        return times;
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>max |got − expected| / |expected| over finite expected values (exact zeros must be matched exactly).</summary>
    /// <summary>
    /// The largest |got − expected| / max(|expected|, 1e-3 · max|expected|): relative error, except that elements
    /// a thousand times smaller than the largest (a gradient that cancels to nearly 0) are measured against that floor.
    /// </summary>
    private static double RelativeError(ReadOnlySpan<float> got, ReadOnlySpan<double> expected)
    {
        double largest = 0;
        foreach (double value in expected)
        {
            if (double.IsFinite(value))
                largest = Math.Max(largest, Math.Abs(value));
        }

        double floor = 1e-3 * largest;
        double worst = 0;
        for (int i = 0; i < got.Length; i++)
        {
            if (!double.IsFinite(expected[i]))
                continue;
            double difference = Math.Abs(got[i] - expected[i]);
            double scale = Math.Max(Math.Abs(expected[i]), floor);
            double error = scale == 0 ? (difference == 0 ? 0 : double.PositiveInfinity) : difference / scale;
            worst = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(worst, error);
        }

        return worst;
    }

    private static double[] ToDouble(float[] values) => Array.ConvertAll(values, v => (double)v);

    private static void PrintMachine()
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
        string width = Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128";
        AnsiConsole.MarkupLine($"[bold]LossKernels quick report[/] — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Markup.Escape(cpu)}, " +
            $"{Environment.ProcessorCount} cores, {LossKernelsSettings.MaxThreads} threads, {width}, .NET {Environment.Version}");
    }

    private static void PrintTable(List<ReportRow> rows)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("loss", "backend", "mode", "n")
            .AddColumn(new TableColumn("median ms").RightAligned())
            .AddColumn(new TableColumn("GB/s").RightAligned())
            .AddColumn(new TableColumn("of copy roof").RightAligned())
            .AddColumn(new TableColumn("of memmove").RightAligned())
            .AddColumn(new TableColumn("max rel err").RightAligned())
            .AddColumn(new TableColumn("× simd").RightAligned());
        bool products = rows.Any(r => r.Gflops is not null);
        if (products)
            table.AddColumn(new TableColumn("GFLOP/s").RightAligned());
        foreach (ReportRow row in rows)
        {
            string[] cells = [row.Loss, row.Backend, row.Mode, row.N.ToString("N0"), row.Ms.ToString("F3"), row.Gbps.ToString("F1"),
                row.RooflineFraction.ToString("F2"), row.MemmoveFraction.ToString("F2"), row.MaxRelErr.ToString("E1"), row.SimdThroughputRatio?.ToString("F2") ?? ""];
            table.AddRow(products ? [.. cells, row.Gflops?.ToString("F1") ?? ""] : cells);
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("GB/s counts the bytes a loss must read and write (fused elementwise: 12 per element; fused box pair: 64, both gradients); the roof is the faster of a memmove and a streaming-store copy of as many bytes on the same threads, timed in turn with each row; the column of memmove is the fraction of the memmove alone. " +
            "For device rows (opencl, ilgpu-cuda) the memmove is the device's own buffer copy, and on a CPU device the host copies count toward the roof too; × simd is the device's throughput over the CPU SIMD kernel's, timed in turn in each round. " +
            "max rel err is against the float64 reference, each element relative to itself or, if smaller, to 1/1000 of the largest element.");
        if (products)
            AnsiConsole.MarkupLine($"GFLOP/s counts a matrix-product loss's useful flops (gram_style_loss: the Gram's lower triangle and the backward's product); the core's FP32 peak measured now (an FMA loop) is {GemmCommand.MeasurePeak():F0} GFLOP/s, {LossKernelsSettings.MaxThreads} threads.");
    }

    internal static string? Option(string[] args, string name)
    {
        int index = Array.IndexOf(args, name);
        if (index < 0)
            return null;
        if (index + 1 >= args.Length)
            throw new ArgumentException($"{name} needs a value.", name);
        return args[index + 1];
    }
}
