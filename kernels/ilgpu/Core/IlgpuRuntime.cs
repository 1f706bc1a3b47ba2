using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace LossKernels.ILGPU;

/// <summary>
/// Getting an accelerator for the losses: the native-library mapping ILGPU needs on Linux, and the choice of a CUDA
/// device (or ILGPU's CPU accelerator, which runs every kernel exactly but slowly: tests at small sizes).
/// </summary>
public static class IlgpuRuntime
{
    /// <summary>The environment variable <see cref="CreateAccelerator"/> reads: <c>cuda</c> (the default: a CUDA device if there is one) or <c>cpu</c>.</summary>
    public const string AcceleratorVariable = "LOSSKERNELS_ILGPU_ACCELERATOR";

    private static readonly Lock Gate = new();
    private static bool mapped;

    /// <summary>
    /// Maps the native library names ILGPU imports (<c>cuda</c>, <c>OpenCL</c>) to the files Linux drivers install
    /// (<c>libcuda.so.1</c>, <c>libOpenCL.so.1</c>; the unversioned <c>libcuda.so</c> often comes only with the CUDA toolkit).
    /// Call it once before <c>Context.Create</c>; later calls do nothing. Not needed on Windows, and left to ILGPU
    /// under WSL, where ILGPU maps the library itself.
    /// </summary>
    /// <returns>Whether this call installed the mapping.</returns>
    public static bool MapNativeLibraries()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || IsWsl())
            return false;
        lock (Gate)
        {
            if (mapped)
                return false;
            NativeLibrary.SetDllImportResolver(typeof(Context).Assembly, Resolve);
            mapped = true;
            return true;
        }
    }

    /// <summary>
    /// Opens an accelerator in <paramref name="context"/>: the first CUDA device, unless <see cref="AcceleratorVariable"/> is
    /// <c>cpu</c>; null when CUDA is asked for and there is none (ILGPU's context would otherwise fall back to the CPU
    /// silently). <paramref name="context"/> must have been built with <c>.Cuda()</c> and <c>.CPU()</c> devices as wanted.
    /// </summary>
    /// <param name="context">The ILGPU context.</param>
    /// <returns>The accelerator (the caller disposes it), or null.</returns>
    public static Accelerator? CreateAccelerator(Context context)
    {
        ArgumentNullException.ThrowIfNull(context);
        bool cpu = string.Equals(Environment.GetEnvironmentVariable(AcceleratorVariable), "cpu", StringComparison.OrdinalIgnoreCase);
        Device? device = cpu
            ? context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.CPU)
            : context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda);
        return device?.CreateAccelerator(context);
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string? file = name switch
        {
            "cuda" => "libcuda.so.1",
            "OpenCL" => "libOpenCL.so.1",
            _ => null,
        };
        return file is not null && NativeLibrary.TryLoad(file, assembly, searchPath, out nint handle) ? handle : 0;
    }

    private static bool IsWsl()
    {
        try
        {
            return File.ReadAllText("/proc/version").Contains("microsoft", StringComparison.OrdinalIgnoreCase);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
