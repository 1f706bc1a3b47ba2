using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>BasicSR's GANLoss in float64, element by element from its source's branches (not from <see cref="GanTerms"/>'s forms).</summary>
public static class ReferenceGan
{
    /// <summary>The element loss ℓ(x), weighted as BasicSR weights it (the generator's times loss_weight), and dℓ/dx.</summary>
    public static (double Value, double Slope) Element(GanLoss loss, double x)
    {
        double label = loss.TargetIsReal ? loss.RealLabel : loss.FakeLabel;
        (double value, double slope) = loss.Type switch
        {
            GanType.Vanilla => CrossEntropy(x, label),
            GanType.Minimax when loss.IsDiscriminator => CrossEntropy(x, label),
            GanType.Minimax => Negated(CrossEntropy(x, loss.FakeLabel)),
            GanType.LeastSquares => ((x - label) * (x - label), 2 * (x - label)),
            GanType.Wasserstein => loss.TargetIsReal ? (-x, -1d) : (x, 1d),
            GanType.WassersteinSoftplus => loss.TargetIsReal ? Softplus(-x) is var (v, s) ? (v, -s) : default : Softplus(x),
            GanType.Hinge when loss.IsDiscriminator => Relu(1 + (loss.TargetIsReal ? -x : x), loss.TargetIsReal ? -1 : 1),
            GanType.Hinge => (-x, -1d),
            _ => throw new ArgumentOutOfRangeException(nameof(loss)),
        };
        double weight = loss.IsDiscriminator ? 1 : loss.LossWeight;
        return (weight * value, weight * slope);
    }

    /// <summary>The reduced loss over <paramref name="x"/> and its gradient times <paramref name="upstream"/>; per element for <see cref="Reduction.None"/> (upstream per element).</summary>
    public static (double[] Values, double[] Gradient) Evaluate(GanLoss loss, float[] x, Reduction reduction, double[] upstream)
    {
        var values = new double[x.Length];
        var gradient = new double[x.Length];
        double scale = reduction == Reduction.Mean ? 1d / x.Length : 1d;
        for (int i = 0; i < x.Length; i++)
        {
            (values[i], double slope) = Element(loss, x[i]);
            gradient[i] = slope * (reduction == Reduction.None ? upstream[i] : upstream[0] * scale);
        }

        return reduction switch
        {
            Reduction.None => (values, gradient),
            Reduction.Sum => ([values.Sum()], gradient),
            _ => ([x.Length == 0 ? double.NaN : values.Average()], gradient),
        };
    }

    /// <summary>BCE with logits to y: max(x, 0) − x·y + ln(1 + e^−|x|), slope σ(x) − y.</summary>
    private static (double, double) CrossEntropy(double x, double y) =>
        (Math.Max(x, 0) - x * y + Math.Log(1 + Math.Exp(-Math.Abs(x))), 1 / (1 + Math.Exp(-x)) - y);

    /// <summary>softplus(x) = ln(1 + eˣ) stably, slope σ(x).</summary>
    private static (double, double) Softplus(double x) => (Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x))), 1 / (1 + Math.Exp(-x)));

    private static (double, double) Negated((double Value, double Slope) term) => (-term.Value, -term.Slope);

    /// <summary>relu(m) with m = 1 ± x, slope ±1 where m &gt; 0 (torch.relu's backward: 0 at m = 0).</summary>
    private static (double, double) Relu(double margin, double sign) => (Math.Max(margin, 0), margin > 0 ? sign : 0);
}
