using System.Runtime.CompilerServices;
using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>
/// Triplet margin loss on B rows of D-dimensional anchors a, positives p and negatives n:
/// <c>ℓ_r = max(0, margin + d(a, p) − d(a, n))</c> with <c>d(x, y) = ‖x − y + eps‖_p</c> (p = 1 or 2); with <c>swap</c>,
/// d(a, n) is replaced by min(d(a, n), d(p, n)) (Balntas et al. 2016). Gradients for all three inputs: with u = x − y + eps,
/// <c>∂d/∂x = u/d</c> (p = 2; 0 where d = 0) or <c>sign(u)</c> (p = 1), and <c>∂ℓ/∂d(a,p) = 1</c>, <c>∂ℓ/∂d(a,n) = −1</c> where the
/// hinge's argument is ≥ 0. The mean divides by B.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction)</c>, the same values
/// and gradients, including its conventions at the kinks: the hinge passes the gradient where its argument is exactly 0
/// (<c>clamp_min</c>'s ≥), the norm's gradient is 0 at a zero distance, and with <c>swap</c> a tie between d(a, n) and d(p, n) sends
/// half the gradient each way (<c>torch.minimum</c>). Differences: p must be 1 or 2 (PyTorch takes any p &gt; 0); the inputs are
/// [B, D] only (PyTorch also takes a single [D] row); the row sums run in float vectors flushed into double every 64 vectors,
/// then the distance in float.
/// </remarks>
public readonly struct TripletMarginLoss : IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    /// <summary>PyTorch's defaults: margin 1, p = 2, eps 1e-6, no swap.</summary>
    public TripletMarginLoss()
        : this(1f)
    {
    }

    /// <summary>With the given hyperparameters.</summary>
    /// <param name="margin">The margin (finite).</param>
    /// <param name="p">The norm: 1 or 2.</param>
    /// <param name="eps">Added to each difference before the norm, as <c>F.pairwise_distance</c> (finite).</param>
    /// <param name="swap">Use min(d(a, n), d(p, n)) as the negative distance.</param>
    /// <exception cref="ArgumentOutOfRangeException">p is not 1 or 2, or margin or eps is not finite.</exception>
    public TripletMarginLoss(float margin, int p = 2, float eps = 1e-6f, bool swap = false)
    {
        Check(margin, p, eps, nameof(margin), nameof(p), nameof(eps));
        Margin = margin;
        P = p;
        Eps = eps;
        swapFlag = swap ? (byte)1 : (byte)0;
    }

    /// <summary>The margin.</summary>
    public float Margin { get; }

    /// <summary>The norm's p: 1 or 2.</summary>
    public int P { get; }

    /// <summary>The eps added to each difference.</summary>
    public float Eps { get; }

    /// <summary>Whether the negative distance is min(d(a, n), d(p, n)).</summary>
    public bool Swap => swapFlag != 0;

    // A byte, not a bool: the struct is passed by value to GPU kernels, which take blittable fields only.
    private readonly byte swapFlag;

    /// <summary>Three inputs: anchor, positive, negative.</summary>
    public int Inputs => 3;

    /// <summary>No labels.</summary>
    public bool Labelled => false;

    /// <summary>Throws when p is not 1 or 2 or margin or eps is not finite (a default-constructed struct has p = 0).</summary>
    public void Validate() => Check(Margin, P, Eps, nameof(Margin), nameof(P), nameof(Eps));

    private static void Check(float margin, int p, float eps, string marginName, string pName, string epsName)
    {
        ThrowHelper.IfNotFinite(margin, marginName);
        if (p is not (1 or 2))
            ThrowHelper.OutOfRange(pName, p, "1 or 2");
        ThrowHelper.IfNotFinite(eps, epsName);
    }

    /// <summary>Fused forward+backward, reduced: returns L and writes the three gradients of upstream·L.</summary>
    /// <param name="anchor">B rows of D.</param>
    /// <param name="positive">B rows of D.</param>
    /// <param name="negative">B rows of D.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="anchorGrad">Receives B·D elements; may be <paramref name="anchor"/> itself.</param>
    /// <param name="positiveGrad">Receives B·D elements; may be <paramref name="positive"/> itself.</param>
    /// <param name="negativeGrad">Receives B·D elements; may be <paramref name="negative"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> anchor, ReadOnlySpan<float> positive, ReadOnlySpan<float> negative, int dim, Span<float> anchorGrad,
        Span<float> positiveGrad, Span<float> negativeGrad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        Run(anchor, positive, negative, dim, default, anchorGrad, positiveGrad, negativeGrad, default, reduction, upstream, gradient: true);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="anchor">B rows of D.</param>
    /// <param name="positive">B rows of D.</param>
    /// <param name="negative">B rows of D.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    public float Forward(ReadOnlySpan<float> anchor, ReadOnlySpan<float> positive, ReadOnlySpan<float> negative, int dim, Reduction reduction = Reduction.Mean) =>
        Run(anchor, positive, negative, dim, default, default, default, default, default, reduction, 1f, gradient: false);

    /// <summary>Unreduced: B row losses, and the three gradients when <paramref name="anchorGrad"/> is not empty.</summary>
    /// <param name="anchor">B rows of D.</param>
    /// <param name="positive">B rows of D.</param>
    /// <param name="negative">B rows of D.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="output">Receives B row losses.</param>
    /// <param name="anchorGrad">Receives B·D elements, or empty for the losses alone (then the other two are empty too).</param>
    /// <param name="positiveGrad">Receives B·D elements.</param>
    /// <param name="negativeGrad">Receives B·D elements.</param>
    /// <param name="upstream">B upstream gradients, or empty for ones.</param>
    public void ForwardBackward(ReadOnlySpan<float> anchor, ReadOnlySpan<float> positive, ReadOnlySpan<float> negative, int dim, Span<float> output,
        Span<float> anchorGrad, Span<float> positiveGrad, Span<float> negativeGrad, ReadOnlySpan<float> upstream = default) =>
        Run(anchor, positive, negative, dim, output, anchorGrad, positiveGrad, negativeGrad, upstream, Reduction.None, 1f, gradient: !anchorGrad.IsEmpty);

    /// <summary>Backward only, reduced: the three gradients of upstream·L.</summary>
    /// <param name="anchor">B rows of D.</param>
    /// <param name="positive">B rows of D.</param>
    /// <param name="negative">B rows of D.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="anchorGrad">Receives B·D elements.</param>
    /// <param name="positiveGrad">Receives B·D elements.</param>
    /// <param name="negativeGrad">Receives B·D elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> anchor, ReadOnlySpan<float> positive, ReadOnlySpan<float> negative, int dim, float upstream, Span<float> anchorGrad,
        Span<float> positiveGrad, Span<float> negativeGrad, Reduction reduction = Reduction.Mean) =>
        Run(anchor, positive, negative, dim, default, anchorGrad, positiveGrad, negativeGrad, default, reduction, upstream, gradient: true);

    private float Run(ReadOnlySpan<float> anchor, ReadOnlySpan<float> positive, ReadOnlySpan<float> negative, int dim, Span<float> output, Span<float> anchorGrad,
        Span<float> positiveGrad, Span<float> negativeGrad, ReadOnlySpan<float> upstream, Reduction reduction, float upstreamScalar, bool gradient) =>
        EmbeddingLoss.Run<TripletMarginLoss, float>(this, EmbeddingNames.Triplet, dim, anchor, positive, negative, default, output, anchorGrad, positiveGrad,
            negativeGrad, upstream, reduction, upstreamScalar, gradient);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="anchorGrad"/> is null), reduced, on an OpenCL device (<c>kernels/opencl/embedding.cl</c>: a work-item per row or run of short rows; a work-group per long row on GPUs).</summary>
    /// <param name="anchor">B·D floats on the device.</param>
    /// <param name="positive">B·D floats on the same device.</param>
    /// <param name="negative">B·D floats on the same device.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="anchorGrad">Receives B·D elements, or null for the loss alone; may be <paramref name="anchor"/> itself.</param>
    /// <param name="positiveGrad">Receives B·D elements (null only with <paramref name="anchorGrad"/>).</param>
    /// <param name="negativeGrad">Receives B·D elements (null only with <paramref name="anchorGrad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> anchor, DeviceBuffer<float> positive, DeviceBuffer<float> negative, int dim, DeviceBuffer<float>? anchorGrad,
        DeviceBuffer<float>? positiveGrad, DeviceBuffer<float>? negativeGrad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run<TripletMarginLoss, float>(this, EmbeddingNames.Triplet, dim, anchor, positive, negative, null, null, anchorGrad, positiveGrad,
            negativeGrad, null, reduction, upstream);

    /// <summary>Unreduced on an OpenCL device: B row losses, and the three gradients when <paramref name="anchorGrad"/> is given.</summary>
    /// <param name="anchor">B·D floats on the device.</param>
    /// <param name="positive">B·D floats on the same device.</param>
    /// <param name="negative">B·D floats on the same device.</param>
    /// <param name="dim">D, the embedding size (&gt; 0).</param>
    /// <param name="output">Receives B row losses.</param>
    /// <param name="anchorGrad">Receives B·D elements, or null.</param>
    /// <param name="positiveGrad">Receives B·D elements (null only with <paramref name="anchorGrad"/>).</param>
    /// <param name="negativeGrad">Receives B·D elements (null only with <paramref name="anchorGrad"/>).</param>
    /// <param name="upstream">B upstream gradients, or null for ones.</param>
    public void ForwardBackward(DeviceBuffer<float> anchor, DeviceBuffer<float> positive, DeviceBuffer<float> negative, int dim, DeviceBuffer<float> output,
        DeviceBuffer<float>? anchorGrad, DeviceBuffer<float>? positiveGrad, DeviceBuffer<float>? negativeGrad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run<TripletMarginLoss, float>(this, EmbeddingNames.Triplet, dim, anchor, positive, negative, null, output, anchorGrad, positiveGrad,
            negativeGrad, upstream, Reduction.None, 1f);

    EmbeddingKernelArguments IOpenCLEmbeddingLoss.KernelArguments => new(EmbeddingKernelArguments.Triplet, P, Swap, Margin, Eps);

    /// <summary>|u|^p per element of u = a − p + eps, a − n + eps and (with swap) p − n + eps.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Terms<TVec, TMath>(TVec x0, TVec x1, TVec x2, out TVec s0, out TVec s1, out TVec s2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        s0 = Power<TVec, TMath>(EmbeddingMath.Difference<TVec, TMath>(x0, x1, Eps));
        s1 = Power<TVec, TMath>(EmbeddingMath.Difference<TVec, TMath>(x0, x2, Eps));
        s2 = Swap ? Power<TVec, TMath>(EmbeddingMath.Difference<TVec, TMath>(x1, x2, Eps)) : TMath.Create(0f);
    }

    /// <summary>The hinge on the distances; coefficients ∂ℓ/∂d(a,p)/d, ∂ℓ/∂d(a,n)/d and ∂ℓ/∂d(p,n)/d (p = 2; without the /d for p = 1).</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Row<TVec, TMath>(TVec s0, TVec s1, TVec s2, TVec label, TVec scale, out TVec c0, out TVec c1, out TVec c2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f), one = TMath.Create(1f);
        TVec positiveDistance = Distance<TVec, TMath>(s0), anchorNegative = Distance<TVec, TMath>(s1);
        TVec negativeDistance = anchorNegative, anchorShare = one, swapShare = zero, swapDistance = zero;
        if (Swap)
        {
            swapDistance = Distance<TVec, TMath>(s2);
            TVec anchorLess = TMath.LessThan(anchorNegative, swapDistance), swapLess = TMath.LessThan(swapDistance, anchorNegative);
            negativeDistance = TMath.Select(TMath.Or(swapLess, TMath.IsNaN(swapDistance)), swapDistance, anchorNegative);
            anchorShare = TMath.Select(anchorLess, one, TMath.Select(swapLess, zero, TMath.Create(0.5f)));
            swapShare = TMath.Subtract(one, anchorShare);
        }

        TVec z = TMath.Subtract(TMath.Add(TMath.Create(Margin), positiveDistance), negativeDistance);
        TVec k = TMath.And(EmbeddingMath.Passes<TVec, TMath>(z), scale);
        c0 = TMath.Multiply(k, Inverse<TVec, TMath>(positiveDistance));
        c1 = TMath.Subtract(zero, TMath.Multiply(TMath.Multiply(k, anchorShare), Inverse<TVec, TMath>(anchorNegative)));
        c2 = Swap ? TMath.Subtract(zero, TMath.Multiply(TMath.Multiply(k, swapShare), Inverse<TVec, TMath>(swapDistance))) : zero;
        return EmbeddingMath.Hinge<TVec, TMath>(z);
    }

    /// <summary>With v = u (p = 2) or sign(u) (p = 1): ∂a = c0·v_ap + c1·v_an, ∂p = −c0·v_ap + c2·v_pn, ∂n = −c1·v_an − c2·v_pn.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Gradient<TVec, TMath>(TVec x0, TVec x1, TVec x2, TVec c0, TVec c1, TVec c2, out TVec g0, out TVec g1, out TVec g2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec v0 = Slope<TVec, TMath>(EmbeddingMath.Difference<TVec, TMath>(x0, x1, Eps));
        TVec v1 = Slope<TVec, TMath>(EmbeddingMath.Difference<TVec, TMath>(x0, x2, Eps));
        TVec a0 = TMath.Multiply(c0, v0), a1 = TMath.Multiply(c1, v1);
        g0 = TMath.Add(a0, a1);
        g1 = TMath.Subtract(TMath.Create(0f), a0);
        g2 = TMath.Subtract(TMath.Create(0f), a1);
        if (!Swap)
            return;
        TVec a2 = TMath.Multiply(c2, Slope<TVec, TMath>(EmbeddingMath.Difference<TVec, TMath>(x1, x2, Eps)));
        g1 = TMath.Add(g1, a2);
        g2 = TMath.Subtract(g2, a2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Power<TVec, TMath>(TVec u)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        P == 2 ? TMath.Multiply(u, u) : TMath.Abs(u);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Distance<TVec, TMath>(TVec sum)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        P == 2 ? TMath.Sqrt(sum) : sum;

    /// <summary>1/d for p = 2 (0 at d = 0, PyTorch's norm gradient there); 1 for p = 1, whose slope is sign(u).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Inverse<TVec, TMath>(TVec distance)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        P == 2 ? EmbeddingMath.InverseOrZero<TVec, TMath>(distance) : TMath.Create(1f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TVec Slope<TVec, TMath>(TVec u)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        P == 2 ? u : EmbeddingMath.Sign<TVec, TMath>(u);
}
