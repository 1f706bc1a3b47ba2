using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace LossKernels.OpenCL;

/// <summary>
/// One built program and its kernels, cached per device by <see cref="ProgramKey"/>. The sources are
/// <c>kernels/opencl/*.cl</c> and <c>kernels/opencl/*.h</c>, embedded in the library: <c>common.h</c>, then for a loss
/// <c>elementwise.h</c>, the family's file, its driver's step (<c>elementwise_kernels.h</c> or
/// <c>box_kernels.h</c>) and <c>driver.h</c>; for a family's own kernels, its file alone.
/// </summary>
internal sealed unsafe class KernelSet : IDisposable
{
    private readonly ProgramHandle program;
    private readonly KernelHandle[] kernels;
    private readonly int[] workGroupSizes;

    private KernelSet(ProgramHandle program, KernelHandle[] kernels, int[] workGroupSizes)
    {
        this.program = program;
        this.kernels = kernels;
        this.workGroupSizes = workGroupSizes;
    }

    /// <summary>The <c>cl_kernel</c> at <paramref name="index"/> of the names the set was built with.</summary>
    public nint Kernel(int index) => kernels[index].DangerousGetHandle();

    /// <summary>The largest work-group the device runs the kernel at <paramref name="index"/> with.</summary>
    public int MaxWorkGroupSize(int index) => workGroupSizes[index];

    public static KernelSet Build(OpenCLDevice device, in ProgramKey key, string[] names)
    {
        string[] files = key.Loss is null
            ? ["common.h", $"{key.Family}.cl"]
            : ["common.h", "elementwise.h", $"{key.Family}.cl", $"{key.Driver}_kernels.h", "driver.h"];
        string options = BuildOptions(device, key);
        ProgramHandle program = Create(device, files);
        try
        {
            nint deviceId = device.Info.DeviceId;
            int status;
            fixed (byte* optionBytes = Encoding.ASCII.GetBytes(options + "\0"))
                status = OpenCLNative.clBuildProgram(program.DangerousGetHandle(), 1, &deviceId, optionBytes, 0, 0);
            if (status != OpenCLNative.Success)
                throw new OpenCLException("clBuildProgram", status, $"Building {string.Join(" + ", files)} with '{options}' for {device.Info.Name}:{Environment.NewLine}{BuildLog(program, deviceId)}");

            var kernels = new KernelHandle[names.Length];
            var sizes = new int[names.Length];
            for (int i = 0; i < names.Length; i++)
            {
                fixed (byte* name = Encoding.ASCII.GetBytes(names[i] + "\0"))
                    kernels[i] = KernelHandle.Create(OpenCLNative.clCreateKernel(program.DangerousGetHandle(), name, &status), status);
                nuint size;
                OpenCLException.ThrowIfFailed(OpenCLNative.clGetKernelWorkGroupInfo(kernels[i].DangerousGetHandle(), deviceId, OpenCLNative.KernelWorkGroupSize, (nuint)sizeof(nuint), &size, null), "clGetKernelWorkGroupInfo");
                sizes[i] = (int)size;
            }

            return new KernelSet(program, kernels, sizes);
        }
        catch
        {
            program.Dispose();
            throw;
        }
    }

    /// <summary>A buffer argument; zero passes NULL, which the kernels read as "absent".</summary>
    public static void SetBuffer(nint kernel, uint index, nint memory) =>
        OpenCLException.ThrowIfFailed(OpenCLNative.clSetKernelArg(kernel, index, (nuint)sizeof(nint), memory == 0 ? null : &memory), "clSetKernelArg");

    public static void SetValue<T>(nint kernel, uint index, T value)
        where T : unmanaged =>
        OpenCLException.ThrowIfFailed(OpenCLNative.clSetKernelArg(kernel, index, (nuint)sizeof(T), &value), "clSetKernelArg");

    public void Dispose()
    {
        foreach (KernelHandle kernel in kernels)
            kernel?.Dispose();
        program.Dispose();
    }

    /// <summary>
    /// No fast-math options: the golden tolerances hold for IEEE arithmetic. Correctly rounded division
    /// and square root where the device offers them (OpenCL otherwise allows 2.5 ulp). On Oclgrind, box rows
    /// are gathered element by element (<c>SCALAR_ROWS</c>), which its checker survives.
    /// </summary>
    private static string BuildOptions(OpenCLDevice device, in ProgramKey key)
    {
        var options = new StringBuilder();
        if (key.Loss is not null)
        {
            options.Append("-D LOSS=").Append(key.Loss)
                .Append(key.Variant == OpenCLReductionVariant.ChunkPerWorkItem ? " -D VARIANT_CHUNK" : " -D VARIANT_TREE");
        }

        if (device.Info.CorrectlyRoundedDivide)
            options.Append(" -cl-fp32-correctly-rounded-divide-sqrt");
        // Oclgrind 21.10's uninitialized-value checker crashes on the box rows' vector shuffles (see box_kernels.h).
        if (device.Info.Name.Contains("Oclgrind", StringComparison.Ordinal))
            options.Append(" -D SCALAR_ROWS");
        return options.ToString().Trim();
    }

    private static ProgramHandle Create(OpenCLDevice device, string[] files)
    {
        byte[][] sources = Array.ConvertAll(files, Source);
        var handles = new GCHandle[sources.Length];
        byte** pointers = stackalloc byte*[sources.Length];
        nuint* lengths = stackalloc nuint[sources.Length];
        try
        {
            for (int i = 0; i < sources.Length; i++)
            {
                handles[i] = GCHandle.Alloc(sources[i], GCHandleType.Pinned);
                pointers[i] = (byte*)handles[i].AddrOfPinnedObject();
                lengths[i] = (nuint)sources[i].Length;
            }

            int status;
            return ProgramHandle.Create(OpenCLNative.clCreateProgramWithSource(device.Context, (uint)sources.Length, pointers, lengths, &status), status);
        }
        finally
        {
            foreach (GCHandle handle in handles)
            {
                if (handle.IsAllocated)
                    handle.Free();
            }
        }
    }

    private static byte[] Source(string file)
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"kernels/{file}")
            ?? throw new InvalidOperationException($"The kernel source kernels/{file} is not embedded in the library.");
        var bytes = new byte[stream.Length + 1];
        stream.ReadExactly(bytes.AsSpan(0, (int)stream.Length));
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private static string BuildLog(ProgramHandle program, nint device)
    {
        nuint size;
        if (OpenCLNative.clGetProgramBuildInfo(program.DangerousGetHandle(), device, OpenCLNative.ProgramBuildLog, 0, null, &size) != OpenCLNative.Success)
            return "(no build log)";
        var log = new byte[(int)size];
        fixed (byte* value = log)
            OpenCLNative.clGetProgramBuildInfo(program.DangerousGetHandle(), device, OpenCLNative.ProgramBuildLog, size, value, null);
        return Encoding.UTF8.GetString(log).TrimEnd('\0').Trim();
    }
}
