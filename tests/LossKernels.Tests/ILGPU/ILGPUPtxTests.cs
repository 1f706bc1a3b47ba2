using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using LossKernels.Box;
using LossKernels.ILGPU;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// Every ILGPU kernel the library launches, compiled to PTX for sm_80 (A100) and sm_90 (H100/H200) devices without a GPU: it must compile, call
/// no unresolved external function (ILGPU leaves one for a .NET method it cannot lower, and the CUDA driver would refuse the module), and
/// use no approximate instruction (exp and log are the library's own polynomials, division and square root IEEE).
/// </summary>
[TestFixture]
[NonParallelizable]
public class ILGPUPtxTests
{
    private static readonly Assembly Kernels = typeof(IlgpuMath).Assembly;

    /// <summary>(name, kernel method) for every instantiation: the item kernel over each pass (each loss, and each target side, for the generic ones), the row kernel over each row pass (each embedding loss with float and int64 labels), GHM-C's histogram, the overlap losses' sums, the Lovász sort's scan.</summary>
    public static IEnumerable<TestCaseData> KernelMethods()
    {
        Type[] core = typeof(IElementwiseLoss).Assembly.GetTypes();
        Type[] ilgpu = Kernels.GetTypes();
        Type[] elementwiseLosses = [.. core.Where(t => t.IsValueType && !t.IsGenericTypeDefinition && typeof(IElementwiseLoss).IsAssignableFrom(t) && t.IsPublic),
            typeof(IElementwiseLoss).Assembly.GetType("LossKernels.Classification.GhmcElement`1")!.MakeGenericType(Kernels.GetType("LossKernels.ILGPU.IlgpuGhmcLoss+ViewBins")!)];
        Type targetSide = typeof(IElementwiseLoss).Assembly.GetType("LossKernels.TargetSide`1")!;
        elementwiseLosses = [.. elementwiseLosses, .. elementwiseLosses.Where(typeof(IElementwiseTargetLoss).IsAssignableFrom).Select(loss => targetSide.MakeGenericType(loss))];
        Type[] boxLosses = [.. core.Where(t => t.IsValueType && t.IsPublic && typeof(IBoxLoss).IsAssignableFrom(t))];
        Type itemPass = Kernels.GetType("LossKernels.ILGPU.IItemPass")!;
        Type rowPass = Kernels.GetType("LossKernels.ILGPU.IRowPass")!;
        Type[] embeddingLosses = [.. core.Where(t => t.IsValueType && t.IsPublic && typeof(LossKernels.Embedding.IEmbeddingLoss).IsAssignableFrom(t))];
        Type[] labelViews = [Kernels.GetType("LossKernels.ILGPU.FloatLabels")!, Kernels.GetType("LossKernels.ILGPU.LongLabels")!];
        Type embeddingRows = Kernels.GetType("LossKernels.ILGPU.EmbeddingRows`2")!;
        Type[] rowPasses = [.. ilgpu.Where(t => t.IsValueType && !t.IsGenericTypeDefinition && rowPass.IsAssignableFrom(t)),
            .. from loss in embeddingLosses from labels in labelViews select embeddingRows.MakeGenericType(loss, labels)];
        MethodInfo itemKernel = Kernel("LossKernels.ILGPU.ItemKernel", "Run");
        MethodInfo rowKernel = Kernel("LossKernels.ILGPU.RowKernel", "RunRows");

        var passes = new List<Type>();
        foreach (Type pass in ilgpu.Where(t => t.IsValueType && itemPass.IsAssignableFrom(t)))
        {
            if (!pass.IsGenericTypeDefinition)
                passes.Add(pass);
            else if (pass.Name.StartsWith("ElementwisePass", StringComparison.Ordinal))
                passes.AddRange(elementwiseLosses.Select(loss => pass.MakeGenericType(loss)));
            else if (pass.Name.StartsWith("BoxPass", StringComparison.Ordinal))
                passes.AddRange(boxLosses.Select(loss => pass.MakeGenericType(loss)));
            else if (pass.Name.StartsWith("RowItems", StringComparison.Ordinal))
                passes.AddRange(rowPasses.Select(row => pass.MakeGenericType(row)));
            else
                throw new InvalidOperationException($"No instantiation known for the generic pass {pass}.");
        }

        foreach (Type pass in passes)
            yield return new TestCaseData(Name(pass), itemKernel.MakeGenericMethod(pass)).SetName($"Ptx item {Name(pass)}");
        foreach (Type pass in rowPasses)
            yield return new TestCaseData(Name(pass), rowKernel.MakeGenericMethod(pass)).SetName($"Ptx rows {Name(pass)}");
        yield return new TestCaseData("ghmc histogram", Kernel("LossKernels.ILGPU.IlgpuGhmcLoss", "CountBins")).SetName("Ptx ghmc histogram");
        yield return new TestCaseData("overlap sums", Kernel("LossKernels.ILGPU.IlgpuOverlapLoss", "Sums")).SetName("Ptx overlap sums");
        yield return new TestCaseData("lovasz scan", Kernel("LossKernels.ILGPU.LovaszSort", "ExclusiveScan")).SetName("Ptx lovasz scan");
    }

    [TestCaseSource(nameof(KernelMethods))]
    public void CompilesToPtxForSm80AndSm90(string name, MethodInfo kernel)
    {
        using var context = Context.Create(builder => builder.Math(MathMode.Default));
        foreach (CudaArchitecture architecture in new[] { CudaArchitecture.SM_80, CudaArchitecture.SM_90 })
        {
            var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, CudaInstructionSet.ISA_80, null);
            var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), new KernelSpecialization());
            string ptx = compiled.PTXAssembly;
            // ILGPU targets the lowest architecture with the capabilities the kernel uses; the driver compiles that PTX for the device.
            Assert.That(ptx, Does.Contain($".target {backend.Capabilities.TargetArchitecture.ToString().ToLowerInvariant()}"), $"{name}: target");
            Assert.That(backend.Capabilities.TargetArchitecture, Is.LessThanOrEqualTo(architecture), $"{name}: target");
            Assert.That(ptx, Does.Not.Contain(".extern"), $"{name} on {architecture}: an unresolved external function (a .NET method ILGPU cannot lower)");
            Assert.That(ptx, Does.Not.Contain(".approx"), $"{name} on {architecture}: an approximate instruction");
        }
    }

    [Test]
    public void EveryPassTypeIsCompiled()
    {
        // A pass added without an instantiation above would be missed silently: each pass type must appear in the cases.
        string names = string.Join(" ", KernelMethods().Select(c => (string)c.Arguments[0]!));
        Type itemPass = Kernels.GetType("LossKernels.ILGPU.IItemPass")!;
        Type rowPass = Kernels.GetType("LossKernels.ILGPU.IRowPass")!;
        foreach (Type pass in Kernels.GetTypes().Where(t => t.IsValueType && (itemPass.IsAssignableFrom(t) || rowPass.IsAssignableFrom(t))))
            Assert.That(names, Does.Contain(pass.Name.Split('`')[0]), pass.FullName);
    }

    private static MethodInfo Kernel(string type, string name) =>
        Kernels.GetType(type)!.GetMethod(name, BindingFlags.NonPublic | BindingFlags.Static) ?? throw new MissingMethodException(type, name);

    private static string Name(Type type) =>
        type.IsGenericType ? $"{type.Name.Split('`')[0]}<{string.Join(",", type.GetGenericArguments().Select(Name))}>" : type.Name;
}
