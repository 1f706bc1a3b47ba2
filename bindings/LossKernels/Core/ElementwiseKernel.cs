using System.Numerics;

namespace LossKernels;

/// <summary>
/// Where the OpenCL math of a loss lives: the family's source <c>kernels/opencl/{Family}.cl</c>, the function in it
/// that plays <c>LOSS</c> for its driver's step (<c>kernels/opencl/elementwise_kernels.h</c>, or for an
/// <see cref="Box.IBoxLoss"/> <c>kernels/opencl/box_kernels.h</c>), and up to four hyperparameters passed as the
/// kernel's <c>float4 p</c>. (The name predates the box family, which uses it too.)
/// </summary>
/// <param name="Family">The family file stem (<c>regression</c>, <c>box</c>).</param>
/// <param name="Function">The math function (<c>smooth_l1</c>).</param>
/// <param name="Parameters">The hyperparameters, in the order the function reads p.x, p.y, p.z, p.w.</param>
public readonly record struct ElementwiseKernel(string Family, string Function, Vector4 Parameters);
