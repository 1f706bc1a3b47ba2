using System.Numerics;
using System.Runtime.CompilerServices;
using LossKernels.Classification;

namespace LossKernels.Generative;

/// <summary>The per-element shape a <see cref="GanLoss"/> reduces to, once its type and role have fixed the label, sign and scale.</summary>
internal enum GanForm : byte
{
    /// <summary>c·[(1 − y)·x + softplus(−x)], slope c·(σ(x) − y): BCE with logits against the label y.</summary>
    CrossEntropy,

    /// <summary>c·(x − y)², slope 2c·(x − y).</summary>
    Squared,

    /// <summary>c·s·x, slope c·s.</summary>
    Linear,

    /// <summary>c·softplus(s·x), slope c·s·σ(s·x).</summary>
    Softplus,

    /// <summary>c·relu(1 + s·x), slope c·s where 1 + s·x &gt; 0 (or NaN), else 0 (torch.relu's backward).</summary>
    Hinge,
}

/// <summary>
/// The element math of <see cref="GanLoss"/>, an <see cref="IElementwiseLoss"/> whose target stream is never read (the label is a
/// field), so that every backend's elementwise driver runs it with the logits passed as both streams. One struct for every GAN
/// type: the form is a field, a branch that is the same for every element of a call. Written once over
/// <see cref="IVectorMath{TVec}"/>; <c>gan_loss</c> in <c>kernels/opencl/generative.cl</c> mirrors it.
/// </summary>
/// <param name="form">The element form.</param>
/// <param name="label">y of <see cref="GanForm.CrossEntropy"/> and <see cref="GanForm.Squared"/>.</param>
/// <param name="sign">s of <see cref="GanForm.Linear"/>, <see cref="GanForm.Softplus"/> and <see cref="GanForm.Hinge"/> (±1).</param>
/// <param name="scale">c: the loss weight (negative for the saturating generator loss).</param>
internal readonly struct GanTerms(GanForm form, float label, float sign, float scale) : IElementwiseLoss
{
    private readonly byte form = (byte)form;
    private readonly float label = label;
    private readonly float sign = sign;
    private readonly float scale = scale;

    /// <summary>Nothing to check: <see cref="GanLoss"/> checked its parameters when it made these.</summary>
    public void Validate()
    {
    }

    /// <summary><c>gan_loss</c> in <c>kernels/opencl/generative.cl</c>: p = (form, y, s, c).</summary>
    public ElementwiseKernel Kernel => new("generative", "gan_loss", new Vector4(form, label, sign, scale));

    /// <summary>The form's element loss times c, and its slope in x; the target is not read.</summary>
    /// <inheritdoc cref="IElementwiseLoss.Evaluate{TVec, TMath}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>
    {
        TVec zero = TMath.Create(0f);
        TVec c = TMath.Create(scale);
        TVec value;
        TVec slope;
        if (form == (byte)GanForm.CrossEntropy)
        {
            value = SigmoidTerms.CrossEntropy<TVec, TMath>(input, TMath.Create(label), out TVec positive, out _);
            slope = TMath.Subtract(positive, TMath.Create(label));
        }
        else if (form == (byte)GanForm.Squared)
        {
            TVec difference = TMath.Subtract(input, TMath.Create(label));
            value = TMath.Multiply(difference, difference);
            slope = TMath.Add(difference, difference);
        }
        else if (form == (byte)GanForm.Linear)
        {
            value = TMath.Multiply(TMath.Create(sign), input);
            slope = TMath.Create(sign);
        }
        else if (form == (byte)GanForm.Softplus)
        {
            TVec signed = TMath.Multiply(TMath.Create(sign), input);
            TVec log1p = SigmoidTerms.Sigmoids<TVec, TMath>(signed, out TVec positive, out _);
            value = TMath.Add(TMath.Max(signed, zero), log1p);
            slope = TMath.Multiply(TMath.Create(sign), positive);
        }
        else
        {
            TVec margin = TMath.MultiplyAdd(TMath.Create(sign), input, TMath.Create(1f));
            TVec nan = TMath.IsNaN(margin);
            value = TMath.Select(nan, margin, TMath.Max(margin, zero));
            // torch.relu's backward passes the gradient where its result is not ≤ 0: above 0, and at NaN.
            slope = TMath.And(TMath.Or(TMath.GreaterThan(margin, zero), nan), TMath.Create(sign));
        }

        gradient = TMath.Multiply(c, slope);
        return TMath.Multiply(c, value);
    }
}
