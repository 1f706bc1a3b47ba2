using System.Diagnostics.CodeAnalysis;

namespace LossKernels;

/// <summary>One-line argument checks; each throw names the offending parameter.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void LengthMismatch(string paramName, long expected, long actual) =>
        throw new ArgumentException($"Expected length {expected}, got {actual}.", paramName);

    [DoesNotReturn]
    public static void DestinationTooShort(string paramName, long required, long actual) =>
        throw new ArgumentException($"Destination too short: needs {required} elements, has {actual}.", paramName);

    [DoesNotReturn]
    public static void OutOfRange(string paramName, double value, string requirement) =>
        throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be {requirement}.");

    [DoesNotReturn]
    public static void Argument(string paramName, string message) =>
        throw new ArgumentException(message, paramName);

    /// <summary>Throws unless <paramref name="value"/> is finite and strictly positive.</summary>
    public static void IfNotPositive(float value, string paramName)
    {
        if (!(value > 0f) || float.IsPositiveInfinity(value))
            OutOfRange(paramName, value, "finite and > 0");
    }

    /// <summary>Throws unless <paramref name="value"/> is finite and not negative.</summary>
    public static void IfNegative(float value, string paramName)
    {
        if (!(value >= 0f) || float.IsPositiveInfinity(value))
            OutOfRange(paramName, value, "finite and >= 0");
    }

    /// <summary>Throws unless <paramref name="value"/> is finite.</summary>
    public static void IfNotFinite(float value, string paramName)
    {
        if (!float.IsFinite(value))
            OutOfRange(paramName, value, "finite");
    }

    /// <summary>Throws unless <paramref name="value"/> lies in [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static void IfOutside(float value, float low, float high, string paramName)
    {
        if (!(value >= low && value <= high))
            OutOfRange(paramName, value, $"in [{low}, {high}]");
    }

    /// <summary>Throws unless <paramref name="spanLength"/> equals <paramref name="length"/>.</summary>
    public static void IfLengthDiffers(long length, long spanLength, string paramName)
    {
        if (spanLength != length)
            LengthMismatch(paramName, length, spanLength);
    }

    /// <summary>Throws when a destination is shorter than <paramref name="required"/>.</summary>
    public static void IfTooShort(long required, long spanLength, string paramName)
    {
        if (spanLength < required)
            DestinationTooShort(paramName, required, spanLength);
    }

    /// <summary>
    /// Throws when <paramref name="destination"/> partially overlaps <paramref name="source"/>: the kernels
    /// support writing in place (the same memory) but not a shifted overlap, which would read values
    /// already overwritten.
    /// </summary>
    public static void IfPartialOverlap(ReadOnlySpan<float> source, ReadOnlySpan<float> destination, string paramName)
    {
        if (source.Overlaps(destination, out int offset) && offset != 0)
            Argument(paramName, $"{paramName} overlaps an input at an offset of {offset} elements; it must be the same memory or disjoint.");
    }

    /// <summary>Throws when <paramref name="written"/> shares any memory with <paramref name="read"/>: an input the kernel reads after writing has begun.</summary>
    public static void IfOverlaps(ReadOnlySpan<float> read, ReadOnlySpan<float> written, string paramName, string readName)
    {
        if (read.Overlaps(written))
            Argument(paramName, $"{paramName} must not overlap {readName}.");
    }
}
