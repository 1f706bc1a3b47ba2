using System.Buffers;
using System.Numerics;

namespace LossKernels.Segmentation;

/// <summary>
/// What every backend of the overlap losses does on the host: the argument checks, the scratch, and between the two sweeps
/// the reduction of the sweep-1 partials (per image and block, added in index order in double), the loss's
/// <see cref="IOverlapLoss.Evaluate"/> and the coefficient table of sweep 2.
/// </summary>
internal static class OverlapHost
{
    /// <summary>The sum groups: N per image, else 1.</summary>
    public static int Groups(in OverlapOptions options, in SegmentationShape shape) => options.PerImage ? shape.Batch : 1;

    /// <summary>Checks the hyperparameters, the shape against the input and target lengths, the mode against the target kind, and the class weights.</summary>
    public static void Check<TLoss>(in TLoss loss, in SegmentationShape shape, long inputLength, bool dense, long targetLength, int weightLength)
        where TLoss : struct, IOverlapLoss
    {
        loss.Validate();
        CheckShape(loss.Options, shape, inputLength, dense, targetLength);
        if (weightLength != 0)
        {
            if (!loss.TakesClassWeight)
                ThrowHelper.Argument("weight", "This loss weighs its classes itself and takes no class weights.");
            ThrowHelper.IfLengthDiffers(shape.Classes, weightLength, "weight");
        }
    }

    /// <summary>Checks the shape against the input and target lengths, and the mode against the target kind (every segmentation loss with <see cref="OverlapOptions"/>).</summary>
    public static void CheckShape(in OverlapOptions options, in SegmentationShape shape, long inputLength, bool dense, long targetLength)
    {
        shape.Validate(OverlapDriver.MaxClasses);
        ThrowHelper.IfLengthDiffers(shape.InputLength, inputLength, "input");
        if (options.Mode == SegmentationMode.Multiclass && dense)
            ThrowHelper.Argument("target", "The multiclass mode takes class indices [N, d…] (int64 or int32); float targets are for the multilabel and binary modes.");
        if (options.Mode != SegmentationMode.Multiclass && !dense)
            ThrowHelper.Argument("target", $"The {options.Mode.ToString().ToLowerInvariant()} mode takes float targets shaped like the input; class indices are for the multiclass mode.");
        if (options.Mode == SegmentationMode.Binary && shape.Classes != 1)
            ThrowHelper.OutOfRange("shape", shape.Classes, "C = 1 in the binary mode");
        ThrowHelper.IfLengthDiffers(dense ? shape.InputLength : shape.Pixels, targetLength, "target");
    }

    /// <summary>
    /// From sweep 1's partials <c>[N, blocks, C, 5]</c>: the sums per group (added in index order), the loss, and — when
    /// <paramref name="coefficients"/> is not empty — sweep 2's table <c>[group, C, 3]</c> of upstream·(∂L/∂I, ∂L/∂P, 2·∂L/∂P₂).
    /// </summary>
    public static double Evaluate<TLoss>(in TLoss loss, ReadOnlySpan<double> partials, int blocksPerImage, in SegmentationShape shape, ReadOnlySpan<float> weight,
        float upstream, Span<float> coefficients)
        where TLoss : struct, IOverlapLoss
    {
        int groups = Groups(loss.Options, shape), classes = shape.Classes, width = classes * OverlapSums.Count;
        double[] rented = ArrayPool<double>.Shared.Rent(2 * Math.Max(groups, 1) * width);
        try
        {
            Span<double> sums = rented.AsSpan(0, groups * width);
            Span<double> sumGradient = rented.AsSpan(groups * width, groups * width);
            sums.Clear();
            sumGradient.Clear();
            for (int n = 0; n < shape.Batch; n++)
            {
                Span<double> group = sums.Slice((loss.Options.PerImage ? n : 0) * width, width);
                for (int b = 0; b < blocksPerImage; b++)
                {
                    ReadOnlySpan<double> block = partials.Slice((n * blocksPerImage + b) * width, width);
                    for (int k = 0; k < width; k++)
                        group[k] += block[k];
                }
            }

            double value = loss.Evaluate(sums, groups, classes, weight, sumGradient);
            for (int g = 0; g < groups && !coefficients.IsEmpty; g++)
            {
                for (int c = 0; c < classes; c++)
                {
                    int at = (g * classes + c) * OverlapSums.Count, to = (g * classes + c) * OverlapDriver.CoefficientCount;
                    coefficients[to] = (float)(upstream * sumGradient[at + (int)OverlapSum.Intersection]);
                    coefficients[to + 1] = (float)(upstream * sumGradient[at + (int)OverlapSum.Prediction]);
                    coefficients[to + 2] = (float)(2d * upstream * sumGradient[at + (int)OverlapSum.PredictionSquares]);
                }
            }

            return value;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }
}
