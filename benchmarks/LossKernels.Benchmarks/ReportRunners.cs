using LossKernels.Catalog;

namespace LossKernels.Benchmarks;

/// <summary>One backend's way of running one loss at the report size, with reduction 'mean' and default parameters.</summary>
internal interface IReportRunner
{
    /// <summary><c>simd</c>, <c>opencl</c>, <c>tp-baseline</c> or <c>scalar</c> (the JSON names).</summary>
    string Backend { get; }

    /// <summary>The reduced loss of the last forward or fused run.</summary>
    float Loss { get; }

    /// <summary>The input gradient of the last fused or backward run.</summary>
    float[] Gradient { get; }

    void Run(LossMode mode);
}

/// <summary>Our kernels, CPU SIMD or OpenCL by how the loss was bound, run through the catalog exactly as a user's call.</summary>
internal sealed class CatalogRunner(BoundLoss bound) : IReportRunner
{
    public string Backend => bound.Backend;
    public float Loss => bound.Loss[0];

    public float[] Gradient
    {
        get
        {
            bound.FetchResults();
            return bound.InputGradient;
        }
    }

    public void Run(LossMode mode) => bound.Run(mode);
}
