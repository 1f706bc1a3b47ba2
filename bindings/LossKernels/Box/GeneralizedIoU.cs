using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>
/// Generalized IoU loss (Rezatofighi et al. 2019): <c>ℓ = 1 − IoU + (C − U)/(C + eps)</c>, with
/// IoU = I/(U + eps), I the intersection, U = A₁ + A₂ − I the union and C the area of the smallest
/// enclosing box. The gradient is the analytic derivative of that formula with respect to all eight
/// coordinates (what autograd computes; min/max split a tie evenly as PyTorch does). Run it with the
/// methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// torchvision: <c>torchvision.ops.generalized_box_iou_loss(boxes1, boxes2, reduction, eps=1e-7)</c>, the same
/// formula and intersection (zero, with zero gradient, unless both overlap sides are positive).
/// Differences: mmdetection's <c>GIoULoss</c> uses max(U, eps) and max(C, eps) instead of adding eps (not offered
/// here). For degenerate boxes the loss is finite wherever torchvision's is (C + eps &gt; 0 for valid boxes).
/// </remarks>
public readonly struct GeneralizedIoULoss : IBoxLoss
{
    /// <summary>GIoU loss with torchvision's eps = 1e-7.</summary>
    public GeneralizedIoULoss()
        : this(1e-7f)
    {
    }

    /// <summary>GIoU loss with the given eps.</summary>
    /// <param name="eps">eps ≥ 0, added to the union and the enclosing area.</param>
    /// <exception cref="ArgumentOutOfRangeException">eps is negative or not finite.</exception>
    public GeneralizedIoULoss(float eps)
    {
        ThrowHelper.IfNegative(eps, nameof(eps));
        Eps = eps;
    }

    /// <summary>eps, added to the union and the enclosing area.</summary>
    public float Eps { get; }

    /// <summary>Throws when eps is negative or not finite.</summary>
    public void Validate() => ThrowHelper.IfNegative(Eps, nameof(Eps));

    /// <summary>The OpenCL kernel: <c>giou</c> in <c>kernels/opencl/box.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("box", "giou", new Vector4(Eps, 0f, 0f, 0f));

    /// <summary>The formula of <see cref="GeneralizedIoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        TVec eps = TMath.Create(Eps);
        TVec iou = pair.IoU(false, eps, out TVec union, out TVec interWidth, out TVec interHeight);
        pair.Enclosure(out TVec width, out TVec height);
        TVec enclosing = TMath.Add(TMath.Multiply(width, height), eps);
        // union carries +eps already: C − U = (C + eps) − (U + eps).
        TVec loss = TMath.Add(TMath.Subtract(TMath.Create(1f), iou), TMath.Divide(TMath.Subtract(enclosing, union), enclosing));

        // ∂/∂C of (C − U)/(C + eps) is (U + eps)/(C + eps)²; ∂/∂U is −1/(C + eps).
        TVec gEnclosing = TMath.Divide(union, TMath.Multiply(enclosing, enclosing));
        pair.BackIoU(false, TMath.Create(-1f), TMath.Divide(TMath.Create(-1f), enclosing), iou, union, interWidth, interHeight);
        pair.BackEnclosure(TMath.Multiply(gEnclosing, height), TMath.Multiply(gEnclosing, width));
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss;
    }
}
