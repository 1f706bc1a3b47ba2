using LossKernels.OpenCL;
using LossKernels.Tests.Golden;

namespace LossKernels.Tests.OpenCL;

/// <summary>Every golden case on the OpenCL device, in both reduction variants, with the CPU's tolerances.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLGoldenTests
{
    public static IEnumerable<TestCaseData> Cases() =>
        from variant in OpenCLTestDevice.Variants
        from TestCaseData golden in GoldenCases.Cases()
        select new TestCaseData(golden.Arguments[0], variant).SetName($"{golden.TestName} on {variant}");

    [TestCaseSource(nameof(Cases))]
    public void Case(string path, OpenCLReductionVariant variant) => GoldenCases.Check(path, OpenCLTestDevice.Get(variant));
}
