using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossKernels.Box;

/// <summary>
/// Pointers into the caller's pinned spans for one call over n box pairs. <see cref="Weight"/>,
/// <see cref="Upstream"/> and <see cref="TargetGradient"/> are null when absent; the gradients written are
/// <c>GradientScale · upstream[i] · weight[i] · ∂ℓ/∂box</c>, with absent factors taken as 1.
/// </summary>
internal readonly unsafe struct BoxArgs(float* prediction, float* target, float* weight, float* upstream, float* output,
    float* predictionGradient, float* targetGradient, float gradientScale, int length, BoxFormat format)
{
    public readonly float* Prediction = prediction;
    public readonly float* Target = target;
    public readonly float* Weight = weight;
    public readonly float* Upstream = upstream;
    public readonly float* Output = output;
    public readonly float* PredictionGradient = predictionGradient;
    public readonly float* TargetGradient = targetGradient;
    public readonly float GradientScale = gradientScale;

    /// <summary>The number of box pairs n.</summary>
    public readonly int Length = length;

    public readonly bool CenterSize = format == BoxFormat.Cxcywh;
}

/// <summary>
/// The one SIMD driver of box losses: <see cref="IVectorMath{TVec}.Count"/> pairs per step, rows deinterleaved in
/// registers (<see cref="IVectorMath{TVec}.LoadRows"/>), cxcywh converted to xyxy on the way in and its
/// gradient converted back on the way out. Widths 512 → 256 → 128; the remainder is one overlapping last
/// vector loaded before the loop (so in-place gradients stay correct) with its counted lanes masked out;
/// fewer than four pairs run on zero-padded stack rows. Sums: float lanes flushed to double every
/// <see cref="FlushInterval"/> vectors, per fixed chunk (<see cref="ChunkedRun"/>).
/// </summary>
internal static unsafe class BoxDriver
{
    private const int FlushInterval = 16;

    /// <summary>Box losses cost ~100 flops per pair: worth a second thread from this many pairs.</summary>
    internal const int ParallelThreshold = 1 << 15;

    public static double Run<TLoss, TMode>(in TLoss loss, in BoxArgs args)
        where TLoss : struct, IBoxLoss
        where TMode : struct, IDriverMode =>
        ChunkedRun.Run(new BoxRange<TLoss, TMode>(loss, args), args.Length, ParallelThreshold);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double RunVectors<TLoss, TMode, TVec, TWidth>(in TLoss loss, in BoxArgs a, nint start, nint length)
        where TLoss : struct, IBoxLoss
        where TMode : struct, IDriverMode
        where TVec : struct
        where TWidth : struct, IVectorMath<TVec>
    {
        int count = TWidth.Count;
        int remainder = (int)(length % count);
        nint tailStart = start + length - count;
        Rows<TVec> tail = Rows<TVec>.Load<TWidth>(a, tailStart);

        // One step for the full vectors and the overlapping tail alike, so that the weighting, format and
        // store code around the loss's call exists once in the loop.
        double total = 0d;
        TVec lanes = TWidth.Create(0f);
        int pending = 0;
        nint end = start + length - remainder;
        for (nint i = start; ; i += count)
        {
            bool last = i >= end;
            if (last && remainder == 0)
                break;
            nint at = last ? tailStart : i;
            TVec value = Step<TLoss, TMode, TVec, TWidth>(loss, a, last ? tail : Rows<TVec>.Load<TWidth>(a, i), at);
            if (TMode.Reduce)
            {
                lanes = TWidth.Add(lanes, last ? TWidth.KeepLanes(value, count - remainder, count) : value);
                if (++pending == FlushInterval)
                {
                    total += TWidth.Sum(lanes);
                    lanes = TWidth.Create(0f);
                    pending = 0;
                }
            }

            if (last)
                break;
        }

        return TMode.Reduce ? total + TWidth.Sum(lanes) : 0d;
    }

    /// <summary>Fewer than four pairs: one Vector128 step over zero-padded copies on the stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double RunPadded<TLoss, TMode>(in TLoss loss, in BoxArgs a, nint start, int length)
        where TLoss : struct, IBoxLoss
        where TMode : struct, IDriverMode
    {
        const int Lanes = 4;
        float* prediction = stackalloc float[4 * Lanes];
        float* target = stackalloc float[4 * Lanes];
        float* weight = stackalloc float[Lanes];
        float* upstream = stackalloc float[Lanes];
        float* output = stackalloc float[Lanes];
        float* predictionGradient = stackalloc float[4 * Lanes];
        float* targetGradient = stackalloc float[4 * Lanes];
        for (int i = 0; i < 4 * Lanes; i++)
        {
            prediction[i] = i < 4 * length ? a.Prediction[4 * start + i] : 0f;
            target[i] = i < 4 * length ? a.Target[4 * start + i] : 0f;
        }

        for (int i = 0; i < Lanes; i++)
        {
            weight[i] = i < length && a.Weight != null ? a.Weight[start + i] : 0f;
            upstream[i] = i < length && a.Upstream != null ? a.Upstream[start + i] : 0f;
        }

        var padded = new BoxArgs(prediction, target, a.Weight != null ? weight : null, a.Upstream != null ? upstream : null, output,
            predictionGradient, a.TargetGradient != null ? targetGradient : null, a.GradientScale, Lanes, a.CenterSize ? BoxFormat.Cxcywh : BoxFormat.Xyxy);
        Vector128<float> value = Step<TLoss, TMode, Vector128<float>, Width128>(loss, padded, Rows<Vector128<float>>.Load<Width128>(padded, 0), 0);
        for (int i = 0; i < length; i++)
        {
            if (TMode.StoreLoss)
                a.Output[start + i] = output[i];
            for (int c = 0; c < 4 && TMode.StoreGradient; c++)
            {
                a.PredictionGradient[4 * (start + i) + c] = predictionGradient[4 * i + c];
                if (a.TargetGradient != null)
                    a.TargetGradient[4 * (start + i) + c] = targetGradient[4 * i + c];
            }
        }

        return TMode.Reduce ? Width128.Sum(Width128.KeepLanes(value, 0, length)) : 0d;
    }

    /// <summary>One vector of pairs at <paramref name="i"/>: evaluates, weights, stores what the mode stores, returns the weighted losses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Step<TLoss, TMode, TVec, TWidth>(in TLoss loss, in BoxArgs a, in Rows<TVec> rows, nint i)
        where TLoss : struct, IBoxLoss
        where TMode : struct, IDriverMode
        where TVec : struct
        where TWidth : struct, IVectorMath<TVec>
    {
        TVec value = BoxStep.Evaluate<TLoss, TVec, TWidth>(loss, rows.Prediction, rows.Target, rows.Weight, rows.Upstream, a.Weight != null, a.Upstream != null,
            a.CenterSize, TWidth.Create(a.GradientScale), TMode.StoreGradient, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient);
        if (TMode.StoreLoss)
            TWidth.Store(value, ref a.Output[i]);
        if (TMode.StoreGradient)
        {
            TWidth.StoreRows(predictionGradient.X1, predictionGradient.Y1, predictionGradient.X2, predictionGradient.Y2, ref a.PredictionGradient[4 * i]);
            if (a.TargetGradient != null)
                TWidth.StoreRows(targetGradient.X1, targetGradient.Y1, targetGradient.X2, targetGradient.Y2, ref a.TargetGradient[4 * i]);
        }

        return value;
    }

    /// <summary>The inputs of one vector of pairs, loaded together (so that a tail can be loaded before the loop writes).</summary>
    private readonly struct Rows<TVec>
        where TVec : struct
    {
        public readonly BoxVectors<TVec> Prediction;
        public readonly BoxVectors<TVec> Target;
        public readonly TVec Weight;
        public readonly TVec Upstream;

        private Rows(BoxVectors<TVec> prediction, BoxVectors<TVec> target, TVec weight, TVec upstream)
        {
            Prediction = prediction;
            Target = target;
            Weight = weight;
            Upstream = upstream;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Rows<TVec> Load<TWidth>(in BoxArgs a, nint i)
            where TWidth : struct, IVectorMath<TVec>
        {
            TWidth.LoadRows(ref a.Prediction[4 * i], out TVec p0, out TVec p1, out TVec p2, out TVec p3);
            TWidth.LoadRows(ref a.Target[4 * i], out TVec t0, out TVec t1, out TVec t2, out TVec t3);
            return new Rows<TVec>(new BoxVectors<TVec>(p0, p1, p2, p3), new BoxVectors<TVec>(t0, t1, t2, t3),
                a.Weight != null ? TWidth.Load(ref a.Weight[i]) : default,
                a.Upstream != null ? TWidth.Load(ref a.Upstream[i]) : default);
        }
    }
}

/// <summary>
/// The work on one vector of box pairs that every backend's box driver shares — the SIMD driver on a
/// <c>Vector512/256/128</c>, the ILGPU kernel on one thread's pair: the format's conversion to corners and of the gradient
/// back, the loss's math, the weight, the upstream and the reduction's scale. The drivers only load and store around it.
/// </summary>
internal static class BoxStep
{
    /// <summary>
    /// Returns the weighted losses <c>w·ℓ</c> of the pairs; when <paramref name="computeGradient"/>, writes
    /// <c>scale · upstream · w · ∂ℓ/∂box</c> for both boxes, in the boxes' own format (absent factors are 1), else leaves them 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Evaluate<TLoss, TVec, TMath>(in TLoss loss, BoxVectors<TVec> prediction, BoxVectors<TVec> target, TVec weight, TVec upstream,
        bool weighted, bool hasUpstream, bool centerSize, TVec scale, bool computeGradient, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TLoss : struct, IBoxLoss
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (centerSize)
        {
            prediction = ToCorners<TVec, TMath>(prediction);
            target = ToCorners<TVec, TMath>(target);
        }

        TVec value = loss.Evaluate<TVec, TMath>(prediction, target, out BoxVectors<TVec> gPrediction, out BoxVectors<TVec> gTarget);
        if (weighted)
            value = TMath.Multiply(value, weight);
        predictionGradient = default;
        targetGradient = default;
        if (!computeGradient)
            return value;
        if (hasUpstream)
            scale = TMath.Multiply(scale, upstream);
        if (weighted)
            scale = TMath.Multiply(scale, weight);
        predictionGradient = Scaled<TVec, TMath>(gPrediction, scale, centerSize);
        targetGradient = Scaled<TVec, TMath>(gTarget, scale, centerSize);
        return value;
    }

    /// <summary>The gradient times <paramref name="scale"/>, converted to ∂/∂(cx, cy, w, h) for cxcywh boxes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static BoxVectors<TVec> Scaled<TVec, TMath>(in BoxVectors<TVec> gradient, TVec scale, bool centerSize)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec g0 = TMath.Multiply(gradient.X1, scale);
        TVec g1 = TMath.Multiply(gradient.Y1, scale);
        TVec g2 = TMath.Multiply(gradient.X2, scale);
        TVec g3 = TMath.Multiply(gradient.Y2, scale);
        if (centerSize)
        {
            // x1 = cx − w/2, x2 = cx + w/2: ∂/∂cx = ∂/∂x1 + ∂/∂x2, ∂/∂w = (∂/∂x2 − ∂/∂x1)/2.
            TVec half = TMath.Create(0.5f);
            (g0, g2) = (TMath.Add(g0, g2), TMath.Multiply(TMath.Subtract(g2, g0), half));
            (g1, g3) = (TMath.Add(g1, g3), TMath.Multiply(TMath.Subtract(g3, g1), half));
        }

        return new BoxVectors<TVec>(g0, g1, g2, g3);
    }

    /// <summary>cxcywh to xyxy, as torchvision's <c>box_convert</c>: x1 = cx − w/2, x2 = cx + w/2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static BoxVectors<TVec> ToCorners<TVec, TMath>(in BoxVectors<TVec> box)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec half = TMath.Create(0.5f);
        TVec halfWidth = TMath.Multiply(box.X2, half);
        TVec halfHeight = TMath.Multiply(box.Y2, half);
        return new BoxVectors<TVec>(TMath.Subtract(box.X1, halfWidth), TMath.Subtract(box.Y1, halfHeight), TMath.Add(box.X1, halfWidth), TMath.Add(box.Y1, halfHeight));
    }

}

/// <summary>A box pass as a range kernel for <see cref="ChunkedRun"/>, run at the width <see cref="SimdWidths"/> picks.</summary>
internal readonly struct BoxRange<TLoss, TMode>(TLoss loss, BoxArgs args) : IRangeKernel, IWidthKernel
    where TLoss : struct, IBoxLoss
    where TMode : struct, IDriverMode
{
    private readonly TLoss loss = loss;
    private readonly BoxArgs args = args;

    public double RunRange(nint start, nint length) => SimdWidths.Run(this, start, length);

    public double Run<TVec, TMath>(nint start, nint length)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        BoxDriver.RunVectors<TLoss, TMode, TVec, TMath>(loss, args, start, length);

    public double RunPadded(nint start, int length) => BoxDriver.RunPadded<TLoss, TMode>(loss, args, start, length);
}
