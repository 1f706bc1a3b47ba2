using LossKernels.OpenCL;

namespace LossKernels.Catalog;

/// <summary>
/// A catalog loss's data on an OpenCL device: the inputs uploaded at bind time, the output and gradient buffers, and
/// the run's calls (<see cref="DeviceRun"/>; each bound loss writes its own <see cref="DeviceRun.Run"/>).
/// </summary>
internal abstract class OpenCLRun : DeviceRun
{
    /// <summary>Uploads the inputs and allocates the outputs.</summary>
    /// <param name="device">The device.</param>
    /// <param name="input">The first input (predictions).</param>
    /// <param name="target">The second input, of any length (boxes, or the 4 floats per box of centerness targets); the input's own array for a
    /// loss that reads one stream (the buffer is shared).</param>
    /// <param name="weight">Weights, or empty.</param>
    /// <param name="upstream">The per-loss-value upstream of an unreduced loss.</param>
    /// <param name="outputLength">The number of loss values of an unreduced loss; null for a reduced one.</param>
    /// <param name="targetGradient">Whether a gradient with respect to <paramref name="target"/> is written too.</param>
    /// <param name="classes">Class indices, uploaded to <see cref="Classes"/> when given.</param>
    /// <param name="extra">A loss's further input (a pos_weight tensor, FCOS distances), uploaded to <see cref="Extra"/> when given.</param>
    protected OpenCLRun(OpenCLDevice device, float[] input, float[] target, float[] weight, float[] upstream, int? outputLength, bool targetGradient = false,
        long[]? classes = null, float[]? extra = null)
    {
        Device = device;
        Input = Upload(input);
        Target = ReferenceEquals(target, input) ? Input : Upload(target);
        Weight = weight.Length > 0 ? Upload(weight) : null;
        Upstream = outputLength is null ? null : Upload(upstream);
        Output = outputLength is int length ? device.Allocate<float>(length) : null;
        Gradient = device.Allocate<float>(input.Length);
        TargetGradient = targetGradient ? device.Allocate<float>(target.Length) : null;
        Extra = extra is null ? null : Upload(extra);
        if (classes is null)
            return;
        Classes = device.Allocate<long>(classes.Length);
        Classes.Upload(classes);
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

    /// <summary>Class indices, for losses that take them; else null.</summary>
    public DeviceBuffer<long>? Classes { get; }

    /// <summary>A loss's further input; else null.</summary>
    public DeviceBuffer<float>? Extra { get; }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        if (loss.Length > 0)
            Output!.Download(loss);
        Gradient.Download(gradient);
        if (targetGradient is not null)
            TargetGradient!.Download(targetGradient);
    }

    public override void Poison(float value)
    {
        foreach (DeviceBuffer<float>? buffer in (DeviceBuffer<float>?[])[Output, Gradient, TargetGradient])
            Fill(buffer, value);
    }

    /// <summary>Fills a result buffer (when there is one) with <paramref name="value"/>, for <see cref="Poison"/>.</summary>
    protected static void Fill(DeviceBuffer<float>? buffer, float value)
    {
        if (buffer is null)
            return;
        var filled = new float[buffer.Length];
        Array.Fill(filled, value);
        buffer.Upload(filled);
    }

    public override void Dispose()
    {
        foreach (DeviceBuffer<float>? buffer in (DeviceBuffer<float>?[])[Input, Weight, Upstream, Output, Gradient, TargetGradient, Extra])
            buffer?.Dispose();
        if (!ReferenceEquals(Target, Input))
            Target.Dispose();
        Classes?.Dispose();
    }

    protected DeviceBuffer<float> Upload(float[] data)
    {
        DeviceBuffer<float> buffer = Device.Allocate<float>(data.Length);
        buffer.Upload(data);
        return buffer;
    }
}
