using System.Numerics;
using System.Runtime.CompilerServices;
using LossKernels.Classification;

namespace LossKernels.Generative;

/// <summary>
/// One element shape a <see cref="GanLoss"/> reduces to once its type and role have fixed the label y and the sign s: its value ℓ(x) and
/// slope dℓ/dx, and its OpenCL function in <c>kernels/opencl/generative.cl</c>. A form is its own type, so that each elementwise loop is
/// compiled for one form (a field switching between five would keep the JIT from inlining the math into the driver's loop).
/// </summary>
internal interface IGanForm
{
    /// <summary>The form's function in <c>kernels/opencl/generative.cl</c>.</summary>
    string Function { get; }

    /// <summary>ℓ(x) of one vector, and dℓ/dx in <paramref name="slope"/>.</summary>
    TVec Evaluate<TVec, TMath>(TVec x, float label, float sign, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;
}

/// <summary>BCE with logits to the label: ℓ = (1 − y)·x + softplus(−x), slope σ(x) − y = (1 − y)·σ(x) − y·σ(−x) (no cancellation near y).</summary>
internal readonly struct GanCrossEntropy : IGanForm
{
    public string Function => "gan_cross_entropy";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec x, float label, float sign, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec y = TMath.Create(label);
        TVec value = SigmoidTerms.CrossEntropy<TVec, TMath>(x, y, out TVec positive, out TVec negative);
        slope = SigmoidTerms.Difference<TVec, TMath>(positive, negative, y);
        return value;
    }
}

/// <summary>ℓ = (x − y)², slope 2(x − y).</summary>
internal readonly struct GanSquared : IGanForm
{
    public string Function => "gan_squared";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec x, float label, float sign, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec difference = TMath.Subtract(x, TMath.Create(label));
        slope = TMath.Add(difference, difference);
        return TMath.Multiply(difference, difference);
    }
}

/// <summary>ℓ = s·x, slope s (autograd's, even where x is NaN).</summary>
internal readonly struct GanLinear : IGanForm
{
    public string Function => "gan_linear";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec x, float label, float sign, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        slope = TMath.Create(sign);
        return TMath.Multiply(slope, x);
    }
}

/// <summary>ℓ = softplus(s·x) = max(s·x, 0) + ln(1 + e^−|x|), slope s·σ(s·x).</summary>
internal readonly struct GanSoftplus : IGanForm
{
    public string Function => "gan_softplus";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec x, float label, float sign, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec signed = TMath.Multiply(TMath.Create(sign), x);
        TVec log1p = SigmoidTerms.Sigmoids<TVec, TMath>(signed, out TVec positive, out _);
        slope = TMath.Multiply(TMath.Create(sign), positive);
        return TMath.Add(TMath.Max(signed, TMath.Create(0f)), log1p);
    }
}

/// <summary>ℓ = relu(1 + s·x), slope s where 1 + s·x &gt; 0 or is NaN, else 0 (torch.relu's backward passes the gradient where its result is not ≤ 0).</summary>
internal readonly struct GanHinge : IGanForm
{
    public string Function => "gan_hinge";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec x, float label, float sign, out TVec slope)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec margin = TMath.MultiplyAdd(TMath.Create(sign), x, TMath.Create(1f));
        TVec nan = TMath.IsNaN(margin);
        slope = TMath.And(TMath.Or(TMath.GreaterThan(margin, zero), nan), TMath.Create(sign));
        return TMath.Select(nan, margin, TMath.Max(margin, zero));
    }
}

/// <summary>
/// The element math of <see cref="GanLoss"/> for one form: c·ℓ(x) and c·dℓ/dx, an <see cref="IElementwiseLoss"/> whose target stream is
/// never read (the label is a field), so that every backend's elementwise driver runs it with the logits passed as both streams. The same
/// struct is the ILGPU kernel's math; the OpenCL functions of <c>kernels/opencl/generative.cl</c> mirror the forms.
/// </summary>
/// <param name="label">y of the cross-entropy and squared forms.</param>
/// <param name="sign">s of the linear, softplus and hinge forms (±1).</param>
/// <param name="scale">c: the loss weight (negative for the saturating generator loss).</param>
/// <param name="shift">Subtracted from every logit first (the relativistic loss's mean of the other kind; else 0).</param>
internal readonly struct GanTerms<TForm>(float label, float sign, float scale, float shift) : IElementwiseLoss
    where TForm : struct, IGanForm
{
    private readonly float label = label;
    private readonly float sign = sign;
    private readonly float scale = scale;
    private readonly float shift = shift;

    /// <summary>Nothing to check: <see cref="GanLoss"/> checked its parameters when it made these.</summary>
    public void Validate()
    {
    }

    /// <summary>The form's function in <c>kernels/opencl/generative.cl</c>: p = (y, s, c, shift).</summary>
    public ElementwiseKernel Kernel => new("generative", default(TForm).Function, new Vector4(label, sign, scale, shift));

    /// <summary>c·ℓ(x − shift) and c·dℓ/dx; the target is not read.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec c = TMath.Create(scale);
        TVec value = default(TForm).Evaluate<TVec, TMath>(TMath.Subtract(input, TMath.Create(shift)), label, sign, out TVec slope);
        gradient = TMath.Multiply(c, slope);
        return TMath.Multiply(c, value);
    }
}

/// <summary>An operation on a <see cref="GanLoss"/>'s element math, run by <see cref="GanLoss.Dispatch{TCall, TResult}"/> with the form's own type.</summary>
/// <typeparam name="TResult">What the operation returns: the loss (0 for an operation that returns none), or a catalog binding.</typeparam>
internal interface IGanCall<TResult>
{
    /// <summary>Runs the operation with <paramref name="terms"/>.</summary>
    TResult Run<TTerms>(TTerms terms)
        where TTerms : struct, IElementwiseLoss;
}
