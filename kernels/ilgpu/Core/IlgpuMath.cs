using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace LossKernels.ILGPU;

/// <summary>
/// <see cref="IVectorMath{TVec}"/> with one lane: the float arithmetic of one GPU thread. Instantiating a loss's
/// <c>Evaluate&lt;float, IlgpuMath&gt;</c> inside an ILGPU kernel is the loss's GPU kernel, from the very C# that
/// <c>Vector512&lt;float&gt;</c> makes its SIMD kernel. Lane masks are the all-ones / all-zeros bit patterns the
/// SIMD widths use, so <c>And</c>, <c>Select</c> and the bit-level exp and log behave the same.
/// </summary>
/// <remarks>
/// <para>exp and log are the library's own polynomials (<see cref="VectorFunctions"/>): PTX would lower
/// <c>MathF.Exp</c>/<c>MathF.Log</c> to the approximate <c>ex2.approx</c>/<c>lg2.approx</c>, and then the GPU's
/// numbers would not match the CPU's.</para>
/// <para><see cref="MultiplyAdd"/> is one rounding on CUDA: <c>fma.rn.f32</c> emitted inline (ILGPU 1.5 has no fused
/// multiply-add of its own and would leave <c>MathF.FusedMultiplyAdd</c> an unresolved external function in the PTX).
/// Elsewhere (ILGPU's CPU accelerator, its OpenCL backend) the product is formed exactly in double and rounded twice,
/// which equals the fused result except where the double sum falls exactly halfway between two floats.</para>
/// <para>Division and square root are IEEE (<c>div.rn</c>, <c>sqrt.rn</c>) in ILGPU's default math mode; a
/// context built with fast math would make them approximate.</para>
/// </remarks>
public readonly struct IlgpuMath : IVectorMath<float>
{
    private const uint AllOnes = 0xFFFFFFFFu;

    /// <summary>One lane.</summary>
    public static int Count => 1;

    /// <inheritdoc/>
    public static float Create(float value) => value;

    /// <inheritdoc/>
    public static float Load(ref float source) => source;

    /// <inheritdoc/>
    public static void Store(float value, ref float destination) => destination = value;

    /// <summary>A plain store: a GPU thread's store has no cache-bypassing form here.</summary>
    public static void StoreAlignedNonTemporal(float value, ref float destination) => destination = value;

    /// <inheritdoc/>
    public static float Add(float a, float b) => a + b;

    /// <inheritdoc/>
    public static float Subtract(float a, float b) => a - b;

    /// <inheritdoc/>
    public static float Multiply(float a, float b) => a * b;

    /// <inheritdoc/>
    public static float Divide(float a, float b) => a / b;

    /// <inheritdoc/>
    public static float Abs(float a) => Interop.IntAsFloat(Interop.FloatAsInt(a) & 0x7FFFFFFFu);

    /// <inheritdoc/>
    public static float Sqrt(float a) => MathF.Sqrt(a);

    /// <summary>a·b + c with one rounding (see the type's remarks for each backend).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MultiplyAdd(float a, float b, float c)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("fma.rn.f32 %0, %1, %2, %3;", out float result, a, b, c);
            return result;
        }

        return (float)((double)a * b + c);
    }

    /// <inheritdoc/>
    public static float Log(float a) => VectorFunctions.Log<float, IlgpuMath>(a);

    /// <inheritdoc/>
    public static float Exp(float a) => VectorFunctions.Exp<float, IlgpuMath>(a);

    /// <summary>Through the exponent bits (<see cref="VectorFunctions.ScaleThroughExponentBits{TVec, TMath}"/>): the same bits as AVX-512's vscalefps.</summary>
    public static float ScaleByPowerOfTwo(float p, float k) => VectorFunctions.ScaleThroughExponentBits<float, IlgpuMath>(p, k);

    /// <summary>min(a, b); NaN when either is NaN (as the SIMD widths; PTX's <c>min.f32</c> would return the other operand).</summary>
    public static float Min(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : a < b ? a : b;

    /// <summary>max(a, b); NaN when either is NaN.</summary>
    public static float Max(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : a > b ? a : b;

    /// <inheritdoc/>
    public static float Equal(float a, float b) => Mask(a == b);

    /// <inheritdoc/>
    public static float LessThan(float a, float b) => Mask(a < b);

    /// <inheritdoc/>
    public static float GreaterThan(float a, float b) => Mask(a > b);

    /// <inheritdoc/>
    public static float GreaterThanOrEqual(float a, float b) => Mask(a >= b);

    /// <inheritdoc/>
    public static bool AllSet(float mask) => Interop.FloatAsInt(mask) != 0u;

    /// <inheritdoc/>
    public static float IsNaN(float a) => Mask(float.IsNaN(a));

    /// <inheritdoc/>
    public static float Select(float mask, float whenTrue, float whenFalse) => Interop.FloatAsInt(mask) != 0u ? whenTrue : whenFalse;

    /// <inheritdoc/>
    public static float And(float mask, float value) => Interop.IntAsFloat(Interop.FloatAsInt(mask) & Interop.FloatAsInt(value));

    /// <inheritdoc/>
    public static float Or(float a, float b) => Interop.IntAsFloat(Interop.FloatAsInt(a) | Interop.FloatAsInt(b));

    /// <inheritdoc/>
    public static float AddBits(float a, float b) => Interop.IntAsFloat(Interop.FloatAsInt(a) + Interop.FloatAsInt(b));

    /// <inheritdoc/>
    public static float CountWhere(float counts, float mask) => Interop.IntAsFloat(Interop.FloatAsInt(counts) + (Interop.FloatAsInt(mask) != 0u ? 1u : 0u));

    /// <summary>The one lane moved up: the carry's (a thread's row element j − 1 is its neighbour's, not this lane's).</summary>
    public static float ShiftUpOneLane(float value, float carry) => carry;

    /// <inheritdoc/>
    public static float ShiftLeftBits(float a, int count) => Interop.IntAsFloat(Interop.FloatAsInt(a) << count);

    /// <inheritdoc/>
    public static float ShiftRightBits(float a, int count) => Interop.IntAsFloat(Interop.FloatAsInt(a) >> count);

    /// <summary>The one lane (index 0) when it is in [<paramref name="from"/>, <paramref name="to"/>), else 0.</summary>
    public static float KeepLanes(float value, int from, int to) => from <= 0 && to > 0 ? value : 0f;

    /// <inheritdoc/>
    public static float MaxAcross(float value) => value;

    /// <inheritdoc/>
    public static double Sum(float value) => value;

    /// <summary>One row of four floats: c0…c3 are its columns.</summary>
    public static void LoadRows(ref float source, out float c0, out float c1, out float c2, out float c3)
    {
        c0 = source;
        c1 = Unsafe.Add(ref source, 1);
        c2 = Unsafe.Add(ref source, 2);
        c3 = Unsafe.Add(ref source, 3);
    }

    /// <summary>Stores one row of four floats.</summary>
    public static void StoreRows(float c0, float c1, float c2, float c3, ref float destination)
    {
        destination = c0;
        Unsafe.Add(ref destination, 1) = c1;
        Unsafe.Add(ref destination, 2) = c2;
        Unsafe.Add(ref destination, 3) = c3;
    }

    /// <summary>The larger of the two, or <paramref name="b"/> where either is NaN.</summary>
    public static float MaxOfNumbers(float a, float b) => a > b ? a : b;

    /// <summary>The 1×1 block: a copy.</summary>
    public static void TransposeSquare(ref float source, nint sourceStride, ref float destination, nint destinationStride) => destination = source;

    private static float Mask(bool condition) => condition ? Interop.IntAsFloat(AllOnes) : 0f;
}
