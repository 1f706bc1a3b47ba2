using System.Runtime.Intrinsics;

namespace LossKernels.Box;

/// <summary>A function of one row of four floats to one float, for <see cref="RowMap"/>.</summary>
internal interface IRowMap
{
    TVec Map<TVec, TMath>(in BoxVectors<TVec> row)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;
}

/// <summary>
/// Maps <c>count</c> rows of four floats to one float each (centerness targets, a row of the IoU matrix): rows
/// deinterleaved in registers, the last vector overlapping the one before (it rewrites the same values), fewer
/// rows than a Vector128 holds padded on the stack.
/// </summary>
internal static unsafe class RowMap
{
    public static void Run<TMap>(in TMap map, float* rows, float* output, int count)
        where TMap : struct, IRowMap =>
        SimdWidths.Run(new Kernel<TMap>(map, rows, output), 0, count);

    private readonly struct Kernel<TMap>(TMap map, float* rows, float* output) : IWidthKernel
        where TMap : struct, IRowMap
    {
        public double Run<TVec, TMath>(nint start, nint length)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            int count = TMath.Count;
            for (nint i = start; ; i += count)
            {
                nint at = Math.Min(i, start + length - count);
                TMath.LoadRows(ref rows[4 * at], out TVec c0, out TVec c1, out TVec c2, out TVec c3);
                TMath.Store(map.Map<TVec, TMath>(new BoxVectors<TVec>(c0, c1, c2, c3)), ref output[at]);
                if (at == start + length - count)
                    return 0d;
            }
        }

        public double RunPadded(nint start, int length)
        {
            float* padded = stackalloc float[16];
            float* values = stackalloc float[4];
            for (int k = 0; k < 16; k++)
                padded[k] = k < 4 * length ? rows[4 * start + k] : 0f;
            Width128.LoadRows(ref *padded, out Vector128<float> c0, out Vector128<float> c1, out Vector128<float> c2, out Vector128<float> c3);
            Width128.Store(map.Map<Vector128<float>, Width128>(new BoxVectors<Vector128<float>>(c0, c1, c2, c3)), ref *values);
            for (int k = 0; k < length; k++)
                output[start + k] = values[k];
            return 0d;
        }
    }
}
