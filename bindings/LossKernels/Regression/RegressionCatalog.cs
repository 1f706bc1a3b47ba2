using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Regression;

/// <summary>The catalog rows of the regression losses.</summary>
internal static class RegressionCatalog
{
    /// <summary>Elementwise losses run at 16,777,216 elements in the quick report.</summary>
    private const int ReportSize = 1 << 24;

    public static readonly LossDefinition[] Rows =
    [
        Elementwise("l1", "|x − t|", "F.l1_loss; mmdet L1Loss", _ => new L1Loss()),
        Elementwise("mse", "(x − t)²", "F.mse_loss; mmdet MSELoss", _ => new MseLoss()),
        new LossDefinition("rmse", "regression", "√(mean (x − t)²)", "torch.sqrt(F.mse_loss)", ["input", "target"], [], [], ReportSize,
            (_, inputs, upstream, device) => new RmseBoundLoss(inputs, upstream, device), Sample),
        Elementwise("smooth_l1", "|d| < β ? 0.5·d²/β : |d| − 0.5·β", "F.smooth_l1_loss; mmdet SmoothL1Loss",
            p => new SmoothL1Loss(p.Float("beta", 1f)), "beta"),
        Elementwise("huber", "|d| < δ ? 0.5·d² : δ·(|d| − 0.5·δ)", "F.huber_loss",
            p => new HuberLoss(p.Float("delta", 1f)), "delta"),
        Elementwise("balanced_l1", "a < β ? α/b·(b·a + 1)·ln(b·a/β + 1) − α·a : γ·a + γ/b − α·β", "mmdet balanced_l1_loss",
            p => new BalancedL1Loss(p.Float("alpha", 0.5f), p.Float("gamma", 1.5f), p.Float("beta", 1f)), "alpha", "gamma", "beta"),
    ];

    private static LossDefinition Elementwise<TLoss>(string name, string formula, string equivalent, Func<LossParameters, TLoss> create, params string[] parameters)
        where TLoss : struct, IElementwiseTargetLoss =>
        LossDefinition.ElementwiseWithTarget(name, "regression", formula, equivalent, ReportSize, create, Sample, parameters);

    /// <summary>Predictions in [−2, 2), targets in [−1, 1): differences cover both branches of every threshold at its default.</summary>
    private static Dictionary<string, LossTensor> Sample(int length, int seed)
    {
        var random = new Random(seed);
        var input = new float[length];
        var target = new float[length];
        for (int i = 0; i < length; i++)
        {
            input[i] = (float)(random.NextDouble() * 4 - 2);
            target[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return new() { ["input"] = LossTensor.FromFloats(input, length), ["target"] = LossTensor.FromFloats(target, length) };
    }
}

/// <summary><see cref="RmseLoss"/> bound for the catalog: always a scalar; on the CPU or a device.</summary>
internal sealed class RmseBoundLoss : BoundLoss
{
    internal readonly float[] input;
    internal readonly float[] target;
    internal readonly float upstream;

    public RmseBoundLoss(IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base([], inputs["input"].Length)
    {
        input = inputs["input"].RequireFloats("input");
        target = inputs["target"].RequireFloats("target");
        this.upstream = CatalogUpstream.Split(upstream, Reduction.Mean, input.Length).Scalar;
        Place(device, device?.Rmse(this));
    }

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        var rmse = new RmseLoss();
        switch (mode)
        {
            case LossMode.Forward:
                Loss[0] = rmse.Forward(input, target);
                break;
            case LossMode.Fused:
                Loss[0] = rmse.ForwardBackward(input, target, InputGradient, upstream);
                break;
            default:
                rmse.Backward(input, target, upstream, InputGradient);
                break;
        }
    }

    /// <summary>The forward pass reads 8 bytes per element; the gradient pass reads them again and writes 4.</summary>
    public override long BytesMoved(LossMode mode) => (mode == LossMode.Forward ? 8L : 20L) * input.Length;
}

/// <summary>An <see cref="RmseBoundLoss"/> on an OpenCL device.</summary>
internal sealed class OpenCLRmseRun(RmseBoundLoss bound, OpenCLDevice device) : OpenCLRun(device, bound.input, bound.target, [], [], outputLength: null)
{
    public override void Run(LossMode mode)
    {
        var rmse = new RmseLoss();
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = rmse.Forward(Input, Target);
                break;
            case LossMode.Fused:
                bound.Loss[0] = rmse.ForwardBackward(Input, Target, Gradient, bound.upstream);
                break;
            default:
                rmse.Backward(Input, Target, bound.upstream, Gradient);
                break;
        }

        Device.Finish();
    }
}
