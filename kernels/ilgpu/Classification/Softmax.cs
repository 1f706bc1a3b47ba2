using ILGPU;
using ILGPU.Runtime;
using LossKernels.Classification;

namespace LossKernels.ILGPU;

/// <summary><see cref="Softmax"/> on an engine's ILGPU memory (<see cref="IlgpuRowOperations"/>).</summary>
public static class IlgpuSoftmax
{
    /// <summary>y = softmax(x) per row (queued).</summary>
    /// <param name="input">N rows of C values.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values; may be <paramref name="input"/> itself.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Forward(ArrayView<float> input, int classes, ArrayView<float> output, AcceleratorStream? stream = null) =>
        IlgpuRowOperations.Run(RowOperation.SoftmaxForward, input, default, classes, output, stream);

    /// <summary>∂L/∂x = y ⊙ (g − Σ g·y) per row (queued).</summary>
    /// <param name="output">The forward output y, N rows of C.</param>
    /// <param name="outputGrad">The upstream gradient g.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="inputGrad">Receives ∂L/∂x; may be either input.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(ArrayView<float> output, ArrayView<float> outputGrad, int classes, ArrayView<float> inputGrad, AcceleratorStream? stream = null) =>
        IlgpuRowOperations.Run(RowOperation.SoftmaxBackward, output, outputGrad, classes, inputGrad, stream);
}

/// <summary><see cref="LogSoftmax"/> on an engine's ILGPU memory (<see cref="IlgpuRowOperations"/>).</summary>
public static class IlgpuLogSoftmax
{
    /// <summary>y = log_softmax(x) per row (queued).</summary>
    /// <param name="input">N rows of C values.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values; may be <paramref name="input"/> itself.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Forward(ArrayView<float> input, int classes, ArrayView<float> output, AcceleratorStream? stream = null) =>
        IlgpuRowOperations.Run(RowOperation.LogSoftmaxForward, input, default, classes, output, stream);

    /// <summary>∂L/∂x = g − e^y·Σg per row (queued).</summary>
    /// <param name="output">The forward output y, N rows of C.</param>
    /// <param name="outputGrad">The upstream gradient g.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="inputGrad">Receives ∂L/∂x; may be either input.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Backward(ArrayView<float> output, ArrayView<float> outputGrad, int classes, ArrayView<float> inputGrad, AcceleratorStream? stream = null) =>
        IlgpuRowOperations.Run(RowOperation.LogSoftmaxBackward, output, outputGrad, classes, inputGrad, stream);
}

/// <summary><see cref="OneHot"/> on an engine's ILGPU memory: the targets checked on the device, then a thread per element.</summary>
public static class IlgpuOneHot
{
    /// <summary>One-hot rows of <paramref name="target"/> (1 at [r, target[r]], 0 elsewhere and on ignored rows); the first bad target throws, named by its position, before anything is written.</summary>
    /// <param name="target">N class indices.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values.</param>
    /// <param name="ignoreIndex">A target that gives a zero row.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    public static void Encode(ArrayView<long> target, int classes, ArrayView<float> output, long ignoreIndex = ClassTargets.DefaultIgnoreIndex, AcceleratorStream? stream = null)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(target, nameof(target));
        if (classes <= 0)
            ThrowHelper.OutOfRange(nameof(classes), classes, "> 0");
        long elements = target.Length * classes;
        ViewChecks.Destination(output, accelerator, elements, nameof(output));
        ViewChecks.IfOverlaps(target, target.Length, output, elements, nameof(output), nameof(target));
        AcceleratorStream queue = stream ?? accelerator.DefaultStream;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
        {
            if (target.Length > 0)
                RowChecks.CheckTargets(state, queue, target, default, classes, ignoreIndex, countRows: true);
            ItemKernel.Launch(new OneHotPass(target, output, classes, ignoreIndex), accelerator, queue);
        }
    }

    /// <summary>A thread per element of the [N, C] one-hot rows.</summary>
    internal readonly struct OneHotPass(ArrayView<long> target, ArrayView<float> output, int classes, long ignoreIndex) : IItemPass
    {
        private readonly ArrayView<long> target = target;
        private readonly ArrayView<float> output = output;
        private readonly int classes = classes;
        private readonly long ignoreIndex = ignoreIndex;

        public long Length => target.Length * classes;

        public PassFlags Flags => PassFlags.None;

        public float Run(long i)
        {
            long r = i / classes;
            long y = target[r];
            output[i] = y != ignoreIndex && y == i - r * classes ? 1f : 0f;
            return 0f;
        }
    }
}

/// <summary><see cref="ClassTargets"/>' check on an engine's ILGPU memory.</summary>
public static class IlgpuClassTargets
{
    /// <summary>Throws unless every target is in [0, C) or equals <paramref name="ignoreIndex"/>: checked on the device, the first bad position named.</summary>
    /// <param name="target">Class indices.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="ignoreIndex">A target that marks an element to skip.</param>
    /// <param name="stream">The stream to run on; null for the accelerator's default stream.</param>
    /// <exception cref="ArgumentOutOfRangeException">Names the first offending position and value (<c>ParamName</c> "target"), or <paramref name="classes"/> is not positive.</exception>
    public static void Validate(ArrayView<long> target, int classes, long ignoreIndex = ClassTargets.DefaultIgnoreIndex, AcceleratorStream? stream = null)
    {
        Accelerator accelerator = ViewChecks.AcceleratorOf(target, nameof(target));
        if (classes <= 0)
            ThrowHelper.OutOfRange(nameof(classes), classes, "> 0");
        if (target.Length == 0)
            return;
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
            RowChecks.CheckTargets(state, stream ?? accelerator.DefaultStream, target, default, classes, ignoreIndex, countRows: true);
    }
}

/// <summary>
/// The softmax rows of <see cref="IlgpuSoftmax"/> and <see cref="IlgpuLogSoftmax"/>, through <see cref="RowKernel"/> (a work-group per row
/// of 64 classes or more): each row's reducing and writing sweeps are the SIMD rows' own (<c>RowOperations.Term</c>, <c>Finish</c>, <c>Write</c>).
/// </summary>
internal static class IlgpuRowOperations
{
    public static void Run(RowOperation operation, ArrayView<float> first, ArrayView<float> second, int classes, ArrayView<float> destination, AcceleratorStream? stream)
    {
        bool backward = operation is RowOperation.SoftmaxBackward or RowOperation.LogSoftmaxBackward;
        string firstName = backward ? "output" : "input", destinationName = backward ? "inputGrad" : "output";
        Accelerator accelerator = ViewChecks.AcceleratorOf(first, firstName);
        if (classes <= 0)
            ThrowHelper.OutOfRange(nameof(classes), classes, "> 0");
        long n = first.Length;
        if (n % classes != 0)
            ThrowHelper.Argument(firstName, $"{firstName} holds {n} values, not a whole number of rows of {classes}.");
        if (backward)
            ViewChecks.Required(second, accelerator, n, "outputGrad");
        ViewChecks.Destination(destination, accelerator, n, destinationName);
        ViewChecks.IfPartialOverlap(first, destination, n, destinationName);
        ViewChecks.IfPartialOverlap(second, destination, n, destinationName);
        LossAccelerator state = LossAccelerator.For(accelerator);
        lock (state.Gate)
            RowKernel.Launch(state, stream ?? accelerator.DefaultStream, new SoftmaxRows(operation, first, second, destination, checked((int)(n / classes)), classes), reduce: false);
    }

    /// <summary>One row: the max (forward), the reducing sweep, then the writing sweep; each thread rereads only what it reads, and writes after the row's sums.</summary>
    internal readonly struct SoftmaxRows(RowOperation operation, ArrayView<float> first, ArrayView<float> second, ArrayView<float> destination, int rows, int classes)
        : IRowPass
    {
        private readonly RowOperation operation = operation;
        private readonly ArrayView<float> first = first;
        private readonly ArrayView<float> second = second;
        private readonly ArrayView<float> destination = destination;
        private readonly int hasSecond = ViewChecks.IsPresent(second) ? 1 : 0;

        public int Rows { get; } = rows;

        public int Classes { get; } = classes;

        public double Run<TReduce>(long r, int first, int step)
            where TReduce : struct, IRowReduce
        {
            long offset = r * Classes;
            float shift = 0f;
            if (operation is RowOperation.SoftmaxForward or RowOperation.LogSoftmaxForward)
            {
                float max = float.NegativeInfinity;
                for (int c = first; c < Classes; c += step)
                    max = IlgpuMath.Max(max, this.first[offset + c]);
                shift = TReduce.Max(max);
            }

            float part = 0f;
            for (int c = first; c < Classes; c += step)
                part += RowOperations.Term<float, IlgpuMath>(operation, this.first[offset + c], hasSecond != 0 ? second[offset + c] : 0f, shift);
            RowOperations.Finish<DeviceRowFunctions>(operation, TReduce.Sum(part), ref shift, out float scale);
            for (int c = first; c < Classes; c += step)
            {
                long at = offset + c;
                destination[at] = RowOperations.Write<float, IlgpuMath>(operation, this.first[at], hasSecond != 0 ? second[at] : 0f, shift, scale);
            }

            return 0d;
        }
    }
}
