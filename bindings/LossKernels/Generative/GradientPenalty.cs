using System.Runtime.CompilerServices;
using LossKernels.Embedding;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>Which gradient penalty a <see cref="GradientPenaltyLoss"/> takes.</summary>
public enum GradientPenaltyKind
{
    /// <summary><c>wgan_gp</c>: w·(‖g_b‖₂ − 1)² (Gulrajani et al. 2017).</summary>
    WganGp,

    /// <summary><c>r1</c>: w/2·‖g_b‖₂² (Mescheder et al. 2018).</summary>
    R1,
}

/// <summary>
/// The gradient penalty on the critic's gradient g that the engine computed, one row per sample (<c>[B, …]</c>, D values a row):
/// <see cref="GradientPenaltyKind.WganGp"/> <c>ℓ_b = w·(‖g_b‖₂ − 1)²</c>, gradient <c>∂ℓ_b/∂g_b = 2w·(‖g_b‖₂ − 1)·g_b/‖g_b‖₂</c>
/// (0 at g_b = 0, where it has no limit); <see cref="GradientPenaltyKind.R1"/> <c>ℓ_b = w/2·‖g_b‖₂²</c>, gradient <c>w·g_b</c>.
/// The reduction is the mean over rows (the papers'), the sum, or none (B values); the gradient written is ∂(upstream·L)/∂g, which the
/// engine chains back through its double backward.
/// </summary>
/// <remarks>
/// <para>Reference: WGAN-GP's <c>((gradients.norm(2, dim=1) - 1) ** 2).mean() * LAMBDA</c> on the flattened gradients of
/// <c>torch.autograd.grad(..., create_graph=True)</c>, and R1's <c>gamma / 2 * grad.pow(2).reshape(B, -1).sum(1).mean()</c>
/// (StyleGAN2's <c>r1_gamma / 2</c>). Differences: the gradient at g_b = 0 is 0 for WGAN-GP (PyTorch's norm backward gives NaN
/// there); the sum and none reductions. <c>gp_weight</c> is w (10, WGAN-GP's λ).</para>
/// <para>A row loss over the rows of one input (<see cref="IEmbeddingLoss"/>): the row driver of the embedding losses on the CPU (rows in
/// fixed chunks on the library's threads, each row's sum of squares in SIMD vectors into double, the same bits for any thread count),
/// <c>EMBEDDING_PENALTY</c> in <c>kernels/opencl/embedding.cl</c>, and the same struct compiled for ILGPU. A gradient may be the
/// input's memory (written in place); nothing is allocated per call.</para>
/// </remarks>
public readonly partial struct GradientPenaltyLoss : IEmbeddingLoss, IOpenCLEmbeddingLoss
{
    /// <summary>WGAN-GP with w = 10.</summary>
    public GradientPenaltyLoss()
        : this(GradientPenaltyKind.WganGp)
    {
    }

    /// <summary>With the given penalty and weight.</summary>
    /// <param name="kind">The penalty.</param>
    /// <param name="gpWeight">w (finite, ≥ 0).</param>
    /// <exception cref="ArgumentOutOfRangeException">An undefined kind, or a weight that is negative or not finite.</exception>
    public GradientPenaltyLoss(GradientPenaltyKind kind, float gpWeight = 10f)
    {
        Check(kind, gpWeight, nameof(kind), nameof(gpWeight));
        Kind = kind;
        GpWeight = gpWeight;
    }

    /// <summary>The penalty.</summary>
    public GradientPenaltyKind Kind { get; }

    /// <summary>w.</summary>
    public float GpWeight { get; }

    /// <summary>One input: the critic's gradient.</summary>
    public int Inputs => 1;

    /// <summary>No labels.</summary>
    public bool Labelled => false;

    /// <summary>Throws when the kind is undefined or the weight is negative or not finite.</summary>
    public void Validate() => Check(Kind, GpWeight, nameof(Kind), nameof(GpWeight));

    /// <summary>Fused forward+backward, reduced: L over the B rows and ∂(upstream·L)/∂input.</summary>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B (≥ 0; the length must be a positive multiple of it, or 0 for B = 0).</param>
    /// <param name="inputGrad">Receives B·D floats; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over rows) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L (NaN for the mean of no rows).</returns>
    public float ForwardBackward(ReadOnlySpan<float> input, int batch, Span<float> inputGrad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingLoss.Run(this, Names, Dim(input.Length, batch), input, default, default, ReadOnlySpan<float>.Empty, default, inputGrad, default, default, default,
            Reduced(reduction), upstream, true);

    /// <summary>Fused forward+backward, unreduced: the B row values and ∂(Σ upstream_b·ℓ_b)/∂input.</summary>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="output">Receives B values.</param>
    /// <param name="inputGrad">Receives B·D floats; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">B values, or empty for ones.</param>
    public void ForwardBackward(ReadOnlySpan<float> input, int batch, Span<float> output, Span<float> inputGrad, ReadOnlySpan<float> upstream = default) =>
        EmbeddingLoss.Run(this, Names, Dim(input.Length, batch), input, default, default, ReadOnlySpan<float>.Empty, output, inputGrad, default, default, upstream,
            Reduction.None, 1f, true);

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(ReadOnlySpan<float> input, int batch, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, Names, Dim(input.Length, batch), input, default, default, ReadOnlySpan<float>.Empty, default, default, default, default, default,
            Reduced(reduction), 1f, false);

    /// <summary>Forward only, unreduced: the B row values.</summary>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="output">Receives B values.</param>
    public void Forward(ReadOnlySpan<float> input, int batch, Span<float> output) =>
        EmbeddingLoss.Run(this, Names, Dim(input.Length, batch), input, default, default, ReadOnlySpan<float>.Empty, output, default, default, default, default,
            Reduction.None, 1f, false);

    /// <summary>Backward only, reduced: ∂(upstream·L)/∂input.</summary>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives B·D floats; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input, int batch, float upstream, Span<float> inputGrad, Reduction reduction = Reduction.Mean) =>
        EmbeddingLoss.Run(this, Names, Dim(input.Length, batch), input, default, default, ReadOnlySpan<float>.Empty, default, inputGrad, default, default, default,
            Reduced(reduction), upstream, true);

    /// <summary>Fused forward+backward on an OpenCL device, reduced (<c>EMBEDDING_PENALTY</c> in <c>kernels/opencl/embedding.cl</c>).</summary>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="inputGrad">Receives B·D floats, or null for the loss alone; may be the input's buffer.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L.</returns>
    public float ForwardBackward(DeviceBuffer<float> input, int batch, DeviceBuffer<float>? inputGrad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        EmbeddingDeviceLoss.Run<GradientPenaltyLoss, float>(this, Names, Dim(input?.Length ?? 0, batch), input!, input!, null, null, null, inputGrad, null, null, null,
            Reduced(reduction), upstream);

    /// <summary>Fused forward+backward on an OpenCL device, unreduced (queued).</summary>
    /// <param name="input">The critic's gradient, B·D floats.</param>
    /// <param name="batch">B.</param>
    /// <param name="output">Receives B values.</param>
    /// <param name="inputGrad">Receives B·D floats, or null for the values alone.</param>
    /// <param name="upstream">B values, or null for ones.</param>
    public void ForwardBackward(DeviceBuffer<float> input, int batch, DeviceBuffer<float> output, DeviceBuffer<float>? inputGrad, DeviceBuffer<float>? upstream = null) =>
        EmbeddingDeviceLoss.Run<GradientPenaltyLoss, float>(this, Names, Dim(input?.Length ?? 0, batch), input!, input!, null, null, output, inputGrad, null, null,
            upstream, Reduction.None, 1f);

    /// <summary>The argument names of the penalty's entry points.</summary>
    internal static readonly EmbeddingNames Names = new("input", "input", "", "", "inputGrad", "", "");

    EmbeddingKernelArguments IOpenCLEmbeddingLoss.KernelArguments =>
        new(EmbeddingKernelArguments.Penalty, Kind == GradientPenaltyKind.R1 ? 1 : 0, false, GpWeight, 0f);

    /// <summary>D = n / B; throws when B is negative or does not divide n into rows of at least one value (B = 0 takes no elements).</summary>
    internal static int Dim(long length, int batch)
    {
        if (batch < 0)
            ThrowHelper.OutOfRange(nameof(batch), batch, "≥ 0");
        if (batch == 0)
        {
            if (length != 0)
                ThrowHelper.Argument("input", $"input holds {length} values, but batch is 0.");
            return 1;
        }

        if (length == 0 || length % batch != 0)
            ThrowHelper.Argument("input", $"input holds {length} values, not a whole number of rows (of at least one value) for a batch of {batch}.");
        return (int)(length / batch);
    }

    /// <summary>A reduced call's reduction: Mean or Sum.</summary>
    private static Reduction Reduced(Reduction reduction)
    {
        if (reduction == Reduction.None)
            ThrowHelper.Argument(nameof(reduction), "Reduction.None returns one value per row: use the overload that takes an output span.");
        return reduction;
    }

    private static void Check(GradientPenaltyKind kind, float gpWeight, string kindName, string weightName)
    {
        if (!Enum.IsDefined(kind))
            ThrowHelper.OutOfRange(kindName, (int)kind, "a defined GradientPenaltyKind");
        ThrowHelper.IfNegative(gpWeight, weightName);
    }

    /// <summary>s0 = g², the row's squared norm; no other sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Terms<TVec, TMath>(TVec x0, TVec x1, TVec x2, out TVec s0, out TVec s1, out TVec s2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        s0 = TMath.Multiply(x0, x0);
        s1 = s2 = TMath.Create(0f);
    }

    /// <summary>WGAN-GP: w·(‖g‖ − 1)², c0 = 2w·(‖g‖ − 1)/‖g‖ (0 at ‖g‖ = 0); R1: w/2·‖g‖², c0 = w; both times the scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Row<TVec, TMath>(TVec s0, TVec s1, TVec s2, TVec label, TVec scale, out TVec c0, out TVec c1, out TVec c2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec weight = TMath.Create(GpWeight);
        c1 = c2 = TMath.Create(0f);
        if (Kind == GradientPenaltyKind.R1)
        {
            c0 = TMath.Multiply(weight, scale);
            return TMath.Multiply(TMath.Create(0.5f * GpWeight), s0);
        }

        TVec norm = TMath.Sqrt(s0), excess = TMath.Subtract(norm, TMath.Create(1f));
        c0 = TMath.Multiply(TMath.Multiply(TMath.Multiply(TMath.Create(2f * GpWeight), excess), EmbeddingMath.InverseOrZero<TVec, TMath>(norm)), scale);
        return TMath.Multiply(weight, TMath.Multiply(excess, excess));
    }

    /// <summary>g0 = c0·g.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Gradient<TVec, TMath>(TVec x0, TVec x1, TVec x2, TVec c0, TVec c1, TVec c2, out TVec g0, out TVec g1, out TVec g2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        g0 = TMath.Multiply(c0, x0);
        g1 = g2 = TMath.Create(0f);
    }
}
