namespace LossKernels.OpenCL;

/// <summary>The argument checks every device entry point makes on an optional buffer: the same device, and the length it needs. No allocation.</summary>
internal static class DeviceChecks
{
    /// <summary>Throws unless <paramref name="buffer"/> (when given) lives on <paramref name="device"/> and holds <paramref name="length"/> elements (any length when negative).</summary>
    public static void Buffer<T>(DeviceBuffer<T>? buffer, OpenCLDevice device, int length, string paramName)
        where T : unmanaged
    {
        if (buffer is null)
            return;
        buffer.ThrowIfDisposed();
        if (!ReferenceEquals(buffer.Device, device))
            ThrowHelper.Argument(paramName, $"{paramName} lives on another device than the first input.");
        if (length >= 0)
            ThrowHelper.IfLengthDiffers(length, buffer.Length, paramName);
    }
}
