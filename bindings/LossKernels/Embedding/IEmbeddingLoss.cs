namespace LossKernels.Embedding;

/// <summary>
/// A loss over rows of one, two or three [B, D] inputs that sees each row through three sums over its D elements: the math of
/// <see cref="TripletMarginLoss"/>, <see cref="ContrastiveLoss"/>, <see cref="CosineEmbeddingLoss"/>,
/// <see cref="MarginRankingLoss"/> and <see cref="Generative.GradientPenaltyLoss"/>, written once over <see cref="IVectorMath{TVec}"/>. The CPU driver
/// (<see cref="EmbeddingDriver"/>) runs <see cref="Terms{TVec, TMath}"/> and <see cref="Gradient{TVec, TMath}"/> over a row's
/// elements in SIMD vectors and <see cref="Row{TVec, TMath}"/> once per row (or over a vector of rows when D = 1); the ILGPU
/// kernels run the same three with a float per thread; <c>kernels/opencl/embedding.cl</c> mirrors them.
/// </summary>
public interface IEmbeddingLoss
{
    /// <summary>The [B, D] inputs per row: 1 (the gradient penalty's), 2, or 3 for the triplet's anchor, positive and negative.</summary>
    int Inputs { get; }

    /// <summary>Whether each row takes a label (a float32 or int64 per row).</summary>
    bool Labelled { get; }

    /// <summary>Throws when a hyperparameter is out of range.</summary>
    void Validate();

    /// <summary>The three per-element terms whose sums over a row's D elements are all the row's loss depends on.</summary>
    /// <param name="x0">The first input's elements.</param>
    /// <param name="x1">The second input's elements (the first input's again for a one-input loss).</param>
    /// <param name="x2">The third input's elements (the first input's again for a one- or two-input loss).</param>
    /// <param name="s0">The first sum's terms.</param>
    /// <param name="s1">The second sum's terms.</param>
    /// <param name="s2">The third sum's terms.</param>
    void Terms<TVec, TMath>(TVec x0, TVec x1, TVec x2, out TVec s0, out TVec s1, out TVec s2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;

    /// <summary>
    /// A row's loss from its three sums and its label, and the three coefficients that <see cref="Gradient{TVec, TMath}"/> turns into
    /// the row's gradients, already multiplied by <paramref name="scale"/> (∂objective/∂ℓ_row); lanes are rows.
    /// </summary>
    TVec Row<TVec, TMath>(TVec s0, TVec s1, TVec s2, TVec label, TVec scale, out TVec c0, out TVec c1, out TVec c2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;

    /// <summary>Each input's gradient at a row's elements from the row's coefficients (<paramref name="g2"/> unused by one- and two-input losses, <paramref name="g1"/> by one-input ones).</summary>
    void Gradient<TVec, TMath>(TVec x0, TVec x1, TVec x2, TVec c0, TVec c1, TVec c2, out TVec g0, out TVec g1, out TVec g2)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;
}
