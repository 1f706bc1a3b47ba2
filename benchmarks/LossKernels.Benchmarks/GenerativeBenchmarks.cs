using BenchmarkDotNet.Attributes;
using LossKernels.Generative;

namespace LossKernels.Benchmarks;

/// <summary>
/// Total variation at the quick report's full size, [4, 4, 1024, 1024] (16M elements, the catalog's sample), for each norm: fused and
/// forward; allocations measured. PyTorch's time comes from <c>benchmarks/peers/torch_generative.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *GenerativeBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class GenerativeBenchmarks
{
    private const int Images = 4, Channels = 4, Side = 1024;
    private float[] input = [];
    private float[] gradient = [];

    /// <summary>Which total variation.</summary>
    [Params(TotalVariationNorm.Anisotropic, TotalVariationNorm.Isotropic, TotalVariationNorm.Beta)]
    public TotalVariationNorm Norm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        input = Catalog.LossCatalog.Get("total_variation_loss").SampleInputs(Images * Channels * Side * Side, seed: 1)["input"].RequireFloats("input");
        gradient = new float[input.Length];
    }

    [Benchmark(Baseline = true)]
    public float Fused() => new TotalVariationLoss(Norm, beta: 1.5f).ForwardBackward(input, Images, Channels, Side, Side, gradient);

    [Benchmark]
    public float Forward() => new TotalVariationLoss(Norm, beta: 1.5f).Forward(input, Images, Channels, Side, Side);
}

/// <summary>
/// The GAN loss at 16M logits (the catalog's sample), fused and forward, for the discriminator's real logits of three types (the
/// sigmoid's BCE, the hinge's select, softplus); allocations measured. PyTorch's time: <c>benchmarks/peers/torch_generative.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *GanBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class GanBenchmarks
{
    private float[] logits = [];
    private float[] gradient = [];

    /// <summary>The adversarial objective.</summary>
    [Params(GanType.Vanilla, GanType.Hinge, GanType.WassersteinSoftplus)]
    public GanType Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        logits = Catalog.LossCatalog.Get("gan_loss").SampleInputs(1 << 24, seed: 1)["input"].RequireFloats("input");
        gradient = new float[logits.Length];
    }

    [Benchmark(Baseline = true)]
    public float Fused() => new GanLoss(Type, targetIsReal: true, isDiscriminator: true).ForwardBackward(logits, gradient);

    [Benchmark]
    public float Forward() => new GanLoss(Type, targetIsReal: true, isDiscriminator: true).Forward(logits);
}

/// <summary>
/// The cycle-consistency loss with identities at the quick report's size (four images of 4M values, the catalog's sample) and the
/// gradient penalty on 16 rows of 1M values (the catalog's sample at 16M), fused; allocations measured.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *CyclePenaltyBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class CyclePenaltyBenchmarks
{
    private Dictionary<string, Catalog.LossTensor> images = [];
    private float[][] imageGradients = [];
    private float[] critic = [];
    private float[] criticGradient = [];
    private int batch;

    [GlobalSetup]
    public void Setup()
    {
        images = Catalog.LossCatalog.Get("cycle_consistency_loss").SampleInputs(1 << 24, seed: 1);
        int n = images["real_a"].Length;
        imageGradients = [new float[n], new float[n], new float[n], new float[n]];
        Catalog.LossTensor penalty = Catalog.LossCatalog.Get("gradient_penalty").SampleInputs(1 << 24, seed: 1)["input"];
        critic = penalty.RequireFloats("input");
        batch = penalty.Shape[0];
        criticGradient = new float[critic.Length];
    }

    private float[] Image(string name) => images[name].RequireFloats(name);

    [Benchmark]
    public float CycleFused() => new CycleConsistencyLoss().ForwardBackward(Image("reconstruction_a"), Image("real_a"), Image("reconstruction_b"), Image("real_b"),
        imageGradients[0], imageGradients[1], Image("identity_a"), Image("identity_b"), imageGradients[2], imageGradients[3]).Loss;

    [Benchmark]
    public float WganGpFused() => new GradientPenaltyLoss().ForwardBackward(critic, batch, criticGradient);

    [Benchmark]
    public float R1Fused() => new GradientPenaltyLoss(GradientPenaltyKind.R1).ForwardBackward(critic, batch, criticGradient);
}

/// <summary>
/// The Gram style loss at the quick report's full shape, [4, 256, 128, 128] features against one style Gram (the catalog's sample):
/// fused, forward (the SYRK and the loss), the style's Gram alone, each on one thread and on two; allocations measured. PyTorch's time
/// comes from <c>benchmarks/peers/torch_gram.py</c>, the SGEMM's GFLOP/s from the benchmarks app's <c>gemm</c> command.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *GramStyleBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class GramStyleBenchmarks
{
    private float[] features = [];
    private float[] targetGram = [];
    private float[] gradient = [];
    private float[] gram = [];
    private int images, channels;
    private int savedThreads;

    /// <summary>The CPU threads the loss may use.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Dictionary<string, Catalog.LossTensor> sample = Catalog.LossCatalog.Get("gram_style_loss").SampleInputs(4 * 256 * 128 * 128, seed: 1);
        features = sample["input"].RequireFloats("input");
        targetGram = sample["target_gram"].RequireFloats("target_gram");
        (images, channels) = (sample["input"].Shape[0], sample["input"].Shape[1]);
        gradient = new float[features.Length];
        gram = new float[images * channels * channels];
        savedThreads = LossKernelsSettings.MaxThreads;
        LossKernelsSettings.MaxThreads = Threads;
    }

    [GlobalCleanup]
    public void Cleanup() => LossKernelsSettings.MaxThreads = savedThreads;

    [Benchmark(Baseline = true)]
    public float Fused() => new GramStyleLoss().ForwardBackward(features, targetGram, images, channels, gradient);

    [Benchmark]
    public float Forward() => new GramStyleLoss().Forward(features, targetGram, images, channels);

    [Benchmark]
    public void ComputeGram() => new GramStyleLoss().ComputeGram(features, images, channels, gram);
}

/// <summary>
/// The relativistic GAN loss (ESRGAN's generator loss on 8M real and 8M fake logits) and the feature reconstruction loss (one layer's
/// [4, 4M] features, p = 2) at the quick report's full sizes (the catalog's samples): fused and backward; allocations measured.
/// PyTorch's times come from <c>benchmarks/peers/torch_generative.py</c>.
/// Run: <c>dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *RelativisticFeatureBenchmarks*</c>
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 9)]
public class RelativisticFeatureBenchmarks
{
    private float[] real = [], fake = [], realGrad = [], fakeGrad = [];
    private float[] features = [], target = [], featureGrad = [];
    private int images;

    [GlobalSetup]
    public void Setup()
    {
        Dictionary<string, Catalog.LossTensor> logits = Catalog.LossCatalog.Get("relativistic_gan_loss").SampleInputs(1 << 24, seed: 1);
        real = logits["real_logits"].RequireFloats("real_logits");
        fake = logits["fake_logits"].RequireFloats("fake_logits");
        (realGrad, fakeGrad) = (new float[real.Length], new float[fake.Length]);
        Dictionary<string, Catalog.LossTensor> layer = Catalog.LossCatalog.Get("feature_reconstruction_loss").SampleInputs(1 << 24, seed: 1);
        features = layer["input"].RequireFloats("input");
        target = layer["target"].RequireFloats("target");
        images = layer["input"].Shape[0];
        featureGrad = new float[features.Length];
    }

    [Benchmark]
    public float RelativisticFused() => new RelativisticGanLoss().ForwardBackward(real, fake, realGrad, fakeGrad).Loss;

    [Benchmark]
    public void RelativisticBackward() => new RelativisticGanLoss().Backward(real, fake, 1f, realGrad, fakeGrad);

    [Benchmark]
    public float FeatureReconstructionFused() => new FeatureReconstructionLoss().ForwardBackward(features, target, images, featureGrad);

    [Benchmark]
    public void FeatureReconstructionBackward() => new FeatureReconstructionLoss().Backward(features, target, images, 1f, featureGrad);
}
