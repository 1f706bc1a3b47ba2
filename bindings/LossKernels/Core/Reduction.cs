namespace LossKernels;

/// <summary>
/// How a loss reduces its per-element values, with PyTorch's meaning
/// (<c>reduction='none' | 'mean' | 'sum'</c> of <c>torch.nn.functional</c>).
/// </summary>
public enum Reduction
{
    /// <summary>No reduction: one loss value per element is written to the caller's output span.</summary>
    None,

    /// <summary>
    /// The sum of the (weighted) element losses divided by the element count, or by
    /// <c>avgFactor + eps</c> (eps = 2^-23, float32 epsilon) when an average factor is given, as mmdetection's
    /// <c>weight_reduce_loss</c>. The mean over zero elements is NaN, as PyTorch's.
    /// </summary>
    Mean,

    /// <summary>The sum of the (weighted) element losses; 0 over zero elements.</summary>
    Sum,
}
