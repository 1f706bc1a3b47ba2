namespace LossKernels.Catalog;

/// <summary>Which entry point of a loss a catalog run calls.</summary>
public enum LossMode
{
    /// <summary>Forward only: the loss.</summary>
    Forward,

    /// <summary>Fused forward+backward: the loss and the input gradient in one pass.</summary>
    Fused,

    /// <summary>Backward only: the input gradient given the upstream gradient.</summary>
    Backward,
}

/// <summary>
/// A catalog loss bound to its inputs and to output buffers it owns: <see cref="Run"/> calls the
/// loss's public entry point for a mode and allocates nothing, so tests, benchmarks and the quick
/// report all run the same calls a user makes.
/// </summary>
public abstract class BoundLoss : IDisposable
{
    private protected BoundLoss(int[] lossShape, int inputLength, string inputName = "input", string? secondInputName = null, string? thirdInputName = null)
    {
        LossShape = lossShape;
        Loss = new float[lossShape.Aggregate(1, (a, b) => a * b)];
        InputGradient = new float[inputLength];
        var gradients = new Dictionary<string, float[]>(StringComparer.Ordinal) { [inputName] = InputGradient };
        if (secondInputName is not null)
        {
            SecondGradient = new float[inputLength];
            gradients[secondInputName] = SecondGradient;
        }

        if (thirdInputName is not null)
        {
            ThirdGradient = new float[inputLength];
            gradients[thirdInputName] = ThirdGradient;
        }

        Gradients = gradients;
    }

    /// <summary>A loss with gradients of their own lengths, by input name (the first is <see cref="InputGradient"/>): the cycle-consistency loss's images of two domains.</summary>
    private protected BoundLoss(int[] lossShape, (string Name, int Length)[] gradients)
    {
        LossShape = lossShape;
        Loss = new float[lossShape.Aggregate(1, (a, b) => a * b)];
        var named = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach ((string name, int length) in gradients)
            named[name] = new float[length];
        InputGradient = named[gradients[0].Name];
        Gradients = named;
    }

    /// <summary>The shape of the loss: empty (a scalar) when reduced, the input's shape for <c>reduction='none'</c>.</summary>
    public int[] LossShape { get; }

    /// <summary>The loss written by the last <see cref="LossMode.Forward"/> or <see cref="LossMode.Fused"/> run.</summary>
    public float[] Loss { get; }

    /// <summary>
    /// The gradient with respect to the first input (<c>input</c>, or the predicted boxes) written by the last fused or
    /// backward run (<c>grad.input</c>, <c>grad.pred</c> or <c>grad.boxes1</c> in a golden case).
    /// </summary>
    public float[] InputGradient { get; }

    /// <summary>Every gradient a fused or backward run writes, by input name (the <c>grad.&lt;name&gt;</c> keys of a golden case).</summary>
    public IReadOnlyDictionary<string, float[]> Gradients { get; }

    /// <summary>The gradient with respect to a second differentiable input (the target boxes), or null.</summary>
    private protected float[]? SecondGradient { get; }

    /// <summary>The gradient with respect to a third differentiable input (the triplet's negatives), or null.</summary>
    private protected float[]? ThirdGradient { get; }

    /// <summary>The number of floats the loss reads per input (n; 4n for boxes).</summary>
    public int Length => InputGradient.Length;

    /// <summary><c>simd</c> for the CPU kernels, else the device's <see cref="LossDevice.Backend"/>.</summary>
    public string Backend => Device?.Backend ?? "simd";

    /// <summary>The device the loss is bound to; null on the CPU.</summary>
    public LossDevice? Device { get; private set; }

    /// <summary>The loss's data and calls on <see cref="Device"/>, made at bind time; null on the CPU.</summary>
    private protected DeviceRun? DeviceRun { get; private set; }

    /// <summary>Puts the bound loss on <paramref name="device"/> with the <paramref name="run"/> it made for it (both null on the CPU): the last step of a derived constructor.</summary>
    private protected void Place(LossDevice? device, DeviceRun? run)
    {
        Device = device;
        DeviceRun = run;
    }

    /// <summary>Runs the loss's entry point for <paramref name="mode"/>; on a device, waits until the kernels have finished.</summary>
    public abstract void Run(LossMode mode);

    /// <summary>
    /// Copies what the last run left on the device into <see cref="Loss"/> and <see cref="InputGradient"/>.
    /// A reduced loss is on the host already; on the CPU this does nothing.
    /// </summary>
    public void FetchResults() => DeviceRun?.Fetch(LossShape.Length > 0 ? Loss : [], InputGradient, SecondGradient, ThirdGradient);

    /// <summary>Fills <see cref="Loss"/>, <see cref="InputGradient"/> and their device buffers with <paramref name="value"/>, so that a test sees whether a run writes every element.</summary>
    internal void Poison(float value)
    {
        Array.Fill(Loss, value);
        foreach (float[] gradient in Gradients.Values)
            Array.Fill(gradient, value);
        DeviceRun?.Poison(value);
    }

    /// <summary>Releases the device memory of a loss bound to a device.</summary>
    public void Dispose() => DeviceRun?.Dispose();

    /// <summary>The bytes a run of <paramref name="mode"/> must read and write at least: the figure GB/s is computed from.</summary>
    public abstract long BytesMoved(LossMode mode);
}
