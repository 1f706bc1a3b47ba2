using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json;
using System.Text.Json.Serialization;
using LossKernels.Catalog;
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
    [property: JsonPropertyName("memmove_fraction")] double MemmoveFraction);

/// <summary>
/// The README's main command: every catalog loss × backend × mode at its report size, timed
/// (median), with GB/s over the bytes the loss must move, the fraction of a copy roofline measured
/// in this process over the same bytes, and the largest relative error against the float64 reference.
/// </summary>
internal static class QuickReport
{
    private static readonly LossMode[] Modes = [LossMode.Fused, LossMode.Forward, LossMode.Backward];

    public static int Run(string[] args)
    {
        string? jsonPath = Option(args, "--json");
        string[] filter = Option(args, "--filter")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        int? size = Option(args, "--size") is string s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : null;
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
        var rows = new List<ReportRow>();
        long largestBytes = losses.Max(d => 24L * (size ?? d.ReportSize));
        var copy = new CopyRoofline(largestBytes);
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new SpinnerColumn())
            .Start(context =>
            {
                foreach (LossDefinition definition in losses)
                {
                    ProgressTask task = context.AddTask(definition.Name, maxValue: 3 * Modes.Length);
                    rows.AddRange(Measure(definition, size ?? definition.ReportSize, copy, task));
                }
            });

        PrintTable(rows);
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLine($"Wrote {rows.Count} rows to [bold]{Markup.Escape(jsonPath)}[/].");
        }

        return 0;
    }

    private static IEnumerable<ReportRow> Measure(LossDefinition definition, int n, CopyRoofline copy, ProgressTask task)
    {
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(n, seed: 1);
        var parameters = new Dictionary<string, object?>();
        if (definition.Parameters.Contains("reduction"))
            parameters["reduction"] = "mean";
        BoundLoss bound = definition.Bind(new LossParameters(parameters), inputs);
        float[] input = inputs["input"].RequireFloats("input"), target = inputs["target"].RequireFloats("target");
        ReferenceResult reference = ReferenceLosses.Compute(definition.Name, parameters, ToDouble(input), ToDouble(target), null, null);

        var runners = new List<IReportRunner> { new SimdRunner(bound) };
        if (definition.Family == "regression")
        {
            runners.Add(new TensorPrimitivesRegression(definition.Name, input, target));
            runners.Add(new ScalarRegression(definition.Name, input, target));
        }

        var rows = new List<ReportRow>();
        foreach (IReportRunner runner in runners)
        {
            foreach (LossMode mode in Modes)
            {
                long bytes = bound.BytesMoved(mode);
                copy.Prepare(bytes);
                double[] medians = AlternatingMedians(() => runner.Run(mode), copy.Memmove, copy.Streaming);
                double ms = medians[0];
                double roofGbps = bytes / Math.Min(medians[1], medians[2]) / 1e6;
                double memmoveGbps = bytes / medians[1] / 1e6;
                double gbps = bytes / ms / 1e6;
                double error = mode switch
                {
                    LossMode.Forward => RelativeError([runner.Loss], reference.Loss),
                    LossMode.Backward => RelativeError(runner.Gradient, reference.InputGradient),
                    _ => Math.Max(RelativeError([runner.Loss], reference.Loss), RelativeError(runner.Gradient, reference.InputGradient)),
                };
                rows.Add(new ReportRow(definition.Name, runner.Backend, mode.ToString().ToLowerInvariant(), n, ms, gbps, gbps / roofGbps, error, gbps / memmoveGbps));
                task.Increment(1);
            }
        }

        return rows;
    }

    /// <summary>
    /// Medians of the given runs timed in turn (so that a noisy neighbour slows all of them alike), after
    /// two warm-up rounds (page faults, JIT tiers): at least 7 rounds, then until 0.4 s or 25 rounds.
    /// </summary>
    private static double[] AlternatingMedians(params Action[] runs)
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

        return times.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
    }

    /// <summary>max |got − expected| / |expected| over finite expected values (exact zeros must be matched exactly).</summary>
    private static double RelativeError(ReadOnlySpan<float> got, ReadOnlySpan<double> expected)
    {
        double worst = 0;
        for (int i = 0; i < got.Length; i++)
        {
            if (!double.IsFinite(expected[i]))
                continue;
            double difference = Math.Abs(got[i] - expected[i]);
            double error = expected[i] == 0 ? (difference == 0 ? 0 : double.PositiveInfinity) : difference / Math.Abs(expected[i]);
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
            .AddColumn(new TableColumn("max rel err").RightAligned());
        foreach (ReportRow row in rows)
        {
            table.AddRow(row.Loss, row.Backend, row.Mode, row.N.ToString("N0"), row.Ms.ToString("F3"), row.Gbps.ToString("F1"),
                row.RooflineFraction.ToString("F2"), row.MemmoveFraction.ToString("F2"), row.MaxRelErr.ToString("E1"));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("GB/s counts the bytes a loss must read and write (fused elementwise: 12 per element); the roof is the faster of a memmove and a streaming-store copy of as many bytes on the same threads, timed in turn with each row; the column of memmove is the fraction of the memmove alone.");
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
