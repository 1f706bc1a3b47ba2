using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="CrossEntropyLoss"/> on an engine's ILGPU memory: int64 class indices or probability targets, [N, C] or [N, C, d…],
/// weights, smoothing, z-loss, in place. A check launch first (a bad target throws, named by its first position, before any output
/// is written), then a work-group per row of 64 classes or more (the CPU driver's three sweeps, in shared-memory sums) or a thread
/// per position; the row math is the CPU's (<see cref="CrossEntropyRowMath"/>), row losses added on the host in index order.
/// </summary>
/// <remarks>
/// The same formulas, reductions and checks as the span overloads, with these differences: the mean over soft targets divides by
/// N·D; the smoothing term's Σ_c (ε/C)·w_c is summed on the device with the row (the CPU takes it from the weights once); ln Σe is
/// computed in double by the device's own functions (<see cref="DeviceRowFunctions"/>), within a few ulp of the runtime's. Reduced
/// calls wait for the stream; every call with class indices waits for its check.
/// </remarks>
public static class IlgpuCrossEntropyLoss
{
    /// <summary>Forward only, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="target">N (or N·D) int64 class indices.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (over Σ w_y) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D = d1·d2·… for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<long> target, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream) { Target = target, ClassWeight = weight, Spatial = spatialSize, Reduction = reduction }.Run();

    /// <summary>Forward only, unreduced: queues the N·D position losses into <paramref name="output"/>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="target">N (or N·D) int64 class indices.</param>
    /// <param name="output">Receives the position losses.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Forward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> output, ArrayView<float> weight = default,
        int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream) { Target = target, ClassWeight = weight, Output = output, Spatial = spatialSize, Reduction = Reduction.None }.Run();

    /// <summary>Fused forward+backward, reduced: returns L and writes <c>logitsGrad = ∂(upstream·L)/∂logits</c>.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="target">N (or N·D) int64 class indices.</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float upstream = 1f, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream)
        {
            Target = target, ClassWeight = weight, Gradient = logitsGrad, Spatial = spatialSize, Reduction = reduction, UpstreamScalar = upstream,
        }.Run();

    /// <summary>Fused forward+backward, unreduced: the position losses and the gradient of Σ upstream·ℓ.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="target">N (or N·D) int64 class indices.</param>
    /// <param name="output">Receives the position losses.</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">One upstream gradient per position, or default for ones.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<long> target, ArrayView<float> output, ArrayView<float> logitsGrad,
        ArrayView<float> upstream = default, ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream)
        {
            Target = target, ClassWeight = weight, Output = output, Gradient = logitsGrad, Upstream = upstream, Spatial = spatialSize, Reduction = Reduction.None,
        }.Run();

    /// <summary>Backward only, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="target">N (or N·D) int64 class indices.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<long> target, float upstream, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream)
        {
            Target = target, ClassWeight = weight, Gradient = logitsGrad, Spatial = spatialSize, Reduction = reduction, UpstreamScalar = upstream, GradientOnly = true,
        }.Run();

    /// <summary>Probability targets, fused and reduced (the mean divides by the N·D positions).</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="targetProbabilities">As many target probabilities.</param>
    /// <param name="classes">C.</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float ForwardBackward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<float> targetProbabilities, int classes, ArrayView<float> logitsGrad,
        Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, float upstream = 1f, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream)
        {
            SoftTarget = targetProbabilities, SoftClasses = classes, ClassWeight = weight, Gradient = logitsGrad, Spatial = spatialSize, Reduction = reduction,
            UpstreamScalar = upstream,
        }.Run();

    /// <summary>Probability targets, forward only, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="targetProbabilities">As many target probabilities.</param>
    /// <param name="classes">C.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <returns>The reduced loss.</returns>
    public static float Forward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<float> targetProbabilities, int classes, Reduction reduction = Reduction.Mean,
        ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream)
        {
            SoftTarget = targetProbabilities, SoftClasses = classes, ClassWeight = weight, Spatial = spatialSize, Reduction = reduction,
        }.Run();

    /// <summary>Probability targets, unreduced: the position losses, and the gradient when <paramref name="logitsGrad"/> is given.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="targetProbabilities">As many target probabilities.</param>
    /// <param name="classes">C.</param>
    /// <param name="output">Receives the position losses.</param>
    /// <param name="logitsGrad">Receives the gradient, or default; may be <paramref name="logits"/> itself.</param>
    /// <param name="upstream">One upstream gradient per position, or default for ones.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void ForwardBackward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<float> targetProbabilities, int classes, ArrayView<float> output,
        ArrayView<float> logitsGrad, ArrayView<float> upstream = default, ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream)
        {
            SoftTarget = targetProbabilities, SoftClasses = classes, ClassWeight = weight, Output = output, Gradient = logitsGrad, Upstream = upstream,
            Spatial = spatialSize, Reduction = Reduction.None,
        }.Run();

    /// <summary>Probability targets, backward only, reduced.</summary>
    /// <param name="loss">The loss and its hyperparameters.</param>
    /// <param name="logits">N·C (or N·C·D) logits.</param>
    /// <param name="targetProbabilities">As many target probabilities.</param>
    /// <param name="classes">C.</param>
    /// <param name="upstream">∂objective/∂L.</param>
    /// <param name="logitsGrad">Receives the gradient; may be <paramref name="logits"/> itself.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">C class weights, or default for none.</param>
    /// <param name="spatialSize">D for an [N, C, d1, …] input; 1 for [N, C].</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(this CrossEntropyLoss loss, ArrayView<float> logits, ArrayView<float> targetProbabilities, int classes, float upstream,
        ArrayView<float> logitsGrad, Reduction reduction = Reduction.Mean, ArrayView<float> weight = default, int spatialSize = 1, AcceleratorStream? stream = null) =>
        new RowCall(loss, logits, stream)
        {
            SoftTarget = targetProbabilities, SoftClasses = classes, ClassWeight = weight, Gradient = logitsGrad, Spatial = spatialSize, Reduction = reduction,
            UpstreamScalar = upstream, GradientOnly = true,
        }.Run();
}

/// <summary>
/// One call of the cross-entropy family on ILGPU (cross entropy with indices or probabilities, softmax focal, distribution focal): what
/// it was given, then <see cref="Run"/>, the one path that checks it, launches the checks and the rows, and reduces. A value type on the
/// stack: making one allocates nothing.
/// </summary>
internal ref struct RowCall(CrossEntropyLoss loss, ArrayView<float> logits, AcceleratorStream? stream)
{
    public ArrayView<long> Target;
    public ArrayView<float> SoftTarget;
    public int SoftClasses;

    /// <summary>
    /// Distribution focal labels, with per-row <see cref="RowWeight"/> and the mean's <see cref="DivisorOverride"/>; with class
    /// indices, <see cref="RowWeight"/> is the pixel-weighted cross entropy's per-position weight (it scales the target's share).
    /// </summary>
    public ArrayView<float> Labels;
    public ArrayView<float> RowWeight;
    public double? DivisorOverride;
    public ArrayView<float> ClassWeight;
    public ArrayView<float> Upstream;
    public ArrayView<float> Output;
    public ArrayView<float> Gradient;
    public int Spatial = 1;
    public Reduction Reduction = Reduction.Mean;
    public float UpstreamScalar = 1f;

    /// <summary>A backward call: the loss is computed (it shares the sweeps) but not returned.</summary>
    public bool GradientOnly;
    public (float Alpha, float Gamma)? Focal;

    public readonly float Run()
    {
        loss.Validate();
        if (Spatial <= 0)
            ThrowHelper.OutOfRange("spatialSize", Spatial, "> 0");
        Accelerator accelerator = ViewChecks.AcceleratorOf(logits, nameof(logits));
        long n = logits.Length;
        int rows, classes;
        if (ViewChecks.IsPresent(Labels))
        {
            ViewChecks.Required(Labels, accelerator, -1, "label");
            rows = Labels.IntLength;
            if (rows == 0 ? n != 0 : n % rows != 0)
                ThrowHelper.Argument(nameof(logits), $"logits hold {n} values, not a whole number of rows for {rows} labels.");
            classes = rows == 0 ? 1 : (int)(n / rows);
            ViewChecks.Optional(RowWeight, accelerator, rows, "weight");
        }
        else if (ViewChecks.IsPresent(SoftTarget))
        {
            if (SoftClasses <= 0)
                ThrowHelper.OutOfRange("classes", SoftClasses, "> 0");
            if (n % ((long)SoftClasses * Spatial) != 0)
                ThrowHelper.Argument(nameof(logits), $"logits hold {n} values, not a whole number of [{SoftClasses}, {Spatial}] samples.");
            ViewChecks.Required(SoftTarget, accelerator, n, "targetProbabilities");
            (rows, classes) = (checked((int)(n / SoftClasses)), SoftClasses);
        }
        else
        {
            ViewChecks.Required(Target, accelerator, -1, "target");
            rows = Target.IntLength;
            ViewChecks.Optional(RowWeight, accelerator, rows, "pixelWeight");
            if (rows % Spatial != 0)
                ThrowHelper.Argument("target", $"target holds {rows} indices, not a whole number of samples of {Spatial} positions.");
            if (rows == 0 ? n != 0 : n % rows != 0)
                ThrowHelper.Argument(nameof(logits), $"logits hold {n} values, not a whole number of rows for {rows} targets.");
            classes = rows == 0 ? 0 : checked((int)(n / rows));
            if (rows > 0 && classes == 0)
                ThrowHelper.Argument(nameof(logits), "logits are empty but there are targets: C must be at least 1.");
        }

        ViewChecks.Optional(ClassWeight, accelerator, classes, "weight");
        ViewChecks.Optional(Upstream, accelerator, rows, "upstream");
        bool storeLoss = ViewChecks.IsPresent(Output), storeGradient = ViewChecks.IsPresent(Gradient);
        if (storeGradient)
        {
            ViewChecks.Destination(Gradient, accelerator, n, "logitsGrad");
            ViewChecks.IfPartialOverlap(logits, Gradient, n, "logitsGrad");
            ViewChecks.IfOverlaps(SoftTarget, SoftTarget.Length, Gradient, n, "logitsGrad", "targetProbabilities");
            ViewChecks.IfOverlaps(Labels, Labels.Length, Gradient, n, "logitsGrad", "label");
            ViewChecks.IfOverlaps(Target, Target.Length, Gradient, n, "logitsGrad", "target");
            ViewChecks.IfOverlaps(ClassWeight, ClassWeight.Length, Gradient, n, "logitsGrad", "weight");
            ViewChecks.IfOverlaps(RowWeight, RowWeight.Length, Gradient, n, "logitsGrad", "weight");
            ViewChecks.IfOverlaps(Upstream, Upstream.Length, Gradient, n, "logitsGrad", "upstream");
        }

        if (storeLoss)
        {
            ViewChecks.Destination(Output, accelerator, rows, "output");
            ViewChecks.IfOverlaps(logits, n, Output, rows, "output", nameof(logits));
            ViewChecks.IfOverlaps(Gradient, n, Output, rows, "output", "logitsGrad");
            ViewChecks.IfOverlaps(Upstream, Upstream.Length, Output, rows, "output", "upstream");
        }

        if (Reduction == Reduction.None && !storeLoss)
            ThrowHelper.Argument("reduction", "Reduction.None returns one loss per row: use the overload that takes an output view.");
        if (Reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            ThrowHelper.OutOfRange("reduction", (int)Reduction, "a defined Reduction");

        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
        {
            double divisor = Reduction == Reduction.Mean ? DivisorOverride ?? rows : 1d;
            if (ViewChecks.IsPresent(Target) && rows > 0)
            {
                double kept = RowChecks.CheckTargets(state, queue, Target, Focal is null ? ClassWeight : default, classes, loss.IgnoreIndex, Focal is not null);
                if (Reduction == Reduction.Mean)
                    divisor = DivisorOverride ?? kept;
            }
            else if (ViewChecks.IsPresent(Target) && Reduction == Reduction.Mean)
            {
                divisor = 0d;
            }

            if (ViewChecks.IsPresent(Labels) && rows > 0)
                RowChecks.CheckLabels(state, queue, Labels, classes);
            if (rows == 0)
                return Reduction == Reduction.None || GradientOnly ? 0f : (float)(0d / divisor);
            var views = new RowViews(logits, Target, SoftTarget, Labels, RowWeight, ClassWeight, Upstream, Output, Gradient, rows, classes, Spatial,
                loss.IgnoreIndex, loss.LabelSmoothing, loss.LseSquareScale, (float)(UpstreamScalar / divisor), Focal?.Alpha ?? 0f, Focal?.Gamma ?? 0f, Focal is not null);
            bool reduce = Reduction != Reduction.None && !GradientOnly;
            double sum = RowKernel.Launch(state, queue, new CrossEntropyRows(views), reduce, threadPerRow: Spatial > 1);
            return reduce ? (float)(sum / divisor) : 0f;
        }
    }
}
