using System.Numerics.Tensors;
using LossKernels.Catalog;

namespace LossKernels.Benchmarks;

/// <summary>
/// What a careful engineer writes without fused kernels: each regression loss as a composition of
/// TensorPrimitives calls over preallocated scratch (several passes over memory). Forward and
/// backward share the difference pass; the fused mode does both. Default hyperparameters (β = δ = 1).
/// </summary>
internal sealed class TensorPrimitivesRegression : IReportRunner
{
    private readonly string loss;
    private readonly float[] input;
    private readonly float[] target;
    private readonly float[] difference;
    private readonly float[] scratch;
    private readonly int[] signs;

    public TensorPrimitivesRegression(string loss, float[] input, float[] target)
    {
        this.loss = loss;
        this.input = input;
        this.target = target;
        difference = new float[input.Length];
        scratch = new float[input.Length];
        signs = new int[input.Length];
        Gradient = new float[input.Length];
    }

    public string Backend => "tp-baseline";
    public float Loss { get; private set; }
    public float[] Gradient { get; }

    public void Run(LossMode mode)
    {
        float n = input.Length;
        Span<float> d = difference, s = scratch, g = Gradient;
        TensorPrimitives.Subtract(input, target, d);
        bool forward = mode != LossMode.Backward, backward = mode != LossMode.Forward;
        switch (loss)
        {
            case "l1":
                if (forward)
                    Loss = TensorPrimitives.SumOfMagnitudes<float>(d) / n;
                if (backward)
                {
                    TensorPrimitives.Sign<float>(d, signs);
                    TensorPrimitives.ConvertTruncating<int, float>(signs, g);
                    TensorPrimitives.Divide(g, n, g);
                }

                break;
            case "mse":
            case "rmse":
                float meanSquare = TensorPrimitives.SumOfSquares<float>(d) / n;
                float root = MathF.Sqrt(meanSquare);
                Loss = loss == "mse" ? meanSquare : root;
                if (backward)
                    TensorPrimitives.Multiply(d, loss == "mse" ? 2f / n : 1f / (n * root), g);
                break;
            case "smooth_l1":
            case "huber":
                // With m = min(|d|, 1): smooth L1 (β = 1) and Huber (δ = 1) are both 0.5·m² + (|d| − m).
                if (forward)
                {
                    TensorPrimitives.Abs<float>(d, s);
                    float linear = TensorPrimitives.Sum<float>(s);
                    TensorPrimitives.Min(s, 1f, s);
                    Loss = (0.5f * TensorPrimitives.SumOfSquares<float>(s) + linear - TensorPrimitives.Sum<float>(s)) / n;
                }

                if (backward)
                {
                    TensorPrimitives.Clamp(d, -1f, 1f, g);
                    TensorPrimitives.Divide(g, n, g);
                }

                break;
            case "balanced_l1":
                BalancedL1(d, s, g, n, forward, backward);
                break;
            default:
                throw new ArgumentException($"No TensorPrimitives baseline for '{loss}'.", nameof(loss));
        }
    }

    /// <summary>α = 0.5, γ = 1.5, β = 1: with m = min(a, 1), ℓ = f(m) + γ(a − m) and the slope α·ln(b·m + 1) (= γ at m = 1).</summary>
    private void BalancedL1(Span<float> d, Span<float> s, Span<float> g, float n, bool forward, bool backward)
    {
        const float alpha = 0.5f, gamma = 1.5f;
        float b = MathF.Exp(gamma / alpha) - 1f;
        TensorPrimitives.Abs<float>(d, s);
        float excess = forward ? TensorPrimitives.Sum<float>(s) : 0f;
        TensorPrimitives.Min(s, 1f, s);
        if (forward)
            excess -= TensorPrimitives.Sum<float>(s);
        float mSum = forward ? TensorPrimitives.Sum<float>(s) : 0f;
        TensorPrimitives.Multiply(s, b, s);
        TensorPrimitives.Add(s, 1f, s);
        if (forward)
        {
            TensorPrimitives.Log<float>(s, g);
            float inlier = alpha / b * TensorPrimitives.Dot<float>(s, g) - alpha * mSum;
            Loss = (inlier + gamma * excess) / n;
        }

        if (backward)
        {
            TensorPrimitives.Log<float>(s, g);
            TensorPrimitives.Multiply(g, alpha / n, g);
            TensorPrimitives.Sign<float>(d, signs);
            TensorPrimitives.ConvertTruncating<int, float>(signs, s);
            TensorPrimitives.Multiply(g, s, g);
        }
    }
}

/// <summary>The naive scalar loop: one element at a time, float math, a double sum, no SIMD.</summary>
internal sealed class ScalarRegression(string loss, float[] input, float[] target) : IReportRunner
{
    public string Backend => "scalar";
    public float Loss { get; private set; }
    public float[] Gradient { get; } = new float[input.Length];

    public void Run(LossMode mode)
    {
        int n = input.Length;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            float d = input[i] - target[i];
            float a = MathF.Abs(d);
            (float value, float slope) = loss switch
            {
                "l1" => (a, MathF.Sign(d)),
                "mse" or "rmse" => (d * d, 2f * d),
                "smooth_l1" or "huber" => a < 1f ? (0.5f * d * d, d) : (a - 0.5f, MathF.Sign(d)),
                _ => BalancedL1(d, a),
            };
            sum += value;
            if (mode != LossMode.Forward)
                Gradient[i] = slope / n;
        }

        float mean = (float)(sum / n);
        if (loss == "rmse")
        {
            float root = MathF.Sqrt(mean);
            for (int i = 0; mode != LossMode.Forward && i < n; i++)
                Gradient[i] /= 2f * root;
            mean = root;
        }

        if (mode != LossMode.Backward)
            Loss = mean;
    }

    private static (float Value, float Slope) BalancedL1(float d, float a)
    {
        const float alpha = 0.5f, gamma = 1.5f, beta = 1f;
        float b = MathF.Exp(gamma / alpha) - 1f;
        if (a >= beta)
            return (gamma * a + gamma / b - alpha * beta, MathF.Sign(d) * gamma);
        float log = MathF.Log(b * a / beta + 1f);
        return (alpha / b * (b * a + 1f) * log - alpha * a, MathF.Sign(d) * (alpha * log + alpha * (b * a + 1f) / (b * a + beta) - alpha));
    }
}
