using System.Runtime.CompilerServices;

namespace LossKernels.Regression;

/// <summary>What the regression losses share: each is a function of d = x − t, so its target gradient is the input's negated.</summary>
internal static class DifferenceLoss
{
    /// <summary>ℓ(x, t) and <c>∂ℓ/∂t = −∂ℓ/∂x</c> of a loss of x − t.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec TargetOf<TLoss, TVec, TMath>(in TLoss loss, TVec input, TVec target, out TVec targetGradient)
        where TLoss : struct, IElementwiseLoss
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec value = loss.Evaluate<TVec, TMath>(input, target, out TVec gradient);
        targetGradient = TMath.Subtract(TMath.Create(0f), gradient);
        return value;
    }
}
