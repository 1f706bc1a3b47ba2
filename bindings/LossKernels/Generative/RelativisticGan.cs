namespace LossKernels.Generative;

/// <summary>A <see cref="RelativisticGanLoss"/> call's loss and its two weighted halves (they add up to it).</summary>
/// <param name="Loss">The whole loss.</param>
/// <param name="Real">½·mean ℓ_real(r − mean f): the real logits' half.</param>
/// <param name="Fake">½·mean ℓ_fake(f − mean r): the fake logits' half.</param>
public readonly record struct RelativisticGanResult(float Loss, float Real, float Fake);

/// <summary>
/// The relativistic average GAN loss (Jolicoeur-Martineau 2018) as ESRGAN trains with it, on the discriminator's logits for real
/// data r (n_r values) and for fakes f (n_f values): with d_r = r − mean(f) and d_f = f − mean(r),
/// the discriminator's <c>L = ½·[mean ℓ(d_r; real) + mean ℓ(d_f; fake)]</c> and the generator's
/// <c>L = ½·[mean ℓ(d_r; fake) + mean ℓ(d_f; real)]</c>, where ℓ(·; real or fake) is <see cref="GanLoss"/>'s element loss of the same
/// type, labels and weight (the generator's times <see cref="LossWeight"/>). Gradients, with a = ∂(½·mean ℓ(d_r))/∂d_r and
/// b = ∂(½·mean ℓ(d_f))/∂d_f: <c>∂L/∂r_i = a_i − Σ_j b_j / n_r</c> and <c>∂L/∂f_j = b_j − Σ_i a_i / n_f</c> (the means' share), or
/// a and b alone with <see cref="DetachMeans"/>, times the upstream gradient.
/// </summary>
/// <remarks>
/// <para>Reference: BasicSR's <c>ESRGANModel.optimize_parameters</c> with <c>GANLoss(gan_type="vanilla")</c>. Its generator step
/// detaches the real logits (their gradient is not used: the generator gets ∂L/∂f, which is this full gradient); its
/// discriminator step detaches the other kind's mean in each half (<c>fake_d_pred.detach()</c>, <c>real_d_pred.detach()</c>):
/// <see cref="DetachMeans"/> = true gives exactly that gradient, false the gradient of L itself (the paper's).</para>
/// <para>The work: the two means, each half's elementwise pass (<see cref="GanLoss"/> with the mean as its shift, writing a and b),
/// then, unless the means are detached, the sums of a and b and one pass adding the means' share to each gradient — on spans, OpenCL
/// buffers and ILGPU views alike (<see cref="RelativisticSteps"/>). A gradient may be its own logits' memory; the real gradient must
/// not overlap the fake logits or gradient, nor the fake gradient the real logits.</para>
/// </remarks>
public readonly partial struct RelativisticGanLoss
{
    /// <summary>The generator's vanilla (BCE) loss, ESRGAN's: labels 1 and 0, weight 1, the full gradient.</summary>
    public RelativisticGanLoss()
        : this(GanType.Vanilla, isDiscriminator: false)
    {
    }

    /// <summary>With every parameter.</summary>
    /// <param name="type">The element loss's type (<see cref="GanType"/>).</param>
    /// <param name="isDiscriminator">Whether this is the discriminator's loss (unweighted) or the generator's.</param>
    /// <param name="realLabel">The real label (finite).</param>
    /// <param name="fakeLabel">The fake label (finite).</param>
    /// <param name="lossWeight">The generator's weight (finite).</param>
    /// <param name="detachMeans">Whether the means are constants in the gradient (ESRGAN's discriminator step).</param>
    /// <exception cref="ArgumentOutOfRangeException">An undefined type, or a label or weight that is not finite.</exception>
    public RelativisticGanLoss(GanType type, bool isDiscriminator, float realLabel = 1f, float fakeLabel = 0f, float lossWeight = 1f, bool detachMeans = false)
    {
        // GanLoss checks the parameters.
        RealHalf = new GanLoss(type, targetIsReal: isDiscriminator, isDiscriminator, realLabel, fakeLabel, lossWeight);
        FakeHalf = new GanLoss(type, targetIsReal: !isDiscriminator, isDiscriminator, realLabel, fakeLabel, lossWeight);
        DetachMeans = detachMeans;
    }

    /// <summary>The element loss's type.</summary>
    public GanType Type => RealHalf.Type;

    /// <summary>Whether this is the discriminator's loss.</summary>
    public bool IsDiscriminator => RealHalf.IsDiscriminator;

    /// <summary>The real label.</summary>
    public float RealLabel => RealHalf.RealLabel;

    /// <summary>The fake label.</summary>
    public float FakeLabel => RealHalf.FakeLabel;

    /// <summary>The generator's weight.</summary>
    public float LossWeight => RealHalf.LossWeight;

    /// <summary>Whether the means are constants in the gradient.</summary>
    public bool DetachMeans { get; }

    /// <summary>The element loss of the real logits' half: judged real by the discriminator, fake by the generator.</summary>
    internal GanLoss RealHalf { get; }

    /// <summary>The element loss of the fake logits' half.</summary>
    internal GanLoss FakeHalf { get; }

    /// <summary>Fused forward+backward: L, its halves, and ∂(upstream·L)/∂ of both logits.</summary>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <param name="realGrad">Receives n_r floats; may be <paramref name="realLogits"/> itself.</param>
    /// <param name="fakeGrad">Receives n_f floats; may be <paramref name="fakeLogits"/> itself.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <returns>L and its halves (NaN where a kind has no logits).</returns>
    /// <exception cref="ArgumentException">A gradient is too short or overlaps what it must not.</exception>
    public RelativisticGanResult ForwardBackward(ReadOnlySpan<float> realLogits, ReadOnlySpan<float> fakeLogits, Span<float> realGrad, Span<float> fakeGrad,
        float upstream = 1f)
    {
        Check(realLogits, fakeLogits, realGrad, fakeGrad);
        var steps = new SpanSteps(realLogits, fakeLogits, realGrad.Slice(0, realLogits.Length), fakeGrad.Slice(0, fakeLogits.Length));
        return RelativisticSteps.Run(this, ref steps, true, upstream);
    }

    /// <summary>Forward only: L and its halves.</summary>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <returns>L and its halves.</returns>
    public RelativisticGanResult Forward(ReadOnlySpan<float> realLogits, ReadOnlySpan<float> fakeLogits)
    {
        var steps = new SpanSteps(realLogits, fakeLogits, default, default);
        return RelativisticSteps.Run(this, ref steps, false, 1f);
    }

    /// <summary>Backward only: ∂(upstream·L)/∂ of both logits (the same passes as the fused call).</summary>
    /// <param name="realLogits">r, n_r values.</param>
    /// <param name="fakeLogits">f, n_f values.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="realGrad">Receives n_r floats.</param>
    /// <param name="fakeGrad">Receives n_f floats.</param>
    public void Backward(ReadOnlySpan<float> realLogits, ReadOnlySpan<float> fakeLogits, float upstream, Span<float> realGrad, Span<float> fakeGrad) =>
        ForwardBackward(realLogits, fakeLogits, realGrad, fakeGrad, upstream);

    private static void Check(ReadOnlySpan<float> realLogits, ReadOnlySpan<float> fakeLogits, Span<float> realGrad, Span<float> fakeGrad)
    {
        ThrowHelper.IfTooShort(realLogits.Length, realGrad.Length, nameof(realGrad));
        ThrowHelper.IfTooShort(fakeLogits.Length, fakeGrad.Length, nameof(fakeGrad));
        ReadOnlySpan<float> writtenReal = realGrad.Slice(0, realLogits.Length), writtenFake = fakeGrad.Slice(0, fakeLogits.Length);
        ThrowHelper.IfPartialOverlap(realLogits, writtenReal, nameof(realGrad));
        ThrowHelper.IfOverlaps(fakeLogits, writtenReal, nameof(realGrad), nameof(fakeLogits));
        ThrowHelper.IfPartialOverlap(fakeLogits, writtenFake, nameof(fakeGrad));
        ThrowHelper.IfOverlaps(realLogits, writtenFake, nameof(fakeGrad), nameof(realLogits));
        ThrowHelper.IfOverlaps(writtenReal, writtenFake, nameof(fakeGrad), nameof(realGrad));
    }

    /// <summary>The steps on spans.</summary>
    private readonly ref struct SpanSteps(ReadOnlySpan<float> real, ReadOnlySpan<float> fake, Span<float> realGrad, Span<float> fakeGrad) : IRelativisticSteps
    {
        private readonly ReadOnlySpan<float> real = real, fake = fake;
        private readonly Span<float> realGrad = realGrad, fakeGrad = fakeGrad;

        public int Length(bool isReal) => isReal ? real.Length : fake.Length;

        public float Sum(GanLoss sum, bool isReal, bool ofGradient) =>
            sum.Forward(ofGradient ? (isReal ? realGrad : fakeGrad) : isReal ? real : fake, Reduction.Sum);

        public float Half(GanLoss half, bool isReal, bool gradient, float upstream) => gradient
            ? half.ForwardBackward(isReal ? real : fake, isReal ? realGrad : fakeGrad, Reduction.Mean, upstream)
            : half.Forward(isReal ? real : fake);

        public void Shift(GanLoss affine, bool isReal)
        {
            Span<float> gradient = isReal ? realGrad : fakeGrad;
            affine.Backward(gradient, RelativisticSteps.AffineUpstream, gradient, Reduction.Sum);
        }
    }
}

/// <summary>The passes of a <see cref="RelativisticGanLoss"/> call on one backend's memory; <c>isReal</c> picks the kind.</summary>
internal interface IRelativisticSteps
{
    /// <summary>n_r or n_f.</summary>
    int Length(bool isReal);

    /// <summary>Σ of a kind's logits, or of its gradient, through <paramref name="sum"/> (a GAN loss whose reduced sum is Σ x).</summary>
    float Sum(GanLoss sum, bool isReal, bool ofGradient);

    /// <summary>A half's mean with its gradient scaled by <paramref name="upstream"/> written to the kind's gradient (when asked).</summary>
    float Half(GanLoss half, bool isReal, bool gradient, float upstream);

    /// <summary>Adds a constant to the kind's gradient in place through <paramref name="affine"/> (see <see cref="RelativisticSteps.Affine"/>).</summary>
    void Shift(GanLoss affine, bool isReal);
}

/// <summary>The relativistic loss's algorithm, once for every backend's <see cref="IRelativisticSteps"/>.</summary>
internal static class RelativisticSteps
{
    /// <summary>Σ x: the Wasserstein loss on fakes for the discriminator is ℓ = x, so its reduced sum is the sum of the values.</summary>
    private static readonly GanLoss Summation = new(GanType.Wasserstein, targetIsReal: false, isDiscriminator: true);

    /// <summary>The upstream of <see cref="Affine"/>'s backward pass.</summary>
    internal const float AffineUpstream = 0.5f;

    /// <summary>
    /// A GAN loss whose backward pass (reduced by sum, upstream ½) maps x to x + <paramref name="constant"/>: the least-squares form's slope
    /// 2·(x − shift − y) is affine in x, so with y = 0 and shift = −constant it writes ½·2·(x + constant). The in-place pass every
    /// backend already has, used to add the means' share to a gradient.
    /// </summary>
    internal static GanLoss Affine(float constant) =>
        new GanLoss(GanType.LeastSquares, targetIsReal: true, isDiscriminator: true, realLabel: 0f) { Shift = -constant };

    /// <summary>Runs the means, both halves and (for a gradient, unless detached) the means' share.</summary>
    public static RelativisticGanResult Run<TSteps>(in RelativisticGanLoss loss, ref TSteps steps, bool gradient, float upstream)
        where TSteps : IRelativisticSteps, allows ref struct
    {
        int realCount = steps.Length(true), fakeCount = steps.Length(false);
        float realMean = steps.Sum(Summation, true, false) / realCount;
        float fakeMean = steps.Sum(Summation, false, false) / fakeCount;
        float real = 0.5f * steps.Half(loss.RealHalf with { Shift = fakeMean }, true, gradient, 0.5f * upstream);
        float fake = 0.5f * steps.Half(loss.FakeHalf with { Shift = realMean }, false, gradient, 0.5f * upstream);
        if (gradient && !loss.DetachMeans)
        {
            // Each mean's share: −Σ of the other half's gradient over this kind's count (the gradients already hold the upstream).
            float realShare = steps.Sum(Summation, false, true) / realCount;
            float fakeShare = steps.Sum(Summation, true, true) / fakeCount;
            steps.Shift(Affine(-realShare), true);
            steps.Shift(Affine(-fakeShare), false);
        }

        return new RelativisticGanResult((float)((double)real + fake), real, fake);
    }
}
