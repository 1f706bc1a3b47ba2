using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>How <see cref="IoULoss"/> turns the IoU into a loss (mmdetection's <c>mode</c>).</summary>
public enum IoULossMode
{
    /// <summary><c>1 − IoU</c>.</summary>
    Linear,

    /// <summary><c>1 − IoU²</c>.</summary>
    Square,

    /// <summary><c>−ln IoU</c> (mmdetection's default).</summary>
    Log,
}

/// <summary>
/// IoU loss (mmdetection's <c>iou_loss</c>): with I = max(w, 0)·max(h, 0) the clamped intersection,
/// U = max(A₁ + A₂ − I, 1e-6) and IoU = max(I/U, eps), <c>ℓ = 1 − IoU</c>, <c>1 − IoU²</c> or <c>−ln IoU</c>. The
/// gradient is the analytic derivative with respect to all eight coordinates: zero where the IoU is below eps
/// (the clamp), and PyTorch's even split at ties of min/max. Run it with the methods of <see cref="BoxLoss"/>.
/// </summary>
/// <remarks>
/// mmdetection: <c>iou_loss(pred, target, mode='log', eps=1e-6)</c> and <c>IoULoss</c>, which computes IoU with
/// <c>bbox_overlaps(..., is_aligned=True)</c> (its own eps, 1e-6, on the union). Differences: mmdetection's
/// <c>IoULoss</c> returns <c>(pred * weight).sum()</c> when no weight is positive; here the weighted loss is
/// reduced as usual, which gives the same 0 for Sum and for Mean with avgFactor. No torchvision equivalent.
/// </remarks>
public readonly struct IoULoss : IBoxLoss
{
    private const float UnionEps = 1e-6f;

    /// <summary>IoU loss with mmdetection's defaults: mode log, eps = 1e-6.</summary>
    public IoULoss()
        : this(IoULossMode.Log, 1e-6f)
    {
    }

    /// <summary>IoU loss with the given mode and eps.</summary>
    /// <param name="mode">Linear, square or log.</param>
    /// <param name="eps">eps &gt; 0: the IoU is clamped from below to it (so that ln never sees 0).</param>
    /// <exception cref="ArgumentOutOfRangeException">eps is not finite and positive, or the mode is undefined.</exception>
    public IoULoss(IoULossMode mode, float eps = 1e-6f)
    {
        Mode = mode;
        Eps = eps;
        Validate();
    }

    /// <summary>Linear, square or log.</summary>
    public IoULossMode Mode { get; }

    /// <summary>The lower clamp of the IoU.</summary>
    public float Eps { get; }

    /// <summary>Throws when eps is not finite and positive, or the mode is undefined.</summary>
    public void Validate()
    {
        ThrowHelper.IfNotPositive(Eps, nameof(Eps));
        if (Mode is not (IoULossMode.Linear or IoULossMode.Square or IoULossMode.Log))
            ThrowHelper.OutOfRange(nameof(Mode), (int)Mode, "a defined IoULossMode");
    }

    /// <summary>The OpenCL kernel: <c>iou</c> in <c>kernels/box.cl</c>, p = (eps, mode).</summary>
    public ElementwiseKernel Kernel => new("box", "iou", new Vector4(Eps, (float)Mode, 0f, 0f));

    /// <summary>The formula of <see cref="IoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        Lanes<TVec, TMath> intersection = pair.Intersection(true, out Lanes<TVec, TMath> interWidth, out Lanes<TVec, TMath> interHeight);
        Lanes<TVec, TMath> union = pair.Width * pair.Height + pair.TargetWidth * pair.TargetHeight - intersection;
        Lanes<TVec, TMath> safeUnion = Lanes<TVec, TMath>.Max(union, UnionEps);
        Lanes<TVec, TMath> iou = intersection / safeUnion;
        Lanes<TVec, TMath> clamped = Lanes<TVec, TMath>.Max(iou, Eps);
        Lanes<TVec, TMath> loss;
        Lanes<TVec, TMath> gClamped;
        switch (Mode)
        {
            case IoULossMode.Linear:
                loss = 1f - clamped;
                gClamped = -1f;
                break;
            case IoULossMode.Square:
                loss = 1f - clamped * clamped;
                gClamped = -2f * clamped;
                break;
            default:
                loss = -Lanes<TVec, TMath>.Log(clamped);
                gClamped = -1f / clamped;
                break;
        }

        // torch.clamp(min=eps) passes the gradient where iou ≥ eps.
        Lanes<TVec, TMath> gIou = Lanes<TVec, TMath>.Select(Lanes<TVec, TMath>.Less(iou, Eps), 0f, gClamped);
        Lanes<TVec, TMath> gUnion = -gIou * iou / safeUnion * Lanes<TVec, TMath>.MaxShare(union, UnionEps);
        pair.BackAreas(gUnion, gUnion);
        pair.BackIntersection(true, gIou / safeUnion - gUnion, interWidth, interHeight);
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss.Value;
    }
}
