using System.Runtime.CompilerServices;
using LossKernels.Classification;

namespace LossKernels.Segmentation;

/// <summary>
/// The per-pixel math of the overlap losses, written once over <see cref="IVectorMath{TVec}"/>: the CPU driver runs it on
/// vectors of neighbouring pixels, the ILGPU kernels on one pixel per thread (the OpenCL C in <c>segmentation.cl</c> mirrors it).
/// </summary>
internal static class OverlapMath
{
    /// <summary>The softmax probability of a class: e^(x − max)·(1/Σe), with the pixel's max and 1/Σ_c e^(x_c − max).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Softmax<TVec, TMath>(TVec x, TVec max, TVec inverseSum)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Multiply(VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(x, max)), inverseSum);

    /// <summary>
    /// p for the multilabel and binary modes: σ(x) from logits, else the input as it is; <paramref name="slope"/> = ∂p/∂x, σ(x)·σ(−x)
    /// from the same exponential (or 1), which the gradient sweep chains ∂L/∂p through.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Elementwise<TVec, TMath>(TVec x, bool fromLogits, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (!fromLogits)
        {
            slope = TMath.Create(1f);
            return x;
        }

        SigmoidTerms.Sigmoids<TVec, TMath>(x, out TVec p, out TVec q);
        slope = TMath.Multiply(p, q);
        return p;
    }

    /// <summary>Adds a pixel's p·t, p, t, p², t² (p and t already zero where the pixel is left out) into the five sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Accumulate<TVec, TMath>(TVec p, TVec t, ref TVec intersection, ref TVec prediction, ref TVec target, ref TVec predictionSquares,
        ref TVec targetSquares)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        intersection = TMath.MultiplyAdd(p, t, intersection);
        prediction = TMath.Add(prediction, p);
        target = TMath.Add(target, t);
        predictionSquares = TMath.MultiplyAdd(p, p, predictionSquares);
        targetSquares = TMath.MultiplyAdd(t, t, targetSquares);
    }

    /// <summary>∂L/∂p = a·t + b + e·p for a kept pixel, 0 for one left out (<paramref name="kept"/> a lane mask).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec ProbabilityGradient<TVec, TMath>(TVec kept, TVec p, TVec t, float perIntersection, float perPrediction, float perPredictionSquared)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.And(kept, TMath.MultiplyAdd(TMath.Create(perPredictionSquared), p, TMath.MultiplyAdd(TMath.Create(perIntersection), t, TMath.Create(perPrediction))));

    /// <summary>∂L/∂x_c through the softmax: p_c·(g_c − Σ_k p_k·g_k).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec SoftmaxChain<TVec, TMath>(TVec p, TVec g, TVec dot)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Multiply(p, TMath.Subtract(g, dot));
}
