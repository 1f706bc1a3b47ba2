using System.Text.Json;
using System.Text.Json.Serialization;
using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.ILGPU;
using LossKernels.OpenCL;
using LossKernels.Tests.Golden;
using Spectre.Console;

namespace LossKernels.Benchmarks;

/// <summary>One expected key of one case on one backend, its worst mode: a row of <c>golden --json</c>.</summary>
internal sealed record GoldenRow(
    [property: JsonPropertyName("case")] string Case,
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("got")] double Got,
    [property: JsonPropertyName("expected")] double Expected,
    [property: JsonPropertyName("abs_error")] double AbsoluteError,
    [property: JsonPropertyName("rtol")] double Rtol,
    [property: JsonPropertyName("atol")] double Atol,
    [property: JsonPropertyName("excess")] double Excess,
    [property: JsonPropertyName("passed")] bool Passed,
    [property: JsonPropertyName("problem")] string? Problem);

/// <summary>
/// <c>golden DIR|FILE…</c>: every golden case (format losskernels-golden/1) in the folders and files given, on every backend
/// present — the CPU kernels, the OpenCL device <see cref="OpenCLDevice.Select()"/> picks, ILGPU's first CUDA device — in every
/// mode, with the same check as the test suite. Prints one row per case, backend and expected key (its worst element over
/// the modes, as a multiple of its tolerance), <c>--json PATH</c> writes them; exits 1 when any case fails, 2 on bad arguments
/// or no cases. For teams that check their own engine's numbers against this library without building its tests.
/// </summary>
internal static class GoldenCommand
{
    public static int Run(string[] args)
    {
        string? jsonPath = QuickReport.Option(args, "--json");
        string[] paths = [.. args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || args[i - 1] != "--json"))];
        if (paths.Length == 0)
        {
            AnsiConsole.MarkupLine("usage: golden DIR|FILE… [--json PATH] [--no-opencl] [--no-ilgpu]");
            return 2;
        }

        var files = new List<string>();
        foreach (string path in paths)
        {
            if (Directory.Exists(path))
                files.AddRange(Directory.EnumerateFiles(path, "*.json").Order(StringComparer.Ordinal));
            else if (File.Exists(path))
                files.Add(path);
            else
            {
                AnsiConsole.MarkupLine($"[red]No folder or file {Markup.Escape(path)}.[/]");
                return 2;
            }
        }

        if (files.Count == 0)
        {
            AnsiConsole.MarkupLine($"[red]No *.json cases in {Markup.Escape(string.Join(", ", paths))}.[/]");
            return 2;
        }

        if (!BitConverter.IsLittleEndian)
        {
            AnsiConsole.MarkupLine("[red]The golden format stores little-endian data; this machine is big-endian.[/]");
            return 2;
        }

        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 160;
            AnsiConsole.Profile.Capabilities.Ansi = false;
        }

        var backends = new List<LossDevice?> { null };
        using OpenCLDevice? openCL = args.Contains("--no-opencl") ? null : QuickReport.OpenDevice(null);
        if (openCL is not null)
            backends.Add(openCL);
        using Context? context = args.Contains("--no-ilgpu") ? null : QuickReport.CudaContext();
        using Accelerator? cuda = context?.Devices.First(d => d.AcceleratorType == AcceleratorType.Cuda).CreateAccelerator(context);
        if (cuda is not null)
            backends.Add(new IlgpuDevice(cuda));

        var rows = new List<GoldenRow>();
        foreach (string file in files)
        {
            GoldenCase golden;
            try
            {
                golden = GoldenCase.Load(file);
            }
            catch (GoldenCaseException e)
            {
                rows.Add(Failed(Path.GetFileNameWithoutExtension(file), file, "(load)", e.Field, e.Message));
                continue;
            }

            foreach (LossDevice? device in backends)
                rows.AddRange(Check(golden, device));
        }

        PrintTable(rows);
        int failedCases = rows.Where(r => !r.Passed).Select(r => (r.File, r.Backend)).Distinct().Count();
        int runs = rows.Select(r => (r.File, r.Backend)).Distinct().Count();
        AnsiConsole.MarkupLine($"{files.Count} cases on {string.Join(", ", backends.Select(b => b?.Backend ?? "simd"))}: {runs - failedCases} of {runs} case runs passed, {failedCases} failed.");
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            AnsiConsole.MarkupLine($"Wrote {rows.Count} rows to [bold]{Markup.Escape(jsonPath)}[/].");
        }

        return failedCases == 0 ? 0 : 1;
    }

    /// <summary>One row per expected key: the comparison with the largest excess over the modes (a problem outranks any excess).</summary>
    private static IEnumerable<GoldenRow> Check(GoldenCase golden, LossDevice? device)
    {
        string backend = device?.Backend ?? "simd";
        List<GoldenComparison> comparisons;
        try
        {
            comparisons = GoldenCheck.Run(golden, device);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            return [Failed(golden.Name, golden.File, backend, "(bind)", $"{e.GetType().Name}: {e.Message}")];
        }

        return comparisons
            .GroupBy(c => c.Key)
            .Select(group => group.OrderByDescending(c => c.Problem is null ? c.Excess : double.MaxValue).First())
            .Select(c => new GoldenRow(golden.Name, golden.File, backend, c.Key, c.Mode, c.Index, c.Got, c.Expected, c.AbsoluteError,
                c.Tolerance.Rtol, c.Tolerance.Atol, c.Excess, c.Passed, c.Problem));
    }

    private static GoldenRow Failed(string name, string file, string backend, string key, string problem) =>
        new(name, file, backend, key, "", -1, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.PositiveInfinity, false, problem);

    private static void PrintTable(List<GoldenRow> rows)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("case", "backend", "key", "worst in")
            .AddColumn(new TableColumn("|error|").RightAligned())
            .AddColumn(new TableColumn("× tolerance").RightAligned())
            .AddColumn("result");
        foreach (GoldenRow row in rows)
        {
            string where = Markup.Escape(row.Problem ?? (row.Index < 0 ? row.Mode : $"{row.Mode} [{row.Index}]"));
            table.AddRow(Markup.Escape(row.Case), row.Backend, Markup.Escape(row.Key), where,
                row.Problem is null ? row.AbsoluteError.ToString("E2") : "", row.Problem is null ? row.Excess.ToString("F3") : "",
                row.Passed ? "pass" : "[red]FAIL[/]");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("× tolerance is the worst element's |got − expected| over atol + rtol·|expected| (at most 1 passes; NaN and ±∞ match only themselves), over the forward, fused and backward runs.");
    }
}
