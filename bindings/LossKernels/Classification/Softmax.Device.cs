using LossKernels.OpenCL;

namespace LossKernels.Classification;

/// <summary>The OpenCL launches of <see cref="Softmax"/>, <see cref="LogSoftmax"/> and <see cref="OneHot"/> (<c>kernels/opencl/cross_entropy.cl</c>): a work-group per row.</summary>
internal static unsafe class RowOperationsOnDevice
{
    private const int RowGroup = 256;
    private const int ElementGroup = 64;

    public static void Run(RowOperation operation, DeviceBuffer<float> first, DeviceBuffer<float>? second, int classes, DeviceBuffer<float> destination)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(destination);
        if (classes <= 0)
            ThrowHelper.OutOfRange(nameof(classes), classes, "> 0");
        bool backward = operation is RowOperation.SoftmaxBackward or RowOperation.LogSoftmaxBackward;
        string firstName = backward ? "output" : "input", destinationName = backward ? "inputGrad" : "output";
        if (first.Length % classes != 0)
            ThrowHelper.Argument(firstName, $"{firstName} holds {first.Length} values, not a whole number of rows of {classes}.");
        if (backward)
        {
            ArgumentNullException.ThrowIfNull(second, "outputGrad");
            ThrowHelper.IfLengthDiffers(first.Length, second.Length, "outputGrad");
        }

        ThrowHelper.IfTooShort(first.Length, destination.Length, destinationName);
        OpenCLDevice device = first.Device;
        DeviceChecks.Buffer(second, device, -1, "outputGrad");
        DeviceChecks.Buffer(destination, device, -1, destinationName);

        int rows = first.Length / classes;
        if (rows == 0)
            return;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            KernelSet kernels = CrossEntropyProgram.On(device);
            nint kernel = kernels.Kernel(CrossEntropyProgram.SoftmaxKernel);
            KernelSet.SetBuffer(kernel, 0, first.Handle);
            KernelSet.SetBuffer(kernel, 1, second?.Handle ?? 0);
            KernelSet.SetBuffer(kernel, 2, destination.Handle);
            KernelSet.SetValue(kernel, 3, classes);
            KernelSet.SetValue(kernel, 4, (int)operation);
            nuint group = 1;
            while (group < RowGroup && group * 4 < (nuint)classes && group * 2 <= (nuint)kernels.MaxWorkGroupSize(CrossEntropyProgram.SoftmaxKernel))
                group *= 2;
            nuint size = (nuint)rows * group;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &size, &group, 0, null, null), "clEnqueueNDRangeKernel");
        }
    }

    public static void OneHot(DeviceBuffer<long> target, int classes, DeviceBuffer<float> output, long ignoreIndex)
    {
        ArgumentNullException.ThrowIfNull(output);
        ClassTargets.Validate(target, classes, ignoreIndex);
        ThrowHelper.IfTooShort(checked(target.Length * classes), output.Length, nameof(output));
        OpenCLDevice device = target.Device;
        if (!ReferenceEquals(output.Device, device))
            ThrowHelper.Argument(nameof(output), "output lives on another device than target.");
        int elements = target.Length * classes;
        if (elements == 0)
            return;
        lock (device.Gate)
        {
            device.ThrowIfDisposed();
            nint kernel = CrossEntropyProgram.On(device).Kernel(CrossEntropyProgram.OneHotKernel);
            KernelSet.SetBuffer(kernel, 0, target.Handle);
            KernelSet.SetBuffer(kernel, 1, output.Handle);
            KernelSet.SetValue(kernel, 2, target.Length);
            KernelSet.SetValue(kernel, 3, classes);
            KernelSet.SetValue(kernel, 4, ignoreIndex);
            nuint local = ElementGroup;
            nuint global = ((nuint)elements + ElementGroup - 1) / ElementGroup * ElementGroup;
            OpenCLException.ThrowIfFailed(OpenCLNative.clEnqueueNDRangeKernel(device.Queue, kernel, 1, null, &global, &local, 0, null, null), "clEnqueueNDRangeKernel");
        }
    }
}
