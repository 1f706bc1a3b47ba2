using LossKernels.OpenCL;

namespace LossKernels.Catalog;

/// <summary>A catalog loss's data on an OpenCL device: the inputs uploaded at bind time, and the output and gradient buffers.</summary>
internal sealed class DeviceTensors : IDisposable
{
    public DeviceTensors(OpenCLDevice device, float[] input, float[] target, float[] weight, float[] upstream, bool unreduced)
    {
        Device = device;
        Input = Upload(input);
        Target = Upload(target);
        Weight = weight.Length > 0 ? Upload(weight) : null;
        Upstream = unreduced ? Upload(upstream) : null;
        Output = unreduced ? device.Allocate<float>(input.Length) : null;
        Gradient = device.Allocate<float>(input.Length);
    }

    public OpenCLDevice Device { get; }

    public DeviceBuffer<float> Input { get; }

    public DeviceBuffer<float> Target { get; }

    public DeviceBuffer<float>? Weight { get; }

    /// <summary>The per-element upstream of an unreduced loss; null for a reduced one.</summary>
    public DeviceBuffer<float>? Upstream { get; }

    /// <summary>The element losses of an unreduced loss; null for a reduced one.</summary>
    public DeviceBuffer<float>? Output { get; }

    public DeviceBuffer<float> Gradient { get; }

    /// <summary>Downloads the element losses (when <paramref name="loss"/> is not empty) and the gradient.</summary>
    public void Fetch(float[] loss, float[] gradient)
    {
        if (loss.Length > 0)
            Output!.Download(loss);
        Gradient.Download(gradient);
    }

    /// <summary>Fills the output and gradient buffers with <paramref name="value"/>.</summary>
    public void Poison(float value)
    {
        var filled = new float[Gradient.Length];
        Array.Fill(filled, value);
        Output?.Upload(filled);
        Gradient.Upload(filled);
    }

    public void Dispose()
    {
        foreach (DeviceBuffer<float>? buffer in (DeviceBuffer<float>?[])[Input, Target, Weight, Upstream, Output, Gradient])
            buffer?.Dispose();
    }

    private DeviceBuffer<float> Upload(float[] data)
    {
        DeviceBuffer<float> buffer = Device.Allocate<float>(data.Length);
        buffer.Upload(data);
        return buffer;
    }
}
