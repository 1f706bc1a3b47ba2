using LossKernels.OpenCL;

namespace LossKernels.Catalog;

/// <summary>A catalog loss's data on an OpenCL device: the inputs uploaded at bind time, and the output and gradient buffers.</summary>
internal sealed class DeviceTensors : IDisposable
{
    /// <summary>Uploads the inputs and allocates the outputs.</summary>
    /// <param name="device">The device.</param>
    /// <param name="input">The first input (predictions).</param>
    /// <param name="target">The second input, of any length (boxes, or the 4 floats per box of centerness targets).</param>
    /// <param name="weight">Weights, or empty.</param>
    /// <param name="upstream">The per-loss-value upstream of an unreduced loss.</param>
    /// <param name="outputLength">The number of loss values of an unreduced loss; null for a reduced one.</param>
    /// <param name="targetGradient">Whether a gradient with respect to <paramref name="target"/> is written too.</param>
    public DeviceTensors(OpenCLDevice device, float[] input, float[] target, float[] weight, float[] upstream, int? outputLength, bool targetGradient = false)
    {
        Device = device;
        Input = Upload(input);
        Target = Upload(target);
        Weight = weight.Length > 0 ? Upload(weight) : null;
        Upstream = outputLength is null ? null : Upload(upstream);
        Output = outputLength is int length ? device.Allocate<float>(length) : null;
        Gradient = device.Allocate<float>(input.Length);
        TargetGradient = targetGradient ? device.Allocate<float>(target.Length) : null;
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

    /// <summary>The gradient with respect to the target, for losses that write it; else null.</summary>
    public DeviceBuffer<float>? TargetGradient { get; }

    /// <summary>Downloads the element losses (when <paramref name="loss"/> is not empty) and the gradients.</summary>
    public void Fetch(float[] loss, float[] gradient, float[]? targetGradient)
    {
        if (loss.Length > 0)
            Output!.Download(loss);
        Gradient.Download(gradient);
        if (targetGradient is not null)
            TargetGradient!.Download(targetGradient);
    }

    /// <summary>Fills the output and gradient buffers with <paramref name="value"/>.</summary>
    public void Poison(float value)
    {
        foreach (DeviceBuffer<float>? buffer in (DeviceBuffer<float>?[])[Output, Gradient, TargetGradient])
        {
            if (buffer is null)
                continue;
            var filled = new float[buffer.Length];
            Array.Fill(filled, value);
            buffer.Upload(filled);
        }
    }

    public void Dispose()
    {
        foreach (DeviceBuffer<float>? buffer in (DeviceBuffer<float>?[])[Input, Target, Weight, Upstream, Output, Gradient, TargetGradient])
            buffer?.Dispose();
    }

    private DeviceBuffer<float> Upload(float[] data)
    {
        DeviceBuffer<float> buffer = Device.Allocate<float>(data.Length);
        buffer.Upload(data);
        return buffer;
    }
}
