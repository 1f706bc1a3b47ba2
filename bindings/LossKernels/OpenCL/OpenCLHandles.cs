using System.Runtime.InteropServices;

namespace LossKernels.OpenCL;

/// <summary>The base of the OpenCL object handles: invalid when zero; released once, by the subclass's release call.</summary>
internal abstract class OpenCLHandle : SafeHandle
{
    protected OpenCLHandle(bool ownsHandle)
        : base(0, ownsHandle)
    {
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of <paramref name="value"/>, a handle a create call just returned with <paramref name="status"/>.</summary>
    protected static T Adopt<T>(T safeHandle, nint value, int status, string call)
        where T : OpenCLHandle
    {
        OpenCLException.ThrowIfFailed(status, call);
        safeHandle.SetHandle(value);
        return safeHandle;
    }
}

/// <summary>An owned <c>cl_context</c>.</summary>
internal sealed class ContextHandle() : OpenCLHandle(ownsHandle: true)
{
    public static ContextHandle Create(nint value, int status) => Adopt(new ContextHandle(), value, status, "clCreateContext");

    protected override bool ReleaseHandle() => OpenCLNative.clReleaseContext(handle) == OpenCLNative.Success;
}

/// <summary>An owned <c>cl_command_queue</c>.</summary>
internal sealed class QueueHandle() : OpenCLHandle(ownsHandle: true)
{
    public static QueueHandle Create(nint value, int status) => Adopt(new QueueHandle(), value, status, "clCreateCommandQueue");

    protected override bool ReleaseHandle() => OpenCLNative.clReleaseCommandQueue(handle) == OpenCLNative.Success;
}

/// <summary>A <c>cl_mem</c>: owned when the library created it, borrowed (never released) when it wraps an engine's buffer.</summary>
internal sealed class MemoryHandle(bool ownsHandle) : OpenCLHandle(ownsHandle)
{
    public bool OwnsHandle { get; } = ownsHandle;

    public static MemoryHandle Create(nint value, int status) => Adopt(new MemoryHandle(ownsHandle: true), value, status, "clCreateBuffer");

    public static MemoryHandle Borrow(nint value)
    {
        var borrowed = new MemoryHandle(ownsHandle: false);
        borrowed.SetHandle(value);
        return borrowed;
    }

    protected override bool ReleaseHandle() => OpenCLNative.clReleaseMemObject(handle) == OpenCLNative.Success;
}

/// <summary>An owned <c>cl_program</c>.</summary>
internal sealed class ProgramHandle() : OpenCLHandle(ownsHandle: true)
{
    public static ProgramHandle Create(nint value, int status) => Adopt(new ProgramHandle(), value, status, "clCreateProgramWithSource");

    protected override bool ReleaseHandle() => OpenCLNative.clReleaseProgram(handle) == OpenCLNative.Success;
}

/// <summary>An owned <c>cl_kernel</c>.</summary>
internal sealed class KernelHandle() : OpenCLHandle(ownsHandle: true)
{
    public static KernelHandle Create(nint value, int status) => Adopt(new KernelHandle(), value, status, "clCreateKernel");

    protected override bool ReleaseHandle() => OpenCLNative.clReleaseKernel(handle) == OpenCLNative.Success;
}
