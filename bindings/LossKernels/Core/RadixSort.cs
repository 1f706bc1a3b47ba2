namespace LossKernels;

/// <summary>
/// A stable least-significant-digit radix sort of 32-bit keys with 32-bit payloads in three passes of 11-bit digits, a pass
/// skipped when every key has the same digit: <see cref="Sort"/> on one thread (its three histograms counted in one read;
/// callers run many sorts at once), or its steps per chunk for one sort across threads (<see cref="CountDigits"/>,
/// <see cref="Prefix"/>, <see cref="Scatter"/>). Equal keys keep their order, so the result is the same on every run.
/// </summary>
internal static unsafe class RadixSort
{
    /// <summary>Bits per digit.</summary>
    public const int DigitBits = 11;

    /// <summary>Buckets per pass.</summary>
    public const int Buckets = 1 << DigitBits;
    private const int Passes = (32 + DigitBits - 1) / DigitBits;

    /// <summary>
    /// Sorts <paramref name="count"/> pairs by key, ascending. <paramref name="keys"/>/<paramref name="values"/> hold the input;
    /// <paramref name="spareKeys"/>/<paramref name="spareValues"/> are as long. Returns whether the sorted pairs ended in the spare
    /// buffers (false: in the input buffers).
    /// </summary>
    public static bool Sort(uint* keys, uint* values, uint* spareKeys, uint* spareValues, int count)
    {
        int* histograms = stackalloc int[Passes * Buckets];
        new Span<int>(histograms, Passes * Buckets).Clear();
        for (int i = 0; i < count; i++)
        {
            uint key = keys[i];
            for (int pass = 0; pass < Passes; pass++)
                histograms[pass * Buckets + ((key >> (pass * DigitBits)) & (Buckets - 1))]++;
        }

        bool inSpare = false;
        for (int pass = 0; pass < Passes; pass++)
        {
            int* offsets = histograms + pass * Buckets;
            int shift = pass * DigitBits, sum = 0;
            bool oneBucket = false;
            for (int b = 0; b < Buckets; b++)
            {
                int bucket = offsets[b];
                oneBucket |= bucket == count;
                offsets[b] = sum;
                sum += bucket;
            }

            // Every key has this digit: the pass would copy the pairs as they are.
            if (oneBucket)
                continue;
            if (inSpare)
                Scatter(spareKeys, spareValues, count, shift, offsets, keys, values);
            else
                Scatter(keys, values, count, shift, offsets, spareKeys, spareValues);
            inSpare = !inSpare;
        }

        return inSpare;
    }

    /// <summary>One chunk's counts of each digit at <paramref name="shift"/> into <paramref name="counts"/> (<see cref="Buckets"/> entries).</summary>
    public static void CountDigits(uint* keys, int count, int shift, int* counts)
    {
        new Span<int>(counts, Buckets).Clear();
        for (int i = 0; i < count; i++)
            counts[(keys[i] >> shift) & (Buckets - 1)]++;
    }

    /// <summary>
    /// Turns the chunks' digit counts [chunk, digit] into each chunk's first place per digit: the prefix in [digit, chunk]
    /// order, so that equal digits keep the chunks' order. Returns true, leaving the counts, when one digit holds all
    /// <paramref name="count"/> keys (the pass would copy them as they are).
    /// </summary>
    public static bool Prefix(int* counts, int chunks, int count)
    {
        for (int b = 0; b < Buckets; b++)
        {
            int total = 0;
            for (int k = 0; k < chunks; k++)
                total += counts[k * Buckets + b];
            if (total == count)
                return true;
        }

        int sum = 0;
        for (int b = 0; b < Buckets; b++)
        {
            for (int k = 0; k < chunks; k++)
            {
                int bucket = counts[k * Buckets + b];
                counts[k * Buckets + b] = sum;
                sum += bucket;
            }
        }

        return false;
    }

    /// <summary>One chunk's pairs, in order, to their places from <paramref name="offsets"/> (its row of <see cref="Prefix"/>).</summary>
    public static void Scatter(uint* keys, uint* values, int count, int shift, int* offsets, uint* sortedKeys, uint* sortedValues)
    {
        for (int i = 0; i < count; i++)
        {
            uint key = keys[i];
            int at = offsets[(key >> shift) & (Buckets - 1)]++;
            sortedKeys[at] = key;
            sortedValues[at] = values[i];
        }
    }
}
