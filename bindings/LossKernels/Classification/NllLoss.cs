using System.Numerics;

namespace LossKernels.Classification;

/// <summary>
/// Negative log likelihood on log-probabilities x ([N, C], row-major) and class targets y: <c>ℓ_r = −w_y·x[r, y]</c>;
/// gradient <c>∂ℓ_r/∂x[r, c] = −w_y·[c = y]</c> (zero for every other class and for ignored rows).
/// <see cref="Reduction.Mean"/> divides by the summed weight w_y of the rows not ignored (NaN when all are ignored, as PyTorch).
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.nll_loss(input [N, C], target [N], weight, ignore_index, reduction)</c>. No differences
/// except that a target outside [0, C) other than <see cref="IgnoreIndex"/> throws <see cref="ArgumentOutOfRangeException"/>
/// naming its position before any work. The gradient is written whole (zeros included): N·C floats.
/// </remarks>
public readonly partial struct NllLoss
{
    /// <summary>PyTorch's default ignore_index −100.</summary>
    public NllLoss()
        : this(ClassTargets.DefaultIgnoreIndex)
    {
    }

    /// <summary>With the given <paramref name="ignoreIndex"/>.</summary>
    /// <param name="ignoreIndex">A target that marks a row to skip.</param>
    public NllLoss(long ignoreIndex)
    {
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>The target that marks a row to skip.</summary>
    public long IgnoreIndex { get; }

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public float Forward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default) =>
        Run(input, target, default, default, default, weight, reduction, 1f, gradient: false);

    /// <summary>Forward only, unreduced: N row losses.</summary>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="output">Receives N row losses (0 for ignored rows).</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public void Forward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> output, ReadOnlySpan<float> weight = default) =>
        Run(input, target, output, default, default, weight, Reduction.None, 1f, gradient: false);

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>inputGrad = ∂(upstream·L)/∂input</c>.</summary>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="inputGrad">Receives N·C gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    public float ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> inputGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default, float upstream = 1f) =>
        Run(input, target, default, inputGrad, default, weight, reduction, upstream, gradient: true);

    /// <summary>Fused forward+backward, unreduced.</summary>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="output">Receives N row losses.</param>
    /// <param name="inputGrad">Receives N·C gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">N upstream gradients, or empty for ones.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public void ForwardBackward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> output, Span<float> inputGrad,
        ReadOnlySpan<float> upstream = default, ReadOnlySpan<float> weight = default) =>
        Run(input, target, output, inputGrad, upstream, weight, Reduction.None, 1f, gradient: true);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="input">N rows of C log-probabilities.</param>
    /// <param name="target">N class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives N·C gradient elements; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or empty for none.</param>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<long> target, float upstream, Span<float> inputGrad, Reduction reduction = Reduction.Mean,
        ReadOnlySpan<float> weight = default) =>
        Run(input, target, default, inputGrad, default, weight, reduction, upstream, gradient: true);

    private float Run(ReadOnlySpan<float> input, ReadOnlySpan<long> target, Span<float> output, Span<float> inputGrad, ReadOnlySpan<float> upstream,
        ReadOnlySpan<float> weight, Reduction reduction, float upstreamScalar, bool gradient)
    {
        int rows = target.Length;
        if (rows == 0 ? !input.IsEmpty : input.Length % rows != 0)
            ThrowHelper.Argument(nameof(input), $"input holds {input.Length} values, not a whole number of rows for {rows} targets.");
        int classes = rows == 0 ? weight.Length : input.Length / rows;
        if (rows > 0 && classes == 0)
            ThrowHelper.Argument(nameof(input), "input is empty but there are targets: C must be at least 1.");
        if (!weight.IsEmpty)
            ThrowHelper.IfLengthDiffers(classes, weight.Length, nameof(weight));
        bool unreduced = reduction == Reduction.None;
        if (unreduced && output.IsEmpty && rows > 0)
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one loss per row: use the overload that takes an output span.");
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "a defined Reduction");
        if (unreduced)
        {
            ThrowHelper.IfTooShort(rows, output.Length, nameof(output));
            if (output.Slice(0, rows).Overlaps(input) || (gradient && output.Slice(0, rows).Overlaps(inputGrad)))
                ThrowHelper.Argument(nameof(output), "output must not overlap input or inputGrad.");
            if (!upstream.IsEmpty)
                ThrowHelper.IfLengthDiffers(rows, upstream.Length, nameof(upstream));
        }

        if (gradient)
        {
            ThrowHelper.IfTooShort(input.Length, inputGrad.Length, nameof(inputGrad));
            ThrowHelper.IfPartialOverlap(input, inputGrad.Slice(0, input.Length), nameof(inputGrad));
        }

        double targetWeightSum = ClassTargets.KeptWeight(target, classes, IgnoreIndex, weight, out _);

        double divisor = reduction == Reduction.Mean ? targetWeightSum : 1d;
        double scale = upstreamScalar / divisor;
        double sum = 0d;
        for (int r = 0; r < rows; r++)
        {
            long y = target[r];
            bool kept = y != IgnoreIndex;
            float w = !kept ? 0f : weight.IsEmpty ? 1f : weight[(int)y];
            // The row's value is read before its gradient row is cleared: the gradient may be the input itself.
            double value = kept ? -(double)w * input[r * classes + (int)y] : 0d;
            sum += value;
            if (unreduced)
                output[r] = (float)value;
            if (gradient)
            {
                Span<float> row = inputGrad.Slice(r * classes, classes);
                row.Clear();
                if (kept)
                    row[(int)y] = (float)(-w * scale * (unreduced && !upstream.IsEmpty ? upstream[r] : 1f));
            }
        }

        return unreduced ? 0f : (float)(sum / divisor);
    }
}
