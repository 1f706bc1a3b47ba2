using LossKernels.OpenCL;

namespace LossKernels.Benchmarks;

/// <summary>
/// The roof of the OpenCL rows: a buffer-to-buffer copy on the device (<c>clEnqueueCopyBuffer</c>)
/// that moves as many bytes as the kernel (half read, half written), timed next to it.
/// </summary>
internal sealed unsafe class DeviceCopyRoofline : IDisposable
{
    private readonly OpenCLDevice device;
    private readonly DeviceBuffer<byte> source;
    private readonly DeviceBuffer<byte> destination;
    private long bytesPerSide;

    public DeviceCopyRoofline(OpenCLDevice device, long maxBytesMoved)
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
