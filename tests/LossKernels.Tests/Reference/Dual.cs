using System.Runtime.CompilerServices;

namespace LossKernels.Tests.Reference;

/// <summary>Eight partial derivatives, stored inline (a value type, so the reference allocates nothing per operation).</summary>
[InlineArray(8)]
public struct Partials8
{
    private double element;
}

/// <summary>
/// A float64 value with its derivatives with respect to eight inputs (forward-mode automatic differentiation),
/// so that the box losses' reference is written once, as the plain formula, and its gradient follows exactly.
/// min, max, abs and clamp differentiate as PyTorch's backward does (a tie splits evenly; |x|' = sign(x), 0 at 0;
/// clamp passes the gradient on its closed interval), so that ties give PyTorch's gradients.
/// </summary>
public struct Dual
{
    public double V;
    public Partials8 D;

    public Dual(double value)
    {
        V = value;
    }

    /// <summary>The input number <paramref name="index"/> (0..7): derivative 1 with respect to itself.</summary>
    public static Dual Variable(double value, int index)
    {
        var x = new Dual(value);
        x.D[index] = 1d;
        return x;
    }

    public static implicit operator Dual(double value) => new(value);

    public static Dual operator +(Dual a, Dual b) => Combine(a.V + b.V, a, 1d, b, 1d);

    public static Dual operator -(Dual a, Dual b) => Combine(a.V - b.V, a, 1d, b, -1d);

    public static Dual operator -(Dual a) => Scale(-a.V, a, -1d);

    public static Dual operator *(Dual a, Dual b) => Combine(a.V * b.V, a, b.V, b, a.V);

    public static Dual operator /(Dual a, Dual b) => Combine(a.V / b.V, a, 1d / b.V, b, -a.V / (b.V * b.V));

    public static Dual Min(Dual a, Dual b) => a.V < b.V ? a : b.V < a.V ? b : Combine(a.V, a, 0.5, b, 0.5);

    public static Dual Max(Dual a, Dual b) => a.V > b.V ? a : b.V > a.V ? b : Combine(a.V, a, 0.5, b, 0.5);

    public static Dual Abs(Dual a) => Scale(Math.Abs(a.V), a, Math.Sign(a.V));

    /// <summary>torch.clamp: the value bounded, the gradient passed where low ≤ a ≤ high.</summary>
    public static Dual Clamp(Dual a, double low, double high) => a.V < low ? new Dual(low) : a.V > high ? new Dual(high) : a;

    public static Dual Sqrt(Dual a) => Scale(Math.Sqrt(a.V), a, 0.5 / Math.Sqrt(a.V));

    public static Dual Exp(Dual a) => Scale(Math.Exp(a.V), a, Math.Exp(a.V));

    public static Dual Log(Dual a) => Scale(Math.Log(a.V), a, 1d / a.V);

    public static Dual Atan(Dual a) => Scale(Math.Atan(a.V), a, 1d / (1d + a.V * a.V));

    public static Dual Asin(Dual a) => Scale(Math.Asin(a.V), a, 1d / Math.Sqrt(1d - a.V * a.V));

    public static Dual Cos(Dual a) => Scale(Math.Cos(a.V), a, -Math.Sin(a.V));

    public static Dual Pow(Dual a, int power) => Scale(Math.Pow(a.V, power), a, power * Math.Pow(a.V, power - 1));

    /// <summary>The value with no derivative (<c>torch.no_grad</c>, <c>.detach()</c>).</summary>
    public readonly Dual Detached => new(V);

    private static Dual Combine(double value, in Dual a, double da, in Dual b, double db)
    {
        var r = new Dual(value);
        for (int i = 0; i < 8; i++)
            r.D[i] = (da == 0d ? 0d : da * a.D[i]) + (db == 0d ? 0d : db * b.D[i]);
        return r;
    }

    private static Dual Scale(double value, in Dual a, double da)
    {
        var r = new Dual(value);
        for (int i = 0; i < 8; i++)
            r.D[i] = da == 0d ? 0d : da * a.D[i];
        return r;
    }
}
