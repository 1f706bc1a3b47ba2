using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossKernels.Classification;

/// <summary>
/// Hinge embedding loss on distances x and targets t (1: similar, −1: dissimilar), exactly PyTorch's:
/// <c>ℓ = [t ≠ −1]·x + [t ≠ 1]·max(0, margin − x)</c>; gradient <c>∂ℓ/∂x = [t ≠ −1] − [t ≠ 1]·[margin − x ≥ 0]</c>.
/// Run it with the methods of <see cref="ElementwiseLoss"/>.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.hinge_embedding_loss(input, target, margin=1.0, reduction)</c>, including what it
/// does with a target that is neither 1 nor −1 (both terms apply) and its gradient at the kink (−1, from
/// <c>clamp_min</c>). No differences.
/// </remarks>
public readonly struct HingeEmbeddingLoss : IElementwiseLoss
{
    /// <summary>PyTorch's default margin 1.</summary>
    public HingeEmbeddingLoss()
        : this(1f)
    {
    }

    /// <summary>With the given <paramref name="margin"/>.</summary>
    /// <param name="margin">The margin (any finite value, as PyTorch).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="margin"/> is not finite.</exception>
    public HingeEmbeddingLoss(float margin)
    {
        if (!float.IsFinite(margin))
            ThrowHelper.OutOfRange(nameof(margin), margin, "finite");
        Margin = margin;
    }

    /// <summary>The margin.</summary>
    public float Margin { get; }

    /// <summary>Throws when the margin is not finite.</summary>
    public void Validate()
    {
        if (!float.IsFinite(Margin))
            ThrowHelper.OutOfRange(nameof(Margin), Margin, "finite");
    }

    /// <summary>The OpenCL kernel: <c>hinge_embedding_loss</c> in <c>kernels/opencl/classification.cl</c>.</summary>
    public ElementwiseKernel Kernel => new("classification", "hinge_embedding_loss", new Vector4(Margin, 0f, 0f, 0f));

    /// <summary><c>ℓ = [t ≠ −1]·x + [t ≠ 1]·max(0, margin − x)</c> and its derivative.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec one = TMath.Create(1f);
        TVec similar = TMath.Equal(target, one);
        TVec dissimilar = TMath.Equal(target, TMath.Create(-1f));
        TVec violation = TMath.Subtract(TMath.Create(Margin), input);
        TVec hinge = TMath.Select(TMath.LessThan(violation, zero), zero, violation);
        TVec hingeSlope = TMath.Select(TMath.LessThan(violation, zero), zero, TMath.Select(TMath.IsNaN(violation), violation, TMath.Create(-1f)));
        gradient = TMath.Add(TMath.Select(dissimilar, zero, one), TMath.Select(similar, zero, hingeSlope));
        return TMath.Add(TMath.Select(dissimilar, zero, input), TMath.Select(similar, zero, hinge));
    }
}
