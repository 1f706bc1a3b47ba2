using LossKernels.Regression;

namespace LossKernels.Generative;

/// <summary>The terms of a <see cref="CycleConsistencyLoss"/> call, each already weighted, so that they add up to <see cref="Loss"/>.</summary>
/// <param name="Loss">The whole loss.</param>
/// <param name="CycleA">λ_A·mean|reconstruction_A − real_A|.</param>
/// <param name="CycleB">λ_B·mean|reconstruction_B − real_B|.</param>
/// <param name="IdentityA">λ_identity·λ_A·mean|identity_A − real_A|, or 0 without identity_A.</param>
/// <param name="IdentityB">λ_identity·λ_B·mean|identity_B − real_B|, or 0 without identity_B.</param>
public readonly record struct CycleConsistencyResult(float Loss, float CycleA, float CycleB, float IdentityA, float IdentityB);

/// <summary>
/// CycleGAN's cycle-consistency loss (Zhu et al. 2017) with its identity terms, in one call:
/// <c>L = λ_A·mean|rec_A − A| + λ_B·mean|rec_B − B| + λ_id·λ_A·mean|idt_A − A| + λ_id·λ_B·mean|idt_B − B|</c>, each mean over its own
/// elements; the identity terms only where identity images are given. Gradients, written for every generated image:
/// <c>∂L/∂rec_A = λ_A·sign(rec_A − A)/n_A</c>, <c>∂L/∂idt_A = λ_id·λ_A·sign(idt_A − A)/n_A</c>, the same for B (sign 0 at 0), times
/// the upstream gradient. The real images are constants (CycleGAN does not differentiate them).
/// </summary>
/// <remarks>
/// <para>Reference: CycleGAN's <c>CycleGANModel.backward_G</c> (junyanz/pytorch-CycleGAN-and-pix2pix) with <c>criterionCycle</c> and
/// <c>criterionIdt</c> both <c>torch.nn.L1Loss()</c>. Naming: the identity image of domain A here, <c>identity_a</c>, is the
/// generator into A applied to a real A image (CycleGAN's <c>idt_B = netG_B(real_A)</c>), weighted by its domain's λ_A (as CycleGAN
/// weights <c>loss_idt_B</c> by <c>lambda_A</c>). Difference: where a difference is NaN the gradient is NaN (PyTorch's sign gives 0).</para>
/// <para>Each term is one pass of <see cref="L1Loss"/> (the elementwise driver: threads, the same bits for any thread count, nothing
/// allocated) with λ folded into its gradient scale. A gradient may be the memory of its own generated image (written in place);
/// it must not overlap any other input or gradient, because a later term may still read it.</para>
/// </remarks>
public readonly partial struct CycleConsistencyLoss
{
    /// <summary>CycleGAN's defaults: λ_A = λ_B = 10, λ_identity = 0.5.</summary>
    public CycleConsistencyLoss()
        : this(10f, 10f, 0.5f)
    {
    }

    /// <summary>With the given weights.</summary>
    /// <param name="lambdaA">λ_A, the weight of domain A's cycle term (finite, ≥ 0).</param>
    /// <param name="lambdaB">λ_B, the weight of domain B's cycle term (finite, ≥ 0).</param>
    /// <param name="lambdaIdentity">λ_identity, the identity terms' factor on their domain's λ (finite, ≥ 0).</param>
    /// <exception cref="ArgumentOutOfRangeException">A weight is negative or not finite.</exception>
    public CycleConsistencyLoss(float lambdaA, float lambdaB, float lambdaIdentity)
    {
        ThrowHelper.IfNegative(lambdaA, nameof(lambdaA));
        ThrowHelper.IfNegative(lambdaB, nameof(lambdaB));
        ThrowHelper.IfNegative(lambdaIdentity, nameof(lambdaIdentity));
        LambdaA = lambdaA;
        LambdaB = lambdaB;
        LambdaIdentity = lambdaIdentity;
    }

    /// <summary>λ_A.</summary>
    public float LambdaA { get; }

    /// <summary>λ_B.</summary>
    public float LambdaB { get; }

    /// <summary>λ_identity.</summary>
    public float LambdaIdentity { get; }

    /// <summary>Fused forward+backward: every term, and ∂(upstream·L)/∂ of every generated image.</summary>
    /// <param name="reconstructionA">rec_A = G_B(G_A(A)), n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B = G_A(G_B(B)), n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="reconstructionAGrad">Receives n_A floats; may be <paramref name="reconstructionA"/> itself.</param>
    /// <param name="reconstructionBGrad">Receives n_B floats; may be <paramref name="reconstructionB"/> itself.</param>
    /// <param name="identityA">idt_A = G_B(A), n_A floats, or empty for no identity term of A.</param>
    /// <param name="identityB">idt_B = G_A(B), n_B floats, or empty for no identity term of B.</param>
    /// <param name="identityAGrad">Receives n_A floats when <paramref name="identityA"/> is given; may be it.</param>
    /// <param name="identityBGrad">Receives n_B floats when <paramref name="identityB"/> is given; may be it.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its weighted terms (a mean over no elements is NaN, as PyTorch's).</returns>
    /// <exception cref="ArgumentException">A length differs from its real image's, a gradient is too short, or a gradient overlaps an input or gradient other than its own image.</exception>
    public CycleConsistencyResult ForwardBackward(ReadOnlySpan<float> reconstructionA, ReadOnlySpan<float> realA, ReadOnlySpan<float> reconstructionB,
        ReadOnlySpan<float> realB, Span<float> reconstructionAGrad, Span<float> reconstructionBGrad, ReadOnlySpan<float> identityA = default,
        ReadOnlySpan<float> identityB = default, Span<float> identityAGrad = default, Span<float> identityBGrad = default, float upstream = 1f)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, true, reconstructionAGrad, reconstructionBGrad, identityAGrad, identityBGrad);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = Weights();
        float a = cycleA * l1.ForwardBackward(reconstructionA, realA, reconstructionAGrad, upstream: upstream * cycleA);
        float b = cycleB * l1.ForwardBackward(reconstructionB, realB, reconstructionBGrad, upstream: upstream * cycleB);
        float idtA = identityA.IsEmpty ? 0f : identityAWeight * l1.ForwardBackward(identityA, realA, identityAGrad, upstream: upstream * identityAWeight);
        float idtB = identityB.IsEmpty ? 0f : identityBWeight * l1.ForwardBackward(identityB, realB, identityBGrad, upstream: upstream * identityBWeight);
        return Result(a, b, idtA, idtB);
    }

    /// <summary>Forward only: every term.</summary>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="identityA">idt_A, n_A floats, or empty.</param>
    /// <param name="identityB">idt_B, n_B floats, or empty.</param>
    /// <returns>L and its weighted terms.</returns>
    public CycleConsistencyResult Forward(ReadOnlySpan<float> reconstructionA, ReadOnlySpan<float> realA, ReadOnlySpan<float> reconstructionB,
        ReadOnlySpan<float> realB, ReadOnlySpan<float> identityA = default, ReadOnlySpan<float> identityB = default)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, false, default, default, default, default);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = Weights();
        return Result(cycleA * l1.Forward(reconstructionA, realA), cycleB * l1.Forward(reconstructionB, realB),
            identityA.IsEmpty ? 0f : identityAWeight * l1.Forward(identityA, realA), identityB.IsEmpty ? 0f : identityBWeight * l1.Forward(identityB, realB));
    }

    /// <summary>Backward only: ∂(upstream·L)/∂ of every generated image.</summary>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="reconstructionAGrad">Receives n_A floats; may be <paramref name="reconstructionA"/> itself.</param>
    /// <param name="reconstructionBGrad">Receives n_B floats; may be <paramref name="reconstructionB"/> itself.</param>
    /// <param name="identityA">idt_A, n_A floats, or empty.</param>
    /// <param name="identityB">idt_B, n_B floats, or empty.</param>
    /// <param name="identityAGrad">Receives n_A floats when <paramref name="identityA"/> is given.</param>
    /// <param name="identityBGrad">Receives n_B floats when <paramref name="identityB"/> is given.</param>
    public void Backward(ReadOnlySpan<float> reconstructionA, ReadOnlySpan<float> realA, ReadOnlySpan<float> reconstructionB, ReadOnlySpan<float> realB,
        float upstream, Span<float> reconstructionAGrad, Span<float> reconstructionBGrad, ReadOnlySpan<float> identityA = default,
        ReadOnlySpan<float> identityB = default, Span<float> identityAGrad = default, Span<float> identityBGrad = default)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, true, reconstructionAGrad, reconstructionBGrad, identityAGrad, identityBGrad);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = Weights();
        l1.Backward(reconstructionA, realA, upstream * cycleA, reconstructionAGrad);
        l1.Backward(reconstructionB, realB, upstream * cycleB, reconstructionBGrad);
        if (!identityA.IsEmpty)
            l1.Backward(identityA, realA, upstream * identityAWeight, identityAGrad);
        if (!identityB.IsEmpty)
            l1.Backward(identityB, realB, upstream * identityBWeight, identityBGrad);
    }

    /// <summary>The four terms' weights: λ_A, λ_B, λ_id·λ_A, λ_id·λ_B.</summary>
    internal (float CycleA, float CycleB, float IdentityA, float IdentityB) Weights() =>
        (LambdaA, LambdaB, LambdaIdentity * LambdaA, LambdaIdentity * LambdaB);

    /// <summary>The result of four weighted terms, their sum added in double.</summary>
    internal static CycleConsistencyResult Result(float cycleA, float cycleB, float identityA, float identityB) =>
        new((float)((double)cycleA + cycleB + identityA + identityB), cycleA, cycleB, identityA, identityB);

    /// <summary>The gradients' parameter names, in the order of the terms.</summary>
    internal static readonly string[] GradientNames = ["reconstructionAGrad", "reconstructionBGrad", "identityAGrad", "identityBGrad"];

    /// <summary>The generated images' parameter names, in the order of the terms.</summary>
    internal static readonly string[] GeneratedNames = ["reconstructionA", "reconstructionB", "identityA", "identityB"];

    /// <summary>Every length and overlap, before any pass writes: a later pass reads what an earlier one must not have overwritten.</summary>
    private static void Check(ReadOnlySpan<float> reconstructionA, ReadOnlySpan<float> realA, ReadOnlySpan<float> reconstructionB, ReadOnlySpan<float> realB,
        ReadOnlySpan<float> identityA, ReadOnlySpan<float> identityB, bool writes, Span<float> reconstructionAGrad, Span<float> reconstructionBGrad,
        Span<float> identityAGrad, Span<float> identityBGrad)
    {
        ThrowHelper.IfLengthDiffers(realA.Length, reconstructionA.Length, nameof(reconstructionA));
        ThrowHelper.IfLengthDiffers(realB.Length, reconstructionB.Length, nameof(reconstructionB));
        if (!identityA.IsEmpty)
            ThrowHelper.IfLengthDiffers(realA.Length, identityA.Length, nameof(identityA));
        if (!identityB.IsEmpty)
            ThrowHelper.IfLengthDiffers(realB.Length, identityB.Length, nameof(identityB));
        if (!writes)
            return;
        ReadOnlySpan<float> written0 = Written(reconstructionAGrad, realA.Length, nameof(reconstructionAGrad));
        ReadOnlySpan<float> written1 = Written(reconstructionBGrad, realB.Length, nameof(reconstructionBGrad));
        ReadOnlySpan<float> written2 = identityA.IsEmpty ? default : Written(identityAGrad, realA.Length, nameof(identityAGrad));
        ReadOnlySpan<float> written3 = identityB.IsEmpty ? default : Written(identityBGrad, realB.Length, nameof(identityBGrad));
        string[] names = GradientNames, readNames = GeneratedNames;
        for (int g = 0; g < 4; g++)
        {
            ReadOnlySpan<float> written = g switch { 0 => written0, 1 => written1, 2 => written2, _ => written3 };
            if (written.IsEmpty)
                continue;
            ThrowHelper.IfOverlaps(realA, written, names[g], nameof(realA));
            ThrowHelper.IfOverlaps(realB, written, names[g], nameof(realB));
            for (int other = 0; other < 4; other++)
            {
                ReadOnlySpan<float> input = other switch { 0 => reconstructionA, 1 => reconstructionB, 2 => identityA, _ => identityB };
                ReadOnlySpan<float> otherWritten = other switch { 0 => written0, 1 => written1, 2 => written2, _ => written3 };
                if (other == g)
                {
                    ThrowHelper.IfPartialOverlap(input, written, names[g]);
                    continue;
                }

                ThrowHelper.IfOverlaps(input, written, names[g], readNames[other]);
                ThrowHelper.IfOverlaps(otherWritten, written, names[g], names[other]);
            }
        }
    }

    /// <summary>The first <paramref name="length"/> floats of a gradient, which must hold them.</summary>
    private static ReadOnlySpan<float> Written(Span<float> gradient, int length, string paramName)
    {
        ThrowHelper.IfTooShort(length, gradient.Length, paramName);
        return gradient.Slice(0, length);
    }
}
