namespace LossKernels.Catalog;

/// <summary>
/// A named host tensor for the catalog: a shape and its row-major data, float32 or int64 (the
/// element types of the golden case format; float64 and int32 data are converted on load).
/// </summary>
public sealed class LossTensor
{
    private LossTensor(int[] shape, float[]? floats, long[]? integers)
    {
        Shape = shape;
        Floats = floats;
        Integers = integers;
    }

    /// <summary>The shape; empty for a scalar.</summary>
    public int[] Shape { get; }

    /// <summary>The data when the tensor holds floats, else null.</summary>
    public float[]? Floats { get; }

    /// <summary>The data when the tensor holds integers (class indices), else null.</summary>
    public long[]? Integers { get; }

    /// <summary>The element count: the product of <see cref="Shape"/>.</summary>
    public int Length => Floats?.Length ?? Integers!.Length;

    /// <summary>A float tensor over <paramref name="data"/> (not copied).</summary>
    /// <exception cref="ArgumentException">The shape's product differs from the data length, or its non-zero dimensions multiply past <see cref="int.MaxValue"/>.</exception>
    public static LossTensor FromFloats(float[] data, params int[] shape) => new(CheckShape(shape, data.Length), data, null);

    /// <summary>An integer tensor over <paramref name="data"/> (not copied).</summary>
    /// <exception cref="ArgumentException">The shape's product differs from the data length, or its non-zero dimensions multiply past <see cref="int.MaxValue"/>.</exception>
    public static LossTensor FromIntegers(long[] data, params int[] shape) => new(CheckShape(shape, data.Length), null, data);

    /// <summary>The float data, or an exception naming <paramref name="name"/> when the tensor holds integers.</summary>
    public float[] RequireFloats(string name) =>
        Floats ?? throw new ArgumentException($"Input '{name}' must be a float tensor.", name);

    /// <summary>The integer data (class indices), or an exception naming <paramref name="name"/> when the tensor holds floats.</summary>
    public long[] RequireIntegers(string name) =>
        Integers ?? throw new ArgumentException($"Input '{name}' must be an integer tensor (int64 or int32 class indices).", name);

    private static int[] CheckShape(int[] shape, int length)
    {
        // The product of the non-zero dimensions bounds every sub-shape a loss derives (N·D positions of an
        // [N, C, D] input whose C is 0), so it too must be an int; clamped, it cannot overflow.
        long product = 1, nonZeroProduct = 1;
        foreach (int dimension in shape)
        {
            if (dimension < 0)
                ThrowHelper.Argument(nameof(shape), "Dimensions must not be negative.");
            product = Math.Min(product * dimension, (long)int.MaxValue + 1);
            if (dimension != 0)
                nonZeroProduct = Math.Min(nonZeroProduct * dimension, (long)int.MaxValue + 1);
        }

        if (nonZeroProduct > int.MaxValue)
            ThrowHelper.Argument(nameof(shape), $"Shape [{string.Join(", ", shape)}] is too large: its non-zero dimensions multiply past {int.MaxValue}.");
        if (product != length)
            ThrowHelper.Argument(nameof(shape), $"Shape [{string.Join(", ", shape)}] holds {product} elements, the data {length}.");
        return shape;
    }
}
