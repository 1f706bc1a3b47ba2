namespace LossKernels.Generative;

/// <summary>The adversarial objective of a <see cref="GanLoss"/> (BasicSR's <c>gan_type</c>, plus Goodfellow's saturating minimax).</summary>
public enum GanType
{
    /// <summary><c>vanilla</c>: BCE with logits against the real or fake label.</summary>
    Vanilla,

    /// <summary><c>lsgan</c>: the squared error to the real or fake label (Mao et al. 2017).</summary>
    LeastSquares,

    /// <summary><c>wgan</c>: −x for real, x for fake (Arjovsky et al. 2017).</summary>
    Wasserstein,

    /// <summary><c>wgan_softplus</c>: softplus(−x) for real, softplus(x) for fake.</summary>
    WassersteinSoftplus,

    /// <summary><c>hinge</c>: the discriminator's relu(1 − x) for real and relu(1 + x) for fake; the generator's −x.</summary>
    Hinge,

    /// <summary>
    /// <c>minimax</c>: the discriminator's loss is <see cref="Vanilla"/>'s; the generator's is the saturating
    /// log(1 − D(G(z))) = −BCE(x, fake label) (Goodfellow et al. 2014), −softplus(x) for the fake label 0.
    /// </summary>
    Minimax,
}

/// <summary>
/// The adversarial loss on discriminator logits x (any shape, n elements) with BasicSR's <c>GANLoss</c> semantics:
/// <c>L = c · reduce(ℓ(x))</c>, where ℓ depends on <see cref="Type"/>, on whether the logits are to be judged real
/// (<see cref="TargetIsReal"/>) and on whose loss it is (<see cref="IsDiscriminator"/>), with y the real or fake label:
/// <list type="bullet">
/// <item><see cref="GanType.Vanilla"/>: ℓ = (1 − y)·x + softplus(−x) (BCE with logits), ∂ℓ/∂x = σ(x) − y.</item>
/// <item><see cref="GanType.LeastSquares"/>: ℓ = (x − y)², ∂ℓ/∂x = 2(x − y).</item>
/// <item><see cref="GanType.Wasserstein"/>: ℓ = ∓x (− for real), ∂ℓ/∂x = ∓1.</item>
/// <item><see cref="GanType.WassersteinSoftplus"/>: ℓ = softplus(∓x), ∂ℓ/∂x = ∓σ(∓x).</item>
/// <item><see cref="GanType.Hinge"/>: the discriminator's ℓ = relu(1 ∓ x), ∂ℓ/∂x = ∓1 where 1 ∓ x &gt; 0, else 0; the
/// generator's ℓ = −x whatever <see cref="TargetIsReal"/> says (BasicSR's).</item>
/// <item><see cref="GanType.Minimax"/>: the discriminator's is vanilla's; the generator's ℓ = −((1 − y_fake)·x + softplus(−x)),
/// ∂ℓ/∂x = y_fake − σ(x), whatever <see cref="TargetIsReal"/> says.</item>
/// </list>
/// c = 1 for the discriminator and <see cref="LossWeight"/> for the generator (BasicSR weights only the generator's loss).
/// The reduction is the mean over the n elements (BasicSR's only one), the sum, or none (one value per element); the
/// gradient written is ∂(upstream·L)/∂x = upstream·c·s·∂ℓ/∂x with s = 1/n for the mean.
/// </summary>
/// <remarks>
/// <para>Reference: BasicSR <c>basicsr/losses/gan_loss.py</c> <c>GANLoss(gan_type, real_label_val, fake_label_val, loss_weight)</c>
/// called as <c>(input, target_is_real, is_disc)</c>. Differences: <see cref="Reduction.Sum"/> and <see cref="Reduction.None"/>
/// (BasicSR always averages); <see cref="GanType.Minimax"/> is not in BasicSR; the smoothed labels of BasicSR's vanilla and lsgan
/// apply here too, and the minimax generator uses the fake label (its loss is minus the discriminator's on fakes).</para>
/// <para>The math is one elementwise pass (the SIMD driver of <see cref="ElementwiseLoss"/>, with threads and the same bits for
/// any thread count; the <c>gan_*</c> form functions of <c>kernels/opencl/generative.cl</c>; ILGPU through <c>IlgpuGanLoss</c>), compiled for each
/// element form on its own (<see cref="GanTerms{TForm}"/>). A gradient may be
/// the input's memory itself (written in place) or disjoint from it; nothing is allocated per call.</para>
/// </remarks>
public readonly partial struct GanLoss
{
    /// <summary>A vanilla GAN loss for the generator, its fakes to be judged real (labels 1 and 0, weight 1; BasicSR's is_disc=False).</summary>
    public GanLoss()
        : this(GanType.Vanilla, targetIsReal: true, isDiscriminator: false)
    {
    }

    /// <summary>With every parameter (BasicSR's names: gan_type, target_is_real, is_disc, real_label_val, fake_label_val, loss_weight).</summary>
    /// <param name="type">The adversarial objective.</param>
    /// <param name="targetIsReal">Whether the logits should be judged real.</param>
    /// <param name="isDiscriminator">Whether this is the discriminator's loss (unweighted) or the generator's (times <paramref name="lossWeight"/>).</param>
    /// <param name="realLabel">The label of real data for vanilla, lsgan and the minimax discriminator (finite).</param>
    /// <param name="fakeLabel">The label of fake data (finite).</param>
    /// <param name="lossWeight">The generator's weight (finite).</param>
    /// <exception cref="ArgumentOutOfRangeException">An undefined type, or a label or weight that is not finite.</exception>
    public GanLoss(GanType type, bool targetIsReal, bool isDiscriminator, float realLabel = 1f, float fakeLabel = 0f, float lossWeight = 1f)
    {
        if (!Enum.IsDefined(type))
            ThrowHelper.OutOfRange(nameof(type), (int)type, "a defined GanType");
        ThrowHelper.IfNotFinite(realLabel, nameof(realLabel));
        ThrowHelper.IfNotFinite(fakeLabel, nameof(fakeLabel));
        ThrowHelper.IfNotFinite(lossWeight, nameof(lossWeight));
        Type = type;
        TargetIsReal = targetIsReal;
        IsDiscriminator = isDiscriminator;
        RealLabel = realLabel;
        FakeLabel = fakeLabel;
        LossWeight = lossWeight;
    }

    /// <summary>The adversarial objective.</summary>
    public GanType Type { get; }

    /// <summary>Whether the logits should be judged real.</summary>
    public bool TargetIsReal { get; }

    /// <summary>Whether this is the discriminator's loss.</summary>
    public bool IsDiscriminator { get; }

    /// <summary>The real label (1).</summary>
    public float RealLabel { get; }

    /// <summary>The fake label (0).</summary>
    public float FakeLabel { get; }

    /// <summary>The generator's loss weight (1).</summary>
    public float LossWeight { get; }

    /// <summary>
    /// A constant subtracted from every logit first: ℓ(x − shift). The relativistic loss (<see cref="RelativisticGanLoss"/>) judges each
    /// logit against the mean of the other kind's; 0 for the plain loss.
    /// </summary>
    internal float Shift { get; init; }

    /// <summary>Fused forward+backward, reduced: returns L and writes ∂(upstream·L)/∂input.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="inputGrad">Receives n floats; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (BasicSR's) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L (NaN for the mean of no elements, as PyTorch).</returns>
    /// <exception cref="ArgumentException">inputGrad is too short or partly overlaps the input, or reduction is None (use the unreduced overload).</exception>
    public float ForwardBackward(ReadOnlySpan<float> input, Span<float> inputGrad, Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        Dispatch<FusedReduced, float>(new(input, inputGrad, reduction, upstream));

    /// <summary>Fused forward+backward, unreduced: writes the n values c·ℓ(x) and ∂(Σ upstream ⊙ values)/∂input.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values; must not overlap the gradient.</param>
    /// <param name="inputGrad">Receives n floats; may be <paramref name="input"/> itself.</param>
    /// <param name="upstream">n values, or empty for ones.</param>
    public void ForwardBackward(ReadOnlySpan<float> input, Span<float> output, Span<float> inputGrad, ReadOnlySpan<float> upstream = default) =>
        Dispatch<FusedUnreduced, float>(new(input, output, inputGrad, upstream));

    /// <summary>Forward only, reduced.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <returns>L.</returns>
    public float Forward(ReadOnlySpan<float> input, Reduction reduction = Reduction.Mean) => Dispatch<ForwardReduced, float>(new(input, reduction));

    /// <summary>Forward only, unreduced: the n values c·ℓ(x).</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="output">Receives n values; may be the input's memory.</param>
    public void Forward(ReadOnlySpan<float> input, Span<float> output) => Dispatch<ForwardUnreduced, float>(new(input, output));

    /// <summary>Backward only, reduced: writes ∂(upstream·L)/∂input.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="inputGrad">Receives n floats; may be <paramref name="input"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> input, float upstream, Span<float> inputGrad, Reduction reduction = Reduction.Mean) =>
        Dispatch<BackwardReduced, float>(new(input, upstream, inputGrad, reduction));

    /// <summary>Backward only, unreduced: writes upstream ⊙ c·∂ℓ/∂x.</summary>
    /// <param name="input">The discriminator's logits, n elements.</param>
    /// <param name="upstream">n values; may be the gradient's memory.</param>
    /// <param name="inputGrad">Receives n floats; may be <paramref name="input"/> itself.</param>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> upstream, Span<float> inputGrad) =>
        Dispatch<BackwardUnreduced, float>(new(input, upstream, inputGrad));

    /// <summary>Runs <paramref name="call"/> with the element math of this loss's form, as that form's own type.</summary>
    internal TResult Dispatch<TCall, TResult>(TCall call)
        where TCall : IGanCall<TResult>, allows ref struct
    {
        (GanForm form, float label, float sign, float scale) = Shape();
        return form switch
        {
            GanForm.CrossEntropy => call.Run(new GanTerms<GanCrossEntropy>(label, sign, scale, Shift)),
            GanForm.Squared => call.Run(new GanTerms<GanSquared>(label, sign, scale, Shift)),
            GanForm.Linear => call.Run(new GanTerms<GanLinear>(label, sign, scale, Shift)),
            GanForm.Softplus => call.Run(new GanTerms<GanSoftplus>(label, sign, scale, Shift)),
            _ => call.Run(new GanTerms<GanHinge>(label, sign, scale, Shift)),
        };
    }

    /// <summary>The element form, label y, sign s and scale c that the type and role fix.</summary>
    private (GanForm Form, float Label, float Sign, float Scale) Shape()
    {
        float scale = IsDiscriminator ? 1f : LossWeight;
        float label = TargetIsReal ? RealLabel : FakeLabel;
        float sign = TargetIsReal ? -1f : 1f;
        return (Type, IsDiscriminator) switch
        {
            (GanType.Vanilla, _) or (GanType.Minimax, true) => (GanForm.CrossEntropy, label, 0f, scale),
            (GanType.Minimax, false) => (GanForm.CrossEntropy, FakeLabel, 0f, -scale),
            (GanType.LeastSquares, _) => (GanForm.Squared, label, 0f, scale),
            (GanType.Wasserstein, _) => (GanForm.Linear, 0f, sign, scale),
            (GanType.WassersteinSoftplus, _) => (GanForm.Softplus, 0f, sign, scale),
            (GanType.Hinge, true) => (GanForm.Hinge, 0f, sign, scale),
            _ => (GanForm.Linear, 0f, -1f, scale),
        };
    }

    /// <summary>The element shapes of <see cref="GanLoss"/>: which <see cref="IGanForm"/> its math is.</summary>
    private enum GanForm
    {
        CrossEntropy,
        Squared,
        Linear,
        Softplus,
        Hinge,
    }

    private readonly ref struct FusedReduced(ReadOnlySpan<float> input, Span<float> inputGrad, Reduction reduction, float upstream) : IGanCall<float>
    {
        private readonly ReadOnlySpan<float> input = input;
        private readonly Span<float> inputGrad = inputGrad;

        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss => terms.ForwardBackward(input, input, inputGrad, reduction, upstream: upstream);
    }

    private readonly ref struct FusedUnreduced(ReadOnlySpan<float> input, Span<float> output, Span<float> inputGrad, ReadOnlySpan<float> upstream) : IGanCall<float>
    {
        private readonly ReadOnlySpan<float> input = input, upstream = upstream;
        private readonly Span<float> output = output, inputGrad = inputGrad;

        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.ForwardBackward(input, input, output, inputGrad, upstream);
            return 0f;
        }
    }

    private readonly ref struct ForwardReduced(ReadOnlySpan<float> input, Reduction reduction) : IGanCall<float>
    {
        private readonly ReadOnlySpan<float> input = input;

        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss => terms.Forward(input, input, reduction);
    }

    private readonly ref struct ForwardUnreduced(ReadOnlySpan<float> input, Span<float> output) : IGanCall<float>
    {
        private readonly ReadOnlySpan<float> input = input;
        private readonly Span<float> output = output;

        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Forward(input, input, output);
            return 0f;
        }
    }

    private readonly ref struct BackwardReduced(ReadOnlySpan<float> input, float upstream, Span<float> inputGrad, Reduction reduction) : IGanCall<float>
    {
        private readonly ReadOnlySpan<float> input = input;
        private readonly Span<float> inputGrad = inputGrad;

        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Backward(input, input, upstream, inputGrad, reduction);
            return 0f;
        }
    }

    private readonly ref struct BackwardUnreduced(ReadOnlySpan<float> input, ReadOnlySpan<float> upstream, Span<float> inputGrad) : IGanCall<float>
    {
        private readonly ReadOnlySpan<float> input = input, upstream = upstream;
        private readonly Span<float> inputGrad = inputGrad;

        public float Run<TTerms>(TTerms terms)
            where TTerms : struct, IElementwiseLoss
        {
            terms.Backward(input, input, upstream, inputGrad);
            return 0f;
        }
    }
}
