using System.Runtime.CompilerServices;

namespace LossKernels.Box;

/// <summary>How a box is stored in its row of four floats.</summary>
public enum BoxFormat
{
    /// <summary>(x1, y1, x2, y2): the top-left and bottom-right corners (torchvision's and mmdetection's default).</summary>
    Xyxy,

    /// <summary>(cx, cy, w, h): the center, the width and the height (torchvision's <c>box_convert</c> "cxcywh").</summary>
    Cxcywh,
}

/// <summary>The four coordinates of one vector of boxes, one column per field: lane k is box k.</summary>
/// <typeparam name="TVec">The vector type (Vector512/256/128 of float).</typeparam>
public struct BoxVectors<TVec>
    where TVec : struct
{
    /// <summary>Left edge (x1), or the center x in <see cref="BoxFormat.Cxcywh"/> before conversion.</summary>
    public TVec X1;

    /// <summary>Top edge (y1).</summary>
    public TVec Y1;

    /// <summary>Right edge (x2).</summary>
    public TVec X2;

    /// <summary>Bottom edge (y2).</summary>
    public TVec Y2;

    /// <summary>A vector of boxes from its four coordinate columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BoxVectors(TVec x1, TVec y1, TVec x2, TVec y2)
    {
        X1 = x1;
        Y1 = y1;
        X2 = x2;
        Y2 = y2;
    }
}

/// <summary>
/// The math of a loss over pairs of boxes (a prediction and its target, both <c>[N, 4]</c> rows) with one
/// loss value per pair: its value and its gradient with respect to the eight coordinates, for one vector
/// of pairs, written once over <see cref="IVectorMath{TVec}"/>. Loading, deinterleaving, the box format,
/// weights, reduction, threads and argument checks are the driver's (<see cref="BoxLoss"/>).
/// Implement it on a <c>readonly struct</c>, mark <see cref="Evaluate{TVec, TMath}"/>
/// <c>[MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]</c>, and write it with
/// <c>TMath</c> calls on plain vectors. A box loss is a few hundred vector instructions: compiled as a
/// method of its own it stays within the JIT's limit on inlined locals (inlined into the driver's loop, or written
/// with a struct wrapper around the vector, the limit is reached and the arithmetic becomes calls, measured 3–10×
/// slower), and fully optimized from its first call; the driver calls it once per vector of pairs. The same struct, with
/// blittable fields only, is the loss's GPU kernel through <c>LossKernels.ILGPU</c> (one box pair per thread).
/// </summary>
public interface IBoxLoss
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the hyperparameter when one is out of range.</summary>
    void Validate();

    /// <summary>
    /// The loss's OpenCL math: the function in <c>kernels/opencl/box.cl</c> and up to four hyperparameters. A loss
    /// implemented outside the library throws <see cref="NotSupportedException"/>, and the device overloads
    /// throw it before any launch.
    /// </summary>
    ElementwiseKernel Kernel { get; }

    /// <summary>Losses of one vector of box pairs (xyxy), and their gradients with respect to both boxes.</summary>
    /// <typeparam name="TVec">The vector type.</typeparam>
    /// <typeparam name="TMath">The arithmetic of <typeparamref name="TVec"/>.</typeparam>
    /// <param name="prediction">The predicted boxes.</param>
    /// <param name="target">The target boxes.</param>
    /// <param name="predictionGradient">∂ℓ/∂prediction per coordinate.</param>
    /// <param name="targetGradient">∂ℓ/∂target per coordinate (zero where the reference detaches the target).</param>
    /// <returns>ℓ per lane.</returns>
    TVec Evaluate<TVec, TMath>(in BoxVectors<TVec> prediction, in BoxVectors<TVec> target, out BoxVectors<TVec> predictionGradient, out BoxVectors<TVec> targetGradient)
        where TVec : struct
        where TMath : struct, IVectorMath<TVec>;
}
