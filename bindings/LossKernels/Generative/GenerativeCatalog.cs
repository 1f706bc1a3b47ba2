using LossKernels.Catalog;

namespace LossKernels.Generative;

/// <summary>The catalog rows of the feature-space and generative losses.</summary>
internal static class GenerativeCatalog
{
    /// <summary>The quick report's full shape: [4, 4, 1024, 1024], 16M elements.</summary>
    private const int ReportImages = 4, ReportChannels = 4, ReportSide = 1024;

    public static readonly LossDefinition[] Rows =
    [
        new LossDefinition("total_variation_loss", "generative",
            "per image of [N, C, H, W]: Σ|Δx| + Σ|Δy| (anisotropic), Σ√(Δx² + Δy² + eps) (isotropic) or Σ(Δx² + Δy²)^(β/2)",
            "kornia TotalVariation (per image); the isotropic and β norms in PyTorch", ["input"], [], ["norm", "eps", "beta", "reduction"],
            ReportImages * ReportChannels * ReportSide * ReportSide,
            (p, inputs, upstream, device) => new TotalVariationBoundLoss(Create(p), p, inputs, upstream, device), Sample),
    ];

    /// <summary><c>norm</c> ("anisotropic", "isotropic", "beta"), <c>eps</c> (1e-8), <c>beta</c> (2).</summary>
    private static TotalVariationLoss Create(LossParameters p)
    {
        TotalVariationNorm norm = p.String("norm", "anisotropic") switch
        {
            "anisotropic" => TotalVariationNorm.Anisotropic,
            "isotropic" => TotalVariationNorm.Isotropic,
            "beta" => TotalVariationNorm.Beta,
            var other => throw new ArgumentException($"Parameter 'norm' must be 'anisotropic', 'isotropic' or 'beta', got '{other}'.", "norm"),
        };
        return new TotalVariationLoss(norm, p.Float("eps", 1e-8f), p.Float("beta", 2f));
    }

    /// <summary>
    /// Images of <paramref name="length"/> elements (up to four of four channels, square planes where the length allows): a smooth ramp
    /// plus noise, and a share of equal neighbours (where |·|'s subgradient is taken).
    /// </summary>
    private static Dictionary<string, LossTensor> Sample(int length, int seed)
    {
        int images = Math.Max(1, Math.Min(ReportImages, length / 4096));
        int channels = Math.Max(1, Math.Min(ReportChannels, length / (images * 64)));
        int plane = Math.Max(1, length / (images * channels));
        int height = Math.Max(1, (int)Math.Sqrt(plane)), width = Math.Max(1, plane / height);
        var random = new Random(seed);
        var x = new float[images * channels * height * width];
        for (int i = 0; i < x.Length; i++)
            x[i] = random.Next(5) == 0 ? 0.25f : (float)(0.001 * (i % width) + random.NextDouble() - 0.5);
        return new() { ["input"] = LossTensor.FromFloats(x, images, channels, height, width) };
    }
}
