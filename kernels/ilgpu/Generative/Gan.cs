using ILGPU;
using ILGPU.Runtime;
using LossKernels.Generative;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="GanLoss"/> on an engine's ILGPU memory: its element math (<see cref="GanTerms{TForm}"/> of its form) compiled into the elementwise
/// item kernel of <see cref="IlgpuElementwiseLoss"/>, the logits read as both of its streams. Each overload computes what the
/// span overload of the same name computes; reduced calls wait for the stream, unreduced ones queue and return.
/// </summary>
public static class IlgpuGanLoss
{
    /// <summary>Fused forward+backward, reduced: L and ∂(upstream·L)/∂input.</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's view.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float ForwardBackward(this GanLoss loss, ArrayView<float> input, ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean,
        float upstream = 1f, AcceleratorStream? stream = null) =>
        loss.Dispatch<FusedReduced, float>(new(input, inputGrad, reduction, upstream, stream));

    /// <summary>Fused forward+backward, unreduced (queued): n values and ∂(Σ upstream ⊙ values)/∂input.</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values; not the gradient's view.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's view.</param>
    /// <param name="upstream">n values, or default for ones.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this GanLoss loss, ArrayView<float> input, ArrayView<float> output, ArrayView<float> inputGrad,
        ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        loss.Dispatch<FusedUnreduced, float>(new(input, output, inputGrad, upstream, stream));

    /// <summary>Forward only, reduced.</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float Forward(this GanLoss loss, ArrayView<float> input, Reduction reduction = Reduction.Mean, AcceleratorStream? stream = null) =>
        loss.Dispatch<ForwardReduced, float>(new(input, reduction, stream));

    /// <summary>Forward only, unreduced (queued).</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Forward(this GanLoss loss, ArrayView<float> input, ArrayView<float> output, AcceleratorStream? stream = null) =>
        loss.Dispatch<ForwardUnreduced, float>(new(input, output, stream));

    /// <summary>Backward only, reduced.</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's view.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this GanLoss loss, ArrayView<float> input, float upstream, ArrayView<float> inputGrad, Reduction reduction = Reduction.Mean,
        AcceleratorStream? stream = null) =>
        loss.Dispatch<BackwardReduced, float>(new(input, upstream, inputGrad, reduction, stream));

    /// <summary>Backward only, unreduced (queued).</summary>
    /// <param name="loss">The loss and its parameters.</param>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">n values.</param>
    /// <param name="inputGrad">Receives n floats; may be the input's view.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this GanLoss loss, ArrayView<float> input, ArrayView<float> upstream, ArrayView<float> inputGrad,
        AcceleratorStream? stream = null) =>
        loss.Dispatch<BackwardUnreduced, float>(new(input, upstream, inputGrad, stream));

    private readonly struct FusedReduced(ArrayView<float> input, ArrayView<float> inputGrad, Reduction reduction, float upstream, AcceleratorStream? stream)
        : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss => terms.ForwardBackward(input, input, inputGrad, reduction, upstream: upstream, stream: stream);
    }

    private readonly struct FusedUnreduced(ArrayView<float> input, ArrayView<float> output, ArrayView<float> inputGrad, ArrayView<float> upstream,
        AcceleratorStream? stream) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.ForwardBackward(input, input, output, inputGrad, upstream, stream: stream);
            return 0f;
        }
    }

    private readonly struct ForwardReduced(ArrayView<float> input, Reduction reduction, AcceleratorStream? stream) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss => terms.Forward(input, input, reduction, stream: stream);
    }

    private readonly struct ForwardUnreduced(ArrayView<float> input, ArrayView<float> output, AcceleratorStream? stream) : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Forward(input, input, output, stream: stream);
            return 0f;
        }
    }

    private readonly struct BackwardReduced(ArrayView<float> input, float upstream, ArrayView<float> inputGrad, Reduction reduction, AcceleratorStream? stream)
        : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Backward(input, input, upstream, inputGrad, reduction, stream: stream);
            return 0f;
        }
    }

    private readonly struct BackwardUnreduced(ArrayView<float> input, ArrayView<float> upstream, ArrayView<float> inputGrad, AcceleratorStream? stream)
        : IGanCall<float>
    {
        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Backward(input, input, upstream, inputGrad, stream: stream);
            return 0f;
        }
    }
}
