using LossKernels.OpenCL;

namespace LossKernels.Tests.OpenCL;

/// <summary>
/// The OpenCL devices the tests run on: the device <see cref="OpenCLDevice.Select()"/> picks, opened once per
/// reduction variant so that both variants are tested on whatever device there is. Without a device
/// the OpenCL tests are skipped with the reason, unless LOSSKERNELS_REQUIRE_OPENCL=1 (as in CI) makes
/// that a failure.
/// </summary>
public static class OpenCLTestDevice
{
    public const string RequireVariable = "LOSSKERNELS_REQUIRE_OPENCL";

    public static readonly OpenCLReductionVariant[] Variants = [OpenCLReductionVariant.ChunkPerWorkItem, OpenCLReductionVariant.WorkGroupTree];

    private static readonly Lock Gate = new();
    private static readonly Dictionary<OpenCLReductionVariant, OpenCLDevice> Devices = [];
    private static string? missingReason;

    /// <summary>The shared device for <paramref name="variant"/>; skips (or fails under LOSSKERNELS_REQUIRE_OPENCL=1) when there is none.</summary>
    public static OpenCLDevice Get(OpenCLReductionVariant variant = OpenCLReductionVariant.Auto)
    {
        lock (Gate)
        {
            if (Devices.TryGetValue(variant, out OpenCLDevice? device))
                return device;
            if (missingReason is null)
            {
                try
                {
                    device = OpenCLDevice.Select();
                    device.Variant = variant;
                    Devices[variant] = device;
                    return device;
                }
                catch (InvalidOperationException e)
                {
                    missingReason = e.Message;
                }
            }

            if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
                Assert.Fail($"{RequireVariable}=1 but no OpenCL device: {missingReason}");
            Assert.Ignore($"No OpenCL device, so the OpenCL tests are skipped: {missingReason}");
            return null!;
        }
    }

    /// <summary>Each call throws its exception type, naming <c>ParamName</c> when given, and <paramref name="assertUntouched"/> (called with the case's name) finds nothing written.</summary>
    public static void AssertEachThrowsWritingNothing((string Name, Action Call, Type Exception, string? ParamName)[] cases, Action<string> assertUntouched)
    {
        foreach ((string name, Action call, Type exception, string? paramName) in cases)
        {
            Exception thrown = Assert.Catch(() => call(), name)!;
            Assert.That(thrown, Is.InstanceOf(exception), name);
            if (paramName is not null)
                Assert.That(((ArgumentException)thrown).ParamName, Is.EqualTo(paramName), name);
            assertUntouched(name);
        }
    }

    /// <summary>A fresh device of its own, for tests that dispose it or need a second context.</summary>
    public static OpenCLDevice OpenSeparate()
    {
        OpenCLDevice shared = Get();
        return OpenCLDevice.Open(shared.Info.Index);
    }

    public static DeviceBuffer<T> Upload<T>(this OpenCLDevice device, T[] data)
        where T : unmanaged
    {
        DeviceBuffer<T> buffer = device.Allocate<T>(data.Length);
        buffer.Upload(data);
        return buffer;
    }

    public static T[] ToArray<T>(this DeviceBuffer<T> buffer)
        where T : unmanaged
    {
        var data = new T[buffer.Length];
        buffer.Download(data);
        return data;
    }
}
