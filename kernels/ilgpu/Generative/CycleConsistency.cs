using ILGPU;
using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.Catalog;
using LossKernels.Regression;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="CycleConsistencyLoss"/> on an engine's ILGPU memory: each term one pass of <see cref="L1Loss"/>'s item kernel
/// (<see cref="IlgpuElementwiseLoss"/>), λ folded into its gradient scale; every view checked before the first launch. A gradient may
/// be its own generated image's view; it must not overlap any other input or gradient.
/// </summary>
public static class IlgpuCycleConsistencyLoss
{
    /// <summary>Fused forward+backward: the span overload's terms and gradients.</summary>
    /// <param name="loss">The loss and its weights.</param>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="reconstructionAGrad">Receives n_A floats.</param>
    /// <param name="reconstructionBGrad">Receives n_B floats.</param>
    /// <param name="identityA">idt_A, n_A floats, or default for no identity term of A.</param>
    /// <param name="identityB">idt_B, n_B floats, or default for no identity term of B.</param>
    /// <param name="identityAGrad">Receives n_A floats when <paramref name="identityA"/> is given.</param>
    /// <param name="identityBGrad">Receives n_B floats when <paramref name="identityB"/> is given.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its weighted terms.</returns>
    public static CycleConsistencyResult ForwardBackward(this CycleConsistencyLoss loss, ArrayView<float> reconstructionA, ArrayView<float> realA,
        ArrayView<float> reconstructionB, ArrayView<float> realB, ArrayView<float> reconstructionAGrad, ArrayView<float> reconstructionBGrad,
        ArrayView<float> identityA = default, ArrayView<float> identityB = default, ArrayView<float> identityAGrad = default,
        ArrayView<float> identityBGrad = default, float upstream = 1f, AcceleratorStream? stream = null)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, true, reconstructionAGrad, reconstructionBGrad, identityAGrad, identityBGrad);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = loss.Weights();
        float a = cycleA * l1.ForwardBackward(reconstructionA, realA, reconstructionAGrad, upstream: upstream * cycleA, stream: stream);
        float b = cycleB * l1.ForwardBackward(reconstructionB, realB, reconstructionBGrad, upstream: upstream * cycleB, stream: stream);
        float idtA = ViewChecks.IsPresent(identityA)
            ? identityAWeight * l1.ForwardBackward(identityA, realA, identityAGrad, upstream: upstream * identityAWeight, stream: stream) : 0f;
        float idtB = ViewChecks.IsPresent(identityB)
            ? identityBWeight * l1.ForwardBackward(identityB, realB, identityBGrad, upstream: upstream * identityBWeight, stream: stream) : 0f;
        return CycleConsistencyLoss.Result(a, b, idtA, idtB);
    }

    /// <summary>Forward only.</summary>
    /// <param name="loss">The loss and its weights.</param>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="identityA">idt_A, n_A floats, or default.</param>
    /// <param name="identityB">idt_B, n_B floats, or default.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>L and its weighted terms.</returns>
    public static CycleConsistencyResult Forward(this CycleConsistencyLoss loss, ArrayView<float> reconstructionA, ArrayView<float> realA,
        ArrayView<float> reconstructionB, ArrayView<float> realB, ArrayView<float> identityA = default, ArrayView<float> identityB = default,
        AcceleratorStream? stream = null)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, false, default, default, default, default);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = loss.Weights();
        return CycleConsistencyLoss.Result(cycleA * l1.Forward(reconstructionA, realA, stream: stream), cycleB * l1.Forward(reconstructionB, realB, stream: stream),
            ViewChecks.IsPresent(identityA) ? identityAWeight * l1.Forward(identityA, realA, stream: stream) : 0f,
            ViewChecks.IsPresent(identityB) ? identityBWeight * l1.Forward(identityB, realB, stream: stream) : 0f);
    }

    /// <summary>Backward only (queued).</summary>
    /// <param name="loss">The loss and its weights.</param>
    /// <param name="reconstructionA">rec_A, n_A floats.</param>
    /// <param name="realA">A, n_A floats.</param>
    /// <param name="reconstructionB">rec_B, n_B floats.</param>
    /// <param name="realB">B, n_B floats.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="reconstructionAGrad">Receives n_A floats.</param>
    /// <param name="reconstructionBGrad">Receives n_B floats.</param>
    /// <param name="identityA">idt_A, n_A floats, or default.</param>
    /// <param name="identityB">idt_B, n_B floats, or default.</param>
    /// <param name="identityAGrad">Receives n_A floats when <paramref name="identityA"/> is given.</param>
    /// <param name="identityBGrad">Receives n_B floats when <paramref name="identityB"/> is given.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this CycleConsistencyLoss loss, ArrayView<float> reconstructionA, ArrayView<float> realA, ArrayView<float> reconstructionB,
        ArrayView<float> realB, float upstream, ArrayView<float> reconstructionAGrad, ArrayView<float> reconstructionBGrad, ArrayView<float> identityA = default,
        ArrayView<float> identityB = default, ArrayView<float> identityAGrad = default, ArrayView<float> identityBGrad = default, AcceleratorStream? stream = null)
    {
        Check(reconstructionA, realA, reconstructionB, realB, identityA, identityB, true, reconstructionAGrad, reconstructionBGrad, identityAGrad, identityBGrad);
        var l1 = default(L1Loss);
        (float cycleA, float cycleB, float identityAWeight, float identityBWeight) = loss.Weights();
        l1.Backward(reconstructionA, realA, upstream * cycleA, reconstructionAGrad, stream: stream);
        l1.Backward(reconstructionB, realB, upstream * cycleB, reconstructionBGrad, stream: stream);
        if (ViewChecks.IsPresent(identityA))
            l1.Backward(identityA, realA, upstream * identityAWeight, identityAGrad, stream: stream);
        if (ViewChecks.IsPresent(identityB))
            l1.Backward(identityB, realB, upstream * identityBWeight, identityBGrad, stream: stream);
    }

    /// <summary>Every view, length and overlap before the first launch.</summary>
    private static void Check(ArrayView<float> reconstructionA, ArrayView<float> realA, ArrayView<float> reconstructionB, ArrayView<float> realB,
        ArrayView<float> identityA, ArrayView<float> identityB, bool writes, ArrayView<float> reconstructionAGrad, ArrayView<float> reconstructionBGrad,
        ArrayView<float> identityAGrad, ArrayView<float> identityBGrad)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(realA, nameof(realA));
        ViewChecks.Required(realB, accelerator, -1, nameof(realB));
        long a = realA.Length, b = realB.Length;
        ViewChecks.Required(reconstructionA, accelerator, a, nameof(reconstructionA));
        ViewChecks.Required(reconstructionB, accelerator, b, nameof(reconstructionB));
        ViewChecks.Optional(identityA, accelerator, a, nameof(identityA));
        ViewChecks.Optional(identityB, accelerator, b, nameof(identityB));
        if (!writes)
            return;
        bool hasIdentityA = ViewChecks.IsPresent(identityA), hasIdentityB = ViewChecks.IsPresent(identityB);
        ViewChecks.Destination(reconstructionAGrad, accelerator, a, nameof(reconstructionAGrad));
        ViewChecks.Destination(reconstructionBGrad, accelerator, b, nameof(reconstructionBGrad));
        if (hasIdentityA)
            ViewChecks.Destination(identityAGrad, accelerator, a, nameof(identityAGrad));
        if (hasIdentityB)
            ViewChecks.Destination(identityBGrad, accelerator, b, nameof(identityBGrad));
        Disjoint(reconstructionAGrad, a, 0, reconstructionA, reconstructionB, hasIdentityA ? identityA : default, hasIdentityB ? identityB : default,
            reconstructionAGrad, reconstructionBGrad, hasIdentityA ? identityAGrad : default, hasIdentityB ? identityBGrad : default, realA, realB);
        Disjoint(reconstructionBGrad, b, 1, reconstructionA, reconstructionB, hasIdentityA ? identityA : default, hasIdentityB ? identityB : default,
            reconstructionAGrad, reconstructionBGrad, hasIdentityA ? identityAGrad : default, hasIdentityB ? identityBGrad : default, realA, realB);
        if (hasIdentityA)
            Disjoint(identityAGrad, a, 2, reconstructionA, reconstructionB, identityA, hasIdentityB ? identityB : default,
                reconstructionAGrad, reconstructionBGrad, identityAGrad, hasIdentityB ? identityBGrad : default, realA, realB);
        if (hasIdentityB)
            Disjoint(identityBGrad, b, 3, reconstructionA, reconstructionB, hasIdentityA ? identityA : default, identityB,
                reconstructionAGrad, reconstructionBGrad, hasIdentityA ? identityAGrad : default, identityBGrad, realA, realB);
    }

    /// <summary>
    /// The gradient of term <paramref name="term"/> (its first <paramref name="length"/> elements) may be its own image's memory; it
    /// must share nothing with the real images, the other generated images or the other gradients (absent ones are default).
    /// </summary>
    private static void Disjoint(ArrayView<float> gradient, long length, int term, ArrayView<float> reconstructionA, ArrayView<float> reconstructionB,
        ArrayView<float> identityA, ArrayView<float> identityB, ArrayView<float> reconstructionAGrad, ArrayView<float> reconstructionBGrad,
        ArrayView<float> identityAGrad, ArrayView<float> identityBGrad, ArrayView<float> realA, ArrayView<float> realB)
    {
        string name = CycleConsistencyLoss.GradientNames[term];
        ViewChecks.IfOverlaps(realA, realA.Length, gradient, length, name, nameof(realA));
        ViewChecks.IfOverlaps(realB, realB.Length, gradient, length, name, nameof(realB));
        for (int other = 0; other < 4; other++)
        {
            ArrayView<float> image = other switch { 0 => reconstructionA, 1 => reconstructionB, 2 => identityA, _ => identityB };
            if (other == term)
            {
                ViewChecks.IfPartialOverlap(image, gradient, length, name);
                continue;
            }

            ArrayView<float> otherGradient = other switch { 0 => reconstructionAGrad, 1 => reconstructionBGrad, 2 => identityAGrad, _ => identityBGrad };
            ViewChecks.IfOverlaps(image, image.Length, gradient, length, name, CycleConsistencyLoss.GeneratedNames[other]);
            ViewChecks.IfOverlaps(otherGradient, image.Length, gradient, length, name, CycleConsistencyLoss.GradientNames[other]);
        }
    }
}

/// <summary>A <see cref="CycleConsistencyBoundLoss"/> on an ILGPU accelerator: rec_A and A as the run's input and target, the rest uploaded beside them.</summary>
internal sealed class IlgpuCycleConsistencyRun : IlgpuRun
{
    private readonly CycleConsistencyBoundLoss bound;
    private readonly ArrayView<float> reconstructionB, realB, reconstructionBGrad, identityA, identityB, identityAGrad, identityBGrad;

    public IlgpuCycleConsistencyRun(CycleConsistencyBoundLoss bound, IlgpuDevice device)
        : base(device, bound.reconstructionA, bound.realA, [], [], null)
    {
        this.bound = bound;
        reconstructionB = Upload(bound.reconstructionB);
        realB = Upload(bound.realB);
        reconstructionBGrad = Allocate<float>(bound.realB.Length);
        identityA = bound.identityA is null ? default : Upload(bound.identityA);
        identityB = bound.identityB is null ? default : Upload(bound.identityB);
        identityAGrad = bound.identityA is null ? default : Allocate<float>(bound.identityA.Length);
        identityBGrad = bound.identityB is null ? default : Allocate<float>(bound.identityB.Length);
        device.Accelerator.Synchronize();
    }

    public override void Run(LossMode mode)
    {
        CycleConsistencyLoss loss = bound.loss;
        switch (mode)
        {
            case LossMode.Forward:
                bound.Loss[0] = loss.Forward(Input, Target, reconstructionB, realB, identityA, identityB, Stream).Loss;
                break;
            case LossMode.Fused:
                bound.Loss[0] = loss.ForwardBackward(Input, Target, reconstructionB, realB, Gradient, reconstructionBGrad, identityA, identityB, identityAGrad,
                    identityBGrad, bound.upstream, Stream).Loss;
                break;
            default:
                loss.Backward(Input, Target, reconstructionB, realB, bound.upstream, Gradient, reconstructionBGrad, identityA, identityB, identityAGrad,
                    identityBGrad, Stream);
                break;
        }

        Finish();
    }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        base.Fetch(loss, gradient, null, null);
        reconstructionBGrad.CopyToCPU(bound.ReconstructionBGrad);
        if (bound.IdentityAGrad is float[] a)
            identityAGrad.CopyToCPU(a);
        if (bound.IdentityBGrad is float[] b)
            identityBGrad.CopyToCPU(b);
    }

    public override void Poison(float value)
    {
        base.Poison(value);
        foreach (ArrayView<float> view in (ArrayView<float>[])[reconstructionBGrad, identityAGrad, identityBGrad])
            Fill(view, value);

        Device.Accelerator.Synchronize();
    }
}
