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
public abstract class BoundLoss
{
    private protected BoundLoss(int[] lossShape, int inputLength)
    {
        LossShape = lossShape;
        Loss = new float[lossShape.Aggregate(1, (a, b) => a * b)];
        InputGradient = new float[inputLength];
    }

    /// <summary>The shape of the loss: empty (a scalar) when reduced, the input's shape for <c>reduction='none'</c>.</summary>
    public int[] LossShape { get; }

    /// <summary>The loss written by the last <see cref="LossMode.Forward"/> or <see cref="LossMode.Fused"/> run.</summary>
    public float[] Loss { get; }

    /// <summary>The gradient with respect to <c>input</c> written by the last fused or backward run (<c>grad.input</c> in a golden case).</summary>
    public float[] InputGradient { get; }

    /// <summary>The number of elements the loss reads per input (n).</summary>
    public int Length => InputGradient.Length;

    /// <summary>Runs the loss's entry point for <paramref name="mode"/>.</summary>
    public abstract void Run(LossMode mode);

    /// <summary>The bytes a run of <paramref name="mode"/> must read and write at least: the figure GB/s is computed from.</summary>
    public abstract long BytesMoved(LossMode mode);
}
