using System.Reflection;
using System.Runtime.InteropServices;

namespace LossKernels.OpenCL;

/// <summary>
/// The OpenCL entry points the library calls, and nothing more: a thin <c>[LibraryImport]</c> layer
/// over the ICD loader (<c>libOpenCL.so.1</c>, <c>OpenCL.dll</c>, or the macOS framework). Every
/// status code goes through <see cref="OpenCLException.ThrowIfFailed"/>.
/// </summary>
internal static unsafe partial class OpenCLNative
{
    private const string Library = "OpenCL";

    public const int Success = 0;
    public const uint True = 1;

    public const ulong DeviceTypeAll = 0xFFFFFFFF;

    public const uint PlatformName = 0x0902;

    public const uint DeviceType = 0x1000;
    public const uint DeviceMaxComputeUnits = 0x1002;
    public const uint DeviceMaxWorkGroupSize = 0x1004;
    public const uint DeviceGlobalMemSize = 0x101F;
    public const uint DeviceName = 0x102B;
    public const uint DeviceVendor = 0x102C;
    public const uint DeviceVersion = 0x102F;
    public const uint DeviceExtensions = 0x1030;
    public const uint DeviceSingleFpConfig = 0x101B;
    public const ulong FpCorrectlyRoundedDivideSqrt = 1 << 7;

    public const ulong MemReadWrite = 1 << 0;
    public const ulong MemCopyHostPtr = 1 << 5;
    public const uint MemSize = 0x1102;
    public const uint MemContext = 0x1106;

    public const uint ProgramBuildLog = 0x1183;
    public const uint KernelWorkGroupSize = 0x11B0;

    static OpenCLNative() => NativeLibrary.SetDllImportResolver(typeof(OpenCLNative).Assembly, Resolve);

    /// <summary>Maps the import name to the ICD loader of each platform; other names keep the default search.</summary>
    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
            return 0;
        string[] candidates = OperatingSystem.IsWindows() ? ["OpenCL.dll"]
            : OperatingSystem.IsMacOS() ? ["/System/Library/Frameworks/OpenCL.framework/OpenCL"]
            : ["libOpenCL.so.1", "libOpenCL.so"];
        foreach (string candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out nint handle))
                return handle;
        }

        return 0;
    }

    [LibraryImport(Library)]
    public static partial int clGetPlatformIDs(uint count, nint* platforms, uint* available);

    [LibraryImport(Library)]
    public static partial int clGetPlatformInfo(nint platform, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial int clGetDeviceIDs(nint platform, ulong type, uint count, nint* devices, uint* available);

    [LibraryImport(Library)]
    public static partial int clGetDeviceInfo(nint device, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial nint clCreateContext(nint* properties, uint deviceCount, nint* devices, nint notify, nint userData, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseContext(nint context);

    [LibraryImport(Library)]
    public static partial nint clCreateCommandQueue(nint context, nint device, ulong properties, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseCommandQueue(nint queue);

    [LibraryImport(Library)]
    public static partial int clFlush(nint queue);

    [LibraryImport(Library)]
    public static partial int clFinish(nint queue);

    [LibraryImport(Library)]
    public static partial nint clCreateBuffer(nint context, ulong flags, nuint size, void* hostPointer, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseMemObject(nint memory);

    [LibraryImport(Library)]
    public static partial int clGetMemObjectInfo(nint memory, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial int clEnqueueFillBuffer(nint queue, nint buffer, void* pattern, nuint patternSize, nuint offset, nuint size,
        uint waitCount, nint* waitList, nint* completion);

    [LibraryImport(Library)]
    public static partial int clEnqueueWriteBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* source,
        uint waitCount, nint* waitList, nint* completion);

    [LibraryImport(Library)]
    public static partial int clEnqueueReadBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* destination,
        uint waitCount, nint* waitList, nint* completion);

    [LibraryImport(Library)]
    public static partial int clEnqueueCopyBuffer(nint queue, nint source, nint destination, nuint sourceOffset, nuint destinationOffset, nuint size,
        uint waitCount, nint* waitList, nint* completion);

    [LibraryImport(Library)]
    public static partial nint clCreateProgramWithSource(nint context, uint count, byte** sources, nuint* lengths, int* status);

    [LibraryImport(Library)]
    public static partial int clBuildProgram(nint program, uint deviceCount, nint* devices, byte* options, nint notify, nint userData);

    [LibraryImport(Library)]
    public static partial int clGetProgramBuildInfo(nint program, nint device, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial int clReleaseProgram(nint program);

    [LibraryImport(Library)]
    public static partial nint clCreateKernel(nint program, byte* name, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseKernel(nint kernel);

    [LibraryImport(Library)]
    public static partial int clSetKernelArg(nint kernel, uint index, nuint size, void* value);

    [LibraryImport(Library)]
    public static partial int clGetKernelWorkGroupInfo(nint kernel, nint device, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial int clEnqueueNDRangeKernel(nint queue, nint kernel, uint dimensions, nuint* globalOffset, nuint* globalSize, nuint* localSize,
        uint waitCount, nint* waitList, nint* completion);
}
