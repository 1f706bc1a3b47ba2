using System.Globalization;

namespace LossKernels.Catalog;

/// <summary>
/// The hyperparameters of one catalog loss by their PyTorch names (<c>beta</c>, <c>reduction</c>, …):
/// numbers, strings, booleans or null. A loss reads each one it knows with its default; a name it
/// does not know is an error (<see cref="ThrowIfUnused"/>), so that a typo never passes silently.
/// </summary>
public sealed class LossParameters
{
    private readonly Dictionary<string, object?> values;
    private readonly HashSet<string> used = new(StringComparer.Ordinal);

    /// <summary>Parameters from name/value pairs (values: double, float, int, string, bool or null).</summary>
    public LossParameters(IEnumerable<KeyValuePair<string, object?>> values)
    {
        this.values = new Dictionary<string, object?>(values, StringComparer.Ordinal);
    }

    /// <summary>No parameters: every default.</summary>
    public static LossParameters Empty => new([]);

    /// <summary>The number <paramref name="name"/> as a float, or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="ArgumentException">The value is not a number.</exception>
    public float Float(string name, float defaultValue) => OptionalFloat(name) ?? defaultValue;

    /// <summary>The number <paramref name="name"/> as a float, or null when absent or null.</summary>
    /// <exception cref="ArgumentException">The value is not a number.</exception>
    public float? OptionalFloat(string name)
    {
        used.Add(name);
        if (!values.TryGetValue(name, out object? value) || value is null)
            return null;
        return value switch
        {
            double d => (float)d,
            float f => f,
            int i => i,
            long l => l,
            _ => throw new ArgumentException($"Parameter '{name}' must be a number, got '{value}'.", name),
        };
    }

    /// <summary>The integer <paramref name="name"/> (a class index such as <c>ignore_index</c>), or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="ArgumentException">The value is not a whole number.</exception>
    public long Integer(string name, long defaultValue) => OptionalInteger(name) ?? defaultValue;

    /// <summary>The integer <paramref name="name"/>, or null when absent (an <c>ignore_index</c> whose default is none).</summary>
    /// <exception cref="ArgumentException">The value is not a whole number.</exception>
    public long? OptionalInteger(string name)
    {
        used.Add(name);
        if (!values.TryGetValue(name, out object? value) || value is null)
            return null;
        return value switch
        {
            int i => i,
            long l => l,
            double d when d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
            _ => throw new ArgumentException($"Parameter '{name}' must be a whole number, got '{value}'.", name),
        };
    }

    /// <summary>Whether <paramref name="name"/> is given, null included (an <c>ignore_label</c> whose null means "none" where its absence means a default).</summary>
    public bool Has(string name)
    {
        used.Add(name);
        return values.ContainsKey(name);
    }

    /// <summary>The integer <paramref name="name"/> (a count or an exponent such as <c>bins</c> or <c>p</c>), or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="ArgumentException">The value is not a whole number.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The value does not fit in an int (it is never truncated).</exception>
    public int Int32(string name, int defaultValue)
    {
        long value = Integer(name, defaultValue);
        if (value is < int.MinValue or > int.MaxValue)
            ThrowHelper.OutOfRange(name, value, $"in [{int.MinValue}, {int.MaxValue}]");
        return (int)value;
    }

    /// <summary>The string <paramref name="name"/>, or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="ArgumentException">The value is not a string.</exception>
    public string String(string name, string defaultValue)
    {
        used.Add(name);
        if (!values.TryGetValue(name, out object? value) || value is null)
            return defaultValue;
        return value as string ?? throw new ArgumentException($"Parameter '{name}' must be a string, got '{Convert.ToString(value, CultureInfo.InvariantCulture)}'.", name);
    }

    /// <summary>The boolean <paramref name="name"/>, or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="ArgumentException">The value is not a boolean.</exception>
    public bool Bool(string name, bool defaultValue)
    {
        used.Add(name);
        if (!values.TryGetValue(name, out object? value) || value is null)
            return defaultValue;
        return value as bool? ?? throw new ArgumentException($"Parameter '{name}' must be true or false, got '{Convert.ToString(value, CultureInfo.InvariantCulture)}'.", name);
    }

    /// <summary><c>reduction</c>: "none", "mean" (default) or "sum".</summary>
    /// <exception cref="ArgumentException">Any other value.</exception>
    public Reduction Reduction() => Reduction(acceptsBatchMean: false, out _);

    /// <summary>
    /// <c>reduction</c>: "none", "mean" (default), "sum", or where <paramref name="acceptsBatchMean"/> also "batchmean",
    /// which is <see cref="LossKernels.Reduction.Sum"/> with <paramref name="batchMean"/> set (PyTorch's <c>kl_div</c>: the sum over the batch size).
    /// </summary>
    /// <exception cref="ArgumentException">Any other value.</exception>
    public Reduction Reduction(bool acceptsBatchMean, out bool batchMean)
    {
        string value = String("reduction", "mean");
        batchMean = acceptsBatchMean && value == "batchmean";
        return value switch
        {
            "none" => LossKernels.Reduction.None,
            "mean" => LossKernels.Reduction.Mean,
            "sum" => LossKernels.Reduction.Sum,
            "batchmean" when acceptsBatchMean => LossKernels.Reduction.Sum,
            var other => throw new ArgumentException(
                $"Parameter 'reduction' must be 'none', 'mean', 'sum'{(acceptsBatchMean ? " or 'batchmean'" : "")}, got '{other}'.", "reduction"),
        };
    }

    /// <summary>Throws when a parameter was given that the loss never read.</summary>
    /// <exception cref="ArgumentException">Names the first unknown parameter.</exception>
    public void ThrowIfUnused(string lossName)
    {
        foreach (string name in values.Keys)
        {
            if (!used.Contains(name))
                throw new ArgumentException($"Loss '{lossName}' has no parameter '{name}'.", name);
        }
    }
}
