using System.Globalization;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.Loader;
using LossKernels.Catalog;

namespace LossKernels.Benchmarks;

/// <summary>
/// <c>ab --before PATH --after PATH</c>: two builds of the library in one process, each catalog loss's calls alternating between them
/// in blocks of five, the medians side by side. On a shared machine whose speed drifts from minute to minute, two builds timed one
/// after the other disagree by more than most changes move them; alternating blocks expose both to the same minutes. PATH is a
/// LossKernels.dll or the folder that holds it (a worktree's <c>bindings/LossKernels/bin/Release/net10.0</c>). Each build runs the
/// catalog's sample inputs at the quick report's sizes (<c>--full</c>, <c>--size N</c>), reduction "mean", on the CPU.
/// Options: <c>--filter a,b</c> (catalog names containing a or b), <c>--modes fused,forward,backward</c> (default fused and
/// forward), <c>--rounds R</c> (blocks per build and mode, default 20), <c>--threads T</c>.
/// </summary>
internal static class AbCommand
{
    private const int BlockCalls = 5;

    public static int Run(string[] args)
    {
        string? before = QuickReport.Option(args, "--before"), after = QuickReport.Option(args, "--after");
        if (before == null || after == null)
        {
            Console.Error.WriteLine("ab: --before PATH and --after PATH (a LossKernels.dll or its folder) are required.");
            return 2;
        }

        string[] filter = QuickReport.Option(args, "--filter")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        string[] modes = QuickReport.Option(args, "--modes")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? ["fused", "forward"];
        int rounds = QuickReport.Option(args, "--rounds") is string r ? int.Parse(r, CultureInfo.InvariantCulture) : 20;
        int? threads = QuickReport.Option(args, "--threads") is string t ? int.Parse(t, CultureInfo.InvariantCulture) : null;
        int? size = QuickReport.Option(args, "--size") is string s ? int.Parse(s, CultureInfo.InvariantCulture) : null;
        bool full = args.Contains("--full");

        var builds = new[] { Build.Load(before, threads), Build.Load(after, threads) };
        string[] names = LossCatalog.All.Select(d => d.Name).Where(n => filter.Length == 0 || filter.Any(f => n.Contains(f, StringComparison.Ordinal))).ToArray();
        if (names.Length == 0)
        {
            Console.Error.WriteLine($"ab: no loss matches --filter {string.Join(",", filter)}.");
            return 2;
        }

        Console.WriteLine($"{"loss",-34} {"mode",-8} {"n",11} {"before ms",10} {"after ms",10} {"after/before",12}");
        foreach (string name in names)
        {
            LossDefinition definition = LossCatalog.Get(name);
            int n = QuickReport.SizeOf(definition, size, full);
            foreach (string mode in modes)
            {
                Action[] calls = [.. builds.Select(b => b.Call(name, n, mode))];
                var times = new List<double>[] { [], [] };
                foreach (Action call in calls)
                    call();
                for (int round = 0; round < rounds; round++)
                {
                    for (int side = 0; side < 2; side++)
                    {
                        for (int k = 0; k < BlockCalls; k++)
                        {
                            long start = System.Diagnostics.Stopwatch.GetTimestamp();
                            calls[side]();
                            times[side].Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                        }
                    }
                }

                double first = Median(times[0]), second = Median(times[1]);
                Console.WriteLine($"{name,-34} {mode,-8} {n,11:N0} {first,10:F4} {second,10:F4} {second / first,12:F3}");
            }
        }

        return 0;
    }

    private static double Median(List<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted[sorted.Length / 2];
    }

    /// <summary>One build of the library in a load context of its own, driven through its catalog by reflection (its types are not ours).</summary>
    private sealed class Build(Assembly library)
    {
        public static Build Load(string path, int? threads)
        {
            string file = Directory.Exists(path) ? Path.Combine(path, "LossKernels.dll") : path;
            if (!File.Exists(file))
                throw new FileNotFoundException($"ab: no library at {file}.", file);
            var context = new BuildContext(Path.GetFullPath(file));
            Assembly library = context.LoadFromAssemblyPath(Path.GetFullPath(file));
            if (threads is int count)
                library.GetType("LossKernels.LossKernelsSettings", throwOnError: true)!.GetProperty("MaxThreads")!.SetValue(null, count);
            return new Build(library);
        }

        /// <summary>A call of the named loss on its sample inputs in <paramref name="mode"/>, bound once.</summary>
        public Action Call(string name, int n, string mode)
        {
            Type catalog = library.GetType("LossKernels.Catalog.LossCatalog", throwOnError: true)!;
            object definition = catalog.GetMethod("Get")!.Invoke(null, [name])!;
            object inputs = definition.GetType().GetMethod("SampleInputs")!.Invoke(definition, [n, 1])!;
            Type parametersType = library.GetType("LossKernels.Catalog.LossParameters", throwOnError: true)!;
            var values = new Dictionary<string, object?>();
            var declared = (IEnumerable<string>)definition.GetType().GetProperty("Parameters")!.GetValue(definition)!;
            if (declared.Contains("reduction"))
                values["reduction"] = "mean";
            object parameters = Activator.CreateInstance(parametersType, values)!;
            MethodInfo bind = definition.GetType().GetMethod("Bind")!;
            object bound = bind.Invoke(definition, [parameters, inputs, null, null])!;
            MethodInfo run = bound.GetType().GetMethod("Run")!;
            object modeValue = Enum.Parse(run.GetParameters()[0].ParameterType, mode, ignoreCase: true);
            return Expression.Lambda<Action>(Expression.Call(Expression.Constant(bound), run, Expression.Constant(modeValue))).Compile();
        }
    }

    /// <summary>The library from its own path; everything else (the runtime, System.Numerics.Tensors) is shared with the host.</summary>
    private sealed class BuildContext(string library) : AssemblyLoadContext(isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName name) => name.Name == "LossKernels" ? LoadFromAssemblyPath(library) : null;
    }
}
