using System.Runtime.CompilerServices;
namespace LossKernels.Embedding;

/// <summary>The pieces the embedding losses share, with PyTorch's conventions at the kinks.</summary>
internal static class EmbeddingMath
{
    /// <summary>max(0, z) as <c>clamp_min(z, 0)</c>: NaN stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Hinge<TVec, TMath>(TVec z)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Select(TMath.LessThan(z, TMath.Create(0f)), TMath.Create(0f), z);

    /// <summary>Where <c>clamp_min(z, 0)</c> passes its gradient: z ≥ 0 (at exactly 0 too).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Passes<TVec, TMath>(TVec z)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Or(TMath.GreaterThan(z, TMath.Create(0f)), TMath.Equal(z, TMath.Create(0f)));

    /// <summary>1/d, and 0 at d = 0: a norm's gradient u/d there, as PyTorch's norm backward.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec InverseOrZero<TVec, TMath>(TVec distance)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Select(TMath.Equal(distance, TMath.Create(0f)), TMath.Create(0f), TMath.Divide(TMath.Create(1f), distance));

    /// <summary>sign(u): 1, −1, or 0 at 0 (the 1-norm's gradient, <c>sgn</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Sign<TVec, TMath>(TVec u)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Select(TMath.GreaterThan(u, TMath.Create(0f)), TMath.Create(1f), TMath.Select(TMath.LessThan(u, TMath.Create(0f)), TMath.Create(-1f), TMath.Create(0f)));

    /// <summary>u = x − y + eps, the difference <c>F.pairwise_distance</c> takes the norm of.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Difference<TVec, TMath>(TVec x, TVec y, float eps)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        TMath.Add(TMath.Subtract(x, y), TMath.Create(eps));
}
