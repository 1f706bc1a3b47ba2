using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.ILGPU;
using LossKernels.OpenCL;
using LossKernels.Tests.Core;

namespace LossKernels.Benchmarks;

/// <summary>
/// <c>fuzz [--calls N] [--seed S] [--no-opencl] [--no-ilgpu]</c>: <see cref="CatalogFuzz"/> for longer than the test suite runs it,
/// on the OpenCL device in both reduction variants and on ILGPU's CUDA device when there is one (10,000 calls by default). Prints
/// the calls tried, those every backend rejected, the device runs compared and every defect; exits 1 on any defect.
/// </summary>
internal static class FuzzCommand
{
    public static int Run(string[] args)
    {
        int calls = int.Parse(QuickReport.Option(args, "--calls") ?? "10000", System.Globalization.CultureInfo.InvariantCulture);
        int seed = int.Parse(QuickReport.Option(args, "--seed") ?? "1", System.Globalization.CultureInfo.InvariantCulture);
        using OpenCLDevice? openCL = args.Contains("--no-opencl") ? null : QuickReport.OpenDevice(null);
        using Context? context = args.Contains("--no-ilgpu") ? null : QuickReport.CudaContext();
        using Accelerator? cuda = context?.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)?.CreateAccelerator(context);
        int defects = 0;
        var runs = new List<(string Name, LossDevice? Device, Action? Setup)>();
        if (openCL is not null)
        {
            runs.Add(("opencl ChunkPerWorkItem", openCL, () => openCL.Variant = OpenCLReductionVariant.ChunkPerWorkItem));
            runs.Add(("opencl WorkGroupTree", openCL, () => openCL.Variant = OpenCLReductionVariant.WorkGroupTree));
        }

        if (cuda is not null)
            runs.Add(("ilgpu-cuda", new IlgpuDevice(cuda), null));
        if (runs.Count == 0)
            runs.Add(("simd alone", null, null));
        foreach ((string name, LossDevice? device, Action? setup) in runs)
        {
            setup?.Invoke();
            var fuzz = new CatalogFuzz(seed, device is null ? [] : [device]);
            fuzz.Run(calls);
            Console.WriteLine($"{name}: {fuzz.Calls} calls, {fuzz.Rejected} rejected by every backend, {fuzz.Compared} device runs compared, {fuzz.Defects.Count} defects");
            foreach (string defect in fuzz.Defects)
                Console.WriteLine($"  DEFECT {defect}");
            defects += fuzz.Defects.Count;
        }

        return defects == 0 ? 0 : 1;
    }
}
