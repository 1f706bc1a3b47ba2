using LossKernels.Classification;
using LossKernels.OpenCL;
using LossKernels.Regression;
using static LossKernels.Tests.Core.CatalogHarness;

namespace LossKernels.Tests.OpenCL;

/// <summary>Devices, buffers, programs and the error flag; every bad argument on the device throws before launch and writes nothing.</summary>
[TestFixture]
[NonParallelizable]
public unsafe class OpenCLDeviceTests
{
    [Test]
    public void ListsDevicesWithTheirFacts()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        IReadOnlyList<OpenCLDeviceInfo> devices = OpenCLDevice.ListDevices();
        Assert.That(devices, Is.Not.Empty);
        OpenCLDeviceInfo info = devices[device.Info.Index];
        Assert.Multiple(() =>
        {
            Assert.That(info.Name, Is.EqualTo(device.Info.Name).And.Not.Empty);
            Assert.That(info.Platform, Is.Not.Empty);
            Assert.That(info.GlobalMemoryBytes, Is.Positive);
            Assert.That(info.ComputeUnits, Is.Positive);
            Assert.That(info.MaxWorkGroupSize, Is.Positive);
            Assert.That(info.Type & (OpenCLDeviceType.Cpu | OpenCLDeviceType.Gpu | OpenCLDeviceType.Accelerator), Is.Not.EqualTo((OpenCLDeviceType)0));
            Assert.That(info.ToString(), Does.Contain(info.Name));
        });
    }

    [Test]
    public void SelectsByIndexByNameAndByTheEnvironment()
    {
        OpenCLDeviceInfo info = OpenCLTestDevice.Get().Info;
        string part = info.Name.Substring(info.Name.Length / 3, Math.Max(1, info.Name.Length / 3)).ToUpperInvariant();
        using (OpenCLDevice byIndex = OpenCLDevice.Select(info.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            Assert.That(byIndex.Info.Name, Is.EqualTo(info.Name));
        using (OpenCLDevice byName = OpenCLDevice.Select(part))
            Assert.That(byName.Info.Name, Does.Contain(part).IgnoreCase);
        Assert.That(() => OpenCLDevice.Select("no device is called this"), Throws.InvalidOperationException.With.Message.Contains(info.Name));
        Assert.That(() => OpenCLDevice.Select("999"), Throws.InvalidOperationException);
        Assert.That(() => OpenCLDevice.Open(-1), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("index"));

        string? saved = Environment.GetEnvironmentVariable(OpenCLDevice.DeviceVariable);
        try
        {
            Environment.SetEnvironmentVariable(OpenCLDevice.DeviceVariable, part);
            using OpenCLDevice fromEnvironment = OpenCLDevice.Select();
            Assert.That(fromEnvironment.Info.Name, Does.Contain(part).IgnoreCase);
            Environment.SetEnvironmentVariable(OpenCLDevice.DeviceVariable, "no device is called this");
            Assert.That(() => OpenCLDevice.Select(), Throws.InvalidOperationException);
        }
        finally
        {
            Environment.SetEnvironmentVariable(OpenCLDevice.DeviceVariable, saved);
        }
    }

    [Test]
    public void AutoPicksTheVariantByDeviceType()
    {
        using OpenCLDevice device = OpenCLTestDevice.OpenSeparate();
        Assert.That(device.Variant, Is.EqualTo(OpenCLReductionVariant.Auto));
        OpenCLReductionVariant expected = device.Info.Type.HasFlag(OpenCLDeviceType.Cpu)
            ? OpenCLReductionVariant.ChunkPerWorkItem
            : OpenCLReductionVariant.WorkGroupTree;
        Assert.That(device.ResolvedVariant, Is.EqualTo(expected));
        device.Variant = OpenCLReductionVariant.WorkGroupTree;
        Assert.That(device.ResolvedVariant, Is.EqualTo(OpenCLReductionVariant.WorkGroupTree));
        Assert.That(() => device.Variant = (OpenCLReductionVariant)7, Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void BuffersRoundTripWithOffsetsAndCheckTheirRange()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> buffer = device.Allocate<float>(10);
        buffer.Upload([1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f]);
        buffer.Upload([-1f, -2f], offset: 8);
        var tail = new float[4];
        buffer.Download(tail, offset: 6);
        Assert.That(tail, Is.EqualTo(new[] { 7f, 8f, -1f, -2f }));
        Assert.That(() => buffer.Upload(new float[3], offset: 8), Throws.ArgumentException.With.Property("ParamName").EqualTo("source"));
        Assert.That(() => buffer.Download(new float[11]), Throws.ArgumentException.With.Property("ParamName").EqualTo("destination"));
        Assert.That(() => buffer.Download(new float[1], offset: 11), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => device.Allocate<float>(-1), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("length"));
        using DeviceBuffer<long> empty = device.Allocate<long>(0);
        empty.Upload([]);
        Assert.That(empty.NativeHandle, Is.EqualTo((nint)0));
    }

    /// <summary>
    /// A buffer of 2 TiB passes CL_DEVICE_MAX_MEM_ALLOC_SIZE on every device there is, so the API must refuse it with
    /// CL_INVALID_BUFFER_SIZE whatever memory is free (8 GiB of floats was once granted by PoCL on a machine with room).
    /// </summary>
    [Test]
    public void AFailingCallNamesTheCallAndTheError()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        OpenCLException error = Assert.Throws<OpenCLException>(() => device.Allocate<KibibyteElement>(int.MaxValue).Dispose())!;
        Assert.That(error.Call, Is.EqualTo("clCreateBuffer"));
        Assert.That(error.StatusName, Is.EqualTo("CL_INVALID_BUFFER_SIZE"));
        Assert.That(error.Message, Does.Contain("clCreateBuffer").And.Contain(error.StatusName));
        Assert.That(OpenCLException.NameOf(-5), Is.EqualTo("CL_OUT_OF_RESOURCES"));
    }

    [Test]
    public void ABuildFailureCarriesTheBuildLog()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        lock (device.Gate)
        {
            OpenCLException error = Assert.Throws<OpenCLException>(() =>
                device.Kernels(new ProgramKey("regression", "no_such_loss", OpenCLReductionVariant.ChunkPerWorkItem), ElementwiseLauncher.KernelNames))!;
            Assert.That(error.Call, Is.EqualTo("clBuildProgram"));
            Assert.That(error.Message, Does.Contain("no_such_loss").And.Contain("regression.cl"));
        }
    }

    [Test]
    public void WrapsAnEnginesBufferWithoutTakingOwnership()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        (float[] input, float[] target) = Sample(1000, seed: 8);
        int status;
        nint memory = OpenCLNative.clCreateBuffer(device.NativeContext, OpenCLNative.MemReadWrite, 1000 * sizeof(float), null, &status);
        Assert.That(status, Is.Zero);
        try
        {
            using (DeviceBuffer<float> wrapped = device.Wrap<float>(memory, 1000))
            {
                Assert.That(wrapped.OwnsMemory, Is.False);
                Assert.That(wrapped.NativeHandle, Is.EqualTo(memory));
                wrapped.Upload(input);
                using DeviceBuffer<float> t = device.Upload(target);
                Assert.That(new L1Loss().Forward(wrapped, t), Is.EqualTo(new L1Loss().Forward(input, target)).Within(1e-6));
                Assert.That(() => device.Wrap<float>(memory, 1001), Throws.ArgumentException.With.Property("ParamName").EqualTo("length"));
            }

            nuint size;
            Assert.That(OpenCLNative.clGetMemObjectInfo(memory, OpenCLNative.MemSize, (nuint)sizeof(nuint), &size, null), Is.Zero, "the engine's buffer outlives the wrapper");
            using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
            Assert.That(() => other.Wrap<float>(memory, 1000), Throws.ArgumentException.With.Property("ParamName").EqualTo("memory"));
        }
        finally
        {
            OpenCLNative.clReleaseMemObject(memory);
        }
    }

    [Test]
    public void BadArgumentsThrowBeforeLaunchAndWriteNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        (float[] input, float[] target) = Sample(100, seed: 2);
        float[] sentinel = Enumerable.Repeat(123f, 100).ToArray();
        using DeviceBuffer<float> x = device.Upload(input), t = device.Upload(target), g = device.Upload(sentinel), o = device.Upload(sentinel);
        using DeviceBuffer<float> shortBuffer = device.Allocate<float>(99), foreign = other.Upload(target);
        DeviceBuffer<float> disposed = device.Upload(target);
        disposed.Dispose();
        var loss = new SmoothL1Loss(0.5f);

        (string Name, Action Call, Type Exception, string? ParamName)[] cases =
        [
            ("short gradient", () => loss.ForwardBackward(x, t, shortBuffer), typeof(ArgumentException), "inputGrad"),
            ("short target", () => loss.ForwardBackward(x, shortBuffer, g), typeof(ArgumentException), "target"),
            ("short weight", () => loss.ForwardBackward(x, t, g, weight: shortBuffer), typeof(ArgumentException), "weight"),
            ("short upstream", () => loss.Backward(x, t, shortBuffer, g), typeof(ArgumentException), "upstream"),
            ("short output", () => loss.ForwardBackward(x, t, shortBuffer, g), typeof(ArgumentException), "output"),
            ("target on another device", () => loss.ForwardBackward(x, foreign, g), typeof(ArgumentException), "target"),
            ("gradient on another device", () => loss.Backward(x, t, 1f, foreign), typeof(ArgumentException), "inputGrad"),
            ("disposed target", () => loss.ForwardBackward(x, disposed, g), typeof(ObjectDisposedException), null),
            ("disposed gradient", () => loss.ForwardBackward(x, t, disposed), typeof(ObjectDisposedException), null),
            ("output is the gradient", () => loss.ForwardBackward(x, t, g, g), typeof(ArgumentException), "inputGrad"),
            ("NaN hyperparameter", () => default(HuberLoss).ForwardBackward(x, t, g), typeof(ArgumentOutOfRangeException), "Delta"),
            ("avgFactor with sum", () => loss.ForwardBackward(x, t, g, Reduction.Sum, avgFactor: 2f), typeof(ArgumentException), "avgFactor"),
            ("reduction none without output", () => loss.Backward(x, t, 1f, g, Reduction.None), typeof(ArgumentException), "reduction"),
            ("rmse short gradient", () => new RmseLoss().ForwardBackward(x, t, shortBuffer), typeof(ArgumentException), "inputGrad"),
        ];
        OpenCLTestDevice.AssertEachThrowsWritingNothing(cases, name =>
        {
            Assert.That(g.ToArray(), Is.EqualTo(sentinel), $"{name}: gradient untouched");
            Assert.That(o.ToArray(), Is.EqualTo(sentinel), $"{name}: output untouched");
        });

        Assert.That(() => new HuberLoss(float.NaN), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("delta"));
    }

    [Test]
    public void ALossWithoutAKernelThrowsBeforeLaunch()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> x = device.Upload(new float[] { 1f, 2f }), g = device.Upload(new float[] { 5f, 5f });
        Assert.That(() => new CpuOnlyLoss().ForwardBackward(x, x, g), Throws.TypeOf<NotSupportedException>());
        Assert.That(g.ToArray(), Is.EqualTo(new[] { 5f, 5f }));
        Assert.That(new CpuOnlyLoss().Forward(new float[] { 1f, 3f }, new float[] { 0f, 0f }), Is.EqualTo(2f));
    }

    [Test]
    public void ADisposedDeviceRefusesWork()
    {
        OpenCLDevice device = OpenCLTestDevice.OpenSeparate();
        DeviceBuffer<float> x = device.Upload(new float[] { 1f, 2f });
        device.Dispose();
        device.Dispose();
        Assert.That(device.IsDisposed);
        Assert.That(() => new L1Loss().Forward(x, x), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => x.Download(new float[2]), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => device.Allocate<float>(1), Throws.TypeOf<ObjectDisposedException>());
        x.Dispose();
    }

    [Test]
    public void TheErrorFlagNamesTheFirstBadClassTargetAndClearsForTheNextCall()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        long[] targets = Enumerable.Range(0, 5000).Select(i => (long)(i % 7)).ToArray();
        targets[10] = -100;
        using (DeviceBuffer<long> good = device.Upload(targets))
            ClassTargets.Validate(good, classes: 7);

        targets[4321] = 7;
        targets[1234] = -3;
        using (DeviceBuffer<long> bad = device.Upload(targets))
        {
            ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => ClassTargets.Validate(bad, classes: 7))!;
            Assert.That(error.ParamName, Is.EqualTo("target"));
            Assert.That(error.Message, Does.Contain("index 1234").And.Contain("-3"));
            Assert.That(error.ActualValue, Is.EqualTo(-3L));
            Assert.That(() => ClassTargets.Validate(bad, classes: 7, ignoreIndex: -3), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("index 10 is -100"), "-100 is no longer ignored");
        }

        targets[4321] = 0;
        targets[1234] = 0;
        using (DeviceBuffer<long> fixedTargets = device.Upload(targets))
            ClassTargets.Validate(fixedTargets, classes: 7);
        Assert.That(() => ClassTargets.Validate(targets, classes: 0), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("classes"));
    }

    [Test]
    public void TheCpuClassTargetCheckAgreesWithTheDevice()
    {
        long[] targets = [0, 1, 2, -100, 3];
        ClassTargets.Validate(targets, classes: 4);
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => ClassTargets.Validate(targets, classes: 3))!;
        Assert.That(error.Message, Does.Contain("index 4"));
        Assert.That(() => ClassTargets.Validate([long.MinValue], classes: 3), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    /// <summary>A loss written outside the library: CPU math only.</summary>
    private readonly struct CpuOnlyLoss : IElementwiseLoss
    {
        public ElementwiseKernel Kernel => throw new NotSupportedException("CpuOnlyLoss has no OpenCL kernel.");

        public void Validate()
        {
        }

        public TVec Evaluate<TVec, TMath>(TVec input, TVec target, out TVec gradient)
            where TVec : struct
            where TMath : struct, IVectorMath<TVec>
        {
            gradient = TMath.Create(1f);
            return TMath.Subtract(input, target);
        }
    }

    /// <summary>An element of 1 KiB, so that int.MaxValue of them are 2 TiB.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Size = 1024)]
    private struct KibibyteElement;
}
