using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;
using LossKernels.ILGPU;
using LossKernels.OpenCL;

namespace LossKernels.Benchmarks;

/// <summary>
/// A device the quick report times beside the CPU kernels, and the roof of its rows: a buffer-to-buffer copy on the device that
/// moves as many bytes as the kernel (half read, half written), timed next to it.
/// </summary>
internal interface IReportDevice : IDisposable
{
    /// <summary>The catalog device the rows bind to.</summary>
    LossDevice Device { get; }

    /// <summary>Whether the device computes in the host's memory (PoCL), so that the host copies bound it too.</summary>
    bool SharesHostMemory { get; }

    /// <summary>Sets the bytes the next <see cref="Copy"/> moves.</summary>
    void Prepare(long bytesMoved);

    /// <summary>Copies on the device and waits.</summary>
    void Copy();
}

/// <summary>An OpenCL device in the report; its roof is <c>clEnqueueCopyBuffer</c>.</summary>
internal sealed unsafe class OpenCLCopyRoofline : IReportDevice
{
    private readonly OpenCLDevice device;
    private readonly DeviceBuffer<byte> source;
    private readonly DeviceBuffer<byte> destination;
    private long bytesPerSide;

    public OpenCLCopyRoofline(OpenCLDevice device, long maxBytesMoved)
    {
        this.device = device;
        int side = (int)(maxBytesMoved / 2) + 64;
        source = device.Allocate<byte>(side);
        destination = device.Allocate<byte>(side);
        var fill = new byte[side];
        new Random(1).NextBytes(fill);
        source.Upload(fill);
        destination.Upload(fill);
    }

    public LossDevice Device => device;

    public bool SharesHostMemory => device.Info.Type.HasFlag(OpenCLDeviceType.Cpu);

    public void Prepare(long bytesMoved) => bytesPerSide = bytesMoved / 2;

    public void Copy()
    {
        OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueCopyBuffer(device.Queue, source.NativeHandle, destination.NativeHandle, 0, 0, (nuint)bytesPerSide, 0, null, null), "clEnqueueCopyBuffer");
        device.Finish();
    }

    public void Dispose()
    {
        source.Dispose();
        destination.Dispose();
    }
}

/// <summary>An ILGPU accelerator in the report (CUDA only: the CPU accelerator is a test device, not a GPU); its roof is a device-to-device copy.</summary>
internal sealed class IlgpuCopyRoofline : IReportDevice
{
    private readonly Accelerator accelerator;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> source;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense> destination;
    private long bytesPerSide;

    public IlgpuCopyRoofline(IlgpuDevice device, long maxBytesMoved)
    {
        Device = device;
        accelerator = device.Accelerator;
        long side = maxBytesMoved / 2 + 64;
        source = accelerator.Allocate1D<byte>(side);
        destination = accelerator.Allocate1D<byte>(side);
        source.MemSetToZero();
        destination.MemSetToZero();
        accelerator.Synchronize();
    }

    public LossDevice Device { get; }

    public bool SharesHostMemory => false;

    public void Prepare(long bytesMoved) => bytesPerSide = bytesMoved / 2;

    public void Copy()
    {
        source.View.SubView(0, bytesPerSide).CopyTo(destination.View.SubView(0, bytesPerSide));
        accelerator.Synchronize();
    }

    public void Dispose()
    {
        source.Dispose();
        destination.Dispose();
    }
}
