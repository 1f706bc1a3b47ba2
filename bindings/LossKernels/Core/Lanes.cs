using System.Runtime.CompilerServices;

namespace LossKernels;

/// <summary>
/// One vector of float lanes with arithmetic operators, over <see cref="IVectorMath{TVec}"/>: lets long
/// formulas (the box losses' forward and hand-written backward) read as formulas. A single-field struct,
/// so the JIT keeps it in a register and every operator inlines to the one instruction it wraps.
/// Comparisons return lane masks for <see cref="Select"/>.
/// </summary>
internal readonly struct Lanes<TVec, TMath>(TVec value)
    where TVec : struct
    where TMath : struct, IVectorMath<TVec>
{
    public readonly TVec Value = value;

    public static implicit operator Lanes<TVec, TMath>(float scalar) => new(TMath.Create(scalar));

    public static implicit operator Lanes<TVec, TMath>(TVec vector) => new(vector);

    public static Lanes<TVec, TMath> operator +(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.Add(a.Value, b.Value));

    public static Lanes<TVec, TMath> operator -(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.Subtract(a.Value, b.Value));

    public static Lanes<TVec, TMath> operator -(Lanes<TVec, TMath> a) => new(TMath.Subtract(TMath.Create(0f), a.Value));

    public static Lanes<TVec, TMath> operator *(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.Multiply(a.Value, b.Value));

    public static Lanes<TVec, TMath> operator /(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.Divide(a.Value, b.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Less(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.LessThan(a.Value, b.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Greater(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.GreaterThan(a.Value, b.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Equal(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.Equal(a.Value, b.Value));

    /// <summary>Per lane: mask set ? whenTrue : whenFalse.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Select(Lanes<TVec, TMath> mask, Lanes<TVec, TMath> whenTrue, Lanes<TVec, TMath> whenFalse) =>
        new(TMath.Select(mask.Value, whenTrue.Value, whenFalse.Value));

    /// <summary>Per lane: mask set ? value : 0, as a bitwise and (NaN never leaks from unselected lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> And(Lanes<TVec, TMath> mask, Lanes<TVec, TMath> value) => new(TMath.And(mask.Value, value.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Min(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.Min(a.Value, b.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Max(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => new(TMath.Max(a.Value, b.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Abs(Lanes<TVec, TMath> a) => new(TMath.Abs(a.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Sqrt(Lanes<TVec, TMath> a) => new(TMath.Sqrt(a.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Exp(Lanes<TVec, TMath> a) => new(TMath.Exp(a.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Log(Lanes<TVec, TMath> a) => new(TMath.Log(a.Value));

    /// <summary>sign(a) ∈ {−1, 0, +1}, NaN at NaN: torch.abs's derivative away from NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> Sign(Lanes<TVec, TMath> a) => new(VectorMath.Sign<TVec, TMath>(a.Value));

    /// <summary>
    /// The share of ∂min(a, b) that goes to a: 1 where a &lt; b, ½ where a = b, 0 where a &gt; b — PyTorch's
    /// <c>torch.minimum</c>/<c>torch.min(a, b)</c> backward, which splits a tie evenly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> MinShare(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => And(Less(a, b), 1f) + And(Equal(a, b), 0.5f);

    /// <summary>The share of ∂max(a, b) that goes to a: 1 where a &gt; b, ½ at a tie, else 0 (PyTorch's split).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes<TVec, TMath> MaxShare(Lanes<TVec, TMath> a, Lanes<TVec, TMath> b) => And(Greater(a, b), 1f) + And(Equal(a, b), 0.5f);
}
