using System.Runtime.CompilerServices;

namespace LossKernels.Generative;

/// <summary>
/// The total variation's term math, written once for the CPU's vectors and ILGPU's scalar threads
/// (<c>kernels/opencl/generative.cl</c> mirrors it): from a pixel's forward differences Δx = x[i, j + 1] − x[i, j] and
/// Δy = x[i + 1, j] − x[i, j], the term and its slopes A = ∂term/∂Δx, B = ∂term/∂Δy (<see cref="TotalVariationLoss"/> has the formulas).
/// </summary>
internal static class TotalVariationMath
{
    /// <summary>|d| and its slope sign(d) (0 at 0; NaN stays NaN): one anisotropic difference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Absolute<TVec, TMath>(TVec difference, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        slope = VectorMath.Sign<TVec, TMath>(difference);
        return TMath.Abs(difference);
    }

    /// <summary>
    /// The joint term of a pixel whose differences are both defined: √(Δx² + Δy² + eps) (isotropic, <paramref name="halfBeta"/> ½) or
    /// (Δx² + Δy²)^(β/2) (eps 0), with A = β·term/s·Δx and B = β·term/s·Δy for s = Δx² + Δy² + eps, 0 where s = 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Joint<TVec, TMath>(TVec dx, TVec dy, bool isotropic, float eps, float halfBeta, out TVec slopeX, out TVec slopeY)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec s = TMath.MultiplyAdd(dx, dx, TMath.MultiplyAdd(dy, dy, TMath.Create(eps)));
        TVec positive = TMath.GreaterThan(s, zero);
        // s^(β/2) through exp and log where s > 0 (the log of 0 is never taken into the result); the square root exactly otherwise.
        TVec term = isotropic ? TMath.Sqrt(s)
            : TMath.Select(positive, TMath.Exp(TMath.Multiply(TMath.Create(halfBeta), TMath.Log(TMath.Select(positive, s, TMath.Create(1f))))), zero);
        term = TMath.Select(TMath.IsNaN(s), s, term);
        TVec factor = TMath.Select(positive, TMath.Divide(TMath.Multiply(TMath.Create(2f * halfBeta), term), s), zero);
        factor = TMath.Select(TMath.IsNaN(s), s, factor);
        slopeX = TMath.Multiply(factor, dx);
        slopeY = TMath.Multiply(factor, dy);
        return term;
    }
}
