using System.Numerics;

namespace LossKernels.Classification;

/// <summary>
/// Cross entropy from logits with hard class targets, fused: one call returns the loss and writes the gradient.
/// For row r with logits x (C classes), target y, class weights w (1 when absent), smoothing ε and z-loss scale z,
/// with lse = ln Σ_c e^(x_c):
/// <c>ℓ_r = (1 − ε)·w_y·(lse − x_y) + (ε/C)·Σ_c w_c·(lse − x_c) + z·lse²</c>;
/// gradient <c>∂ℓ_r/∂x_c = softmax_c·((1 − ε)·w_y + (ε/C)·Σw + 2z·lse) − (ε/C)·w_c − [c = y]·(1 − ε)·w_y</c>.
/// Rows whose target is <see cref="IgnoreIndex"/> contribute 0 and get a zero gradient. <see cref="Reduction.Mean"/>
/// divides by the summed weight w_y of the rows not ignored (their count without weights); all rows ignored gives
/// NaN, as PyTorch.
/// </summary>
/// <remarks>
/// <para>PyTorch: <c>torch.nn.functional.cross_entropy(input [N, C], target [N], weight, ignore_index, reduction, label_smoothing)</c>,
/// exactly its combination of the three (including the smoothing term weighted by w_c and the mean over Σ w_y);
/// mmdetection's <c>CrossEntropyLoss</c>. Targets int64 (PyTorch's dtype) or int32.</para>
/// <para>Beyond PyTorch: the z-loss <c>z·lse²</c> of PaLM and Liger-Kernel (<c>lse_square_scale</c>), unweighted and
/// divided like the rest for the mean; and the gradient may be written over the logits in place (pass the same span),
/// as Liger-Kernel does, so that training needs no second [N, C] buffer.</para>
/// <para>Differences: targets outside [0, C) other than <see cref="IgnoreIndex"/> throw <see cref="ArgumentOutOfRangeException"/>
/// naming the first position before any work (PyTorch: "Target n is out of bounds"). Probability targets have their own
/// overloads (with <c>classes</c>); [N, C, d1, …] inputs take <c>spatialSize</c> = d1·d2·… (PyTorch infers both from the
/// tensors' shapes). Σe, lse and the z-loss are computed in float per position for [N, C, d…] and for short [N, C] rows
/// (see below), in double per row otherwise.</para>
/// <para>The kernel reads a row once from memory: max, then e^(x − max) written into the gradient row with its sum, then
/// the gradient from those in place (<see cref="CrossEntropyDriver"/>). Rows of up to four vectors of classes (C ≤ 64 with
/// AVX-512) without label smoothing run a vector of rows at a time, one row per lane, through a square transpose, so that
/// no lane of exp is wasted and no row pays for its own horizontal sums. Results are bitwise the same for any thread
/// count.</para>
/// </remarks>
public readonly partial struct CrossEntropyLoss
{
    /// <summary>PyTorch's defaults: ignore_index −100, no smoothing, no z-loss.</summary>
    public CrossEntropyLoss()
        : this(ClassTargets.DefaultIgnoreIndex, 0f, 0f)
    {
    }

    /// <summary>Cross entropy with the given hyperparameters.</summary>
    /// <param name="ignoreIndex">A target that marks a row to skip.</param>
    /// <param name="labelSmoothing">ε ∈ [0, 1]: the share of the uniform distribution in the target.</param>
    /// <param name="lseSquareScale">z ≥ 0: the weight of the z-loss lse².</param>
    /// <exception cref="ArgumentOutOfRangeException">ε outside [0, 1] or z negative or not finite.</exception>
    public CrossEntropyLoss(long ignoreIndex, float labelSmoothing = 0f, float lseSquareScale = 0f)
    {
        ThrowHelper.IfOutside(labelSmoothing, 0f, 1f, nameof(labelSmoothing));
        ThrowHelper.IfNegative(lseSquareScale, nameof(lseSquareScale));
        IgnoreIndex = ignoreIndex;
        LabelSmoothing = labelSmoothing;
        LseSquareScale = lseSquareScale;
    }

    /// <summary>The target that marks a row to skip.</summary>
    public long IgnoreIndex { get; }

    /// <summary>ε: the label smoothing.</summary>
    public float LabelSmoothing { get; }

    /// <summary>z: the z-loss weight.</summary>
    public float LseSquareScale { get; }

    /// <summary>Throws when ε is outside [0, 1] or z is negative or not finite.</summary>
    public void Validate()
    {
        ThrowHelper.IfOutside(LabelSmoothing, 0f, 1f, nameof(LabelSmoothing));
        ThrowHelper.IfNegative(LseSquareScale, nameof(LseSquareScale));
    }

    /// <summary>Forward only, reduced: the mean (over Σ w_y) or sum of the row losses.</summary>
    /// <param name="logits">N rows of C logits, row-major.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Reduced<long, ForwardReduced>(logits, target, default, reduction, weight, 1f, spatialSize);

    /// <inheritdoc cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{long}, Reduction, ReadOnlySpan{float}, int)"/>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<int> target, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Reduced<int, ForwardReduced>(logits, target, default, reduction, weight, 1f, spatialSize);

    /// <summary>Forward only, unreduced: writes the N row losses ℓ_r (0 for ignored rows).</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public void Forward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, Span<float> output, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Unreduced<long, ForwardUnreduced>(logits, target, output, default, default, weight, spatialSize);

    /// <inheritdoc cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{long}, Span{float}, ReadOnlySpan{float}, int)"/>
    public void Forward(ReadOnlySpan<float> logits, ReadOnlySpan<int> target, Span<float> output, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Unreduced<int, ForwardUnreduced>(logits, target, output, default, default, weight, spatialSize);

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>logitsGrad = ∂(upstream·L)/∂logits</c>.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself (in place).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, float upstream = 1f, int spatialSize = 1) =>
        Reduced<long, FusedReduced>(logits, target, logitsGrad, reduction, weight, upstream, spatialSize);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{long}, Span{float}, Reduction, ReadOnlySpan{float}, float, int)"/>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<int> target, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, float upstream = 1f, int spatialSize = 1) =>
        Reduced<int, FusedReduced>(logits, target, logitsGrad, reduction, weight, upstream, spatialSize);

    /// <summary>Fused forward+backward, unreduced: writes ℓ_r and <c>logitsGrad[r, ·] = upstream[r]·∂ℓ_r/∂x</c>.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N upstream gradients, or empty for ones.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public void ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Unreduced<long, FusedUnreduced>(logits, target, output, logitsGrad, upstream, weight, spatialSize);

    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{long}, Span{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int)"/>
    public void ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<int> target, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Unreduced<int, FusedUnreduced>(logits, target, output, logitsGrad, upstream, weight, spatialSize);

    /// <summary>Backward only, reduced: writes <c>logitsGrad = ∂(upstream·L)/∂logits</c>.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, float upstream, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Reduced<long, BackwardOnly>(logits, target, logitsGrad, reduction, weight, upstream, spatialSize);

    /// <inheritdoc cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{long}, float, Span{float}, Reduction, ReadOnlySpan{float}, int)"/>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<int> target, float upstream, Span<float> logitsGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Reduced<int, BackwardOnly>(logits, target, logitsGrad, reduction, weight, upstream, spatialSize);

    /// <summary>Backward only, unreduced: writes <c>logitsGrad[r, ·] = upstream[r]·∂ℓ_r/∂x</c>.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="upstream">N upstream gradients.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<long> target, ReadOnlySpan<float> upstream, Span<float> logitsGrad, ReadOnlySpan<float> weight = default, int spatialSize = 1)
    {
        ThrowHelper.IfLengthDiffers(target.Length, upstream.Length, nameof(upstream));
        Unreduced<long, BackwardOnly>(logits, target, default, logitsGrad, upstream, weight, spatialSize);
    }

    /// <summary>
    /// Soft targets, fused and reduced: each row's target is a distribution t over the C classes (PyTorch's probability
    /// targets), smoothed to (1 − ε)·t + ε/C: <c>ℓ_r = Σ_c w_c·t'_c·(lse − x_c) + z·lse²</c>, gradient
    /// <c>softmax_c·(Σ_k w_k·t'_k + 2z·lse) − w_c·t'_c</c>. The mean divides by N, as PyTorch's does for probability targets.
    /// </summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="targetProbabilities">N rows of C target probabilities (not checked to sum to 1, as PyTorch).</param>
    /// <param name="classes">C.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public float ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, Span<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, float upstream = 1f, int spatialSize = 1) =>
        Soft<FusedReduced>(logits, targetProbabilities, classes, default, logitsGrad, default, weight, reduction, upstream, spatialSize);

    /// <summary>Soft targets, forward only, reduced.</summary>
    /// <inheritdoc cref="ForwardBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, int, Span{float}, Reduction, ReadOnlySpan{float}, float, int)"/>
    public float Forward(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Soft<ForwardReduced>(logits, targetProbabilities, classes, default, default, default, weight, reduction, 1f, spatialSize);

    /// <summary>Soft targets, forward only, unreduced: N row losses.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="targetProbabilities">N rows of C target probabilities.</param>
    /// <param name="classes">C.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public void Forward(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, Span<float> output, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Soft<ForwardUnreduced>(logits, targetProbabilities, classes, output, default, default, weight, Reduction.None, 1f, spatialSize);

    /// <summary>Soft targets, fused and unreduced.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="targetProbabilities">N rows of C target probabilities.</param>
    /// <param name="classes">C.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">N upstream gradients, or empty for ones.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public void ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Soft<FusedUnreduced>(logits, targetProbabilities, classes, output, logitsGrad, upstream, weight, Reduction.None, 1f, spatialSize);

    /// <summary>Soft targets, backward only, reduced.</summary>
    /// <param name="logits">N rows of C logits.</param>
    /// <param name="targetProbabilities">N rows of C target probabilities.</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives N·C gradient elements; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="spatialSize">D = d1·d2·…: for an [N, C, d1, …] input (targets [N, d1, …], one loss per position), the positions per sample; 1 for [N, C].</param>
    public void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, float upstream, Span<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default, int spatialSize = 1) =>
        Soft<BackwardOnly>(logits, targetProbabilities, classes, default, logitsGrad, default, weight, reduction, upstream, spatialSize);

    private unsafe float Soft<TMode>(ReadOnlySpan<float> logits, ReadOnlySpan<float> targetProbabilities, int classes, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream, ReadOnlySpan<float> weight, Reduction reduction, float upstreamScalar, int spatialSize)
        where TMode : struct, IDriverMode
    {
        Validate();
        int rows = SoftPositions(logits.Length, classes, spatialSize);
        ThrowHelper.IfLengthDiffers(logits.Length, targetProbabilities.Length, nameof(targetProbabilities));
        if (!weight.IsEmpty)
            ThrowHelper.IfLengthDiffers(classes, weight.Length, nameof(weight));
        if (TMode.StoreLoss)
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
        if (!upstream.IsEmpty)
            ThrowHelper.IfLengthDiffers(rows, upstream.Length, nameof(upstream));
        CheckWritten(logits, targetProbabilities, weight, upstream, TMode.StoreLoss ? output.Slice(0, rows) : default, TMode.StoreGradient ? logitsGrad : default,
            TMode.StoreGradient);
        double divisor = reduction switch
        {
            Reduction.Mean => rows,
            Reduction.Sum => 1d,
            Reduction.None => TMode.StoreLoss ? 1d : ThrowNone(),
            _ => ThrowUndefined(reduction),
        };
        double sum;
        fixed (float* x = logits, t = targetProbabilities, w = weight, g = logitsGrad, o = output, u = upstream)
        {
            var args = new CrossEntropyArgs<long>(x, null, t, w, u, o, g, rows, classes, IgnoreIndex, LabelSmoothing, LseSquareScale,
                (float)(upstreamScalar / divisor), ClassWeightSum(weight, classes), spatialSize);
            sum = CrossEntropyDriver.Run<long, TMode>(args);
        }

        return (float)(sum / divisor);
    }

    /// <summary>Hard targets, reduced; with <c>focal</c> (α, γ) the softmax focal loss (<see cref="SoftmaxFocalLoss"/>), whose mean divides by the rows not ignored.</summary>
    /// <remarks>
    /// <paramref name="pixelWeight"/> (one weight per position, the U-Net weight map) multiplies each kept position's target share,
    /// so its loss and gradient, not the mean's divisor; <paramref name="avgFactor"/> replaces the divisor with avgFactor + ε.
    /// </remarks>
    internal unsafe float Reduced<TIndex, TMode>(ReadOnlySpan<float> logits, ReadOnlySpan<TIndex> target, Span<float> logitsGrad, Reduction reduction,
        ReadOnlySpan<float> weight, float upstream, int spatialSize, (float Alpha, float Gamma)? focal = null, ReadOnlySpan<float> pixelWeight = default,
        float? avgFactor = null)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TMode : struct, IDriverMode
    {
        int classes = CheckInputs(logits, target, weight, spatialSize, out double targetWeightSum, out int keptRows);
        CheckPixelWeight(target.Length, pixelWeight, TMode.StoreGradient ? logitsGrad : default);
        CheckWritten(logits, default, weight, default, default, TMode.StoreGradient ? logitsGrad : default, TMode.StoreGradient);
        if (avgFactor is float checkedFactor)
            ThrowHelper.IfNegative(checkedFactor, nameof(avgFactor));
        if (avgFactor is not null && reduction != Reduction.Mean)
            ThrowHelper.Argument(nameof(avgFactor), "avgFactor divides a mean: it needs Reduction.Mean.");
        double divisor = reduction switch
        {
            Reduction.Mean when avgFactor is float factor => factor + ElementwiseLoss.AvgFactorEpsilon,
            Reduction.Mean => focal is null ? targetWeightSum : keptRows,
            Reduction.Sum => 1d,
            Reduction.None => ThrowNone(),
            _ => ThrowUndefined(reduction),
        };
        double sum;
        fixed (float* x = logits, w = weight, g = logitsGrad, pw = pixelWeight)
        fixed (TIndex* t = target)
        {
            var args = new CrossEntropyArgs<TIndex>(x, t, null, w, null, null, g, target.Length, classes, IgnoreIndex, LabelSmoothing, LseSquareScale,
                (float)(upstream / divisor), ClassWeightSum(weight, classes), spatialSize, rowWeight: pw, focal: focal is not null, focalAlpha: focal?.Alpha ?? 0f,
                focalGamma: focal?.Gamma ?? 0f);
            sum = CrossEntropyDriver.Run<TIndex, TMode>(args);
        }

        return (float)(sum / divisor);
    }

    internal unsafe void Unreduced<TIndex, TMode>(ReadOnlySpan<float> logits, ReadOnlySpan<TIndex> target, Span<float> output, Span<float> logitsGrad,
        ReadOnlySpan<float> upstream, ReadOnlySpan<float> weight, int spatialSize, (float Alpha, float Gamma)? focal = null, ReadOnlySpan<float> pixelWeight = default)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
        where TMode : struct, IDriverMode
    {
        int classes = CheckInputs(logits, target, weight, spatialSize, out _, out _);
        CheckPixelWeight(target.Length, pixelWeight, TMode.StoreGradient ? logitsGrad : default);
        int rows = target.Length;
        if (TMode.StoreLoss)
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
        if (!upstream.IsEmpty)
            ThrowHelper.IfLengthDiffers(rows, upstream.Length, nameof(upstream));
        CheckWritten(logits, default, weight, upstream, TMode.StoreLoss ? output.Slice(0, rows) : default, TMode.StoreGradient ? logitsGrad : default,
            TMode.StoreGradient);
        fixed (float* x = logits, w = weight, g = logitsGrad, o = output, u = upstream, pw = pixelWeight)
        fixed (TIndex* t = target)
        {
            var args = new CrossEntropyArgs<TIndex>(x, t, null, w, u, o, g, rows, classes, IgnoreIndex, LabelSmoothing, LseSquareScale, 1f, ClassWeightSum(weight, classes), spatialSize,
                rowWeight: pw, focal: focal is not null, focalAlpha: focal?.Alpha ?? 0f, focalGamma: focal?.Gamma ?? 0f);
            CrossEntropyDriver.Run<TIndex, TMode>(args);
        }
    }

    /// <summary>Checks shapes and targets; returns C and the summed weight of the targets not ignored (the mean's divisor).</summary>
    private int CheckInputs<TIndex>(ReadOnlySpan<float> logits, ReadOnlySpan<TIndex> target, ReadOnlySpan<float> weight, int spatialSize, out double targetWeightSum,
        out int keptRows)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        Validate();
        CheckSpatial(spatialSize);
        int rows = target.Length;
        if (rows % spatialSize != 0)
            ThrowHelper.Argument(nameof(target), $"target holds {rows} indices, not a whole number of samples of {spatialSize} positions.");
        if (rows == 0 ? !logits.IsEmpty : logits.Length % rows != 0)
            ThrowHelper.Argument(nameof(logits), $"logits hold {logits.Length} values, not a whole number of rows for {rows} targets.");
        int classes = rows == 0 ? weight.Length : logits.Length / rows;
        if (rows > 0 && classes == 0)
            ThrowHelper.Argument(nameof(logits), "logits are empty but there are targets: C must be at least 1.");
        if (!weight.IsEmpty)
            ThrowHelper.IfLengthDiffers(classes, weight.Length, nameof(weight));
        targetWeightSum = ClassTargets.KeptWeight(target, classes, IgnoreIndex, weight, out long kept);
        keptRows = (int)kept;
        return classes;
    }

    /// <summary>Per-position weights: one per target (or none), and never the memory the gradient is written to.</summary>
    private static void CheckPixelWeight(int rows, ReadOnlySpan<float> pixelWeight, ReadOnlySpan<float> gradient)
    {
        if (pixelWeight.IsEmpty)
            return;
        ThrowHelper.IfLengthDiffers(rows, pixelWeight.Length, "pixelWeight");
        ThrowHelper.IfOverlaps(pixelWeight, gradient, "logitsGrad", "pixelWeight");
    }

    /// <summary>Probability targets' shape: C ≥ 1, D ≥ 1 and whole [C, D] samples in the logits; returns the positions N·D (ILGPU's views pass long lengths).</summary>
    internal static int SoftPositions(int logitsLength, int classes, int spatialSize) => (int)SoftPositions((long)logitsLength, classes, spatialSize);

    /// <inheritdoc cref="SoftPositions(int, int, int)"/>
    internal static long SoftPositions(long logitsLength, int classes, int spatialSize)
    {
        if (classes <= 0)
            ThrowHelper.OutOfRange(nameof(classes), classes, "> 0");
        CheckSpatial(spatialSize);
        if (logitsLength % ((long)classes * spatialSize) != 0)
            ThrowHelper.Argument("logits", $"logits hold {logitsLength} values, not a whole number of [{classes}, {spatialSize}] samples.");
        return logitsLength / classes;
    }

    /// <summary>Throws for <see cref="Reduction.None"/> (the reduced overloads' argument) and for undefined values.</summary>
    internal static void RequireReduced(Reduction reduction)
    {
        if (reduction == Reduction.None)
            ThrowNone();
        else if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowUndefined(reduction);
    }

    private static void CheckSpatial(int spatialSize)
    {
        if (spatialSize <= 0)
            ThrowHelper.OutOfRange(nameof(spatialSize), spatialSize, "> 0");
    }

    /// <summary>
    /// The memory a call writes against what it reads: the gradient (when <paramref name="gradient"/>) long enough and the logits'
    /// own memory or disjoint from them, and disjoint from the targets, weights and upstream, which the sweeps read after it is
    /// written; the row losses disjoint from everything.
    /// </summary>
    private static void CheckWritten(ReadOnlySpan<float> logits, ReadOnlySpan<float> soft, ReadOnlySpan<float> weight, ReadOnlySpan<float> upstream,
        Span<float> output, Span<float> logitsGrad, bool gradient)
    {
        ReadOnlySpan<float> written = default;
        if (gradient)
        {
            ThrowHelper.IfTooShort(logits.Length, logitsGrad.Length, nameof(logitsGrad));
            written = logitsGrad.Slice(0, logits.Length);
            ThrowHelper.IfPartialOverlap(logits, written, nameof(logitsGrad));
            ThrowHelper.IfOverlaps(soft, written, nameof(logitsGrad), "targetProbabilities");
            ThrowHelper.IfOverlaps(weight, written, nameof(logitsGrad), nameof(weight));
            ThrowHelper.IfOverlaps(upstream, written, nameof(logitsGrad), nameof(upstream));
        }

        ThrowHelper.IfOverlaps(logits, output, nameof(output), nameof(logits));
        ThrowHelper.IfOverlaps(written, output, nameof(output), nameof(logitsGrad));
        ThrowHelper.IfOverlaps(soft, output, nameof(output), "targetProbabilities");
        ThrowHelper.IfOverlaps(weight, output, nameof(output), nameof(weight));
        ThrowHelper.IfOverlaps(upstream, output, nameof(output), nameof(upstream));
    }

    private static float ClassWeightSum(ReadOnlySpan<float> weight, int classes)
    {
        if (weight.IsEmpty)
            return classes;
        double sum = 0d;
        foreach (float w in weight)
            sum += w;
        return (float)sum;
    }

    private static double ThrowNone()
    {
        ThrowHelper.Argument("reduction", "Reduction.None returns one loss per row: use the overload that takes an output span.");
        return 0d;
    }

    private static double ThrowUndefined(Reduction reduction)
    {
        ThrowHelper.OutOfRange("reduction", (int)reduction, "a defined Reduction");
        return 0d;
    }
}
