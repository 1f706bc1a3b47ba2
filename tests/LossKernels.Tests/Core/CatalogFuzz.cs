using LossKernels.Catalog;

namespace LossKernels.Tests.Core;

/// <summary>
/// Deterministic fuzzing of the catalog (issue 12 item 4): random losses, sizes, parameters (valid and not) and special values
/// (NaN, ±∞, ±1e4) in the input, run on the CPU and on each device given, every mode. A call must either be rejected with an
/// <see cref="ArgumentException"/> (at bind or at run, then on every backend alike, with nothing written) or run: the same bits
/// twice on the CPU, and on each device the CPU's NaN and ∞ positions with the finite values within 1e-4 relative. What breaks
/// a rule is a defect, with the call's description. Shared by the test suite (a fixed seed, a few hundred calls) and the
/// benchmarks' <c>fuzz</c> command (longer runs).
/// </summary>
public sealed class CatalogFuzz(int seed, IReadOnlyList<LossDevice> devices, int largestSize = 1031)
{
    private static readonly int[] Sizes = [0, 1, 2, 3, 7, 8, 9, 16, 17, 33, 64, 65, 129, 257, 1031];

    /// <summary>Values tried per parameter name: valid ones first, then ones the loss must reject.</summary>
    private static readonly Dictionary<string, object?[]> Values = new()
    {
        ["reduction"] = ["mean", "sum", "none", "batchmean", "average"],
        ["avg_factor"] = [3.5, 100.0, -1.0, double.NaN],
        ["beta"] = [0.5, 1.0, 0.0, -1.0], ["delta"] = [0.6, 2.0, 0.0, -1.0], ["alpha"] = [0.25, 0.7, 1.0, -0.5],
        ["gamma"] = [0.0, 1.5, 2.0, -1.0], ["margin"] = [0.0, 0.5, 1.0, -1.0], ["eps"] = [1e-7, 1e-3, 0.0, -1.0],
        ["p"] = [1L, 2L, 3L], ["bins"] = [1L, 10L, 64L, 0L, 65L], ["momentum"] = [0.0, 0.5, 1.0],
        ["ignore_index"] = [-100L, 0L, 3L], ["label_smoothing"] = [0.0, 0.1, 1.0, 1.5], ["lse_square_scale"] = [0.0, 1e-4, -1.0],
        ["log_target"] = [false, true], ["iou_weighted"] = [true, false], ["pos_weight"] = [1.0, 2.5, -1.0],
        ["smooth"] = [0.0, 1.0, -1.0], ["smooth_nr"] = [1e-5, 0.0, -1.0], ["smooth_dr"] = [1e-5, 1.0, -1.0],
        ["smooth_point"] = [0.1, 0.5, -1.0], ["log_loss"] = [false, true], ["squared"] = [false, true], ["per_image"] = [false, true],
        ["from_logits"] = [true, false], ["neg_gamma"] = [false, true], ["weight_type"] = ["square", "simple", "uniform", "cubic"],
        ["format"] = ["xyxy", "cxcywh", "xywh", "polar"], ["variant"] = ["torchvision", "mmdet", "other"],
    };

    private readonly Random random = new(seed);

    /// <summary>Calls made.</summary>
    public int Calls { get; private set; }

    /// <summary>Calls every backend rejected with an <see cref="ArgumentException"/>.</summary>
    public int Rejected { get; private set; }

    /// <summary>Device runs compared with the CPU's.</summary>
    public int Compared { get; private set; }

    /// <summary>What broke a rule, one line each.</summary>
    public List<string> Defects { get; } = [];

    /// <summary>Makes <paramref name="calls"/> calls.</summary>
    public void Run(int calls)
    {
        for (int k = 0; k < calls; k++)
            One();
    }

    private void One()
    {
        Calls++;
        LossDefinition definition = LossCatalog.All[random.Next(LossCatalog.All.Count)];
        int n = Sizes.Where(s => s <= largestSize).ElementAt(random.Next(Sizes.Count(s => s <= largestSize)));
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(n, random.Next());
        var parameters = new Dictionary<string, object?>();
        foreach (string name in definition.Parameters)
        {
            if (Values.TryGetValue(name, out object?[]? values) && random.NextDouble() < 0.5)
                parameters[name] = values[random.Next(values.Length)];
        }

        float[] input = inputs[definition.Inputs[0]].RequireFloats(definition.Inputs[0]);
        var special = new List<string>();
        // FCOS centerness derives its targets on each backend, one ulp apart at most; at an infinite logit a target of 1 against
        // one just below 1 is ∞·0 = NaN against ∞, so it gets no infinities.
        double[] specials = definition.Name == "fcos_centerness_loss" ? [double.NaN, 1e4, -1e4] : [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1e4, -1e4];
        for (int s = random.NextDouble() < 0.3 && input.Length > 0 ? random.Next(1, 4) : 0; s > 0; s--)
        {
            int at = random.Next(input.Length);
            input[at] = (float)specials[random.Next(specials.Length)];
            special.Add($"{definition.Inputs[0]}[{at}]={input[at]}");
        }

        string what = $"{definition.Name} n={n} {{{string.Join(", ", parameters.Select(p => $"{p.Key}={p.Value}"))}}}{(special.Count > 0 ? " " + string.Join(" ", special) : "")}";
        BoundLoss? cpu = Bind(definition, parameters, inputs, null, what, out Type? rejected);
        var bound = new List<BoundLoss>();
        try
        {
            foreach (LossDevice device in devices)
            {
                BoundLoss? onDevice = Bind(definition, parameters, inputs, device, what, out Type? deviceRejected);
                if ((rejected is null) != (deviceRejected is null))
                    Defects.Add($"{what}: the CPU {(rejected is null ? "binds" : "rejects")} it, {device.Backend} {(deviceRejected is null ? "binds" : "rejects")} it");
                if (onDevice is not null)
                    bound.Add(onDevice);
            }

            if (cpu is null)
            {
                if (rejected is not null)
                    Rejected++;
                return;
            }

            // A loss that differences large sums (a triplet's two distances of 1e4 for a hinge near 1) carries their float32 rounding, which
            // depends on the order of the adds: an error of a few ulps of the inputs' magnitude over √n, not of the loss's own.
            double largest = inputs.Values.Where(t => t.Floats is not null).SelectMany(t => t.Floats!).Where(float.IsFinite)
                .Select(v => Math.Abs((double)v)).DefaultIfEmpty(0d).Max();
            double cancellation = 2 * FloatEpsilon * largest * Math.Sqrt(n);
            foreach (LossMode mode in new[] { LossMode.Forward, LossMode.Fused, LossMode.Backward })
                RunMode(cpu, bound, mode, what, cancellation);
        }
        finally
        {
            cpu?.Dispose();
            foreach (BoundLoss b in bound)
                b.Dispose();
        }
    }

    private BoundLoss? Bind(LossDefinition definition, Dictionary<string, object?> parameters, Dictionary<string, LossTensor> inputs, LossDevice? device, string what,
        out Type? rejected)
    {
        rejected = null;
        try
        {
            return definition.Bind(new LossParameters(parameters), inputs, null, device);
        }
        catch (ArgumentException e)
        {
            rejected = e.GetType();
            return null;
        }
        catch (Exception e)
        {
            Defects.Add($"{what} on {device?.Backend ?? "simd"}: bind threw {e.GetType().Name}: {e.Message}");
            rejected = e.GetType();
            return null;
        }
    }

    /// <summary>float32's machine epsilon, 2^-23.</summary>
    private const double FloatEpsilon = 1.1920928955078125e-7;

    private void RunMode(BoundLoss cpu, List<BoundLoss> bound, LossMode mode, string what, double cancellation)
    {
        const float Sentinel = 12345.678f;
        bool cpuThrew = TryRun(cpu, mode, Sentinel, $"{what} {mode} on simd");
        if (!cpuThrew)
        {
            float[] loss = (float[])cpu.Loss.Clone();
            Dictionary<string, float[]> gradients = cpu.Gradients.ToDictionary(g => g.Key, g => (float[])g.Value.Clone());
            TryRun(cpu, mode, Sentinel, $"{what} {mode} on simd, again");
            if (!SameBits(loss, cpu.Loss) || gradients.Any(g => !SameBits(g.Value, cpu.Gradients[g.Key])))
                Defects.Add($"{what} {mode}: two CPU runs differ");
        }

        foreach (BoundLoss device in bound)
        {
            bool deviceThrew = TryRun(device, mode, Sentinel, $"{what} {mode} on {device.Backend}");
            if (deviceThrew != cpuThrew)
            {
                Defects.Add($"{what} {mode}: the CPU {(cpuThrew ? "throws" : "runs")}, {device.Backend} {(deviceThrew ? "throws" : "runs")}");
                continue;
            }

            if (cpuThrew)
                continue;
            Compared++;
            if (mode != LossMode.Backward && !Close(device.Loss, cpu.Loss, cancellation))
                Defects.Add($"{what} {mode} on {device.Backend}: loss {Describe(device.Loss)} against the CPU's {Describe(cpu.Loss)}");
            foreach ((string name, float[] gradient) in device.Gradients)
            {
                if (mode != LossMode.Forward && !Close(gradient, cpu.Gradients[name]))
                    Defects.Add($"{what} {mode} on {device.Backend}: grad.{name} differs from the CPU's");
            }
        }
    }

    /// <summary>Runs a mode over poisoned outputs; true when it threw an <see cref="ArgumentException"/> (then nothing may be written).</summary>
    private bool TryRun(BoundLoss loss, LossMode mode, float sentinel, string what)
    {
        loss.Poison(sentinel);
        try
        {
            loss.Run(mode);
            loss.FetchResults();
            return false;
        }
        catch (ArgumentException)
        {
            loss.FetchResults();
            if (loss.Loss.Any(v => v != sentinel) || loss.Gradients.Values.Any(g => g.Any(v => v != sentinel)))
                Defects.Add($"{what}: threw after writing");
            return true;
        }
        catch (Exception e)
        {
            Defects.Add($"{what}: threw {e.GetType().Name}: {e.Message}");
            return true;
        }
    }

    /// <summary>Element by element within 1e-4 of itself, 1e-5 of the largest element, and <paramref name="atol"/> (the inputs' rounding).</summary>
    private static bool Close(float[] got, float[] expected, double atol = 0d)
    {
        double scale = expected.Where(float.IsFinite).Select(v => Math.Abs((double)v)).DefaultIfEmpty(0d).Max();
        for (int i = 0; i < got.Length; i++)
        {
            if (float.IsNaN(expected[i]) != float.IsNaN(got[i]) || (float.IsInfinity(expected[i]) && got[i] != expected[i]))
                return false;
            if (float.IsFinite(expected[i]) && !(Math.Abs(got[i] - (double)expected[i]) <= 1e-4 * Math.Abs(expected[i]) + 1e-5 * scale + 1e-6 + atol))
                return false;
        }

        return true;
    }

    private static bool SameBits(float[] a, float[] b) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(a).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(b));

    private static string Describe(float[] values) => values.Length <= 3 ? $"[{string.Join(", ", values)}]" : $"[{values.Length} values]";
}
