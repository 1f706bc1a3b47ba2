using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary>What a cross-entropy call's rows read and write; set per call, the same for every thread.</summary>
[Flags]
internal enum RowFlags
{
    None = 0,

    /// <summary>Probability targets (<see cref="RowViews.SoftTarget"/>), none ignored.</summary>
    Soft = 1,

    /// <summary>Continuous labels (distribution focal loss, <see cref="RowViews.Labels"/>), none ignored.</summary>
    Continuous = 2,
    ClassWeighted = 4,
    RowWeighted = 8,
    HasUpstream = 16,
    StoreLoss = 32,
    StoreGradient = 64,

    /// <summary>Softmax focal loss: the row loss and the target's share through <see cref="CrossEntropyRowMath.Focus{TFunctions}"/>.</summary>
    Focal = 128,
}

/// <summary>
/// The views and parameters of one call of the cross-entropy family (absent views default): N·D positions of C classes, the
/// class axis D apart (D = 1 for [N, C] rows).
/// </summary>
internal readonly struct RowViews
{
    public readonly ArrayView<float> Logits;
    public readonly ArrayView<long> Target;
    public readonly ArrayView<float> SoftTarget;
    public readonly ArrayView<float> Labels;
    public readonly ArrayView<float> RowWeight;
    public readonly ArrayView<float> ClassWeight;
    public readonly ArrayView<float> Upstream;
    public readonly ArrayView<float> Output;
    public readonly ArrayView<float> Gradient;
    public readonly int Positions;
    public readonly int Classes;
    public readonly int Spatial;
    public readonly long IgnoreIndex;
    public readonly float Smoothing;
    public readonly float LseSquareScale;
    public readonly float GradientScale;
    public readonly float FocalAlpha;
    public readonly float FocalGamma;
    public readonly RowFlags Flags;

    public RowViews(ArrayView<float> logits, ArrayView<long> target, ArrayView<float> softTarget, ArrayView<float> labels, ArrayView<float> rowWeight,
        ArrayView<float> classWeight, ArrayView<float> upstream, ArrayView<float> output, ArrayView<float> gradient, int positions, int classes, int spatial,
        long ignoreIndex, float smoothing, float lseSquareScale, float gradientScale, float focalAlpha, float focalGamma, bool focal)
    {
        Logits = logits;
        Target = target;
        SoftTarget = softTarget;
        Labels = labels;
        RowWeight = rowWeight;
        ClassWeight = classWeight;
        Upstream = upstream;
        Output = output;
        Gradient = gradient;
        Positions = positions;
        Classes = classes;
        Spatial = spatial;
        IgnoreIndex = ignoreIndex;
        Smoothing = smoothing;
        LseSquareScale = lseSquareScale;
        GradientScale = gradientScale;
        FocalAlpha = focalAlpha;
        FocalGamma = focalGamma;
        Flags = (ViewChecks.IsPresent(softTarget) ? RowFlags.Soft : RowFlags.None)
            | (ViewChecks.IsPresent(labels) ? RowFlags.Continuous : RowFlags.None)
            | (ViewChecks.IsPresent(classWeight) ? RowFlags.ClassWeighted : RowFlags.None)
            | (ViewChecks.IsPresent(rowWeight) ? RowFlags.RowWeighted : RowFlags.None)
            | (ViewChecks.IsPresent(upstream) ? RowFlags.HasUpstream : RowFlags.None)
            | (ViewChecks.IsPresent(output) ? RowFlags.StoreLoss : RowFlags.None)
            | (ViewChecks.IsPresent(gradient) ? RowFlags.StoreGradient : RowFlags.None)
            | (focal ? RowFlags.Focal : RowFlags.None);
    }

    public bool Has(RowFlags flag) => (Flags & flag) != 0;

    /// <summary>Where position <paramref name="i"/>'s logit of class 0 is: i·C for rows, n·C·D + s for [N, C, D].</summary>
    public long Offset(long i)
    {
        if (Spatial == 1)
            return i * Classes;
        long sample = i / Spatial;
        return sample * Classes * Spatial + (i - sample * Spatial);
    }

    /// <summary>
    /// Position <paramref name="i"/>'s target (<see cref="RowTarget"/>, as the CPU driver reads it); false for an ignored row. A class
    /// index outside [0, C) counts as ignored here, so that no thread reads out of bounds: the check launch has reported it already.
    /// </summary>
    public bool TargetOf(long i, out RowTarget target)
    {
        if (Has(RowFlags.Soft))
        {
            target = RowTarget.None;
            return true;
        }

        if (Has(RowFlags.Continuous))
        {
            target = RowTarget.Continuous(Labels[i], Has(RowFlags.RowWeighted) ? RowWeight[i] : 1f, Classes);
            return true;
        }

        long y = Target[i];
        bool kept = y != IgnoreIndex && y >= 0 && y < Classes;
        float weight = kept ? Has(RowFlags.ClassWeighted) ? ClassWeight[y] : 1f : 0f;
        target = RowTarget.Hard(y, Has(RowFlags.RowWeighted) ? weight * RowWeight[i] : weight, Smoothing);
        return kept;
    }

    /// <summary>a_c of class c at a position whose logits start at <paramref name="offset"/> (<see cref="CrossEntropyRowMath.ClassShare{TVec, TMath}"/>).</summary>
    public float Share(long offset, int c)
    {
        bool weighted = Has(RowFlags.ClassWeighted), soft = Has(RowFlags.Soft);
        return CrossEntropyRowMath.ClassShare<float, IlgpuMath>(weighted ? ClassWeight[c] : 0f, soft ? SoftTarget[offset + (long)c * Spatial] : 0f, weighted, soft,
            1f - Smoothing, Smoothing / Classes);
    }
}

/// <summary>
/// The cross-entropy family's row, written once for a work-group per row and for a thread per position: the CPU driver's three
/// sweeps (max and Σ a_c·x_c, e_c = exp(x_c − max) into the gradient with their sum, the gradient from the e_c in place), each
/// thread taking the classes <c>first, first + step, …</c>, its float sums added into double every <see cref="FlushTerms"/>
/// terms (as the SIMD lanes every 4,096 classes), the row's values combined by an <see cref="IRowReduce"/>; the row's math
/// (shares, focal factor, gradient coefficients, loss) from <see cref="CrossEntropyRowMath"/>, ln Σe in double. Each thread
/// rereads only what it wrote and the target's logits are read before the first barrier, so the gradient may be the logits.
/// </summary>
internal readonly struct CrossEntropyRows(RowViews views) : IRowPass
{
    /// <summary>Terms a thread adds in float before adding them into its double sum.</summary>
    private const int FlushTerms = 256;

    private readonly RowViews v = views;

    public int Rows => v.Positions;

    public int Classes => v.Classes;

    /// <summary>Runs position <paramref name="i"/>; returns its loss (every thread of the row gets it; the first stores it).</summary>
    public double Run<TReduce>(long i, int first, int step)
        where TReduce : struct, IRowReduce
    {
        bool kept = v.TargetOf(i, out RowTarget target);
        long offset = v.Offset(i);
        long stride = v.Spatial;
        int classes = v.Classes;
        int extent = kept ? classes : 0;
        bool perClass = v.Has(RowFlags.Soft) || v.Smoothing != 0f;
        bool storeGradient = v.Has(RowFlags.StoreGradient);

        float localMax = float.NegativeInfinity;
        float weightedPart = 0f, sharePart = 0f;
        double weightedTotal = 0d, shareTotal = 0d;
        int pending = 0;
        for (int c = first; c < extent; c += step)
        {
            float x = v.Logits[offset + c * stride];
            localMax = IlgpuMath.Max(localMax, x);
            if (!perClass)
                continue;
            float a = v.Share(offset, c);
            weightedPart = IlgpuMath.MultiplyAdd(a, x, weightedPart);
            sharePart += a;
            if (++pending == FlushTerms)
            {
                weightedTotal += weightedPart;
                shareTotal += sharePart;
                weightedPart = sharePart = 0f;
                pending = 0;
            }
        }

        // The target's logits, read before any gradient is written over them.
        double targetLogits = kept ? target.Dot(v.Logits[offset + target.Left * stride], target.Right >= 0 ? v.Logits[offset + target.Right * stride] : 0f) : 0d;
        float targetLogit = kept && !v.Has(RowFlags.Soft) ? v.Logits[offset + target.Left * stride] : 0f;
        float rowMax = TReduce.Max(localMax);
        double weightedLogits = TReduce.Sum(weightedTotal + weightedPart);
        double shareSum = TReduce.Sum(shareTotal + sharePart);

        float expPart = 0f;
        double expTotal = 0d;
        pending = 0;
        for (int c = first; c < extent; c += step)
        {
            long at = offset + c * stride;
            float e = VectorFunctions.ExpOfNonPositive<float, IlgpuMath>(v.Logits[at] - rowMax);
            expPart += e;
            if (storeGradient)
                v.Gradient[at] = e;
            if (++pending == FlushTerms)
            {
                expTotal += expPart;
                expPart = 0f;
                pending = 0;
            }
        }

        double sumExp = TReduce.Sum(expTotal + expPart);
        double loss = 0d;
        if (kept)
        {
            double lse = rowMax + DeviceRowFunctions.Log(sumExp);
            loss = v.Has(RowFlags.Focal)
                ? CrossEntropyRowMath.Focus<DeviceRowFunctions>(ref target, lse, targetLogit, v.FocalAlpha, v.FocalGamma)
                : CrossEntropyRowMath.RowLoss(lse, target.Mass, targetLogits, shareSum, weightedLogits, perClass, v.LseSquareScale);
            if (storeGradient)
                WriteGradient(i, offset, first, step, target, lse, sumExp, shareSum, perClass);
        }
        else if (storeGradient)
        {
            for (int c = first; c < classes; c += step)
                v.Gradient[offset + c * stride] = 0f;
        }

        if (first == 0 && v.Has(RowFlags.StoreLoss))
            v.Output[i] = (float)loss;
        return loss;
    }

    /// <summary>The third sweep: ∂ℓ/∂x_c = e_c·f − s·a_c − s·(the target's share of c), over the e_c the second sweep stored.</summary>
    private void WriteGradient(long i, long offset, int first, int step, in RowTarget target, double lse, double sumExp, double shareSum,
        bool perClass)
    {
        double scale = v.GradientScale * (v.Has(RowFlags.HasUpstream) ? v.Upstream[i] : 1f);
        CrossEntropyRowMath.GradientTerms(scale, lse, sumExp, target.Mass, shareSum, v.LseSquareScale, out float rowScale, out float softmaxFactor);
        for (int c = first; c < v.Classes; c += step)
        {
            long at = offset + c * (long)v.Spatial;
            float gradient = v.Gradient[at] * softmaxFactor;
            if (perClass)
                gradient -= v.Share(offset, c) * rowScale;
            if (c == target.Left && target.LeftShare != 0f)
                gradient -= rowScale * target.LeftShare;
            if (c == target.Right && target.RightShare != 0f)
                gradient -= rowScale * target.RightShare;
            v.Gradient[at] = gradient;
        }
    }
}

/// <summary>
/// The target checks before a row launch, one thread per position: a class index outside [0, C) other than the ignore index lowers the
/// accelerator's fault cell to its position (the host throws after the launch), and each position returns what the mean divides by — w_y,
/// or 1 per kept row for the focal loss (0 when ignored).
/// </summary>
internal readonly struct TargetCheckPass(ArrayView<long> target, ArrayView<float> classWeight, int classes, long? ignoreIndex, bool countRows, ArrayView<long> fault)
    : IItemPass
{
    private readonly ArrayView<long> target = target;
    private readonly ArrayView<float> classWeight = classWeight;
    private readonly int classes = classes;
    private readonly long ignoreIndex = ignoreIndex ?? 0;
    private readonly int hasIgnoreIndex = ignoreIndex is null ? 0 : 1;
    private readonly int countRows = countRows ? 1 : 0;
    private readonly int weighted = ViewChecks.IsPresent(classWeight) ? 1 : 0;
    private readonly ArrayView<long> fault = fault;

    public long Length => target.Length;

    public PassFlags Flags => PassFlags.Reduce;

    public float Run(long i)
    {
        long y = target[i];
        if (hasIgnoreIndex != 0 && y == ignoreIndex)
            return 0f;
        if (y < 0 || y >= classes)
        {
            Atomic.Min(ref fault[0], i);
            return 0f;
        }

        return countRows != 0 || weighted == 0 ? 1f : classWeight[y];
    }
}

/// <summary>Distribution focal labels must lie in [0, C − 1] (NaN fails too): the first that does not lowers the fault cell.</summary>
internal readonly struct LabelCheckPass(ArrayView<float> labels, int classes, ArrayView<long> fault) : IItemPass
{
    private readonly ArrayView<float> labels = labels;
    private readonly int classes = classes;
    private readonly ArrayView<long> fault = fault;

    public long Length => labels.Length;

    public PassFlags Flags => PassFlags.None;

    public float Run(long i)
    {
        float label = labels[i];
        if (!(label >= 0f && label <= classes - 1))
            Atomic.Min(ref fault[0], i);
        return 0f;
    }
}

/// <summary>The target and label checks the cross-entropy family runs before its rows.</summary>
internal static class RowChecks
{
    /// <summary>Checks class targets on the device; throws for the first bad one (named by its position) after reading it back.</summary>
    /// <param name="state">The accelerator's scratch (the caller holds its gate).</param>
    /// <param name="stream">The stream.</param>
    /// <param name="target">The class indices.</param>
    /// <param name="classWeight">C class weights, or default.</param>
    /// <param name="classes">C.</param>
    /// <param name="ignoreIndex">The index that marks a row to skip; null for a loss that has none (every index outside [0, C) is bad).</param>
    /// <param name="countRows">Count the kept rows instead of adding their weights.</param>
    /// <returns>Σ w_y over the kept positions (the rows kept, with <paramref name="countRows"/>), added in index order of the chunks.</returns>
    public static double CheckTargets(LossAccelerator state, AcceleratorStream stream, ArrayView<long> target, ArrayView<float> classWeight, int classes,
        long? ignoreIndex, bool countRows)
    {
        double sum = ItemKernel.Launch(new TargetCheckPass(target, classWeight, classes, ignoreIndex, countRows, state.Fault), state.Accelerator, stream);
        if (state.TakeFault(stream) is long position)
            ClassTargets.ThrowOutOfRange(position, ReadBack(target, position, stream), classes, ignoreIndex);
        return sum;
    }

    /// <summary>Checks distribution focal labels on the device; the first outside [0, C − 1] throws, named by its position.</summary>
    public static void CheckLabels(LossAccelerator state, AcceleratorStream stream, ArrayView<float> labels, int classes)
    {
        ItemKernel.Launch(new LabelCheckPass(labels, classes, state.Fault), state.Accelerator, stream);
        if (state.TakeFault(stream) is long position)
            ThrowHelper.OutOfRange("label", ReadBack(labels, position, stream), $"in [0, {classes - 1}] (the row of position {position})");
    }

    /// <summary>Waits for <paramref name="stream"/> and reads the element at <paramref name="position"/> back (for an exception's message).</summary>
    public static T ReadBack<T>(ArrayView<T> view, long position, AcceleratorStream stream)
        where T : unmanaged
    {
        var value = new T[1];
        view.SubView(position, 1).CopyToCPU(stream, value);
        return value[0];
    }
}
