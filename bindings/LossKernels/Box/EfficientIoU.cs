using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// Efficient IoU loss (EIoU, Zhang et al. 2022, "Focal and efficient IOU loss"):
/// <c>ℓ = 1 − IoU + ρ²/(c² + eps) + (w_p − w_t)²/(C_w² + eps) + (h_p − h_t)²/(C_h² + eps)</c>, with DIoU's terms
/// (<see cref="DistanceIoULoss"/>) and C_w, C_h the width and height of the smallest enclosing box. The gradient
/// is the analytic derivative with respect to all eight coordinates. Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// No torchvision or mmdetection equivalent (mmdetection's <c>EIoULoss</c> is a different loss:
/// <see cref="ExtendedIoULoss"/>). The paper gives no eps; here it is added to every denominator as torchvision
/// does for DIoU (eps = 1e-7), so identical and degenerate boxes give a finite loss and gradient. The golden
/// cases run this formula in float64 through autograd.
/// </remarks>
public readonly struct EfficientIoULoss : IBoxLoss
{
    /// <summary>EIoU loss with eps = 1e-7.</summary>
    public EfficientIoULoss()
        : this(1e-7f)
    {
    }

    /// <summary>EIoU loss with the given eps.</summary>
    /// <param name="eps">eps ≥ 0, added to the union and to each squared size of the enclosing box.</param>
    /// <exception cref="ArgumentOutOfRangeException">eps is negative or not finite.</exception>
    public EfficientIoULoss(float eps)
    {
        ThrowHelper.IfNegative(eps, nameof(eps));
        Eps = eps;
    }

    /// <summary>eps.</summary>
    public float Eps { get; }

    /// <summary>Throws when eps is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Eps, nameof(Eps));

    /// <summary>The OpenCL kernel: <c>eiou</c> in <c>kernels/opencl/box.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("box", "eiou", new Vector4(Eps, 0f, 0f, 0f));

    /// <summary>The formula of <see cref="EfficientIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        TVec eps = TMath.Create(Eps);
        TVec two = TMath.Create(2f);
        TVec iou = pair.IoU(false, eps, out TVec union, out TVec interWidth, out TVec interHeight);
        TVec penalty = pair.DistancePenalty(false, eps, out BoxPair<TVec, TMath>.DistanceParts parts);
        TVec widthGap = TMath.Subtract(pair.Width, pair.TargetWidth);
        TVec heightGap = TMath.Subtract(pair.Height, pair.TargetHeight);
        TVec widthScale = TMath.Add(TMath.Multiply(parts.Width, parts.Width), eps);
        TVec heightScale = TMath.Add(TMath.Multiply(parts.Height, parts.Height), eps);
        TVec widthTerm = TMath.Divide(TMath.Multiply(widthGap, widthGap), widthScale);
        TVec heightTerm = TMath.Divide(TMath.Multiply(heightGap, heightGap), heightScale);

        pair.BackIoU(false, TMath.Create(-1f), TMath.Create(0f), iou, union, interWidth, interHeight);
        pair.BackDistancePenalty(false, TMath.Create(1f), penalty, parts);
        TVec gWidthGap = TMath.Divide(TMath.Multiply(two, widthGap), widthScale);
        TVec gHeightGap = TMath.Divide(TMath.Multiply(two, heightGap), heightScale);
        pair.BackSizes(gWidthGap, gHeightGap, TMath.Subtract(TMath.Create(0f), gWidthGap), TMath.Subtract(TMath.Create(0f), gHeightGap));
        // ∂/∂C_w of gap²/(C_w² + eps) = −2·C_w·term/(C_w² + eps).
        TVec minusTwo = TMath.Create(-2f);
        pair.BackEnclosure(TMath.Divide(TMath.Multiply(TMath.Multiply(minusTwo, parts.Width), widthTerm), widthScale),
            TMath.Divide(TMath.Multiply(TMath.Multiply(minusTwo, parts.Height), heightTerm), heightScale));
        pair.Gradients(out predictionGradient, out targetGradient);
        return TMath.Add(TMath.Add(TMath.Add(TMath.Subtract(TMath.Create(1f), iou), penalty), widthTerm), heightTerm);
    }
}
