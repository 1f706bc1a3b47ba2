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
        Check(mode, eps, nameof(mode), nameof(eps));
        Mode = mode;
        Eps = eps;
    }

    /// <summary>Linear, square or log.</summary>
    public IoULossMode Mode { get; }

    /// <summary>The lower clamp of the IoU.</summary>
    public float Eps { get; }

    /// <summary>Throws when eps is not finite and positive, or the mode is undefined.</summary>
    public void Validate() => Check(Mode, Eps, nameof(Mode), nameof(Eps));

    private static void Check(IoULossMode mode, float eps, string modeName, string epsName)
    {
        ThrowHelper.IfNotPositive(eps, epsName);
        if (mode is not (IoULossMode.Linear or IoULossMode.Square or IoULossMode.Log))
            ThrowHelper.OutOfRange(modeName, (int)mode, "a defined IoULossMode");
    }

    /// <summary>The OpenCL kernel: <c>iou</c> in <c>kernels/opencl/box.cl</c>, p = (eps, mode).</summary>
    public ElementwiseKernel Kernel => new("box", "iou", new Vector4(Eps, (float)Mode, 0f, 0f));

    /// <summary>The formula of <see cref="IoULoss"/>, per lane.</summary>
    /// <inheritdoc cref="IBoxLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        var pair = new BoxPair<TVec, TMath>(prediction, target);
        TVec intersection = pair.Intersection(true, out TVec interWidth, out TVec interHeight);
        TVec union = TMath.Subtract(TMath.Add(TMath.Multiply(pair.Width, pair.Height), TMath.Multiply(pair.TargetWidth, pair.TargetHeight)), intersection);
        TVec unionEps = TMath.Create(UnionEps);
        TVec safeUnion = TMath.Max(union, unionEps);
        TVec iou = TMath.Divide(intersection, safeUnion);
        TVec eps = TMath.Create(Eps);
        TVec clamped = TMath.Max(iou, eps);
        TVec one = TMath.Create(1f);
        TVec loss;
        TVec gClamped;
        switch (Mode)
        {
            case IoULossMode.Linear:
                loss = TMath.Subtract(one, clamped);
                gClamped = TMath.Create(-1f);
                break;
            case IoULossMode.Square:
                loss = TMath.Subtract(one, TMath.Multiply(clamped, clamped));
                gClamped = TMath.Multiply(TMath.Create(-2f), clamped);
                break;
            default:
                loss = TMath.Subtract(TMath.Create(0f), TMath.Log(clamped));
                gClamped = TMath.Divide(TMath.Create(-1f), clamped);
                break;
        }

        TVec gIou = BoxPair<TVec, TMath>.ClampMinSlope(gClamped, iou, eps);
        TVec gUnion = TMath.Multiply(TMath.Divide(TMath.Multiply(TMath.Subtract(TMath.Create(0f), gIou), iou), safeUnion), BoxPair<TVec, TMath>.MaxShare(union, unionEps));
        pair.BackAreas(gUnion, gUnion);
        pair.BackIntersection(true, TMath.Subtract(TMath.Divide(gIou, safeUnion), gUnion), interWidth, interHeight);
        pair.Gradients(out predictionGradient, out targetGradient);
        return loss;
    }
}
