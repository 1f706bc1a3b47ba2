using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.Generative;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="TotalVariationLoss"/> on an engine's ILGPU memory: an element per thread (<see cref="TotalVariationPass"/>) evaluates its
/// own terms with <see cref="TotalVariationMath"/> (the loss it returns) and the slopes of the terms at its left and upper neighbours
/// that read it, for its gradient; the item kernel adds the losses in chunk order, one launch per image for the unreduced values.
/// </summary>
public static class IlgpuTotalVariationLoss
{
    /// <summary>Fused forward+backward, reduced: TV (sum or mean over images) and ∂(upstream·TV)/∂input.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂TV.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static float ForwardBackward(this TotalVariationLoss loss, ArrayView<float> input, int images, int channels, int height, int width,
        ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        if (!ViewChecks.IsPresent(inputGrad))
            ThrowHelper.Argument(nameof(inputGrad), "inputGrad is required (got default(ArrayView)).");
        return Run(loss, input, new(images, channels, height, width), default, inputGrad, default, Reduced(reduction), upstream, stream);
    }

    /// <summary>Forward only, reduced.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static float Forward(this TotalVariationLoss loss, ArrayView<float> input, int images, int channels, int height, int width,
        Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        Run(loss, input, new(images, channels, height, width), default, default, default, Reduced(reduction), 1f, stream);

    /// <summary>Backward only, reduced.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="upstream">∂objective/∂TV.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats; must not overlap the input.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this TotalVariationLoss loss, ArrayView<float> input, int images, int channels, int height, int width, float upstream,
        ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        ForwardBackward(loss, input, images, channels, height, width, inputGrad, reduction, upstream, stream);

    /// <summary>Unreduced: the N values into <paramref name="output"/> (when present) and, with <paramref name="inputGrad"/>, ∂(Σ upstream_n·TV_n)/∂input.</summary>
    /// <param name="loss">The loss and its options.</param>
    /// <param name="input">N·C·H·W floats.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">C (≥ 0).</param>
    /// <param name="height">H (≥ 0).</param>
    /// <param name="width">W (≥ 0).</param>
    /// <param name="output">Receives N values, or default for none.</param>
    /// <param name="inputGrad">Receives N·C·H·W floats, or default for none; must not overlap the input.</param>
    /// <param name="upstream">N values (with a gradient).</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Unreduced(this TotalVariationLoss loss, ArrayView<float> input, int images, int channels, int height, int width, ArrayView<float> output,
        ArrayView<float> inputGrad, ArrayView<float> upstream, AcceleratorStream? stream = null) =>
        Run(loss, input, new(images, channels, height, width), output, inputGrad, upstream, Reduction.None, 1f, stream);

    private static Reduction Reduced(Reduction reduction)
    {
        if (reduction is not (Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange(nameof(reduction), (int)reduction, "Mean or Sum (Unreduced takes an output)");
        return reduction;
    }

    private static float Run(TotalVariationLoss loss, ArrayView<float> input, TotalVariationShape shape, ArrayView<float> output, ArrayView<float> gradient,
        ArrayView<float> upstream, Reduction reduction, float upstreamScalar, AcceleratorStream? stream)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(input, nameof(input));
        TotalVariationDriver.Check(loss, input.Length, shape);
        bool wantGradient = ViewChecks.IsPresent(gradient), unreduced = reduction == Reduction.None;
        if (wantGradient)
        {
            ViewChecks.Destination(gradient, accelerator, input.Length, "inputGrad");
            ViewChecks.IfOverlaps(input, input.Length, gradient, input.Length, "inputGrad", nameof(input));
        }

        if (unreduced)
        {
            ViewChecks.Optional(output, accelerator, shape.Images, nameof(output));
            if (wantGradient)
                ViewChecks.Required(upstream, accelerator, shape.Images, nameof(upstream));
        }

        if (shape.Images == 0)
            return reduction == Reduction.Mean ? float.NaN : 0f;
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
        {
            if (!unreduced)
            {
                float scale = reduction == Reduction.Mean ? (float)(upstreamScalar / (double)shape.Images) : upstreamScalar;
                double total = ItemKernel.Launch(new TotalVariationPass(loss, input, gradient, default, scale, shape, 0, shape.Elements), accelerator, queue);
                queue.Synchronize();
                return (float)(reduction == Reduction.Mean ? total / shape.Images : total);
            }

            Span<float> values = stackalloc float[Math.Min(shape.Images, 256)];
            for (int first = 0; first < shape.Images; first += values.Length)
            {
                int count = Math.Min(values.Length, shape.Images - first);
                for (int n = first; n < first + count; n++)
                {
                    var pass = new TotalVariationPass(loss, input, gradient, upstream, 0f, shape, n * shape.ImageLength, shape.ImageLength);
                    values[n - first] = (float)ItemKernel.Launch(pass, accelerator, queue);
                }

                if (ViewChecks.IsPresent(output))
                    output.SubView(first, count).CopyFromCPU(queue, values[..count]);
            }

            queue.Synchronize();
            return 0f;
        }
    }
}

/// <summary>
/// Element <c>first + k</c> of the [N, C, H, W] input: its own terms (returned), and with a gradient A[i, j − 1] + B[i − 1, j] − A[i, j]
/// − B[i, j] times its image's scale (the scalar, or <c>upstream[n]</c> when that view is present).
/// </summary>
internal readonly struct TotalVariationPass(TotalVariationLoss loss, ArrayView<float> x, ArrayView<float> gradient, ArrayView<float> upstream, float scale,
    TotalVariationShape shape, long first, long length) : IItemPass
{
    private readonly ArrayView<float> x = x, gradient = gradient, upstream = upstream;
    private readonly float scale = scale, eps = loss.JointEps, halfExponent = loss.HalfExponent;
    private readonly int anisotropic = loss.Norm == TotalVariationNorm.Anisotropic ? 1 : 0, isotropic = loss.Norm == TotalVariationNorm.Isotropic ? 1 : 0;
    private readonly int channels = shape.Channels, height = shape.Height, width = shape.Width;
    private readonly long first = first, length = length;

    public long Length => length;

    public PassFlags Flags => gradient.IsValid ? PassFlags.Reduce | PassFlags.StoreGradient : PassFlags.Reduce;

    public float Run(long k)
    {
        long q = first + k, planeLength = (long)height * width;
        long plane = q / planeLength, r = q - plane * planeLength;
        int i = (int)(r / width), j = (int)(r - (long)i * width);
        long p = plane * planeLength;
        float value = Terms(p, i, j, out float a, out float b);
        if (!gradient.IsValid)
            return value;
        float left = 0f, up = 0f;
        if (j > 0)
            Terms(p, i, j - 1, out left, out _);
        if (i > 0)
            Terms(p, i - 1, j, out _, out up);
        long image = plane / channels;
        float factor = upstream.IsValid ? upstream[image] : scale;
        gradient[q] = factor * (left + up - a - b);
        return value;
    }

    /// <summary>The terms at (i, j) of the plane at <paramref name="p"/>: their sum, and the slopes A, B there (0 where not defined).</summary>
    private float Terms(long p, int i, int j, out float a, out float b)
    {
        long at = p + (long)i * width + j;
        bool right = j + 1 < width, down = i + 1 < height;
        float centre = x[at];
        float dx = right ? x[at + 1] - centre : 0f, dy = down ? x[at + width] - centre : 0f;
        if (anisotropic != 0)
        {
            float h = TotalVariationMath.Absolute<float, IlgpuMath>(dx, out a), v = TotalVariationMath.Absolute<float, IlgpuMath>(dy, out b);
            a = right ? a : 0f;
            b = down ? b : 0f;
            return (right ? h : 0f) + (down ? v : 0f);
        }

        if (!right || !down)
        {
            a = 0f;
            b = 0f;
            return 0f;
        }

        return TotalVariationMath.Joint<float, IlgpuMath>(dx, dy, isotropic != 0, eps, halfExponent, out a, out b);
    }
}

/// <summary><see cref="TotalVariationLoss"/> bound for the catalog, on an ILGPU accelerator.</summary>
internal sealed class IlgpuTotalVariationRun(TotalVariationBoundLoss bound, IlgpuDevice device)
    : IlgpuRun(device, bound.input, [], [], bound.upstreamImages, bound.reduction == Reduction.None ? bound.images : null)
{
    public override void Run(LossMode mode)
    {
        TotalVariationLoss loss = bound.loss;
        ArrayView<float> gradient = mode == LossMode.Forward ? default : Gradient;
        if (bound.reduction == Reduction.None)
        {
            loss.Unreduced(Input, bound.images, bound.channels, bound.height, bound.width, mode == LossMode.Backward ? default : Output, gradient,
                gradient.IsValid ? Upstream : default, Stream);
            // A [C, H, W] input's one value is a scalar, which the catalog keeps on the host.
            if (bound.LossShape.Length == 0 && mode != LossMode.Backward)
                Output.SubView(0, 1).CopyToCPU(Stream, bound.Loss.AsSpan(0, 1));
            return;
        }

        float value = gradient.IsValid
            ? loss.ForwardBackward(Input, bound.images, bound.channels, bound.height, bound.width, gradient, bound.reduction, bound.upstreamScalar, Stream)
            : loss.Forward(Input, bound.images, bound.channels, bound.height, bound.width, bound.reduction, Stream);
        if (mode != LossMode.Backward)
            bound.Loss[0] = value;
    }
}
