using System.Runtime.CompilerServices;
using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>
/// Contrastive loss (Hadsell, Chopra &amp; LeCun 2006) on B pairs of D-dimensional rows x1, x2 with labels y (1 similar, 0
/// dissimilar): <c>ℓ_r = y·d² + (1 − y)·max(0, margin − d)²</c>, <c>d = ‖x1 − x2 + eps‖₂</c> as <c>F.pairwise_distance</c>; gradient
/// <c>∂ℓ/∂x1 = −∂ℓ/∂x2 = (2y·d − 2(1 − y)·max(0, margin − d))·u/d</c> with u = x1 − x2 + eps (0 where d = 0). The mean divides by B.
/// </summary>
/// <remarks>
/// PyTorch has no contrastive loss; the reference is the formula above written in PyTorch float64
/// (<c>y * F.pairwise_distance(x1, x2, eps=eps).pow(2) + (1 - y) * (margin - d).clamp(min=0).pow(2)</c>), whose gradients this
/// matches, the norm's 0 at d = 0 included. The paper writes both terms with a factor ½ (its equation 4), as do implementations
/// that follow it to the letter; this loss, like the formula most PyTorch code writes, leaves the ½ out: halve the upstream
/// for the paper's scale. A label is used as the number it is (a soft label y in [0, 1] weighs the two terms), float32 or int64.
/// </remarks>
public readonly struct ContrastiveLoss : IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    /// <summary>Margin 1, eps 1e-6 (<c>F.pairwise_distance</c>'s).</summary>
    public ContrastiveLoss()
        : this(1f)
    {
    }

    /// <summary>With the given margin and eps.</summary>
    /// <param name="margin">The margin (finite).</param>
    /// <param name="eps">Added to each difference before the norm (finite).</param>
    /// <exception cref="ArgumentOutOfRangeException">margin or eps is not finite.</exception>
    public ContrastiveLoss(float margin, float eps = 1e-6f)
    {
        Check(margin, eps, nameof(margin), nameof(eps));
        Margin = margin;
        Eps = eps;
    }

    /// <summary>The margin.</summary>
    public float Margin { get; }

    /// <summary>The eps added to each difference.</summary>
    public float Eps { get; }

    /// <summary>Two inputs.</summary>
    public int Inputs => 2;

    /// <summary>A label per pair.</summary>
    public bool Labelled => true;

    /// <summary>Throws when margin or eps is not finite.</summary>
    public void Validate() => Check(Margin, Eps, nameof(Margin), nameof(Eps));

    private static void Check(float margin, float eps, string marginName, string epsName)
    {
        ThrowHelper.IfNotFinite(margin, marginName);
        ThrowHelper.IfNotFinite(eps, epsName);
    }

    /// <summary>Fused forward+backward, reduced: returns L and writes both gradients of upstream·L.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="label">B labels, float (1 similar, 0 dissimilar).</param>
    /// <param name="input1Grad">Receives B·D elements; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives B·D elements; may be <paramref name="input2"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> label, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Reduction, float)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> label, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="label">B labels, float.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    public float Forward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> label, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, default, default, default, default, reduction, 1f, false);

    /// <inheritdoc cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Reduction)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float Forward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> label, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, default, default, default, default, reduction, 1f, false);

    /// <summary>Unreduced: B pair losses, and both gradients when <paramref name="input1Grad"/> is not empty.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="label">B labels, float.</param>
    /// <param name="output">Receives B losses.</param>
    /// <param name="input1Grad">Receives B·D elements, or empty for the losses alone.</param>
    /// <param name="input2Grad">Receives B·D elements.</param>
    /// <param name="upstream">B upstream gradients, or empty for ones.</param>
    public void ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> label, Span<float> output,
        Span<float> input1Grad, Span<float> input2Grad, ReadOnlySpan<float> upstream = default) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f,
            !input1Grad.IsEmpty);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float}, ReadOnlySpan{float})"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> label, Span<float> output,
        Span<float> input1Grad, Span<float> input2Grad, ReadOnlySpan<float> upstream = default) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f,
            !input1Grad.IsEmpty);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="label">B labels, float.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="input1Grad">Receives B·D elements.</param>
    /// <param name="input2Grad">Receives B·D elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> label, float upstream, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <inheritdoc cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float}, Span{float}, Reduction)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void Backward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> label, float upstream, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, default, label, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="input1Grad"/> is null), reduced, on an OpenCL device (<c>kernels/opencl/embedding.cl</c>: a work-item per row or run of short rows; a work-group per long row on GPUs).</summary>
    /// <param name="input1">The first input on the device, B rows of D.</param>
    /// <param name="input2">The second input on the same device.</param>
    /// <param name="label">B labels on the same device: float.</param>
    /// <param name="input1Grad">Receives the first input's gradient, or null for the loss alone; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives the second input's gradient (null only with <paramref name="input1Grad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<float> label, DeviceBuffer<float>? input1Grad,
        DeviceBuffer<float>? input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, null, label, null, input1Grad, input2Grad, null, null, reduction, upstream);

    /// <inheritdoc cref="ForwardBackward(DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer{float}?, Reduction, float)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<long> label, DeviceBuffer<float>? input1Grad,
        DeviceBuffer<float>? input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, null, label, null, input1Grad, input2Grad, null, null, reduction, upstream);

    /// <summary>Unreduced on an OpenCL device: B losses, and both gradients when <paramref name="input1Grad"/> is given.</summary>
    /// <param name="input1">The first input on the device, B rows of D.</param>
    /// <param name="input2">The second input on the same device.</param>
    /// <param name="label">B labels on the same device: float.</param>
    /// <param name="output">Receives B losses.</param>
    /// <param name="input1Grad">Receives the first input's gradient, or null.</param>
    /// <param name="input2Grad">Receives the second input's gradient (null only with <paramref name="input1Grad"/>).</param>
    /// <param name="upstream">B upstream gradients, or null for ones.</param>
    public void ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<float> label, DeviceBuffer<float> output,
        DeviceBuffer<float>? input1Grad, DeviceBuffer<float>? input2Grad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, null, label, output, input1Grad, input2Grad, null, upstream, Reduction.None, 1f);

    /// <inheritdoc cref="ForwardBackward(DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer{float}?, DeviceBuffer{float}?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<long> label, DeviceBuffer<float> output,
        DeviceBuffer<float>? input1Grad, DeviceBuffer<float>? input2Grad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Contrastive, 0, input1, input2, null, label, output, input1Grad, input2Grad, null, upstream, Reduction.None, 1f);

    EmbeddingKernelArguments IOpenCLEmbeddingLoss.KernelArguments => new(EmbeddingKernelArguments.Contrastive, 0, false, Margin, Eps);

    /// <summary>u² per element of u = x1 − x2 + eps.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Terms<TVec, TMath>(TVec x0, TVec x1, TVec x2, out TVec s0, out TVec s1, out TVec s2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec u = EmbeddingMath.Difference<TVec, TMath>(x0, x1, Eps);
        s0 = TMath.Multiply(u, u);
        s1 = s2 = TMath.Create(0f);
    }

    /// <summary>d = √s0; the loss; c0 = (∂ℓ/∂d)/d, the other two 0.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Row<TVec, TMath>(TVec s0, TVec s1, TVec s2, TVec label, TVec scale, out TVec c0, out TVec c1, out TVec c2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec d = TMath.Sqrt(s0), dissimilar = TMath.Subtract(TMath.Create(1f), label);
        TVec hinge = EmbeddingMath.Hinge<TVec, TMath>(TMath.Subtract(TMath.Create(Margin), d));
        TVec slope = TMath.Multiply(TMath.Create(2f), TMath.Subtract(TMath.Multiply(label, d), TMath.Multiply(dissimilar, hinge)));
        c0 = TMath.Multiply(TMath.Multiply(slope, scale), EmbeddingMath.InverseOrZero<TVec, TMath>(d));
        c1 = c2 = TMath.Create(0f);
        return TMath.Add(TMath.Multiply(label, TMath.Multiply(d, d)), TMath.Multiply(dissimilar, TMath.Multiply(hinge, hinge)));
    }

    /// <summary>∂x1 = c0·u, ∂x2 = −c0·u.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Gradient<TVec, TMath>(TVec x0, TVec x1, TVec x2, TVec c0, TVec c1, TVec c2, out TVec g0, out TVec g1, out TVec g2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        g0 = TMath.Multiply(c0, EmbeddingMath.Difference<TVec, TMath>(x0, x1, Eps));
        g1 = TMath.Subtract(TMath.Create(0f), g0);
        g2 = TMath.Create(0f);
    }
}
