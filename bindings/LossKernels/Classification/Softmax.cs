using System.Runtime.CompilerServices;
using LossKernels.OpenCL;
using System.Runtime.Intrinsics;

namespace LossKernels.Classification;

/// <summary>
/// Softmax over each row of C values, max-subtracted (finite for any finite input, where
/// <c>TensorPrimitives.SoftMax</c> overflows past 88): <c>y_c = e^(x_c − max) / Σ_k e^(x_k − max)</c>; backward
/// <c>∂L/∂x_c = y_c·(g_c − Σ_k g_k·y_k)</c> from the forward output y and the upstream gradient g.
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.softmax(input, dim=-1)</c> and its backward (<c>_softmax_backward_data</c>). Rows are the last axis of a
/// row-major [N, C] buffer; the output (or gradient) may be the input itself. Rows are split over threads in chunks that
/// depend on the shape alone; each row's value is the same whatever the thread count.
/// </remarks>
public static class Softmax
{
    /// <summary>y = softmax(x) per row.</summary>
    /// <param name="input">N rows of C values.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values; may be <paramref name="input"/> itself.</param>
    public static void Forward(ReadOnlySpan<float> input, int classes, Span<float> output) =>
        RowOperations.Run(RowOperation.SoftmaxForward, input, default, classes, output);

    /// <summary>∂L/∂x = y ⊙ (g − Σ g·y) per row.</summary>
    /// <param name="output">The forward output y, N rows of C.</param>
    /// <param name="outputGrad">The upstream gradient g = ∂L/∂y.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="inputGrad">Receives ∂L/∂x; may be <paramref name="output"/> or <paramref name="outputGrad"/> itself.</param>
    public static void Backward(ReadOnlySpan<float> output, ReadOnlySpan<float> outputGrad, int classes, Span<float> inputGrad) =>
        RowOperations.Run(RowOperation.SoftmaxBackward, output, outputGrad, classes, inputGrad);

    /// <summary>y = softmax(x) per row, on an OpenCL device (a work-group per row).</summary>
    /// <param name="input">N rows of C values on the device.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values; may be <paramref name="input"/> itself.</param>
    public static void Forward(DeviceBuffer<float> input, int classes, DeviceBuffer<float> output) =>
        RowOperationsOnDevice.Run(RowOperation.SoftmaxForward, input, null, classes, output);

    /// <summary>∂L/∂x = y ⊙ (g − Σ g·y) per row, on the device.</summary>
    /// <param name="output">The forward output y on the device.</param>
    /// <param name="outputGrad">The upstream gradient g on the same device.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="inputGrad">Receives ∂L/∂x; may be either input.</param>
    public static void Backward(DeviceBuffer<float> output, DeviceBuffer<float> outputGrad, int classes, DeviceBuffer<float> inputGrad) =>
        RowOperationsOnDevice.Run(RowOperation.SoftmaxBackward, output, outputGrad, classes, inputGrad);
}

/// <summary>
/// Log-softmax over each row: <c>y_c = (x_c − max) − ln Σ e^(x − max)</c> (PyTorch's order of operations); backward
/// <c>∂L/∂x_c = g_c − e^(y_c)·Σ_k g_k</c>.
/// </summary>
/// <remarks>PyTorch: <c>torch.log_softmax(input, dim=-1)</c> and its backward. Same layout and guarantees as <see cref="Softmax"/>.</remarks>
public static class LogSoftmax
{
    /// <summary>y = log_softmax(x) per row.</summary>
    /// <param name="input">N rows of C values.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values; may be <paramref name="input"/> itself.</param>
    public static void Forward(ReadOnlySpan<float> input, int classes, Span<float> output) =>
        RowOperations.Run(RowOperation.LogSoftmaxForward, input, default, classes, output);

    /// <summary>∂L/∂x = g − e^y·Σg per row.</summary>
    /// <param name="output">The forward output y, N rows of C.</param>
    /// <param name="outputGrad">The upstream gradient g = ∂L/∂y.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="inputGrad">Receives ∂L/∂x; may be <paramref name="output"/> or <paramref name="outputGrad"/> itself.</param>
    public static void Backward(ReadOnlySpan<float> output, ReadOnlySpan<float> outputGrad, int classes, Span<float> inputGrad) =>
        RowOperations.Run(RowOperation.LogSoftmaxBackward, output, outputGrad, classes, inputGrad);

    /// <summary>y = log_softmax(x) per row, on an OpenCL device (a work-group per row).</summary>
    /// <param name="input">N rows of C values on the device.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values; may be <paramref name="input"/> itself.</param>
    public static void Forward(DeviceBuffer<float> input, int classes, DeviceBuffer<float> output) =>
        RowOperationsOnDevice.Run(RowOperation.LogSoftmaxForward, input, null, classes, output);

    /// <summary>∂L/∂x = g − e^y·Σg per row, on the device.</summary>
    /// <param name="output">The forward output y on the device.</param>
    /// <param name="outputGrad">The upstream gradient g on the same device.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="inputGrad">Receives ∂L/∂x; may be either input.</param>
    public static void Backward(DeviceBuffer<float> output, DeviceBuffer<float> outputGrad, int classes, DeviceBuffer<float> inputGrad) =>
        RowOperationsOnDevice.Run(RowOperation.LogSoftmaxBackward, output, outputGrad, classes, inputGrad);
}

/// <summary>
/// One-hot encoding: row r of the [N, C] output is 1 at target[r] and 0 elsewhere (as floats, to feed soft-target losses).
/// </summary>
/// <remarks>
/// PyTorch: <c>torch.nn.functional.one_hot(target, num_classes)</c>, which returns int64; here floats. A target of
/// the ignore index gives a row of zeros (PyTorch rejects negative indices); any other target outside
/// [0, C) throws <see cref="ArgumentOutOfRangeException"/> naming the first position, before anything is written.
/// </remarks>
public static class OneHot
{
    /// <summary>Writes the N·C one-hot rows of <paramref name="target"/>.</summary>
    /// <param name="target">N class indices.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values.</param>
    /// <param name="ignoreIndex">A target that gives a zero row.</param>
    public static void Encode(ReadOnlySpan<long> target, int classes, Span<float> output, long ignoreIndex = ClassTargets.DefaultIgnoreIndex)
    {
        ClassTargets.Validate(target, classes, ignoreIndex);
        ThrowHelper.IfTooShort((long)target.Length * classes, output.Length, nameof(output));
        output.Slice(0, target.Length * classes).Clear();
        for (int r = 0; r < target.Length; r++)
        {
            if (target[r] != ignoreIndex)
                output[r * classes + (int)target[r]] = 1f;
        }
    }

    /// <summary>The same on an OpenCL device; the targets are checked there first (the first bad one throws, named by its position).</summary>
    /// <param name="target">N class indices on the device.</param>
    /// <param name="classes">C ≥ 1.</param>
    /// <param name="output">Receives N·C values on the same device.</param>
    /// <param name="ignoreIndex">A target that gives a zero row.</param>
    public static void Encode(DeviceBuffer<long> target, int classes, DeviceBuffer<float> output, long ignoreIndex = ClassTargets.DefaultIgnoreIndex) =>
        RowOperationsOnDevice.OneHot(target, classes, output, ignoreIndex);
}

internal enum RowOperation
{
    SoftmaxForward,
    LogSoftmaxForward,
    SoftmaxBackward,
    LogSoftmaxBackward,
}

/// <summary>The row sweeps of <see cref="Softmax"/> and <see cref="LogSoftmax"/>: two or three passes over a row held in cache.</summary>
internal static unsafe class RowOperations
{
    private const int ChunkElements = 1 << 16;

    /// <summary>Checks the arguments, then runs <paramref name="operation"/> over every row.</summary>
    public static void Run(RowOperation operation, ReadOnlySpan<float> first, ReadOnlySpan<float> second, int classes, Span<float> destination)
    {
        if (classes <= 0)
            ThrowHelper.OutOfRange(nameof(classes), classes, "> 0");
        bool backward = operation is RowOperation.SoftmaxBackward or RowOperation.LogSoftmaxBackward;
        string firstName = backward ? "output" : "input";
        if (first.Length % classes != 0)
            ThrowHelper.Argument(firstName, $"{firstName} holds {first.Length} values, not a whole number of rows of {classes}.");
        if (backward)
            ThrowHelper.IfLengthDiffers(first.Length, second.Length, "outputGrad");
        string destinationName = backward ? "inputGrad" : "output";
        ThrowHelper.IfTooShort(first.Length, destination.Length, destinationName);
        ThrowHelper.IfPartialOverlap(first, destination.Slice(0, first.Length), destinationName);
        ThrowHelper.IfPartialOverlap(second, destination.Slice(0, first.Length), destinationName);
        int rows = first.Length / classes;
        fixed (float* a = first, b = second, d = destination)
        {
            int rowsPerChunk = Math.Max(1, ChunkElements / classes);
            int threshold = (long)rows * classes >= ElementwiseDriver.ParallelThreshold ? 0 : int.MaxValue;
            ChunkedRun.Run(new Rows(operation, a, b, d, classes), rows, threshold, rowsPerChunk);
        }
    }

    /// <summary>
    /// The reducing sweep's term from a (x or y) and b (g): e^(x − max) forward (<paramref name="shift"/> is the row's max),
    /// y·g for softmax's backward, g for log-softmax's. Shared by the SIMD rows and the GPU kernels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Term<TVec, TMath>(RowOperation operation, TVec a, TVec b, TVec shift)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        operation switch
        {
            RowOperation.SoftmaxForward or RowOperation.LogSoftmaxForward => VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(a, shift)),
            RowOperation.SoftmaxBackward => TMath.Multiply(a, b),
            _ => b,
        };

    /// <summary>
    /// From the reducing sweep's total: softmax's scale 1/Σ and log-softmax's ln Σ (forward; <paramref name="shift"/> stays the max),
    /// or Σ as the backward's shift. Log-softmax writes (x − max) − ln Σ, which keeps the small ln Σ that max + ln Σ would round away.
    /// </summary>
    internal static void Finish<TFunctions>(RowOperation operation, double total, ref float shift, out float scale)
        where TFunctions : struct, IRowFunctions
    {
        scale = operation switch
        {
            RowOperation.SoftmaxForward => (float)(1d / total),
            RowOperation.LogSoftmaxForward => (float)TFunctions.Log(total),
            _ => 0f,
        };
        if (operation is RowOperation.SoftmaxBackward or RowOperation.LogSoftmaxBackward)
            shift = (float)total;
    }

    /// <summary>The writing sweep's value from a (x or y) and b (g): softmax, log-softmax, or their backward.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Write<TVec, TMath>(RowOperation operation, TVec a, TVec b, TVec shift, TVec scale)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        operation switch
        {
            RowOperation.SoftmaxForward => TMath.Multiply(VectorFunctions.ExpOfNonPositive<TVec, TMath>(TMath.Subtract(a, shift)), scale),
            RowOperation.LogSoftmaxForward => TMath.Subtract(TMath.Subtract(a, shift), scale),
            RowOperation.SoftmaxBackward => TMath.Multiply(a, TMath.Subtract(b, shift)),
            _ => TMath.Subtract(b, TMath.Multiply(VectorFunctions.ExpOfNonPositive<TVec, TMath>(a), shift)),
        };

    private readonly struct Rows(RowOperation operation, float* first, float* second, float* destination, int classes) : IRangeKernel
    {
        public double RunRange(nint start, nint length)
        {
            for (nint r = start; r < start + length; r++)
            {
                if (Vector512.IsHardwareAccelerated && classes >= Vector512<float>.Count)
                    Row<Vector512<float>, Width512>(r);
                else if (Vector256.IsHardwareAccelerated && classes >= Vector256<float>.Count)
                    Row<Vector256<float>, Width256>(r);
                else if (classes >= Vector128<float>.Count)
                    Row<Vector128<float>, Width128>(r);
                else
                    NarrowRow(r);
            }

            return 0d;
        }

        /// <summary>
        /// One row: a reducing sweep (max, then Σ e or Σ g·y or Σ g), then the writing sweep. The tail is an overlapping last
        /// vector whose inputs are loaded before any sweep writes (the destination may be an input).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Row<TVec, TMath>(nint r)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count, remainder = classes % count, tail = classes - count;
            float* a = first + r * classes, b = second + r * classes, d = destination + r * classes;
            TVec tailA = TMath.Load(ref a[tail]);
            TVec tailB = second != null ? TMath.Load(ref b[tail]) : default;
            float shiftValue = 0f;
            if (operation is RowOperation.SoftmaxForward or RowOperation.LogSoftmaxForward)
            {
                TVec max = tailA;
                for (int j = 0; j <= classes - count; j += count)
                    max = TMath.Max(max, TMath.Load(ref a[j]));
                shiftValue = TMath.MaxAcross(max);
            }

            TVec shift = TMath.Create(shiftValue);
            TVec sum = TMath.KeepLanes(Term<TVec, TMath>(operation, tailA, tailB, shift), count - remainder, count);
            for (int j = 0; j <= classes - count; j += count)
                sum = TMath.Add(sum, Term<TVec, TMath>(operation, TMath.Load(ref a[j]), second != null ? TMath.Load(ref b[j]) : default, shift));
            Finish<HostRowFunctions>(operation, TMath.Sum(sum), ref shiftValue, out float rowScale);
            shift = TMath.Create(shiftValue);
            TVec scale = TMath.Create(rowScale);
            for (int j = 0; j <= classes - count; j += count)
                TMath.Store(Write<TVec, TMath>(operation, TMath.Load(ref a[j]), second != null ? TMath.Load(ref b[j]) : default, shift, scale), ref d[j]);
            if (remainder != 0)
                TMath.Store(Write<TVec, TMath>(operation, tailA, tailB, shift, scale), ref d[tail]);
        }

        /// <summary>Rows of fewer values than a Vector128 holds: the same sweeps on a zero-padded copy, one vector each.</summary>
        private void NarrowRow(nint r)
        {
            const int Lanes = 4;
            float* a = stackalloc float[Lanes];
            float* b = stackalloc float[Lanes];
            float* d = stackalloc float[Lanes];
            bool forward = operation is RowOperation.SoftmaxForward or RowOperation.LogSoftmaxForward;
            for (int c = 0; c < Lanes; c++)
            {
                // Padding: −∞ for a forward input adds nothing to the max or the sum; zeros add nothing to a backward sum.
                a[c] = c < classes ? first[r * classes + c] : forward ? float.NegativeInfinity : 0f;
                b[c] = c < classes && second != null ? second[r * classes + c] : 0f;
            }

            var padded = new Rows(operation, a, second != null ? b : null, d, Lanes);
            padded.Row<Vector128<float>, Width128>(0);
            for (int c = 0; c < classes; c++)
                destination[r * classes + c] = d[c];
        }
    }
}
