using System.Runtime.CompilerServices;
using LossKernels.OpenCL;

namespace LossKernels.Embedding;

/// <summary>
/// Margin ranking loss on N pairs of scores x1, x2 with targets y (1: x1 should rank higher, −1: x2):
/// <c>ℓ_i = max(0, −y·(x1 − x2) + margin)</c>; gradient <c>∂ℓ/∂x1 = −∂ℓ/∂x2 = −y</c> where the hinge's argument is ≥ 0, else 0.
/// The mean divides by N.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.margin_ranking_loss(input1, input2, target, margin, reduction)</c>, the same values and
/// gradients (its <c>clamp_min</c> passes the gradient at exactly 0); the target may be float32 or int64, and any value is used
/// as it is (PyTorch does not check for ±1 either). Difference: the three inputs have the same length (no broadcasting). It runs
/// as the embedding losses' rows of one element, a SIMD vector of pairs at a time.
/// </remarks>
public readonly struct MarginRankingLoss : IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    /// <summary>PyTorch's default: margin 0.</summary>
    public MarginRankingLoss()
        : this(0f)
    {
    }

    /// <summary>With the given margin.</summary>
    /// <param name="margin">The margin (finite).</param>
    /// <exception cref="ArgumentOutOfRangeException">margin is not finite.</exception>
    public MarginRankingLoss(float margin)
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
    /// <param name="input1">N scores.</param>
    /// <param name="input2">N scores.</param>
    /// <param name="target">N targets (±1), float.</param>
    /// <param name="input1Grad">Receives N elements; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives N elements; may be <paramref name="input2"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        Run(input1, input2, target, default, input1Grad, input2Grad, default, reduction, upstream, true);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Reduction, float)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        Run(input1, input2, target, default, input1Grad, input2Grad, default, reduction, upstream, true);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input1">N scores.</param>
    /// <param name="input2">N scores.</param>
    /// <param name="target">N targets (±1), float.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public float Forward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, Reduction reduction = Reduction.Mean) =>
        Run(input1, input2, target, default, default, default, default, reduction, 1f, false);

    /// <inheritdoc cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Reduction)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float Forward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, Reduction reduction = Reduction.Mean) =>
        Run(input1, input2, target, default, default, default, default, reduction, 1f, false);

    /// <summary>Unreduced: N losses, and both gradients when <paramref name="input1Grad"/> is not empty.</summary>
    /// <param name="input1">N scores.</param>
    /// <param name="input2">N scores.</param>
    /// <param name="target">N targets (±1), float.</param>
    /// <param name="output">Receives N losses.</param>
    /// <param name="input1Grad">Receives N elements, or empty for the losses alone.</param>
    /// <param name="input2Grad">Receives N elements.</param>
    /// <param name="upstream">N upstream gradients, or empty for ones.</param>
    public void ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, Span<float> output,
        Span<float> input1Grad, Span<float> input2Grad, ReadOnlySpan<float> upstream = default) =>
        Run(input1, input2, target, output, input1Grad, input2Grad, upstream, Reduction.None, 1f, !input1Grad.IsEmpty);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float}, ReadOnlySpan{float})"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void ForwardBackward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, Span<float> output,
        Span<float> input1Grad, Span<float> input2Grad, ReadOnlySpan<float> upstream = default) =>
        Run(input1, input2, target, output, input1Grad, input2Grad, upstream, Reduction.None, 1f, !input1Grad.IsEmpty);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="input1">N scores.</param>
    /// <param name="input2">N scores.</param>
    /// <param name="target">N targets (±1), float.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="input1Grad">Receives N elements.</param>
    /// <param name="input2Grad">Receives N elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<float> target, float upstream, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean) =>
        Run(input1, input2, target, default, input1Grad, input2Grad, default, reduction, upstream, true);

    /// <inheritdoc cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float}, Span{float}, Reduction)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void Backward(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<long> target, float upstream, Span<float> input1Grad,
        Span<float> input2Grad, Reduction reduction = Reduction.Mean) =>
        Run(input1, input2, target, default, input1Grad, input2Grad, default, reduction, upstream, true);

    private float Run<TLabel>(ReadOnlySpan<float> input1, ReadOnlySpan<float> input2, ReadOnlySpan<TLabel> target, Span<float> output, Span<float> input1Grad,
        Span<float> input2Grad, ReadOnlySpan<float> upstream, Reduction reduction, float upstreamScalar, bool gradient)
        where TLabel : unmanaged
        => EmbeddingLoss.Run(this, EmbeddingNames.Pair, 1, input1, input2, default, target, output, input1Grad, input2Grad, default, upstream, reduction,
            upstreamScalar, gradient);

    /// <summary>Fused forward+backward (or forward alone when <paramref name="input1Grad"/> is null), reduced, on an OpenCL device (<c>kernels/opencl/embedding.cl</c>: a work-item per row or run of short rows; a work-group per long row on GPUs).</summary>
    /// <param name="input1">The first input on the device: N scores.</param>
    /// <param name="input2">The second input on the same device.</param>
    /// <param name="target">N labels on the same device: float.</param>
    /// <param name="input1Grad">Receives the first input's gradient, or null for the loss alone; may be <paramref name="input1"/> itself.</param>
    /// <param name="input2Grad">Receives the second input's gradient (null only with <paramref name="input1Grad"/>).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<float> target, DeviceBuffer<float>? input1Grad,
        DeviceBuffer<float>? input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 1, input1, input2, null, target, null, input1Grad, input2Grad, null, null, reduction, upstream);

    /// <inheritdoc cref="ForwardBackward(DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer{float}?, Reduction, float)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public float ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<long> target, DeviceBuffer<float>? input1Grad,
        DeviceBuffer<float>? input2Grad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 1, input1, input2, null, target, null, input1Grad, input2Grad, null, null, reduction, upstream);

    /// <summary>Unreduced on an OpenCL device: N losses, and both gradients when <paramref name="input1Grad"/> is given.</summary>
    /// <param name="input1">The first input on the device: N scores.</param>
    /// <param name="input2">The second input on the same device.</param>
    /// <param name="target">N labels on the same device: float.</param>
    /// <param name="output">Receives N losses.</param>
    /// <param name="input1Grad">Receives the first input's gradient, or null.</param>
    /// <param name="input2Grad">Receives the second input's gradient (null only with <paramref name="input1Grad"/>).</param>
    /// <param name="upstream">N upstream gradients, or null for ones.</param>
    public void ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<float> target, DeviceBuffer<float> output,
        DeviceBuffer<float>? input1Grad, DeviceBuffer<float>? input2Grad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 1, input1, input2, null, target, output, input1Grad, input2Grad, null, upstream, Reduction.None, 1f);

    /// <inheritdoc cref="ForwardBackward(DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}, DeviceBuffer{float}?, DeviceBuffer{float}?, DeviceBuffer{float}?)"/>
    /// <remarks>The same with int64 labels (PyTorch takes either).</remarks>
    public void ForwardBackward(DeviceBuffer<float> input1, DeviceBuffer<float> input2, DeviceBuffer<long> target, DeviceBuffer<float> output,
        DeviceBuffer<float>? input1Grad, DeviceBuffer<float>? input2Grad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run(this, EmbeddingNames.Pair, 1, input1, input2, null, target, output, input1Grad, input2Grad, null, upstream, Reduction.None, 1f);

    EmbeddingKernelArguments IOpenCLEmbeddingLoss.KernelArguments => new(EmbeddingKernelArguments.Ranking, 0, false, Margin, 0f);

    /// <summary>x1 − x2.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Terms<TVec, TMath>(TVec x0, TVec x1, TVec x2, out TVec s0, out TVec s1, out TVec s2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        s0 = TMath.Subtract(x0, x1);
        s1 = s2 = TMath.Create(0f);
    }

    /// <summary>The hinge of −y·(x1 − x2) + margin; c0 = −y where it passes the gradient.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Row<TVec, TMath>(TVec s0, TVec s1, TVec s2, TVec label, TVec scale, out TVec c0, out TVec c1, out TVec c2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec z = TMath.Add(TMath.Subtract(zero, TMath.Multiply(label, s0)), TMath.Create(Margin));
        c0 = TMath.Subtract(zero, TMath.Multiply(label, TMath.And(EmbeddingMath.Passes<TVec, TMath>(z), scale)));
        c1 = c2 = zero;
        return EmbeddingMath.Hinge<TVec, TMath>(z);
    }

    /// <summary>∂x1 = c0, ∂x2 = −c0.</summary>
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Gradient<TVec, TMath>(TVec x0, TVec x1, TVec x2, TVec c0, TVec c1, TVec c2, out TVec g0, out TVec g1, out TVec g2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        g0 = c0;
        g1 = TMath.Subtract(TMath.Create(0f), c0);
        g2 = TMath.Create(0f);
    }
}
