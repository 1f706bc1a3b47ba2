using LossKernels.Tests.Golden;

namespace LossKernels.Tests.ILGPU;

/// <summary>Every golden case (the repository's and LOSSKERNELS_GOLDEN_DIRS') on the ILGPU accelerator, with the CPU's tolerances.</summary>
[TestFixture]
[NonParallelizable]
public class ILGPUGoldenTests
{
    [TestCaseSource(typeof(GoldenCases), nameof(GoldenCases.Cases))]
    public void Case(string path) => GoldenCases.Check(path, IlgpuTestAccelerator.Device);
}
