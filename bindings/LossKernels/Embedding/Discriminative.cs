namespace LossKernels.Embedding;

/// <summary>What a <see cref="DiscriminativeLoss"/> call returns: the loss and its three terms, each reduced as the loss is.</summary>
/// <param name="Loss">α·<paramref name="Variance"/> + β·<paramref name="Distance"/> + γ·<paramref name="Regularizer"/>.</param>
/// <param name="Variance">The pull term: mean over instances of the mean over their pixels of max(0, ‖μ_c − x_i‖ − δv)².</param>
/// <param name="Distance">The push term: mean over ordered pairs of instances a ≠ b of max(0, 2δd − ‖μ_a − μ_b‖)².</param>
/// <param name="Regularizer">The mean over instances of ‖μ_c‖.</param>
public readonly record struct DiscriminativeLossResult(float Loss, float Variance, float Distance, float Regularizer);

/// <summary>
/// The discriminative loss for instance embeddings (De Brabandere, Neven &amp; Van Gool 2017): per image of N, embeddings x_i of E
/// channels at S pixels (<c>[N, E, d1, …]</c>, S = d1·…) and an int64 instance id per pixel (<c>[N, d1, …]</c>; pixels with
/// <see cref="IgnoreLabel"/> take part in no term). With C the instances of the image, n_c the pixels of instance c and
/// μ_c = Σ_{i∈c} x_i / n_c:
/// <c>L_var = 1/C Σ_c 1/n_c Σ_{i∈c} max(0, ‖μ_c − x_i‖ − δv)²</c>,
/// <c>L_dist = 1/(C(C − 1)) Σ_{a≠b} max(0, 2δd − ‖μ_a − μ_b‖)²</c> (0 for C &lt; 2),
/// <c>L_reg = 1/C Σ_c ‖μ_c‖</c> (all 0 for C = 0), and <c>L_n = α·L_var + β·L_dist + γ·L_reg</c>; L = mean (or sum) over images.
/// Gradient, for pixel i of instance c (ignored pixels 0), through the means:
/// <c>∂L_n/∂x_i = α/(C·n_c)·(v_i − V_c/n_c) + (∂L_n/∂μ_c)/n_c</c> with v_i = 2·max(0, d_i − δv)·(x_i − μ_c)/d_i, V_c = Σ_{j∈c} v_j,
/// <c>∂L_n/∂μ_c = −4β/(C(C − 1))·Σ_{b≠c} max(0, 2δd − D_cb)·(μ_c − μ_b)/D_cb + γ/C·μ_c/‖μ_c‖</c>.
/// </summary>
/// <remarks>
/// <para>PyTorch has no such function; the reference is the paper's three terms written in PyTorch float64 (the per-image loop over
/// <c>torch.unique</c> ids that public implementations write), for the golden cases. Differences from those: a norm's gradient at 0
/// (an instance whose pixels all equal its mean, two instances with equal means, a zero mean) is 0, the finite choice
/// <c>torch.linalg.norm</c>'s backward makes, where implementations through <c>torch.sqrt</c> give NaN; the mean over images divides
/// by N, images without instances included (their loss is 0); ids are any int64 values (0, 7, 1000 are three instances), not
/// 1…C; the distance term's mean is over ordered pairs, which equals the mean over unordered ones.</para>
/// <para>The work: a map of ids to instances on the host (a hash per image, ids in ascending order, a stable counting sort of the
/// pixels by instance), instance sums over fixed pieces (an instance's pixels within a block of 2,048) added in piece order (so every thread count gives the same
/// bits), a pass per pixel for the distances to the means, a pass per instance over the other instances of its image (C²·E work),
/// and a pass per element for the gradient. Only <see cref="Reduction.Mean"/> and <see cref="Reduction.Sum"/>: for per-image losses
/// call once per image.</para>
/// </remarks>
public readonly partial struct DiscriminativeLoss
{
    /// <summary>The paper's defaults: δv 0.5, δd 1.5, α = β = 1, γ 0.001, background id 0 ignored.</summary>
    public DiscriminativeLoss()
        : this(0.5f)
    {
    }

    /// <summary>With the given options.</summary>
    /// <param name="deltaV">The pull margin δv (finite, ≥ 0).</param>
    /// <param name="deltaD">The push margin δd (finite, ≥ 0; means closer than 2δd are pushed apart).</param>
    /// <param name="alpha">The variance term's weight (finite, ≥ 0).</param>
    /// <param name="beta">The distance term's weight (finite, ≥ 0).</param>
    /// <param name="gamma">The regularizer's weight (finite, ≥ 0).</param>
    /// <param name="ignoreLabel">The id whose pixels take part in no term (the background); null to use every pixel.</param>
    /// <exception cref="ArgumentOutOfRangeException">A margin or weight is negative or not finite.</exception>
    public DiscriminativeLoss(float deltaV, float deltaD = 1.5f, float alpha = 1f, float beta = 1f, float gamma = 0.001f, long? ignoreLabel = 0)
    {
        Check(deltaV, deltaD, alpha, beta, gamma, nameof(deltaV), nameof(deltaD), nameof(alpha), nameof(beta), nameof(gamma));
        DeltaV = deltaV;
        DeltaD = deltaD;
        Alpha = alpha;
        Beta = beta;
        Gamma = gamma;
        ignoreValue = ignoreLabel ?? 0;
        ignoreFlag = ignoreLabel.HasValue ? (byte)1 : (byte)0;
    }

    /// <summary>δv: pixels within δv of their mean are not pulled.</summary>
    public float DeltaV { get; }

    /// <summary>δd: means farther apart than 2δd are not pushed.</summary>
    public float DeltaD { get; }

    /// <summary>α, the variance term's weight.</summary>
    public float Alpha { get; }

    /// <summary>β, the distance term's weight.</summary>
    public float Beta { get; }

    /// <summary>γ, the regularizer's weight.</summary>
    public float Gamma { get; }

    /// <summary>The id left out of every term, or null when every pixel counts.</summary>
    public long? IgnoreLabel => ignoreFlag != 0 ? ignoreValue : null;

    private readonly long ignoreValue;

    // A byte, not a bool: the struct's fields stay blittable.
    private readonly byte ignoreFlag;

    /// <summary>Whether a pixel with id <paramref name="label"/> is left out.</summary>
    internal bool Ignores(long label) => ignoreFlag != 0 && label == ignoreValue;

    /// <summary>Fused forward+backward: returns L and its terms, and writes ∂(upstream·L)/∂embeddings.</summary>
    /// <param name="embeddings">N·E·S floats, <c>[N, E, d1, …]</c>.</param>
    /// <param name="labels">N·S instance ids, <c>[N, d1, …]</c>.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="gradient">Receives N·E·S floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over images) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <exception cref="ArgumentException">The lengths are not N·E·S and N·S, the gradient is short or overlaps the embeddings without being them, or reduction is None.</exception>
    public DiscriminativeLossResult ForwardBackward(ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int images, int channels, Span<float> gradient,
        Reduction reduction = Reduction.Mean, float upstream = 1f) =>
        DiscriminativeDriver.Run(this, embeddings, labels, images, channels, gradient, reduction, upstream, gradientWanted: true);

    /// <summary>Forward only: L and its terms.</summary>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S instance ids.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public DiscriminativeLossResult Forward(ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int images, int channels, Reduction reduction = Reduction.Mean) =>
        DiscriminativeDriver.Run(this, embeddings, labels, images, channels, default, reduction, 1f, gradientWanted: false);

    /// <summary>Backward only: writes ∂(upstream·L)/∂embeddings (the means and distances are the forward's work, redone).</summary>
    /// <param name="embeddings">N·E·S floats.</param>
    /// <param name="labels">N·S instance ids.</param>
    /// <param name="images">N (≥ 0).</param>
    /// <param name="channels">E (&gt; 0).</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="gradient">Receives N·E·S floats; may be <paramref name="embeddings"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    public void Backward(ReadOnlySpan<float> embeddings, ReadOnlySpan<long> labels, int images, int channels, float upstream, Span<float> gradient,
        Reduction reduction = Reduction.Mean) =>
        DiscriminativeDriver.Run(this, embeddings, labels, images, channels, gradient, reduction, upstream, gradientWanted: true);

    /// <summary>Throws when an option is out of range (a default-constructed struct is valid: every margin and weight 0).</summary>
    internal void Validate() =>
        Check(DeltaV, DeltaD, Alpha, Beta, Gamma, nameof(DeltaV), nameof(DeltaD), nameof(Alpha), nameof(Beta), nameof(Gamma));

    private static void Check(float deltaV, float deltaD, float alpha, float beta, float gamma, string deltaVName, string deltaDName, string alphaName,
        string betaName, string gammaName)
    {
        ThrowHelper.IfNegative(deltaV, deltaVName);
        ThrowHelper.IfNegative(deltaD, deltaDName);
        ThrowHelper.IfNegative(alpha, alphaName);
        ThrowHelper.IfNegative(beta, betaName);
        ThrowHelper.IfNegative(gamma, gammaName);
    }
}
