using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// Softmax focal loss on N rows of C logits and class targets y: with p = softmax(x)_y,
/// <c>ℓ_r = −α·w_y·(1 − p)^γ·ln p</c>; gradient <c>∂ℓ_r/∂x_c = K·(softmax_c − [c = y])</c>, K = α·w_y·(1 − p)^γ·(1 − γ·p·ln p/(1 − p)),
/// whose limit K → 0 is returned where p rounds to 1 (autograd's pow backward gives NaN there for γ &lt; 1).
/// Rows whose target is <see cref="IgnoreIndex"/> contribute 0 and get a zero gradient; the mean divides by the rows not ignored.
/// </summary>
/// <remarks>
/// mmcv: <c>softmax_focal_loss(input, target, gamma, alpha, weight, reduction)</c> (mmdetection's <c>FocalLoss(use_sigmoid=False)</c>):
/// the same values, with class weights w. Differences: mmcv has no ignore_index (added here: an ignored row is skipped and
/// not counted by the mean); mmcv's mean divides by N, which is the same when no row is ignored. The kernel is
/// <see cref="CrossEntropyLoss"/>'s row kernel with the focal factor applied after the row's log-sum-exp; [N, C] only.
/// </remarks>
public readonly struct SoftmaxFocalLoss
{
    /// <summary>mmcv's defaults: α = 0.25, γ = 2, and PyTorch's ignore_index −100.</summary>
    public SoftmaxFocalLoss()
        : this(0.25f, 2f)
    {
    }

    /// <summary>Softmax focal loss with the given hyperparameters.</summary>
    /// <param name="alpha">α ≥ 0: the overall weight.</param>
    /// <param name="gamma">γ ≥ 0: the focusing exponent.</param>
    /// <param name="ignoreIndex">A target that marks a row to skip.</param>
    /// <exception cref="ArgumentOutOfRangeException">α or γ negative or not finite.</exception>
    public SoftmaxFocalLoss(float alpha, float gamma, long ignoreIndex = ClassTargets.DefaultIgnoreIndex)
    {
        ThrowHelper.IfNegative(alpha, nameof(alpha));
        ThrowHelper.IfNegative(gamma, nameof(gamma));
        Alpha = alpha;
        Gamma = gamma;
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>α: the overall weight.</summary>
    public float Alpha { get; }

    /// <summary>γ: the focusing exponent.</summary>
    public float Gamma { get; }

    /// <summary>The target that marks a row to skip.</summary>
    public long IgnoreIndex { get; }

    /// <summary>Throws when α or γ is negative or not finite.</summary>
    public void Validate()
    {
        ThrowHelper.IfNegative(Alpha, nameof(Alpha));
        ThrowHelper.IfNegative(Gamma, nameof(Gamma));
    }

    /// <summary>Forward only, reduced.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default)
    {
        Validate();
        return Rows.Reduced<long, ForwardReduced>(logits, target, default, reduction, weight, 1f, 1, (Alpha, Gamma));
    }

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>logitsGrad = ∂(upstream·L)/∂logits</c>.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, float upstream = 1f)
    {
        Validate();
        return Rows.Reduced<long, FusedReduced>(logits, target, logitsGrad, reduction, weight, upstream, 1, (Alpha, Gamma));
    }

    /// <summary>Fused forward+backward, unreduced: N row losses and the gradient of Σ upstream·ℓ.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N upstream gradients, or empty for ones.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public void ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default)
    {
        Validate();
        Rows.Unreduced<long, FusedUnreduced>(logits, target, output, logitsGrad, upstream, weight, 1, (Alpha, Gamma));
    }

    /// <summary>Backward only, reduced.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, float upstream, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default)
    {
        Validate();
        Rows.Reduced<long, BackwardOnly>(logits, target, logitsGrad, reduction, weight, upstream, 1, (Alpha, Gamma));
    }

    /// <summary>Fused forward+backward, reduced, on an OpenCL device (the cross-entropy row kernel with the focal factor).</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device (checked there).</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float> logitsGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null, float upstream = 1f) =>
        OnDevice(logits, target, weight, null, null, logitsGrad, reduction, upstream);

    /// <summary>Forward only, reduced, on the device.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    public float Forward(DeviceBuffer<float> logits, DeviceBuffer<long> target, Reduction reduction = Reduction.Mean, DeviceBuffer<float>? weight = null) =>
        OnDevice(logits, target, weight, null, null, null, reduction, 1f);

    /// <summary>Unreduced on the device: N row losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements, or null.</param>
    /// <param name="upstream">N upstream gradients, or null for ones.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    public void ForwardBackward(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float> output, DeviceBuffer<float>? logitsGrad,
        DeviceBuffer<float>? upstream = null, DeviceBuffer<float>? weight = null) =>
        OnDevice(logits, target, weight, upstream, output, logitsGrad, Reduction.None, 1f);

    /// <summary>Backward only, reduced, on the device.</summary>
    /// <param name="logits">N·C logits on the device.</param>
    /// <param name="target">N int64 class indices on the same device.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights on the device, or null.</param>
    public void Backward(DeviceBuffer<float> logits, DeviceBuffer<long> target, float upstream, DeviceBuffer<float> logitsGrad, Reduction reduction = Reduction.Mean,
        DeviceBuffer<float>? weight = null) =>
        OnDevice(logits, target, weight, null, null, logitsGrad, reduction, upstream);

    private float OnDevice(DeviceBuffer<float> logits, DeviceBuffer<long> target, DeviceBuffer<float>? weight, DeviceBuffer<float>? upstream,
        DeviceBuffer<float>? output, DeviceBuffer<float>? gradient, Reduction reduction, float upstreamScalar)
    {
        Validate();
        return Rows.RunOnDevice(logits, target, null, 0, null, null, null, weight, upstream, output, gradient, reduction, upstreamScalar, 1, (Alpha, Gamma));
    }

    /// <summary>The row machinery: cross entropy without smoothing or z-loss, with this loss's ignore index.</summary>
    private CrossEntropyLoss Rows => new(IgnoreIndex);
}
