using System.Runtime.CompilerServices;

namespace LossKernels.Segmentation;

/// <summary>
/// The per-element math of the Lovász losses, written once: the CPU driver and the ILGPU kernels call it on one element at a
/// time (the OpenCL C in <c>lovasz.cl</c> mirrors it). An element's error goes into a sort key, the sort orders the errors
/// of a group and class from the largest down, and a walk over the sorted order gives each element the Lovász extension's
/// gradient <see cref="Weight"/> at its position.
/// </summary>
internal static class LovaszMath
{
    /// <summary>The payload bit of a foreground element (target 1, or the class itself).</summary>
    public const uint Foreground = 1u << 31;

    /// <summary>The payload bit of an ignored element (the device sorts them along and the walk skips them; the CPU leaves them out).</summary>
    public const uint Ignored = 1u << 30;

    /// <summary>The payload bits of an element's position in its group: the most elements a group may hold.</summary>
    public const uint PositionMask = Ignored - 1;

    /// <summary>Lovász-softmax's error of class c at a pixel: <c>|t − p|</c> for p in [0, 1], i.e. 1 − p on the class's pixels and p elsewhere.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SoftmaxError(float p, bool foreground) => foreground ? 1f - p : p;

    /// <summary>Lovász-hinge's error of a logit: <c>1 − x·(2t − 1)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HingeError(float x, bool foreground) => 1f - (foreground ? x : -x);

    /// <summary>
    /// The sort key of an error: unsigned keys in ascending order are the errors in descending order (−0 taken as +0, so
    /// that equal errors keep their positions' order: a stable sort makes ties deterministic, as <c>torch.sort(stable=True)</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Key<TBits>(float error)
        where TBits : struct, IFloatBits
    {
        uint bits = TBits.ToBits(error == 0f ? 0f : error);
        // Ascending order of floats as unsigned: flip every bit of a negative value, only the sign bit of a positive one; then invert for descending.
        uint ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
        return ~ascending;
    }

    /// <summary>The error a <see cref="Key"/> came from.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Error<TBits>(uint key)
        where TBits : struct, IFloatBits
    {
        uint ascending = ~key;
        return TBits.FromBits((ascending & 0x80000000u) != 0 ? ascending & 0x7FFFFFFFu : ~ascending);
    }

    /// <summary>
    /// The Lovász extension's gradient at a sorted position, from the foreground and background elements before it
    /// (<paramref name="foregroundBefore"/>, <paramref name="backgroundBefore"/>) and the group's foreground count G:
    /// <c>J_r − J_{r−1}</c> with <c>J = 1 − (G − F)/(G + B) = (F + B)/(G + B)</c>, written without the subtraction of
    /// neighbours near 1: <c>1/(G + B)</c> at a foreground element, <c>(G − F)/((G + B + 1)(G + B))</c> at a background
    /// one (1 when G + B = 0: the first background element of a group without foreground).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Weight(bool foreground, float foregroundBefore, float backgroundBefore, float foregroundCount)
    {
        float union = foregroundCount + backgroundBefore;
        if (foreground)
            return 1f / union;
        return union == 0f ? 1f : (foregroundCount - foregroundBefore) / ((union + 1f) * union);
    }

    /// <summary>An element's share of the loss: <c>relu(e)·w</c> (NaN stays NaN; a softmax error is never negative).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Term(float error, float weight) => (error < 0f ? 0f : error) * weight;

    /// <summary>∂(relu(e)·w)/∂input: <c>∓w</c> where e &gt; 0 (−w on the foreground: e falls as p or x rises), else 0 (PyTorch's relu and abs at 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Slope(float error, bool foreground, float weight) => error > 0f ? (foreground ? -weight : weight) : 0f;
}

/// <summary>A float's bits and back: .NET's <see cref="BitConverter"/> on the CPU, ILGPU's <c>Interop</c> in its kernels.</summary>
internal interface IFloatBits
{
    static abstract uint ToBits(float value);

    static abstract float FromBits(uint bits);
}

/// <summary><see cref="IFloatBits"/> through <see cref="BitConverter"/>.</summary>
internal readonly struct FloatBits : IFloatBits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ToBits(float value) => BitConverter.SingleToUInt32Bits(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromBits(uint bits) => BitConverter.UInt32BitsToSingle(bits);
}
