namespace LossKernels.Embedding;

/// <summary>The parameter names of an embedding loss's entry points, for the exceptions its checks throw.</summary>
internal readonly record struct EmbeddingNames(string X0, string X1, string X2, string Label, string G0, string G1, string G2)
{
    public static readonly EmbeddingNames Triplet = new("anchor", "positive", "negative", "", "anchorGrad", "positiveGrad", "negativeGrad");

    public static readonly EmbeddingNames Pair = new("input1", "input2", "", "target", "input1Grad", "input2Grad", "");

    public static readonly EmbeddingNames Contrastive = Pair with { Label = "label" };
}

/// <summary>The span entry points' checks and call of every <see cref="IEmbeddingLoss"/>: one place for what they share.</summary>
internal static unsafe class EmbeddingLoss
{
    /// <summary>Checks a call and runs it on the CPU; returns the reduced loss (0 for <see cref="Reduction.None"/>).</summary>
    public static float Run<TLoss, TLabel>(in TLoss loss, in EmbeddingNames names, int dim, ReadOnlySpan<float> x0, ReadOnlySpan<float> x1, ReadOnlySpan<float> x2,
        ReadOnlySpan<TLabel> labels, Span<float> output, Span<float> g0, Span<float> g1, Span<float> g2, ReadOnlySpan<float> upstream, Reduction reduction,
        float upstreamScalar, bool gradient)
        where TLoss : struct, IEmbeddingLoss
        where TLabel : unmanaged
    {
        loss.Validate();
        int rows = Rows(loss, names, ref dim, x0.Length, labels.Length);
        // A one-input loss reads its input as every stream.
        if (loss.Inputs == 1)
            x1 = x2 = x0;
        ThrowHelper.IfLengthDiffers(x0.Length, x1.Length, names.X1);
        if (loss.Inputs == 3)
            ThrowHelper.IfLengthDiffers(x0.Length, x2.Length, names.X2);
        if (!ReductionValid(reduction))
            ThrowHelper.Argument(nameof(reduction), $"Unknown reduction {reduction}.");
        int n = x0.Length;
        bool unreduced = reduction == Reduction.None;
        if (unreduced)
        {
            ThrowHelper.IfTooShort(rows, output.Length, "output");
            output = output.Slice(0, rows);
            if (!upstream.IsEmpty)
                ThrowHelper.IfLengthDiffers(rows, upstream.Length, nameof(upstream));
            ThrowHelper.IfOverlaps(x0, output, "output", names.X0);
            ThrowHelper.IfOverlaps(x1, output, "output", names.X1);
            ThrowHelper.IfOverlaps(x2, output, "output", names.X2);
            ThrowHelper.IfOverlaps(upstream, output, "output", nameof(upstream));
        }

        if (gradient)
        {
            ThrowHelper.IfTooShort(n, g0.Length, names.G0);
            g0 = g0.Slice(0, n);
            if (loss.Inputs >= 2)
            {
                ThrowHelper.IfTooShort(n, g1.Length, names.G1);
                g1 = g1.Slice(0, n);
            }
            else
            {
                g1 = default;
            }

            if (loss.Inputs == 3)
            {
                ThrowHelper.IfTooShort(n, g2.Length, names.G2);
                g2 = g2.Slice(0, n);
            }
            else
            {
                g2 = default;
            }

            CheckGradient(g0, names.G0, x0, x1, x2, upstream, output);
            if (loss.Inputs >= 2)
                CheckGradient(g1, names.G1, x0, x1, x2, upstream, output);
            CheckGradient(g2, names.G2, x0, x1, x2, upstream, output);
            ThrowHelper.IfOverlaps(g0, g1, names.G1, names.G0);
            ThrowHelper.IfOverlaps(g0, g2, names.G2, names.G0);
            ThrowHelper.IfOverlaps(g1, g2, names.G2, names.G1);
        }

        double divisor = unreduced ? 1d : ElementwiseLoss.ReductionDivisor(reduction, rows, null);
        fixed (float* a = x0, b = x1, c = x2, ga = g0, gb = g1, gc = g2, o = output, u = upstream)
        fixed (TLabel* t = labels)
        {
            var data = new EmbeddingRows
            {
                X0 = a, X1 = b, X2 = loss.Inputs == 3 ? c : null,
                G0 = gradient ? ga : null, G1 = gradient && loss.Inputs >= 2 ? gb : null, G2 = gradient ? gc : null,
                Labels = typeof(TLabel) == typeof(float) ? (float*)t : null,
                LongLabels = typeof(TLabel) == typeof(long) ? (long*)t : null,
                Output = unreduced ? o : null, Upstream = unreduced ? u : null,
                Scale = (float)(upstreamScalar / divisor), Rows = rows, Dim = dim,
            };
            double sum = EmbeddingDriver.Run(loss, data);
            return unreduced ? 0f : (float)(sum / divisor);
        }
    }

    /// <summary>
    /// B and D: for a labelled loss B is the labels' count and D the first input's length over B (<paramref name="dim"/> is set; when
    /// given as more than 0 it must be that); else D is given and B the length over D. Throws when they do not divide.
    /// </summary>
    public static int Rows<TLoss>(in TLoss loss, in EmbeddingNames names, ref int dim, long length, long labels)
        where TLoss : struct, IEmbeddingLoss
    {
        if (loss.Labelled)
        {
            if (labels == 0 ? length != 0 : length % labels != 0 || (dim > 0 && length != labels * dim))
            {
                ThrowHelper.Argument(names.X0, dim > 0
                    ? $"{names.X0} holds {length} values, not {dim} for each of the {labels} values of {names.Label}."
                    : $"{names.X0} holds {length} values, not a whole number of rows for the {labels} values of {names.Label}.");
            }

            dim = labels == 0 ? Math.Max(dim, 0) : (int)(length / labels);
            return (int)labels;
        }

        if (dim <= 0)
            ThrowHelper.OutOfRange(nameof(dim), dim, "> 0");
        if (length % dim != 0)
            ThrowHelper.Argument(names.X0, $"{names.X0} holds {length} values, not a whole number of rows of {dim}.");
        return (int)(length / dim);
    }

    public static bool ReductionValid(Reduction reduction) => reduction is Reduction.None or Reduction.Mean or Reduction.Sum;

    private static void CheckGradient(ReadOnlySpan<float> gradient, string name, ReadOnlySpan<float> x0, ReadOnlySpan<float> x1, ReadOnlySpan<float> x2,
        ReadOnlySpan<float> upstream, ReadOnlySpan<float> output)
    {
        ThrowHelper.IfPartialOverlap(x0, gradient, name);
        ThrowHelper.IfPartialOverlap(x1, gradient, name);
        ThrowHelper.IfPartialOverlap(x2, gradient, name);
        ThrowHelper.IfOverlaps(upstream, gradient, name, "upstream");
        ThrowHelper.IfOverlaps(output, gradient, name, "output");
    }
}
