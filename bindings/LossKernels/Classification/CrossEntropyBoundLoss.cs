using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>
/// <see cref="CrossEntropyLoss"/> (or, on log-probabilities, <see cref="NllLoss"/>) bound for the catalog: <c>input</c> [N, C] logits, <c>target</c> [N] int64 class
/// indices or [N, C] float probabilities, optional <c>weight</c> [C]; PyTorch's parameters; on the CPU or on an OpenCL device.
/// </summary>
internal sealed class CrossEntropyBoundLoss : BoundLoss
{
    internal readonly CrossEntropyLoss loss;
    internal readonly NllLoss? negativeLogLikelihood;
    internal readonly SoftmaxFocalLoss? focal;
    internal readonly Reduction reduction;
    internal readonly float[] logits;
    internal readonly long[] target;
    internal readonly float[]? softTarget;
    /// <summary>N·D: the positions with a loss each (N rows of an [N, C] input).</summary>
    internal readonly int rows;

    /// <summary>D = d1·d2·… of an [N, C, d1, …] input; 1 for [N, C].</summary>
    internal readonly int spatial;
    internal readonly int classes;
    internal readonly float[] weight;
    internal readonly float upstreamScalar;
    internal readonly float[] upstreamRows;

    /// <param name="parameters">PyTorch's parameters.</param>
    /// <param name="inputs">input, target, weight.</param>
    /// <param name="upstream">The upstream gradient.</param>
    /// <param name="device">Null for the CPU, else the OpenCL device.</param>
    /// <param name="logProbabilities">Bind <c>nll_loss</c>: the input holds log-probabilities and targets are indices.</param>
    /// <param name="softmaxFocal">Bind <c>softmax_focal_loss</c> (alpha, gamma).</param>
    public CrossEntropyBoundLoss(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream, LossDevice? device,
        bool logProbabilities = false, bool softmaxFocal = false)
        : base(parameters.Reduction() == Reduction.None ? PositionShape(inputs["input"].Shape) : [], inputs["input"].Length,
            secondInputName: parameters.Bool("target_grad", false) ? "target" : null)
    {
        long ignoreIndex = parameters.Integer("ignore_index", ClassTargets.DefaultIgnoreIndex);
        bool plain = !logProbabilities && !softmaxFocal;
        loss = plain ? new CrossEntropyLoss(ignoreIndex, parameters.Float("label_smoothing", 0f), parameters.Float("lse_square_scale", 0f)) : default;
        negativeLogLikelihood = logProbabilities ? new NllLoss(ignoreIndex) : null;
        focal = softmaxFocal ? new SoftmaxFocalLoss(parameters.Float("alpha", 0.25f), parameters.Float("gamma", 2f), ignoreIndex) : null;
        reduction = parameters.Reduction();
        LossTensor input = inputs["input"];
        if (input.Shape.Length < 2 || (!plain && input.Shape.Length != 2))
            throw new ArgumentException($"{(plain ? "cross_entropy takes input [N, C] or [N, C, d1, …]" : "this loss takes input [N, C]")} here, got [{string.Join(", ", input.Shape)}].", "input");
        logits = input.RequireFloats("input");
        classes = input.Shape[1];
        spatial = input.Shape[2..].Aggregate(1, (a, b) => a * b);
        rows = input.Shape[0] * spatial;
        LossTensor targets = inputs["target"];
        softTarget = targets.Floats;
        target = softTarget is null ? targets.RequireIntegers("target") : [];
        if (!plain && softTarget is not null)
            throw new ArgumentException("this loss takes class indices, not probabilities.", "target");
        if (WritesTarget && softTarget is null)
            throw new ArgumentException("target_grad needs probability targets: class indices have no gradient.", "target_grad");
        if (softTarget is not null ? !targets.Shape.SequenceEqual(input.Shape) : !targets.Shape.SequenceEqual(PositionShape(input.Shape)))
            throw new ArgumentException($"target [{string.Join(", ", targets.Shape)}] fits neither [N, d…] class indices nor probabilities shaped like input [{string.Join(", ", input.Shape)}].", "target");
        weight = inputs.TryGetValue("weight", out LossTensor? w) ? w.RequireFloats("weight") : [];
        (upstreamScalar, upstreamRows) = CatalogUpstream.Split(upstream, reduction, rows);
        Place(device, device?.CrossEntropy(this));
    }

    /// <summary>Whether fused and backward runs write the probability targets' gradient (<c>target_grad</c>): a pass of its own after the logits'.</summary>
    internal bool WritesTarget => SecondGradient is not null;

    public override void Run(LossMode mode)
    {
        if (DeviceRun is not null)
            DeviceRun.Run(mode);
        else
            RunOnCpu(mode);
    }

    private void RunOnCpu(LossMode mode)
    {
        if (focal is SoftmaxFocalLoss softmaxFocal)
        {
            switch (mode, reduction)
            {
                case (LossMode.Forward, Reduction.None):
                    softmaxFocal.ForwardBackward(logits, target, Loss, InputGradient, upstreamRows, weight);
                    break;
                case (LossMode.Forward, _):
                    Loss[0] = softmaxFocal.Forward(logits, target, reduction, weight);
                    break;
                case (_, Reduction.None):
                    softmaxFocal.ForwardBackward(logits, target, Loss, InputGradient, upstreamRows, weight);
                    break;
                case (LossMode.Fused, _):
                    Loss[0] = softmaxFocal.ForwardBackward(logits, target, InputGradient, reduction, weight, upstreamScalar);
                    break;
                default:
                    softmaxFocal.Backward(logits, target, upstreamScalar, InputGradient, reduction, weight);
                    break;
            }

            return;
        }

        if (negativeLogLikelihood is NllLoss nll)
        {
            switch (mode, reduction)
            {
                case (LossMode.Forward, Reduction.None):
                    nll.Forward(logits, target, Loss, weight);
                    break;
                case (LossMode.Forward, _):
                    Loss[0] = nll.Forward(logits, target, reduction, weight);
                    break;
                case (_, Reduction.None):
                    nll.ForwardBackward(logits, target, Loss, InputGradient, upstreamRows, weight);
                    break;
                case (LossMode.Fused, _):
                    Loss[0] = nll.ForwardBackward(logits, target, InputGradient, reduction, weight, upstreamScalar);
                    break;
                default:
                    nll.Backward(logits, target, upstreamScalar, InputGradient, reduction, weight);
                    break;
            }

            return;
        }

        if (softTarget is not null)
        {
            RunSoftOnCpu(mode, softTarget);
            return;
        }

        switch (mode, reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(logits, target, Loss, weight, spatial);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(logits, target, reduction, weight, spatial);
                break;
            case (LossMode.Fused, Reduction.None):
                loss.ForwardBackward(logits, target, Loss, InputGradient, upstreamRows, weight, spatial);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(logits, target, InputGradient, reduction, weight, upstreamScalar, spatial);
                break;
            case (_, Reduction.None):
                loss.Backward(logits, target, upstreamRows, InputGradient, weight, spatial);
                break;
            default:
                loss.Backward(logits, target, upstreamScalar, InputGradient, reduction, weight, spatial);
                break;
        }
    }

    private void RunSoftOnCpu(LossMode mode, float[] probabilities)
    {
        switch (mode, reduction)
        {
            case (LossMode.Forward, Reduction.None):
                loss.Forward(logits, probabilities, classes, Loss, weight, spatial);
                break;
            case (LossMode.Forward, _):
                Loss[0] = loss.Forward(logits, probabilities, classes, reduction, weight, spatial);
                break;
            case (_, Reduction.None):
                loss.ForwardBackward(logits, probabilities, classes, Loss, InputGradient, upstreamRows, weight, spatial);
                break;
            case (LossMode.Fused, _):
                Loss[0] = loss.ForwardBackward(logits, probabilities, classes, InputGradient, reduction, weight, upstreamScalar, spatial);
                break;
            default:
                loss.Backward(logits, probabilities, classes, upstreamScalar, InputGradient, reduction, weight, spatial);
                break;
        }

        if (mode == LossMode.Forward || SecondGradient is null)
            return;
        if (reduction == Reduction.None)
            loss.TargetBackward(logits, probabilities, classes, upstreamRows, SecondGradient, weight, spatial);
        else
            loss.TargetBackward(logits, probabilities, classes, upstreamScalar, SecondGradient, reduction, weight, spatial);
    }

    /// <summary>[N, d1, …]: the shape of the per-position losses of an [N, C, d1, …] input.</summary>
    /// <summary>[N, d1, …] of an [N, C, d1, …] input; empty for fewer dimensions, which the constructor then rejects.</summary>
    private static int[] PositionShape(int[] inputShape) => inputShape.Length < 2 ? [] : [inputShape[0], .. inputShape[2..]];

    /// <summary>Logits and targets (indices or probabilities) are read once, the gradient written once; row losses for 'none'.</summary>
    public override long BytesMoved(LossMode mode)
    {
        long n = logits.Length;
        // nll_loss reads one value per row (and its target); cross entropy reads every logit.
        if (negativeLogLikelihood is not null)
            return 12L * rows + (reduction == Reduction.None ? 4L * rows : 0) + (mode == LossMode.Forward ? 0 : 4 * n);
        long read = 4 * n + (softTarget is null ? 8L * rows : 4 * n);
        long rowOutput = reduction == Reduction.None ? 4L * rows : 0;
        return mode == LossMode.Forward ? read + rowOutput : read + (WritesTarget ? 8 : 4) * n + rowOutput;
    }
}

/// <summary>A <see cref="CrossEntropyBoundLoss"/> on an OpenCL device: logits, class indices or probabilities uploaded once.</summary>
internal sealed class OpenCLCrossEntropyRun(CrossEntropyBoundLoss bound, OpenCLDevice device)
    : OpenCLRun(device, bound.logits, bound.softTarget ?? [], bound.weight, bound.upstreamRows, bound.reduction == Reduction.None ? bound.rows : null,
        bound.WritesTarget, classes: bound.softTarget is null ? bound.target : null)
{
    /// <summary>On the device an unreduced backward is the fused call (it writes the row losses into the output buffer it has).</summary>
    public override void Run(LossMode mode)
    {
        if (bound.focal is SoftmaxFocalLoss softmaxFocal)
            RunFocal(softmaxFocal, mode, Classes!);
        else if (bound.negativeLogLikelihood is NllLoss nll)
            RunNll(nll, mode, Classes!);
        else if (bound.softTarget is not null)
            RunSoft(mode);
        else
            RunHard(mode, Classes!);
        Device.Finish();
    }

    private void RunFocal(SoftmaxFocalLoss softmaxFocal, LossMode mode, DeviceBuffer<long> t)
    {
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                softmaxFocal.ForwardBackward(Input, t, Output!, null, null, Weight);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = softmaxFocal.Forward(Input, t, bound.reduction, Weight);
                break;
            case (_, Reduction.None):
                softmaxFocal.ForwardBackward(Input, t, Output!, Gradient, Upstream, Weight);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = softmaxFocal.ForwardBackward(Input, t, Gradient, bound.reduction, Weight, bound.upstreamScalar);
                break;
            default:
                softmaxFocal.Backward(Input, t, bound.upstreamScalar, Gradient, bound.reduction, Weight);
                break;
        }
    }

    private void RunNll(NllLoss nll, LossMode mode, DeviceBuffer<long> t)
    {
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                nll.ForwardBackward(Input, t, Output!, null, null, Weight);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = nll.Forward(Input, t, bound.reduction, Weight);
                break;
            case (_, Reduction.None):
                nll.ForwardBackward(Input, t, Output!, Gradient, Upstream, Weight);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = nll.ForwardBackward(Input, t, Gradient, bound.reduction, Weight, bound.upstreamScalar);
                break;
            default:
                nll.Backward(Input, t, bound.upstreamScalar, Gradient, bound.reduction, Weight);
                break;
        }
    }

    private void RunSoft(LossMode mode)
    {
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                bound.loss.ForwardBackward(Input, Target, bound.classes, Output!, null, null, Weight, bound.spatial);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = bound.loss.Forward(Input, Target, bound.classes, bound.reduction, Weight, bound.spatial);
                break;
            case (_, Reduction.None):
                bound.loss.ForwardBackward(Input, Target, bound.classes, Output!, Gradient, Upstream, Weight, bound.spatial);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = bound.loss.ForwardBackward(Input, Target, bound.classes, Gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial);
                break;
            default:
                bound.loss.Backward(Input, Target, bound.classes, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.spatial);
                break;
        }

        if (mode == LossMode.Forward || TargetGradient is null)
            return;
        if (bound.reduction == Reduction.None)
            bound.loss.TargetBackward(Input, Target, bound.classes, Upstream!, TargetGradient, Weight, bound.spatial);
        else
            bound.loss.TargetBackward(Input, Target, bound.classes, bound.upstreamScalar, TargetGradient, bound.reduction, Weight, bound.spatial);
    }

    private void RunHard(LossMode mode, DeviceBuffer<long> t)
    {
        switch (mode, bound.reduction)
        {
            case (LossMode.Forward, Reduction.None):
                bound.loss.Forward(Input, t, Output!, Weight, bound.spatial);
                break;
            case (LossMode.Forward, _):
                bound.Loss[0] = bound.loss.Forward(Input, t, bound.reduction, Weight, bound.spatial);
                break;
            case (_, Reduction.None):
                bound.loss.ForwardBackward(Input, t, Output!, Gradient, Upstream, Weight, bound.spatial);
                break;
            case (LossMode.Fused, _):
                bound.Loss[0] = bound.loss.ForwardBackward(Input, t, Gradient, bound.reduction, Weight, bound.upstreamScalar, bound.spatial);
                break;
            default:
                bound.loss.Backward(Input, t, bound.upstreamScalar, Gradient, bound.reduction, Weight, bound.spatial);
                break;
        }
    }
}
