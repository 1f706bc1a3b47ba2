using LossKernels.OpenCL;

namespace LossKernels.Catalog;

/// <summary>
/// One row of the <see cref="LossCatalog"/>: a loss by its catalog name (PyTorch's functional name),
/// what it computes, the inputs it takes, how to bind it to data with parameters, and how to make
/// sample inputs for benchmarks and reports.
/// </summary>
public sealed class LossDefinition
{
    private readonly Func<LossParameters, IReadOnlyDictionary<string, LossTensor>, LossTensor?, LossDevice?, BoundLoss> bind;
    private readonly Func<int, int, Dictionary<string, LossTensor>> sample;

    internal LossDefinition(string name, string family, string formula, string equivalent, string[] inputs, string[] optionalInputs,
        string[] parameters, int reportSize,
        Func<LossParameters, IReadOnlyDictionary<string, LossTensor>, LossTensor?, LossDevice?, BoundLoss> bind,
        Func<int, int, Dictionary<string, LossTensor>> sample, string[]? reductions = null)
    {
        Name = name;
        Family = family;
        Formula = formula;
        Equivalent = equivalent;
        Inputs = inputs;
        OptionalInputs = optionalInputs;
        Parameters = parameters;
        ReportSize = reportSize;
        Reductions = reductions ?? (parameters.Contains("reduction") ? ["none", "mean", "sum"] : []);
        this.bind = bind;
        this.sample = sample;
    }

    /// <summary>The catalog name, as in golden cases (<c>smooth_l1</c>).</summary>
    public string Name { get; }

    /// <summary>The loss family, which is also the folder and file stem of its code (<c>regression</c>).</summary>
    public string Family { get; }

    /// <summary>The forward formula, in one line.</summary>
    public string Formula { get; }

    /// <summary>The PyTorch, torchvision or mmdetection equivalent.</summary>
    public string Equivalent { get; }

    /// <summary>The required input names.</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>The optional input names.</summary>
    public IReadOnlyList<string> OptionalInputs { get; }

    /// <summary>The parameter names the loss accepts.</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <summary>
    /// The values <c>reduction</c> takes, the unreduced one first where there is one (<c>none</c>, <c>mean</c>, <c>sum</c>, and <c>batchmean</c>
    /// for <c>kl_div</c>; <c>mean</c> and <c>sum</c> for <c>triplet_mining_loss</c>, whose mined triplets have no fixed shape); empty when the
    /// loss has no <c>reduction</c> parameter.
    /// </summary>
    public IReadOnlyList<string> Reductions { get; }

    /// <summary>The element count the quick report runs it at.</summary>
    public int ReportSize { get; }

    /// <summary>Binds the loss to <paramref name="inputs"/> with <paramref name="parameters"/>.</summary>
    /// <param name="parameters">Hyperparameters by PyTorch name; unknown names are an error.</param>
    /// <param name="inputs">Tensors by input name; a missing required input or an unknown name is an error.</param>
    /// <param name="upstream">The upstream gradient: a scalar, or for <c>reduction='none'</c> one value per loss element; null for 1.</param>
    /// <param name="device">Null to run the CPU kernels; an OpenCL device to upload the inputs there and run its kernels.</param>
    /// <exception cref="ArgumentException">A missing or unknown input or parameter, or a shape that does not fit.</exception>
    public BoundLoss Bind(LossParameters parameters, IReadOnlyDictionary<string, LossTensor> inputs, LossTensor? upstream = null, LossDevice? device = null)
    {
        foreach (string input in Inputs)
        {
            if (!inputs.ContainsKey(input))
                throw new ArgumentException($"Loss '{Name}' needs input '{input}'.", input);
        }

        foreach (string input in inputs.Keys)
        {
            if (!Inputs.Contains(input) && !OptionalInputs.Contains(input))
                throw new ArgumentException($"Loss '{Name}' has no input '{input}'.", input);
        }

        BoundLoss bound = bind(parameters, inputs, upstream, device);
        try
        {
            parameters.ThrowIfUnused(Name);
        }
        catch
        {
            bound.Dispose();
            throw;
        }

        return bound;
    }

    /// <summary>
    /// A row for an <see cref="IElementwiseLoss"/>: inputs <c>input</c> and <c>target</c>, optional <c>weight</c>,
    /// the loss's own <paramref name="parameters"/> plus <c>reduction</c> and <c>avg_factor</c>.
    /// </summary>
    /// <param name="name">The catalog name.</param>
    /// <param name="family">The family (folder and file stem).</param>
    /// <param name="formula">The forward formula, in one line.</param>
    /// <param name="equivalent">The PyTorch, torchvision or mmdetection equivalent.</param>
    /// <param name="reportSize">The element count of the quick report.</param>
    /// <param name="create">Makes the loss from its parameters.</param>
    /// <param name="sample">Makes sample inputs (length, seed).</param>
    /// <param name="parameters">The loss's own parameter names.</param>
    /// <param name="acceptsBatchMean">Whether <c>reduction</c> may also be <c>"batchmean"</c> (the sum over the input's first dimension's size, as <c>kl_div</c>).</param>
    internal static LossDefinition Elementwise<TLoss>(string name, string family, string formula, string equivalent, int reportSize,
        Func<LossParameters, TLoss> create, Func<int, int, Dictionary<string, LossTensor>> sample, string[] parameters, bool acceptsBatchMean = false)
        where TLoss : struct, IElementwiseLoss =>
        new(name, family, formula, equivalent, ["input", "target"], ["weight"], [.. parameters, "reduction", "avg_factor"], reportSize,
            (p, inputs, upstream, device) => new ElementwiseBoundLoss<TLoss>(create(p), p, inputs, upstream, device, acceptsBatchMean), sample,
            acceptsBatchMean ? ["none", "mean", "sum", "batchmean"] : null);

    /// <summary>
    /// <see cref="Elementwise{TLoss}"/> for a loss differentiable in its target too: the row also takes <c>target_grad</c>
    /// (false by default), which makes fused and backward runs write <c>grad.target</c>.
    /// </summary>
    /// <inheritdoc cref="Elementwise{TLoss}"/>
    internal static LossDefinition ElementwiseWithTarget<TLoss>(string name, string family, string formula, string equivalent, int reportSize,
        Func<LossParameters, TLoss> create, Func<int, int, Dictionary<string, LossTensor>> sample, string[] parameters, bool acceptsBatchMean = false)
        where TLoss : struct, IElementwiseTargetLoss =>
        new(name, family, formula, equivalent, ["input", "target"], ["weight"], [.. parameters, "reduction", "avg_factor", "target_grad"], reportSize,
            (p, inputs, upstream, device) => new ElementwiseTargetBoundLoss<TLoss>(create(p), p, inputs, upstream, device, acceptsBatchMean), sample,
            acceptsBatchMean ? ["none", "mean", "sum", "batchmean"] : null);

    /// <summary>Sample inputs of <paramref name="length"/> elements in the ranges where every branch of the loss is exercised; the same for the same seed.</summary>
    public Dictionary<string, LossTensor> SampleInputs(int length, int seed) => sample(length, seed);
}
