using System.Runtime.CompilerServices;
using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>
/// Cosine embedding loss on B pairs of D-dimensional rows x1, x2 with targets y = ±1: with
/// <c>cos = Σx1·x2 / √((Σx1² + ε)(Σx2² + ε))</c>, ε = 1e-12, <c>ℓ_r = 1 − cos</c> for y = 1, <c>max(0, cos − margin)</c> for y = −1,
/// 0 for any other y; gradient <c>∂cos/∂x1 = x2/den − cos·x1/(Σx1² + ε)</c> (and symmetrically for x2), times −1 (y = 1) or 1 where
/// cos − margin ≥ 0 (y = −1). The mean divides by B.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.cosine_embedding_loss(input1, input2, target, margin, reduction)</c>, the same values and
/// gradients, its ε = 1e-12 and its 0 for a target that is neither 1 nor −1 included; the target may be float32 or int64, as
/// PyTorch takes either. Differences: the inputs are [B, D] only (PyTorch also takes a single [D] pair); the row sums run in
/// float vectors flushed into double every 64 vectors, then the cosine in float, as PyTorch's float32 kernel computes it.
/// </remarks>
public readonly struct CosineEmbeddingLoss : IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    /// <summary>PyTorch's ε under the square root's factors.</summary>
    private const float Epsilon = 1e-12f;

    /// <summary>PyTorch's default: margin 0.</summary>
    public CosineEmbeddingLoss()
        : this(0f)
    {
    }

    /// <summary>With the given margin.</summary>
    /// <param name="margin">The margin for dissimilar pairs (finite; PyTorch suggests [−1, 1]).</param>
    /// <exception cref="ArgumentOutOfRangeException">margin is not finite.</exception>
    public CosineEmbeddingLoss(float margin)
    {
        ThrowHelper.IfNotFinite(margin, nameof(margin));
        Margin = margin;
    }

    /// <summary>The margin.</summary>
    public float Margin { get; }

    /// <summary>Two inputs.</summary>
    public int Inputs => 2;

    /// <summary>A target per pair.</summary>
    public bool Labelled => true;

    /// <summary>Throws when the margin is not finite.</summary>
    public void Validate() => ThrowHelper.IfNotFinite(Margin, nameof(Margin));

    /// <summary>Fused forward+backward, reduced: returns L and writes both gradients of upstream·L.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="target">B targets ±1, float.</param>
    /// <param name="input1Grad">Receives B·D elements; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives B·D elements; may be <paramref name="input2"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Reduction, float)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="target">B targets ±1, float.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    public float Forward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, default, default, default, default, default, reduction, 1f, false);

    /// <inheritdoc cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Reduction)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float Forward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, default, default, default, default, default, reduction, 1f, false);

    /// <summary>Unreduced: B pair losses, and both gradients when <paramref name="input1Grad"/> is not empty.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="target">B targets ±1, float.</param>
    /// <param name="output">Receives B losses.</param>
    /// <param name="input1Grad">Receives B·D elements, or empty for the losses alone.</param>
    /// <param name="input2Grad">Receives B·D elements.</param>
    /// <param name="upstream">B upstream gradients, or empty for ones.</param>
    public void ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, Span<float> output,
        Span<float> input1Grad, Span<float> input2Grad, ReadOnlySpan<float> upstream = default) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f,
            !input1Grad.IsEmpty);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float}, ReadOnlySpan{float})"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, Span<float> output,
        Span<float> input1Grad, Span<float> input2Grad, ReadOnlySpan<float> upstream = default) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, output, input1Grad, input2Grad, default, upstream, Reduction.None, 1f,
            !input1Grad.IsEmpty);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="input1">B rows of D.</param>
    /// <param name="input2">B rows of D.</param>
    /// <param name="target">B targets ±1, float.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="input1Grad">Receives B·D elements.</param>
    /// <param name="input2Grad">Receives B·D elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over B) or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, float upstream, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <inheritdoc cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float}, Span{float}, Reduction)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void Backward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, float upstream, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, default, target, default, input1Grad, input2Grad, default, default, reduction, upstream, true);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="input1Grad"/> is null), reduced, on an OpenCL device (<c>kernels/opencl/embedding.cl</c>: a work-item per row or run of short rows; a work-group per long row on GPUs).</summary>
    /// <param name="input1">The first input on the device, B rows of D.</param>
    /// <param name="input2">The second input on the same device.</param>
    /// <param name="target">B labels on the same device: float.</param>
    /// <param name="input1Grad">Receives the first input's gradient, or null for the loss alone; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives the second input's gradient (null only with <paramref name="input1Grad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<float> target, DeviceBuffer<float>? input1Grad,
        DeviceBuffer<float>? input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, null, target, null, input1Grad, input2Grad, null, null, reduction, upstream);

    /// <inheritdoc cref="ForwardBackward(DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer{float}?, Reduction, float)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<long> target, DeviceBuffer<float>? input1Grad,
        DeviceBuffer<float>? input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, null, target, null, input1Grad, input2Grad, null, null, reduction, upstream);

    /// <summary>Unreduced on an OpenCL device: B losses, and both gradients when <paramref name="input1Grad"/> is given.</summary>
    /// <param name="input1">The first input on the device, B rows of D.</param>
    /// <param name="input2">The second input on the same device.</param>
    /// <param name="target">B labels on the same device: float.</param>
    /// <param name="output">Receives B losses.</param>
    /// <param name="input1Grad">Receives the first input's gradient, or null.</param>
    /// <param name="input2Grad">Receives the second input's gradient (null only with <paramref name="input1Grad"/>).</param>
    /// <param name="upstream">B upstream gradients, or null for ones.</param>
    public void ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<float> target, DeviceBuffer<float> output,
        DeviceBuffer<float>? input1Grad, DeviceBuffer<float>? input2Grad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, null, target, output, input1Grad, input2Grad, null, upstream, Reduction.None, 1f);

    /// <inheritdoc cref="ForwardBackward(DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer{float}?, DeviceBuffer{float}?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<long> target, DeviceBuffer<float> output,
        DeviceBuffer<float>? input1Grad, DeviceBuffer<float>? input2Grad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 0, input1, input2, null, target, output, input1Grad, input2Grad, null, upstream, Reduction.None, 1f);

    EmbeddingKernelArguments IOpenCLEmbeddingLoss.KernelArguments => new(EmbeddingKernelArguments.Cosine, 0, false, Margin, 0f);

    /// <summary>x1·x2, x1² and x2² per element.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Terms<TVec, TMath>(TVec x0, TVec x1, TVec x2, out TVec s0, out TVec s1, out TVec s2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        s0 = TMath.Multiply(x0, x1);
        s1 = TMath.Multiply(x0, x0);
        s2 = TMath.Multiply(x1, x1);
    }

    /// <summary>The cosine and the loss by target; with k = ∂ℓ/∂cos: c0 = k/den, c1 = −k·cos/m1, c2 = −k·cos/m2.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Row<TVec, TMath>(TVec s0, TVec s1, TVec s2, TVec label, TVec scale, out TVec c0, out TVec c1, out TVec c2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f), epsilon = TMath.Create(Epsilon);
        TVec square1 = TMath.Add(s1, epsilon), square2 = TMath.Add(s2, epsilon);
        TVec denominator = TMath.Sqrt(TMath.Multiply(square1, square2));
        TVec cos = TMath.Divide(s0, denominator);
        TVec similar = TMath.Equal(label, TMath.Create(1f)), dissimilar = TMath.Equal(label, TMath.Create(-1f));
        TVec z = TMath.Subtract(cos, TMath.Create(Margin));
        TVec k = TMath.Select(similar, TMath.Subtract(zero, scale), TMath.And(TMath.And(dissimilar, EmbeddingMath.Passes<TVec, TMath>(z)), scale));
        c0 = TMath.Divide(k, denominator);
        TVec kCos = TMath.Multiply(k, cos);
        c1 = TMath.Subtract(zero, TMath.Divide(kCos, square1));
        c2 = TMath.Subtract(zero, TMath.Divide(kCos, square2));
        return TMath.Select(similar, TMath.Subtract(TMath.Create(1f), cos), TMath.And(dissimilar, EmbeddingMath.Hinge<TVec, TMath>(z)));
    }

    /// <summary>∂x1 = c0·x2 + c1·x1, ∂x2 = c0·x1 + c2·x2.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Gradient<TVec, TMath>(TVec x0, TVec x1, TVec x2, TVec c0, TVec c1, TVec c2, out TVec g0, out TVec g1, out TVec g2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        g0 = TMath.MultiplyAdd(c0, x1, TMath.Multiply(c1, x0));
        g1 = TMath.MultiplyAdd(c0, x0, TMath.Multiply(c2, x1));
        g2 = TMath.Create(0f);
    }
}
