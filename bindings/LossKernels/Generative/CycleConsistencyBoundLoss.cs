using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Generative;

/// <summary>
/// <see cref="CycleConsistencyLoss"/> bound for the catalog: <c>reconstruction_a</c>, <c>real_a</c>, <c>reconstruction_b</c>, <c>real_b</c> and
/// optionally <c>identity_a</c>, <c>identity_b</c> (any shapes, a domain's images of one length); a scalar loss, and the fused and backward
/// runs write <c>grad.reconstruction_a</c>, <c>grad.reconstruction_b</c> and the given identities' gradients.
/// </summary>
internal sealed class CycleConsistencyBoundLoss : BoundLoss
{
    internal readonly CycleConsistencyLoss loss;
    internal readonly float[] reconstructionA, realA, reconstructionB, realB;
    internal readonly float[]? identityA, identityB;
    internal readonly float upstream;

    public CycleConsistencyBoundLoss(CycleConsistencyLoss loss, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device)
        : base([], GradientsOf(inputs))
    {
        this.loss = loss;
        reconstructionA = inputs["reconstruction_a"].RequireFloats("reconstruction_a");
        realA = inputs["real_a"].RequireFloats("real_a");
        reconstructionB = inputs["reconstruction_b"].RequireFloats("reconstruction_b");
        realB = inputs["real_b"].RequireFloats("real_b");
        identityA = inputs.GetValueOrDefault("identity_a")?.RequireFloats("identity_a");
        identityB = inputs.GetValueOrDefault("identity_b")?.RequireFloats("identity_b");
        // The one loss is a scalar: a scalar upstream, as for any reduced loss.
        (this.upstream, _) = CatalogUpstream.Split(upstream, Reduction.Mean, 1);
        foreach ((float[]? image, float[] real, string name) in (ValueTuple<float[]?, float[], string>[])[(reconstructionA, realA, "reconstruction_a"),
            (identityA, realA, "identity_a"), (reconstructionB, realB, "reconstruction_b"), (identityB, realB, "identity_b")])
        {
            if (image is not null && image.Length != real.Length)
                throw new ArgumentException($"{name} has {image.Length} values, its real image {real.Length}.", name);
        }

        Place(device, device?.CycleConsistency(this));
    }

    /// <summary>The generated images' gradients: the reconstructions', then the identities' that are given.</summary>
    private static (string, int)[] GradientsOf(IReadOnlyDictionary<string, LossTensor> inputs) =>
        [.. ((string[])["reconstruction_a", "reconstruction_b", "identity_a", "identity_b"]).Where(inputs.ContainsKey).Select(name => (name, inputs[name].Length))];

    internal float[] ReconstructionBGrad => Gradients["reconstruction_b"];

    internal float[]? IdentityAGrad => Gradients.GetValueOrDefault("identity_a");

    internal float[]? IdentityBGrad => Gradients.GetValueOrDefault("identity_b");

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
        {
            DeviceRun.Run(mode);
            return;
        }

        switch (mode)
        {
            case LossMode.Forward:
                Loss[0] = loss.Forward(reconstructionA, realA, reconstructionB, realB, identityA, identityB).Loss;
                break;
            case LossMode.Fused:
                Loss[0] = loss.ForwardBackward(reconstructionA, realA, reconstructionB, realB, InputGradient, ReconstructionBGrad, identityA, identityB,
                    IdentityAGrad, IdentityBGrad, upstream).Loss;
                break;
            default:
                loss.Backward(reconstructionA, realA, reconstructionB, realB, upstream, InputGradient, ReconstructionBGrad, identityA, identityB,
                    IdentityAGrad, IdentityBGrad);
                break;
        }
    }

    /// <summary>Each term reads its two images once and writes one gradient.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long a = realA.Length, b = realB.Length;
        long pairs = 2 * a + 2 * b + (identityA is null ? 0 : 2 * a) + (identityB is null ? 0 : 2 * b);
        long gradients = Gradients.Values.Sum(g => (long)g.Length);
        return 4L * (mode == LossMode.Forward ? pairs : pairs + gradients);
    }
}

/// <summary>A <see cref="CycleConsistencyBoundLoss"/> on an OpenCL device: rec_A and A as the run's input and target, the rest uploaded beside them.</summary>
internal sealed class OpenCLCycleConsistencyRun : OpenCLRun
{
    private readonly CycleConsistencyBoundLoss bound;
    private readonly DeviceBuffer<float> reconstructionB, realB, reconstructionBGrad;
    private readonly DeviceBuffer<float>? identityA, identityB, identityAGrad, identityBGrad;

    public OpenCLCycleConsistencyRun(CycleConsistencyBoundLoss bound, OpenCLDevice device)
        : base(device, bound.reconstructionA, bound.realA, [], [], null)
    {
        this.bound = bound;
        reconstructionB = Upload(bound.reconstructionB);
        realB = Upload(bound.realB);
        reconstructionBGrad = device.Allocate<float>(bound.realB.Length);
        identityA = bound.identityA is null ? null : Upload(bound.identityA);
        identityB = bound.identityB is null ? null : Upload(bound.identityB);
        identityAGrad = bound.identityA is null ? null : device.Allocate<float>(bound.identityA.Length);
        identityBGrad = bound.identityB is null ? null : device.Allocate<float>(bound.identityB.Length);
    }

    public override void Run(LossMode mode)
    {
        CycleConsistencyLoss loss = bound.loss;
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = loss.Forward(Input, Target, reconstructionB, realB, identityA, identityB).Loss;
                break;
            case LossMode.Fused:
                bound.Loss[0] = loss.ForwardBackward(Input, Target, reconstructionB, realB, Gradient, reconstructionBGrad, identityA, identityB, identityAGrad,
                    identityBGrad, bound.upstream).Loss;
                break;
            default:
                loss.Backward(Input, Target, reconstructionB, realB, bound.upstream, Gradient, reconstructionBGrad, identityA, identityB, identityAGrad, identityBGrad);
                break;
        }

        Device.Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        reconstructionBGrad.Download(bound.ReconstructionBGrad);
        identityAGrad?.Download(bound.IdentityAGrad!);
        identityBGrad?.Download(bound.IdentityBGrad!);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        foreach (DeviceBuffer<float>? buffer in (DeviceBuffer<float>?[])[reconstructionBGrad, identityAGrad, identityBGrad])
            Fill(buffer, value);
    }

    public override void Dispose()
    {
        base.Dispose();
        foreach (DeviceBuffer<float>? buffer in (DeviceBuffer<float>?[])[reconstructionB, realB, reconstructionBGrad, identityA, identityB, identityAGrad, identityBGrad])
            buffer?.Dispose();
    }
}
