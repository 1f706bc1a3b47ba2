using ILGPU;
using ILGPU.Runtime;
using LossKernels.Embedding;
using LossKernels.Generative;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="GradientPenaltyLoss"/> on an engine's ILGPU memory: its row math compiled into the embedding losses' row kernel (a row's
/// threads add its squared norm, then write its gradient). Each overload computes what the span overload of the same name computes.
/// </summary>
public static class IlgpuGradientPenaltyLoss
{
    /// <summary>Fused forward+backward, reduced: L over the B rows and ∂(upstream·L)/∂input.</summary>
    /// <param name="loss">The penalty and its weight.</param>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="inputGrad">Receives B·D floats, or default for the loss alone; may be the input's view.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L.</returns>
    public static float ForwardBackward(this GradientPenaltyLoss loss, ArrayView<float> input, int batch, ArrayView<float> inputGrad,
        Reduction reduction = Reduction.Mean, float upstream = 1f, AcceleratorStream? stream = null)
    {
        if (reduction == Reduction.None)
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one value per row: use the overload that takes an output view.");
        return IlgpuEmbeddingLoss.Run(loss, GradientPenaltyLoss.Names, GradientPenaltyLoss.Dim(input.Length, batch), input, input, default, default(ArrayView<float>), default,
            inputGrad, default, default, default, reduction, upstream, stream);
    }

    /// <summary>Fused forward+backward, unreduced (queued): the B row values and ∂(Σ upstream_b·ℓ_b)/∂input.</summary>
    /// <param name="loss">The penalty and its weight.</param>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="output">Receives B values.</param>
    /// <param name="inputGrad">Receives B·D floats, or default for the values alone.</param>
    /// <param name="upstream">B values, or default for ones.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this GradientPenaltyLoss loss, ArrayView<float> input, int batch, ArrayView<float> output, ArrayView<float> inputGrad,
        ArrayView<float> upstream = default, AcceleratorStream? stream = null) =>
        IlgpuEmbeddingLoss.Run(loss, GradientPenaltyLoss.Names, GradientPenaltyLoss.Dim(input.Length, batch), input, input, default, default(ArrayView<float>), output, inputGrad,
            default, default, upstream, Reduction.None, 1f, stream);
}
