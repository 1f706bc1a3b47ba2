using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LossKernels;

/// <summary>What one pass of the driver produces; constants per mode, folded by the JIT.</summary>
internal interface IDriverMode
{
    static abstract bool Reduce { get; }
    static abstract bool StoreLoss { get; }
    static abstract bool StoreGradient { get; }
}

internal readonly struct ForwardReduced : IDriverMode
{
    public static bool Reduce => true;
    public static bool StoreLoss => false;
    public static bool StoreGradient => false;
}

internal readonly struct ForwardUnreduced : IDriverMode
{
    public static bool Reduce => false;
    public static bool StoreLoss => true;
    public static bool StoreGradient => false;
}

internal readonly struct FusedReduced : IDriverMode
{
    public static bool Reduce => true;
    public static bool StoreLoss => false;
    public static bool StoreGradient => true;
}

internal readonly struct FusedUnreduced : IDriverMode
{
    public static bool Reduce => false;
    public static bool StoreLoss => true;
    public static bool StoreGradient => true;
}

internal readonly struct BackwardOnly : IDriverMode
{
    public static bool Reduce => false;
    public static bool StoreLoss => false;
    public static bool StoreGradient => true;
}

/// <summary>
/// Pointers into the caller's pinned spans for one call. <see cref="Weight"/> and
/// <see cref="Upstream"/> are null when absent; the gradient written is
/// <c>GradientScale · upstream[i] · weight[i] · ∂ℓ/∂x</c>, with absent factors taken as 1.
/// </summary>
internal readonly unsafe struct ElementwiseArgs
{
    public readonly float* Input;
    public readonly float* Target;
    public readonly float* Weight;
    public readonly float* Upstream;
    public readonly float* Output;
    public readonly float* Gradient;
    public readonly float GradientScale;

    /// <summary>Whether stores bypass the caches: set for outputs too large to be read back from cache.</summary>
    public readonly bool NonTemporal;

    /// <summary>The element count n of every span.</summary>
    public readonly int Length;

    public ElementwiseArgs(float* input, float* target, float* weight, float* upstream, float* output, float* gradient, float gradientScale, int length)
    {
        Length = length;
        NonTemporal = length >= ElementwiseDriver.NonTemporalThreshold;
        Input = input;
        Target = target;
        Weight = weight;
        Upstream = upstream;
        Output = output;
        Gradient = gradient;
        GradientScale = gradientScale;
    }
}

/// <summary>
/// The one generic SIMD driver of elementwise losses. Widths 512 → 256 → 128; the remainder of a
/// range is one overlapping last vector whose inputs are loaded before the main loop (so that a
/// gradient written in place over the input is still correct) and whose already-counted lanes are
/// masked out of the sum; ranges shorter than four elements run on a zero-padded stack vector.
/// Sums: two float accumulators for at most <see cref="FlushInterval"/> vectors, then a double, per fixed chunk
/// (<see cref="ChunkedRun"/>), so the result does not depend on the thread count.
/// </summary>
internal static unsafe class ElementwiseDriver
{
    /// <summary>Vectors summed in float lanes before the lanes are added into a double.</summary>
    private const int FlushInterval = 16;

    /// <summary>From this many elements (16 MB written per output) stores bypass the caches.</summary>
    internal const int NonTemporalThreshold = 1 << 22;

    /// <summary>Below this many elements a call stays on the caller's thread.</summary>
    internal const int ParallelThreshold = 1 << 18;

    /// <summary>Runs the pass over the n elements of <paramref name="args"/>; returns the sum of the weighted element losses when the mode reduces.</summary>
    public static double Run<TLoss, TMode>(in TLoss loss, in ElementwiseArgs args)
        where TLoss : struct, IElementwiseLoss
        where TMode : struct, IDriverMode =>
        ChunkedRun.Run(new ElementwiseRange<TLoss, TMode>(loss, args), args.Length, ParallelThreshold);

    /// <summary>
    /// Vector loop over [start, start + length), length ≥ one vector. When the destination is
    /// large (<see cref="NonTemporalThreshold"/>), stores bypass the caches: the first vector is then
    /// done unaligned (inputs loaded before the loop, like the tail) and the loop starts at the first
    /// vector-aligned destination address.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double RunVectors<TLoss, TMode, TVec, TWidth>(in TLoss loss, in ElementwiseArgs a, nint start, nint length)
        where TLoss : struct, IElementwiseLoss
        where TMode : struct, IDriverMode
        where TVec : struct
        where TWidth : struct, IVectorMath<TVec>
    {
        int count = TWidth.Count;
        float* input = a.Input;
        float* target = a.Target;
        float* weight = a.Weight;
        float* upstream = a.Upstream;
        float* output = a.Output;
        float* gradient = a.Gradient;
        TVec scale = TWidth.Create(a.GradientScale);

        int head = 0;
        bool nonTemporal = a.NonTemporal && length >= 4 * count;
        if (nonTemporal)
        {
            float* destination = TMode.StoreGradient ? gradient : output;
            head = MisalignedElements(destination + start, count);
            nonTemporal = !(TMode.StoreGradient && TMode.StoreLoss) || MisalignedElements(output + start, count) == head;
        }

        nint headStart = start;
        TVec headInput = TWidth.Load(ref input[headStart]);
        TVec headTarget = TWidth.Load(ref target[headStart]);
        TVec headWeight = weight != null ? TWidth.Load(ref weight[headStart]) : default;
        TVec headUpstream = upstream != null ? TWidth.Load(ref upstream[headStart]) : default;
        nint bodyStart = start + head;
        nint bodyLength = length - head;
        int remainder = (int)(bodyLength % count);
        nint tailStart = start + length - count;
        TVec tailInput = TWidth.Load(ref input[tailStart]);
        TVec tailTarget = TWidth.Load(ref target[tailStart]);
        TVec tailWeight = weight != null ? TWidth.Load(ref weight[tailStart]) : default;
        TVec tailUpstream = upstream != null ? TWidth.Load(ref upstream[tailStart]) : default;

        // Two accumulators, so that the loop is not serialized on one vector add's latency when the
        // data is in cache; their order of combination is fixed, so results stay deterministic.
        double total = 0d;
        TVec lanes = TWidth.Create(0f);
        TVec oddLanes = TWidth.Create(0f);
        int pending = 0;
        nint end = bodyStart + bodyLength - remainder;
        nint pairsEnd = bodyStart + ((end - bodyStart) / (2 * count)) * 2 * count;
        nint i = bodyStart;
        for (; i < pairsEnd; i += 2 * count)
        {
            TVec even = StepAt<TLoss, TMode, TVec, TWidth>(loss, input, target, weight, upstream, output, gradient, scale, nonTemporal, i);
            TVec odd = StepAt<TLoss, TMode, TVec, TWidth>(loss, input, target, weight, upstream, output, gradient, scale, nonTemporal, i + count);
            if (TMode.Reduce)
            {
                lanes = TWidth.Add(lanes, even);
                oddLanes = TWidth.Add(oddLanes, odd);
                if ((pending += 2) == FlushInterval)
                {
                    total += TWidth.Sum(TWidth.Add(lanes, oddLanes));
                    lanes = TWidth.Create(0f);
                    oddLanes = TWidth.Create(0f);
                    pending = 0;
                }
            }
        }

        if (i < end)
        {
            TVec value = StepAt<TLoss, TMode, TVec, TWidth>(loss, input, target, weight, upstream, output, gradient, scale, nonTemporal, i);
            if (TMode.Reduce)
                lanes = TWidth.Add(lanes, value);
        }

        if (remainder != 0)
        {
            TVec value = Step<TLoss, TMode, TVec, TWidth>(loss, tailInput, tailTarget, tailWeight, tailUpstream,
                weight != null, upstream != null, scale, false, ref output[tailStart], ref gradient[tailStart]);
            if (TMode.Reduce)
                lanes = TWidth.Add(lanes, TWidth.KeepLanes(value, count - remainder, count));
        }

        if (head != 0)
        {
            TVec value = Step<TLoss, TMode, TVec, TWidth>(loss, headInput, headTarget, headWeight, headUpstream,
                weight != null, upstream != null, scale, false, ref output[headStart], ref gradient[headStart]);
            if (TMode.Reduce)
                lanes = TWidth.Add(lanes, TWidth.KeepLanes(value, 0, head));
        }

        if (nonTemporal && Sse.IsSupported)
            Sse.StoreFence();
        return TMode.Reduce ? total + TWidth.Sum(TWidth.Add(lanes, oddLanes)) : 0d;
    }

    /// <summary>Loads the vector at <paramref name="i"/> of every stream and runs <see cref="Step"/> on it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec StepAt<TLoss, TMode, TVec, TWidth>(in TLoss loss, float* input, float* target, float* weight, float* upstream,
        float* output, float* gradient, TVec scale, bool nonTemporal, nint i)
        where TLoss : struct, IElementwiseLoss
        where TMode : struct, IDriverMode
        where TVec : struct
        where TWidth : struct, IVectorMath<TVec>
    {
        TVec w = weight != null ? TWidth.Load(ref weight[i]) : default;
        TVec u = upstream != null ? TWidth.Load(ref upstream[i]) : default;
        return Step<TLoss, TMode, TVec, TWidth>(loss, TWidth.Load(ref input[i]), TWidth.Load(ref target[i]), w, u,
            weight != null, upstream != null, scale, nonTemporal, ref output[i], ref gradient[i]);
    }

    /// <summary>Elements from <paramref name="pointer"/> to the next address aligned to a whole vector.</summary>
    private static int MisalignedElements(float* pointer, int count)
    {
        int bytes = count * sizeof(float);
        int past = (int)((nuint)pointer & (nuint)(bytes - 1));
        return past == 0 ? 0 : (bytes - past) / sizeof(float);
    }

    /// <summary>Fewer than four elements: one Vector128 over zero-padded copies on the stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double RunPadded<TLoss, TMode>(in TLoss loss, in ElementwiseArgs a, nint start, int length)
        where TLoss : struct, IElementwiseLoss
        where TMode : struct, IDriverMode
    {
        const int Lanes = 4;
        float* input = stackalloc float[Lanes];
        float* target = stackalloc float[Lanes];
        float* weight = stackalloc float[Lanes];
        float* upstream = stackalloc float[Lanes];
        float* output = stackalloc float[Lanes];
        float* gradient = stackalloc float[Lanes];
        for (int i = 0; i < Lanes; i++)
        {
            input[i] = i < length ? a.Input[start + i] : 0f;
            target[i] = i < length ? a.Target[start + i] : 0f;
            weight[i] = i < length && a.Weight != null ? a.Weight[start + i] : 0f;
            upstream[i] = i < length && a.Upstream != null ? a.Upstream[start + i] : 0f;
        }

        Vector128<float> value = Step<TLoss, TMode, Vector128<float>, Width128>(loss,
            Vector128.Load(input), Vector128.Load(target), Vector128.Load(weight), Vector128.Load(upstream),
            a.Weight != null, a.Upstream != null, Vector128.Create(a.GradientScale), false, ref *output, ref *gradient);
        for (int i = 0; i < length; i++)
        {
            if (TMode.StoreLoss)
                a.Output[start + i] = output[i];
            if (TMode.StoreGradient)
                a.Gradient[start + i] = gradient[i];
        }

        return TMode.Reduce ? Width128.Sum(Width128.KeepLanes(value, 0, length)) : 0d;
    }

    /// <summary>One vector: evaluates the loss, applies weight and upstream, stores what the mode stores, returns the weighted loss.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Step<TLoss, TMode, TVec, TWidth>(in TLoss loss, TVec input, TVec target, TVec weight, TVec upstream,
        bool weighted, bool hasUpstream, TVec scale, bool nonTemporal, ref float output, ref float gradient)
        where TLoss : struct, IElementwiseLoss
        where TMode : struct, IDriverMode
        where TVec : struct
        where TWidth : struct, IVectorMath<TVec>
    {
        TVec value = ElementwiseStep.Evaluate<TLoss, TVec, TWidth>(loss, input, target, weight, upstream, weighted, hasUpstream, scale, TMode.StoreGradient, out TVec grad);
        if (TMode.StoreLoss)
        {
            if (nonTemporal)
                TWidth.StoreAlignedNonTemporal(value, ref output);
            else
                TWidth.Store(value, ref output);
        }

        if (TMode.StoreGradient)
        {
            if (nonTemporal)
                TWidth.StoreAlignedNonTemporal(grad, ref gradient);
            else
                TWidth.Store(grad, ref gradient);
        }

        return value;
    }
}

/// <summary>
/// The work on one vector of elements that every backend's elementwise driver shares — the SIMD driver above on a
/// <c>Vector512/256/128</c>, the ILGPU kernel on one thread's float: the loss's math, the weight, the upstream and the
/// reduction's scale. The drivers only load and store around it.
/// </summary>
internal static class ElementwiseStep
{
    /// <summary>
    /// Returns the weighted element losses <c>w·ℓ(x, t)</c>; when <paramref name="computeGradient"/>, writes
    /// <c>scale · upstream · w · ∂ℓ/∂x</c> into <paramref name="gradient"/> (absent factors are 1), else leaves it 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Evaluate<TLoss, TVec, TMath>(in TLoss loss, TVec input, TVec target, TVec weight, TVec upstream,
        bool weighted, bool hasUpstream, TVec scale, bool computeGradient, out TVec gradient)
        where TLoss : struct, IElementwiseLoss
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec value = loss.Evaluate<TVec, TMath>(input, target, out TVec slope);
        return Apply<TVec, TMath>(value, slope, weight, upstream, weighted, hasUpstream, scale, computeGradient, out gradient);
    }

    /// <summary>
    /// The weighting and scaling of <see cref="Evaluate"/> applied to element losses and slopes computed elsewhere (a loss
    /// whose hyperparameter varies per element: per-class pos_weight, GHM-C's bin weights).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Apply<TVec, TMath>(TVec value, TVec slope, TVec weight, TVec upstream, bool weighted, bool hasUpstream, TVec scale, bool computeGradient,
        out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (weighted)
        {
            value = TMath.Multiply(value, weight);
            slope = TMath.Multiply(slope, weight);
        }

        gradient = computeGradient ? TMath.Multiply(slope, hasUpstream ? TMath.Multiply(upstream, scale) : scale) : default;
        return value;
    }
}

/// <summary>An elementwise pass as a range kernel for <see cref="ChunkedRun"/>, run at the width <see cref="SimdWidths"/> picks.</summary>
internal readonly struct ElementwiseRange<TLoss, TMode>(TLoss loss, ElementwiseArgs args) : IRangeKernel, IWidthKernel
    where TLoss : struct, IElementwiseLoss
    where TMode : struct, IDriverMode
{
    private readonly TLoss loss = loss;
    private readonly ElementwiseArgs args = args;

    public double RunRange(nint start, nint length) => SimdWidths.Run(this, start, length);

    public double Run<TVec, TMath>(nint start, nint length)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        ElementwiseDriver.RunVectors<TLoss, TMode, TVec, TMath>(loss, args, start, length);

    public double RunPadded(nint start, int length) => ElementwiseDriver.RunPadded<TLoss, TMode>(loss, args, start, length);
}
