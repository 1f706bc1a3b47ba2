namespace LossKernels;

/// <summary>
/// The math of a loss that is a sum of independent per-element terms ℓ(x, t): its value and its
/// derivative ∂ℓ/∂x for one vector of elements, written once over <see cref="IVectorMath{TVec}"/>.
/// Everything else — loops, widths, the overlapping tail, weights, reduction, threads, argument
/// checks — is the generic driver's (<see cref="ElementwiseLoss"/>), so a loss is only its math.
/// Implement it on a <c>readonly struct</c>, with <c>[MethodImpl(MethodImplOptions.AggressiveInlining)]</c> on
/// <see cref="Evaluate{TVec, TMath}"/>, so that the driver is specialized for it and the math inlined into the loop.
/// The same struct is the loss's GPU kernel through <c>LossKernels.ILGPU</c> (its <c>Evaluate</c> instantiated with a one-lane
/// math type): for that, give it blittable fields only (a byte, not a bool) and write the math with <c>TMath</c> calls alone.
/// </summary>
public interface IElementwiseLoss
{
    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> (with <c>ParamName</c> set to the hyperparameter's
    /// name) when a hyperparameter is out of range. The driver calls it before any work.
    /// </summary>
    void Validate();

    /// <summary>
    /// The loss's OpenCL kernel, for the <see cref="OpenCL.DeviceBuffer{T}"/> overloads of <see cref="ElementwiseLoss"/>: the
    /// same math as <see cref="Evaluate{TVec, TMath}"/>, written in <c>kernels/opencl/{family}.cl</c>. A loss implemented
    /// outside the library has no kernel there: throw <see cref="NotSupportedException"/>, and the device overloads
    /// throw it before any launch.
    /// </summary>
    ElementwiseKernel Kernel { get; }

    /// <summary>Element losses ℓ(x, t) of one vector, and ∂ℓ/∂x in <paramref name="gradient"/>.</summary>
    /// <typeparam name="TVec">The vector type (Vector512/256/128 of float).</typeparam>
    /// <typeparam name="TMath">The arithmetic of <typeparamref name="TVec"/>.</typeparam>
    /// <param name="input">The predictions x.</param>
    /// <param name="target">The targets t.</param>
    /// <param name="gradient">∂ℓ/∂x per lane.</param>
    /// <returns>ℓ(x, t) per lane.</returns>
    TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;
}

/// <summary>
/// An elementwise loss that is differentiable in its target too, as PyTorch differentiates it: <see cref="EvaluateTarget"/>
/// gives ∂ℓ/∂t, which <c>TargetBackward</c> writes on request (a pass of its own; nothing is computed for the target when
/// it is not asked for). Its OpenCL kernel is the function <c>{Kernel.Function}_target(t, x, p, &amp;grad)</c> of the same
/// family file: the target first, then the input.
/// </summary>
public interface IElementwiseTargetLoss : IElementwiseLoss
{
    /// <summary>Element losses ℓ(x, t) of one vector, and ∂ℓ/∂t in <paramref name="targetGradient"/>.</summary>
    /// <typeparam name="TVec">The vector type (Vector512/256/128 of float).</typeparam>
    /// <typeparam name="TMath">The arithmetic of <typeparamref name="TVec"/>.</typeparam>
    /// <param name="input">The predictions x.</param>
    /// <param name="target">The targets t.</param>
    /// <param name="targetGradient">∂ℓ/∂t per lane.</param>
    /// <returns>ℓ(x, t) per lane.</returns>
    TVec EvaluateTarget<TVec, TMath>(TVec input, TVec target, out TVec targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;
}

/// <summary>
/// A loss's target side as an elementwise loss of its own: its first stream is the target, its second the input, and its
/// gradient ∂ℓ/∂t. Every backend's elementwise driver runs it as it runs any loss, so the target gradient gets the same
/// weights, upstream, reductions, threads and checks.
/// </summary>
internal readonly struct TargetSide<TLoss>(TLoss loss) : IElementwiseLoss
    where TLoss : struct, IElementwiseTargetLoss
{
    private readonly TLoss loss = loss;

    public void Validate() => loss.Validate();

    public ElementwiseKernel Kernel => loss.Kernel with { Function = loss.Kernel.Function + "_target" };

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public TVec Evaluate<TVec, TMath>(TVec target, TVec input, out TVec gradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec> =>
        loss.EvaluateTarget<TVec, TMath>(input, target, out gradient);
}
