using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// Distance IoU loss (Zheng et al. 2020): <c>ℓ = 1 − IoU + ρ²/(c² + eps)</c>, with IoU = I/(U + eps), ρ the
/// distance between the box centers and c the diagonal of the smallest enclosing box. The gradient is the
/// analytic derivative with respect to all eight coordinates (min/max split a tie evenly, as PyTorch).
/// Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// torchvision: <c>torchvision.ops.distance_box_iou_loss(boxes1, boxes2, reduction, eps=1e-7)</c>, the same formula.
/// mmdetection's <c>DIoULoss</c> differs only in clamping the intersection and the enclosing box at 0 (equal for
/// valid boxes). Identical boxes give ℓ = 1 − A/(A + eps) and a finite gradient.
/// </remarks>
public readonly struct DistanceIoULoss : IBoxLoss
{
    /// <summary>DIoU loss with torchvision's eps = 1e-7.</summary>
    public DistanceIoULoss()
        : this(1e-7f)
    {
    }

    /// <summary>DIoU loss with the given eps.</summary>
    /// <param name="eps">eps ≥ 0, added to the union and the squared diagonal.</param>
    /// <exception cref="ArgumentOutOfRangeException">eps is negative or not finite.</exception>
    public DistanceIoULoss(float eps)
    {
        ThrowHelper.IfNegative(eps, nameof(eps));
        Eps = eps;
    }

    /// <summary>eps, added to the union and the squared diagonal.</summary>
    public float Eps { get; }

    /// <summary>Throws when eps is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Eps, nameof(Eps));

    /// <summary>The OpenCL kernel: <c>diou</c> in <c>kernels/opencl/box.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("box", "diou", new Vector4(Eps, 0f, 0f, 0f));

    /// <summary>The formula of <see cref="DistanceIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        TVec eps = TMath.Create(Eps);
        TVec iou = pair.IoU(false, eps, out TVec union, out TVec interWidth, out TVec interHeight);
        TVec penalty = pair.DistancePenalty(false, eps, out BoxPair<TVec, TMath>.DistanceParts parts);
        pair.BackIoU(false, TMath.Create(-1f), TMath.Create(0f), iou, union, interWidth, interHeight);
        pair.BackDistancePenalty(false, TMath.Create(1f), penalty, parts);
        pair.Gradients(out predictionGradient, out targetGradient);
        return TMath.Add(TMath.Subtract(TMath.Create(1f), iou), penalty);
    }
}
