using LossKernels.Box;
using LossKernels.Classification;
using LossKernels.Regression;

namespace LossKernels.Catalog;

/// <summary>
/// Every loss by its catalog name (PyTorch's functional name: <c>smooth_l1</c>, <c>mse</c>, …), for
/// golden tests, benchmarks, the quick report and tools that run a loss by name with parameters.
/// Adding a loss adds one row to its family's list.
/// </summary>
public static class LossCatalog
{
    private static readonly LossDefinition[] Definitions = [.. RegressionCatalog.Rows, .. ClassificationCatalog.Rows, .. BoxCatalog.Rows, .. Segmentation.SegmentationCatalog.Rows, .. Embedding.EmbeddingCatalog.Rows, .. Generative.GenerativeCatalog.Rows];

    /// <summary>Every loss, in catalog order.</summary>
    public static IReadOnlyList<LossDefinition> All => Definitions;

    /// <summary>The loss named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No loss has that name.</exception>
    public static LossDefinition Get(string name) =>
        TryGet(name, out LossDefinition? definition)
            ? definition
            : throw new KeyNotFoundException($"No loss named '{name}' in the catalog; known: {string.Join(", ", Definitions.Select(d => d.Name))}.");

    /// <summary>Looks up the loss named <paramref name="name"/>.</summary>
    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out LossDefinition? definition)
    {
        definition = Array.Find(Definitions, d => d.Name == name);
        return definition is not null;
    }
}
