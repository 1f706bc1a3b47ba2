using ILGPU;
using ILGPU.Runtime;
using LossKernels.Catalog;

namespace LossKernels.ILGPU;

/// <summary>
/// A catalog loss's data on an ILGPU accelerator: the inputs uploaded at bind time into buffers of its own, the output
/// and gradient buffers, and the run's calls (each bound loss's run writes its own <see cref="DeviceRun.Run"/>).
/// Absent optional inputs are default views, as a caller of the entry points passes them.
/// </summary>
internal abstract class IlgpuRun : DeviceRun
{
    private readonly List<MemoryBuffer> buffers = [];

    /// <summary>Uploads the inputs and allocates the outputs.</summary>
    /// <param name="device">The device.</param>
    /// <param name="input">The first input (predictions).</param>
    /// <param name="target">The second input, of any length; the input's own array for a loss that reads one stream (the view is shared).</param>
    /// <param name="weight">Weights, or empty.</param>
    /// <param name="upstream">The per-loss-value upstream of an unreduced loss.</param>
    /// <param name="outputLength">The number of loss values of an unreduced loss; null for a reduced one.</param>
    /// <param name="targetGradient">Whether a gradient with respect to <paramref name="target"/> is written too.</param>
    /// <param name="classes">Class indices, uploaded to <see cref="Classes"/> when given.</param>
    /// <param name="extra">A loss's further input (a pos_weight tensor, FCOS distances), uploaded to <see cref="Extra"/> when given.</param>
    protected IlgpuRun(IlgpuDevice device, float[] input, float[] target, float[] weight, float[] upstream, int? outputLength, bool targetGradient = false,
        long[]? classes = null, float[]? extra = null)
    {
        Device = device;
        Input = Upload(input);
        Target = ReferenceEquals(target, input) ? Input : Upload(target);
        Weight = weight.Length > 0 ? Upload(weight) : default;
        Upstream = outputLength is null ? default : Upload(upstream);
        Output = outputLength is int length ? Allocate<float>(length) : default;
        Gradient = Allocate<float>(input.Length);
        TargetGradient = targetGradient ? Allocate<float>(target.Length) : default;
        Classes = classes is null ? default : Upload(classes);
        Extra = extra is null ? default : Upload(extra);
        device.Accelerator.Synchronize();
    }

    public IlgpuDevice Device { get; }

    public AcceleratorStream Stream => Device.Stream;

    public ArrayView<float> Input { get; }

    public ArrayView<float> Target { get; }

    public ArrayView<float> Weight { get; }

    /// <summary>The per-element upstream of an unreduced loss; default for a reduced one.</summary>
    public ArrayView<float> Upstream { get; }

    /// <summary>The element losses of an unreduced loss; default for a reduced one.</summary>
    public ArrayView<float> Output { get; }

    public ArrayView<float> Gradient { get; }

    /// <summary>The gradient with respect to the target, for losses that write it; else default.</summary>
    public ArrayView<float> TargetGradient { get; }

    /// <summary>Class indices, for losses that take them; else default.</summary>
    public ArrayView<long> Classes { get; }

    /// <summary>A loss's further input; else default.</summary>
    public ArrayView<float> Extra { get; }

    public override void Fetch(float[] loss, float[] gradient, float[]? targetGradient, float[]? thirdGradient)
    {
        Stream.Synchronize();
        if (loss.Length > 0)
            Output.SubView(0, loss.Length).CopyToCPU(loss);
        Gradient.CopyToCPU(gradient);
        if (targetGradient is not null)
            TargetGradient.CopyToCPU(targetGradient);
    }

    public override void Poison(float value)
    {
        foreach (ArrayView<float> view in (ArrayView<float>[])[Output, Gradient, TargetGradient])
            Fill(view, value);
        Device.Accelerator.Synchronize();
    }

    /// <summary>Fills a result view (when it has elements) with <paramref name="value"/>, for <see cref="Poison"/>; the caller synchronizes.</summary>
    protected static void Fill(ArrayView<float> view, float value)
    {
        if (view.Length == 0)
            return;
        var filled = new float[view.Length];
        Array.Fill(filled, value);
        view.CopyFromCPU(filled);
    }

    public override void Dispose()
    {
        foreach (MemoryBuffer buffer in buffers)
            buffer.Dispose();
    }

    /// <summary>Waits for the run's stream: a catalog run returns with its results in place.</summary>
    protected void Finish() => Stream.Synchronize();

    /// <summary>A buffer of the run's holding <paramref name="data"/>, released with the run.</summary>
    protected ArrayView<T> Upload<T>(T[] data)
        where T : unmanaged
    {
        ArrayView<T> view = Allocate<T>(data.Length);
        if (data.Length > 0)
            view.CopyFromCPU(data);
        return view;
    }

    /// <summary>A buffer of the run's of <paramref name="length"/> elements, released with the run.</summary>
    protected ArrayView<T> Allocate<T>(int length)
        where T : unmanaged
    {
        // A zero-length buffer still gives a valid (empty) view, as an engine's empty tensor would.
        MemoryBuffer1D<T, Stride1D.Dense> buffer = Device.Accelerator.Allocate1D<T>(Math.Max(1, length));
        buffers.Add(buffer);
        return buffer.View.SubView(0, length);
    }
}
