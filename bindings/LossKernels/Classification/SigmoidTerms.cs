using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// The pieces every sigmoid-based loss shares, from one exponential: for logits x and (soft) targets t,
/// σ(x), σ(−x) = 1 − σ(x) without cancellation, and the binary cross entropy with logits
/// <c>ce = max(x, 0) − x·t + ln(1 + e^−|x|)</c> (PyTorch's stable form; finite for every finite x).
/// </summary>
internal static class SigmoidTerms
{
    /// <summary>Returns ce(x, t) = x·(step(x) − t) + ln(1 + e^−|x|); <paramref name="positive"/> = σ(x), <paramref name="negative"/> = σ(−x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec CrossEntropy<TVec, TMath>(TVec x, TVec t, out TVec positive, out TVec negative)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec log1p = Sigmoids<TVec, TMath>(x, out positive, out negative);
        // max(x, 0) − x·t = x·(step(x) − t): one rounding instead of two, and no cancellation for large x with t near 1.
        TVec step = TMath.And(TMath.GreaterThan(x, TMath.Create(0f)), TMath.Create(1f));
        return TMath.MultiplyAdd(x, TMath.Subtract(step, t), log1p);
    }

    /// <summary>
    /// σ(x) − t as (1 − t)·σ(x) − t·σ(−x), from <paramref name="positive"/> = σ(x) and <paramref name="negative"/> = σ(−x): for a hard
    /// label it is one sigmoid, exact where σ(x) − 1 in float32 keeps only σ(−x)'s bits above 2⁻²⁴ (0 at x = 17, 2.4e-5 relative at
    /// x = 6); for a soft label it is as close as σ(x) − t.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Difference<TVec, TMath>(TVec positive, TVec negative, TVec t)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.MultiplyAdd(TMath.Subtract(TMath.Create(1f), t), positive, TMath.Multiply(TMath.Subtract(TMath.Create(0f), t), negative));

    /// <summary>Returns ln(1 + e^−|x|), the shared tail of softplus(±x); <paramref name="positive"/> = σ(x), <paramref name="negative"/> = σ(−x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Sigmoids<TVec, TMath>(TVec x, out TVec positive, out TVec negative)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec one = TMath.Create(1f);
        TVec e = VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Or(x, TMath.Create(-0f)));
        TVec large = TMath.Divide(one, TMath.Add(one, e));
        TVec small = TMath.Multiply(e, large);
        TVec nonNegative = TMath.GreaterThan(x, zero);
        positive = TMath.Select(nonNegative, large, small);
        negative = TMath.Select(nonNegative, small, large);
        return VectorFunctions.Log1POfUnitInterval<TVec, TMath>(e);
    }

    /// <summary>
    /// a^γ for a ≥ 0 as e^(γ·ln a), with 0^γ = 0 for γ &gt; 0 and 0^0 = 1 (PyTorch's <c>pow</c>); γ = 1 and 2 are
    /// multiplications.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Power<TVec, TMath>(TVec a, float gamma)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        if (gamma == 2f)
            return TMath.Multiply(a, a);
        if (gamma == 1f)
            return a;
        TVec power = TMath.Exp(TMath.Multiply(TMath.Create(gamma), TMath.Log(a)));
        return TMath.Select(TMath.Equal(a, TMath.Create(0f)), TMath.Create(gamma == 0f ? 1f : 0f), power);
    }
}
