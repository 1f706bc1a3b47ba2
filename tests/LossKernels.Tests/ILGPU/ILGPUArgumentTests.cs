using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using LossKernels.Box;
using LossKernels.Classification;
using LossKernels.ILGPU;
using LossKernels.Regression;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// Bad arguments on the ILGPU entry points: each throws the documented exception naming its parameter, before any launch, with every view the
/// caller owns left as it was (filled with a sentinel beforehand and read back); views of another accelerator or of a disposed buffer are refused.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ILGPUArgumentTests
{
    private const float Sentinel = 12345f;
    private static Context? otherContext;
    private static Accelerator? other;

    private Accelerator accelerator = null!;

    [OneTimeSetUp]
    public void Open()
    {
        accelerator = IlgpuTestAccelerator.Get();
        otherContext ??= Context.Create(builder => builder.CPU());
        other ??= otherContext.CreateCPUAccelerator(0);
    }

    public static IEnumerable<TestCaseData> ElementwiseCases()
    {
        yield return Case("target length", "target", (a, b) => new MseLoss().ForwardBackward(a.X, a.Short, a.G));
        yield return Case("weight length", "weight", (a, b) => new MseLoss().ForwardBackward(a.X, a.T, a.G, weight: a.Short));
        yield return Case("gradient too short", "inputGrad", (a, b) => new MseLoss().ForwardBackward(a.X, a.T, a.Short));
        yield return Case("gradient shifted over the input", "inputGrad", (a, b) => new MseLoss().ForwardBackward(a.X, a.T, a.Whole.SubView(1, 64)));
        yield return Case("gradient over the target", "inputGrad", (a, b) => new MseLoss().ForwardBackward(a.Whole.SubView(0, 64), a.Whole.SubView(1, 64), a.Whole.SubView(1, 64)));
        yield return Case("output over the gradient", "inputGrad", (a, b) => new MseLoss().ForwardBackward(a.X, a.T, a.O, a.O));
        yield return Case("output shifted over upstream", "output", (a, b) => new MseLoss().ForwardBackward(a.X, a.T, a.Whole.SubView(1, 64), a.G, a.Whole.SubView(0, 64)));
        yield return Case("upstream required", "upstream", (a, b) => new MseLoss().Backward(a.X, a.T, default(ArrayView<float>), a.G));
        yield return Case("reduction none needs an output", "reduction", (a, b) => new MseLoss().Forward(a.X, a.T, Reduction.None));
        yield return Case("avg_factor with sum", "avgFactor", (a, b) => new MseLoss().Forward(a.X, a.T, Reduction.Sum, avgFactor: 3f));
        yield return Case("an invalid default elementwise loss", "Delta", (a, b) => default(HuberLoss).ForwardBackward(a.X, a.T, a.G));
        yield return Case("an invalid default loss", "P", (a, b) => default(MultiMarginLoss).ForwardBackward(a.X, a.Classes, a.G));
        yield return Case("ghm-c default bins", "Bins", (a, b) => default(GhmcLoss).ForwardBackward(a.X, a.T, a.G));
        yield return Case("no input", "input", (a, b) => new MseLoss().Forward(default(ArrayView<float>), a.T));
        yield return Case("target on another accelerator", "target", (a, b) => new MseLoss().ForwardBackward(a.X, b, a.G));
        yield return Case("gradient on another accelerator", "inputGrad", (a, b) => new MseLoss().ForwardBackward(a.X, a.T, b));
        yield return Case("box rows of 4", "prediction", (a, b) => new GeneralizedIoULoss().ForwardBackward(a.X.SubView(0, 63), a.T.SubView(0, 63), a.G));
        yield return Case("box format", "format", (a, b) => new GeneralizedIoULoss().Forward(a.X, a.T, format: (BoxFormat)7));
        yield return Case("box target gradient over the predictions", "targetGrad", (a, b) => new GeneralizedIoULoss().ForwardBackward(a.X, a.T, a.G, targetGrad: a.X));
        yield return Case("cross entropy rows", "logits", (a, b) => new CrossEntropyLoss().ForwardBackward(a.X.SubView(0, 63), a.Classes, a.G));
        yield return Case("cross entropy weight length", "weight", (a, b) => new CrossEntropyLoss().ForwardBackward(a.X, a.Classes, a.G, weight: a.Short.SubView(0, 7)));
        yield return Case("soft targets under the gradient", "logitsGrad", (a, b) => new CrossEntropyLoss().ForwardBackward(a.X, a.T, 8, a.T));
        yield return Case("cross entropy output over the gradient", "output", (a, b) => new CrossEntropyLoss().ForwardBackward(a.X, a.Classes, a.G.SubView(0, 8), a.G));
        yield return Case("cross entropy targets on another accelerator", "target", (a, b) => new CrossEntropyLoss().ForwardBackward(a.X, b.Cast<long>(), a.G));
        yield return Case("nll weight on another accelerator", "weight", (a, b) => new NllLoss().ForwardBackward(a.X, a.Classes, a.G, weight: b.SubView(0, 8)));
        yield return Case("multi margin target on another accelerator", "target", (a, b) => new MultiMarginLoss().ForwardBackward(a.X, b.Cast<long>(), a.G));
        yield return Case("pos weight on another accelerator", "posWeight", (a, b) => new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(a.X, a.T, b.SubView(0, 8), a.G));
        yield return Case("pos weight rows", "posWeight", (a, b) => new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(a.X, a.T, a.T.SubView(0, 7), a.G));
        yield return Case("ghm-c state length", "accumulatedCounts", (a, b) => new GhmcLoss(10, 0.5f).ForwardBackward(a.X, a.T, a.G, accumulatedCounts: new float[3]));
        yield return Case("ghm-c on another accelerator", "labelWeight", (a, b) => new GhmcLoss().ForwardBackward(a.X, a.T, a.G, labelWeight: b));
        yield return Case("softmax rows", "input", (a, b) => IlgpuSoftmax.Forward(a.X.SubView(0, 63), 8, a.G));
        yield return Case("one-hot output too short", "output", (a, b) => IlgpuOneHot.Encode(a.Classes, 100, a.G));
    }

    [TestCaseSource(nameof(ElementwiseCases))]
    public void ThrowsNamingTheParameterWithNothingWritten(string paramName, Action<Views, ArrayView<float>> call)
    {
        using var views = new Views(accelerator);
        using MemoryBuffer1D<float, Stride1D.Dense> elsewhere = other!.Allocate1D<float>(64);
        var e = Assert.Catch<ArgumentException>(() => call(views, elsewhere.View))!;
        Assert.That(e.ParamName, Is.EqualTo(paramName));
        views.AssertUnwritten();
    }

    [Test]
    public void DisposedBuffersAreRefused()
    {
        using var views = new Views(accelerator);
        MemoryBuffer1D<float, Stride1D.Dense> disposed = accelerator.Allocate1D<float>(64);
        ArrayView<float> stale = disposed.View;
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => new MseLoss().ForwardBackward(stale, views.T, views.G));
        Assert.Throws<ObjectDisposedException>(() => new MseLoss().ForwardBackward(views.X, stale, views.G));
        Assert.Throws<ObjectDisposedException>(() => new MseLoss().ForwardBackward(views.X, views.T, stale));
        views.AssertUnwritten();
    }

    private static TestCaseData Case(string name, string paramName, Action<Views, ArrayView<float>> call) =>
        new TestCaseData(paramName, call).SetName($"ILGPU argument: {name}");

    /// <summary>Input, target, gradient and output views of 64 floats (8 rows of 8), class indices, all filled with a sentinel.</summary>
    public sealed class Views : IDisposable
    {
        private readonly MemoryBuffer1D<float, Stride1D.Dense> floats;
        private readonly MemoryBuffer1D<long, Stride1D.Dense> classes;

        public Views(Accelerator accelerator)
        {
            floats = accelerator.Upload(Enumerable.Repeat(Sentinel, 4 * 64 + 8).ToArray());
            classes = accelerator.Upload(Enumerable.Repeat(0L, 8).ToArray());
        }

        /// <summary>All four 64-float views back to back, for overlaps.</summary>
        public ArrayView<float> Whole => floats.View;

        public ArrayView<float> X => floats.View.SubView(0, 64);

        public ArrayView<float> T => floats.View.SubView(64, 64);

        public ArrayView<float> G => floats.View.SubView(128, 64);

        public ArrayView<float> O => floats.View.SubView(192, 64);

        /// <summary>8 floats: too short for 64.</summary>
        public ArrayView<float> Short => floats.View.SubView(256, 8);

        public ArrayView<long> Classes => classes.View;

        public void AssertUnwritten() => Assert.That(floats.GetAsArray1D().All(v => v == Sentinel), "a view was written before the throw");

        public void Dispose()
        {
            floats.Dispose();
            classes.Dispose();
        }
    }
}
