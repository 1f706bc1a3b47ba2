using LossKernels.Catalog;
using LossKernels.OpenCL;
using LossKernels.Tests.ILGPU;
using LossKernels.Tests.OpenCL;

namespace LossKernels.Tests.Core;

/// <summary>
/// The catalog fuzzer (<see cref="CatalogFuzz"/>) with fixed seeds: the CPU against PoCL in both reduction variants and
/// ILGPU's CPU accelerator (small sizes). The benchmarks' <c>fuzz</c> command runs it longer.
/// </summary>
[TestFixture]
[NonParallelizable]
public class FuzzTests
{
    [TestCase(OpenCLReductionVariant.ChunkPerWorkItem, 1)]
    [TestCase(OpenCLReductionVariant.WorkGroupTree, 2)]
    public void OpenCLAgreesWithTheCpuOrBothReject(OpenCLReductionVariant variant, int seed)
    {
        OpenCLDevice device = OpenCLTestDevice.Get(variant);
        var fuzz = new CatalogFuzz(seed, [device]);
        fuzz.Run(250);
        Report(fuzz);
    }

    [Test]
    public void IlgpuAgreesWithTheCpuOrBothReject()
    {
        var fuzz = new CatalogFuzz(3, [IlgpuTestAccelerator.Device], largestSize: 65);
        fuzz.Run(120);
        Report(fuzz);
    }

    private static void Report(CatalogFuzz fuzz)
    {
        TestContext.Out.WriteLine($"{fuzz.Calls} calls, {fuzz.Rejected} rejected everywhere, {fuzz.Compared} device runs compared, {fuzz.Defects.Count} defects");
        Assert.That(fuzz.Defects, Is.Empty, string.Join("\n", fuzz.Defects.Take(20)));
        Assert.That(fuzz.Compared, Is.GreaterThan(fuzz.Calls / 2), "most calls must run, not be rejected");
    }
}
