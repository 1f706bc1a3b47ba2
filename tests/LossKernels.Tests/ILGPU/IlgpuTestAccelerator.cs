using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using LossKernels.ILGPU;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// The ILGPU accelerator the tests run on: ILGPU's CPU accelerator (exact, slow: small sizes), or with
/// LOSSKERNELS_ILGPU_ACCELERATOR=cuda a CUDA device, which LOSSKERNELS_REQUIRE_CUDA=1 makes a failure to lack
/// (the GPU check script sets both).
/// </summary>
public static class IlgpuTestAccelerator
{
    public const string RequireCudaVariable = "LOSSKERNELS_REQUIRE_CUDA";

    private static readonly Lock Gate = new();
    private static Context? context;
    private static Accelerator? accelerator;
    private static IlgpuDevice? device;

    /// <summary>Whether the tests run on CUDA (LOSSKERNELS_ILGPU_ACCELERATOR=cuda).</summary>
    public static bool OnCuda => string.Equals(Environment.GetEnvironmentVariable(IlgpuRuntime.AcceleratorVariable), "cuda", StringComparison.OrdinalIgnoreCase);

    /// <summary>The shared accelerator.</summary>
    public static Accelerator Get()
    {
        lock (Gate)
        {
            if (accelerator is not null)
                return accelerator;
            IlgpuRuntime.MapNativeLibraries();
            if (OnCuda)
            {
                context = Context.Create(builder => builder.Cuda());
                accelerator = IlgpuRuntime.CreateAccelerator(context);
                if (accelerator is null)
                {
                    if (Environment.GetEnvironmentVariable(RequireCudaVariable) == "1")
                        Assert.Fail($"{RequireCudaVariable}=1 but ILGPU finds no CUDA device.");
                    Assert.Ignore("No CUDA device, so the ILGPU tests asked for CUDA are skipped.");
                }
            }
            else
            {
                context = Context.Create(builder => builder.CPU());
                accelerator = context.CreateCPUAccelerator(0);
            }

            return accelerator!;
        }
    }

    /// <summary>The shared accelerator as a catalog device.</summary>
    public static IlgpuDevice Device
    {
        get
        {
            Accelerator shared = Get();
            lock (Gate)
                return device ??= new IlgpuDevice(shared);
        }
    }

    public static MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(this Accelerator accelerator, T[] data)
        where T : unmanaged
    {
        MemoryBuffer1D<T, Stride1D.Dense> buffer = accelerator.Allocate1D<T>(Math.Max(1, data.Length));
        if (data.Length > 0)
            buffer.View.SubView(0, data.Length).CopyFromCPU(data);
        return buffer;
    }
}
