namespace LossKernels;

/// <summary>
/// A stable least-significant-digit radix sort of 32-bit keys with 32-bit payloads, on one thread (callers run many sorts
/// at once): three passes of 11-bit digits, their three histograms counted in one read, and a pass skipped when every key
/// has the same digit. Equal keys keep their order, so the result is the same on every run.
/// </summary>
internal static unsafe class RadixSort
{
    private const int DigitBits = 11;
    private const int Buckets = 1 << DigitBits;
    private const int Passes = 3;

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
            histograms[key & (Buckets - 1)]++;
            histograms[Buckets + ((key >> DigitBits) & (Buckets - 1))]++;
            histograms[2 * Buckets + (key >> (2 * DigitBits))]++;
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
            uint* fromKeys = inSpare ? spareKeys : keys, fromValues = inSpare ? spareValues : values;
            uint* toKeys = inSpare ? keys : spareKeys, toValues = inSpare ? values : spareValues;
            for (int i = 0; i < count; i++)
            {
                uint key = fromKeys[i];
                int at = offsets[(key >> shift) & (Buckets - 1)]++;
                toKeys[at] = key;
                toValues[at] = fromValues[i];
            }

            inSpare = !inSpare;
        }

        return inSpare;
    }
}
