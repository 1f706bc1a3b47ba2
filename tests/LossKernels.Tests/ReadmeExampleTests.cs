using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using LossKernels.Box;
using LossKernels.Classification;
using LossKernels.ILGPU;
using LossKernels.OpenCL;
using LossKernels.Regression;
using LossKernels.Segmentation;
using LossKernels.Tests.OpenCL;

namespace LossKernels.Tests;

/// <summary>The README's usage examples compile, run, and are word for word the code below.</summary>
[TestFixture]
public class ReadmeExampleTests
{
    [Test]
    public void ExampleRunsAndGivesTheDocumentedValues()
    {
        // README example begin
        float[] prediction = [0.5f, -1.25f, 2f, 0f];
        float[] target = [0f, -1f, 0.5f, 0f];
        float[] gradient = new float[prediction.Length];

        var smoothL1 = new SmoothL1Loss(beta: 0.5f);
        float loss = smoothL1.ForwardBackward(prediction, target, gradient);   // fused: mean loss, d(loss)/d(prediction)
        float total = smoothL1.Forward(prediction, target, Reduction.Sum);     // forward only
        smoothL1.Backward(prediction, target, upstream: 2f, gradient);         // backward only, scaled by upstream

        float[] perElement = new float[prediction.Length];
        smoothL1.Forward(prediction, target, perElement);                      // reduction 'none'
        // README example end

        Assert.That(loss, Is.EqualTo((0.25f + 0.0625f + 1.25f + 0f) / 4));
        Assert.That(total, Is.EqualTo(0.25f + 0.0625f + 1.25f));
        Assert.That(gradient, Is.EqualTo(new[] { 0.5f, -0.25f, 0.5f, 0f }));
        Assert.That(perElement, Is.EqualTo(new[] { 0.25f, 0.0625f, 1.25f, 0f }));
    }

    [Test]
    public void BoxExampleRunsAndGivesTheDocumentedValues()
    {
        // README box example begin
        float[] predicted = [0f, 0f, 2f, 2f, 1f, 1f, 3f, 4f];   // two boxes, rows of (x1, y1, x2, y2)
        float[] target = [1f, 1f, 3f, 3f, 1f, 1f, 3f, 4f];
        float[] predictedGrad = new float[predicted.Length];

        var giou = new GeneralizedIoULoss();                                   // torchvision's eps = 1e-7
        float loss = giou.ForwardBackward(predicted, target, predictedGrad);    // fused: mean over boxes, d(loss)/d(predicted)

        float[] perBox = new float[2];
        new CompleteIoULoss().Forward(predicted, target, perBox);              // reduction 'none'

        float[] iou = new float[2 * 2];
        BoxIou.Pairwise(predicted, target, iou);                               // the n×m IoU matrix a matcher needs
        // README box example end

        Assert.That(loss, Is.EqualTo((1 - 1 / 7.0 + 2 / 9.0) / 2).Within(1e-6));
        Assert.That(perBox[1], Is.EqualTo(0f).Within(1e-6), "identical boxes");
        Assert.That(iou, Is.EqualTo(new[] { 1 / 7f, 1 / 9f, 2 / 3f, 1f }).Within(1e-6));
        Assert.That(predictedGrad[4..], Is.All.EqualTo(0f).Within(1e-6), "identical boxes: no gradient");
    }

    [Test]
    public void ClassificationExampleRunsAndGivesTheDocumentedValues()
    {
        // README classification example begin
        float[] logits = [2f, 0.5f, -1f, 0f, 3f, 0.1f];            // two rows of three classes, row-major [N, C]
        long[] classes = [0, 1];
        float[] logitsGrad = new float[logits.Length];

        var crossEntropy = new CrossEntropyLoss(ignoreIndex: -100, labelSmoothing: 0.1f);
        float ce = crossEntropy.ForwardBackward(logits, classes, logitsGrad);    // mean over rows, d(ce)/d(logits)
        crossEntropy.ForwardBackward(logits, classes, logits);                    // or in place: the gradient overwrites the logits

        float[] scores = [3f, -2f, 0.5f], labels = [1f, 0f, 1f], scoresGrad = new float[3];
        float focal = new SigmoidFocalLoss(alpha: 0.25f, gamma: 2f).ForwardBackward(scores, labels, scoresGrad);
        // README classification example end

        double Lse(double a, double b, double c) => Math.Log(Math.Exp(a) + Math.Exp(b) + Math.Exp(c));
        double first = Lse(2, 0.5, -1), second = Lse(0, 3, 0.1);
        double expected = (0.9 * (first - 2) + 0.1 / 3 * (3 * first - 1.5) + 0.9 * (second - 3) + 0.1 / 3 * (3 * second - 3.1)) / 2;
        Assert.That(ce, Is.EqualTo(expected).Within(1e-6));
        Assert.That(logits, Is.EqualTo(logitsGrad), "in place equals out of place");
        Assert.That(focal, Is.GreaterThan(0f));
        Assert.That(scoresGrad[0], Is.LessThan(0f), "a positive pushes its logit up");
    }

    [Test]
    public void SegmentationExampleRunsAndGivesTheDocumentedValues()
    {
        // README segmentation example begin
        var shape = new SegmentationShape(Batch: 1, Classes: 3, Spatial: 2 * 2);   // input [1, 3, 2, 2] logits, target [1, 2, 2]
        float[] segmentLogits = [2f, -1f, 0f, 1f, 0.5f, 3f, -2f, 0f, -1f, 0f, 2f, 0.5f];
        long[] mask = [0, 1, 2, 0];
        float[] segmentGrad = new float[segmentLogits.Length];

        float dice = new DiceLoss().ForwardBackward(segmentLogits, mask, segmentGrad, shape);          // smp's DiceLoss, multiclass from logits
        float tversky = new TverskyLoss(new OverlapOptions(perImage: true), alpha: 0.3f, beta: 0.7f).Forward(segmentLogits, mask, shape);
        // README segmentation example end

        var problem = new Reference.SegmentationProblem("dice_loss", new() { ["mode"] = "multiclass" }, segmentLogits, mask, null, 1, 3, 4, null);
        (double expected, double[] expectedGrad) = Reference.ReferenceSegmentationLosses.Compute(problem);
        Assert.That(dice, Is.EqualTo(expected).Within(1e-6));
        Numerics.AssertClose("dice gradient", segmentGrad, expectedGrad, 1e-5, 1e-7);
        double expectedTversky = Reference.ReferenceSegmentationLosses.Compute(problem with
        {
            Loss = "tversky_loss",
            Parameters = new() { ["mode"] = "multiclass", ["per_image"] = true, ["alpha"] = 0.3, ["beta"] = 0.7 },
        }).Loss;
        Assert.That(tversky, Is.EqualTo(expectedTversky).Within(1e-6));
    }

    [Test]
    public void OpenCLExampleRunsAndGivesTheDocumentedValues()
    {
        OpenCLTestDevice.Get();

        // README OpenCL example begin
        using var gpu = OpenCLDevice.Select();   // LOSSKERNELS_OPENCL_DEVICE, else the first GPU, else the first device
        using DeviceBuffer<float> x = gpu.Allocate<float>(4), t = gpu.Allocate<float>(4), g = gpu.Allocate<float>(4);
        x.Upload([0.5f, -1.25f, 2f, 0f]);
        t.Upload([0f, -1f, 0.5f, 0f]);
        float gpuLoss = new SmoothL1Loss(beta: 0.5f).ForwardBackward(x, t, g);   // the same call with device buffers
        float[] gpuGradient = new float[4];
        g.Download(gpuGradient);
        // README OpenCL example end

        Assert.That(gpuLoss, Is.EqualTo((0.25f + 0.0625f + 1.25f + 0f) / 4));
        Assert.That(gpuGradient, Is.EqualTo(new[] { 0.25f, -0.125f, 0.25f, 0f }));
    }

    [Test]
    public void IlgpuExampleRunsAndGivesTheDocumentedValues()
    {
        // README ILGPU example begin
        IlgpuRuntime.MapNativeLibraries();                                      // Linux: ILGPU's "cuda" is libcuda.so.1
        using var context = Context.Create(builder => builder.Cuda().CPU());    // the engine's own context
        using Accelerator accelerator = IlgpuRuntime.CreateAccelerator(context) ?? context.CreateCPUAccelerator(0);
        using var x = accelerator.Allocate1D([0.5f, -1.25f, 2f, 0f]);          // the engine's own buffers
        using var t = accelerator.Allocate1D([0f, -1f, 0.5f, 0f]);
        using var g = accelerator.Allocate1D<float>(4);
        float ilgpuLoss = new SmoothL1Loss(beta: 0.5f).ForwardBackward(x.View, t.View, g.View);   // the same call with ArrayViews
        float[] ilgpuGradient = g.GetAsArray1D();
        // README ILGPU example end

        Assert.That(ilgpuLoss, Is.EqualTo((0.25f + 0.0625f + 1.25f + 0f) / 4));
        Assert.That(ilgpuGradient, Is.EqualTo(new[] { 0.25f, -0.125f, 0.25f, 0f }));
    }

    private static string Root => Path.GetFullPath(Path.Combine(Golden.GoldenCases.BuiltInDirectory, "..", "..", ".."));

    [Test]
    public void ReadmeHasARowForEveryCatalogLoss()
    {
        string readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        foreach (var definition in Catalog.LossCatalog.All)
            Assert.That(readme, Does.Contain($"| `{definition.Name}` |"), $"README loss table row for {definition.Name}");
    }

    [TestCase("README example")]
    [TestCase("README OpenCL example")]
    [TestCase("README ILGPU example")]
    [TestCase("README box example")]
    [TestCase("README classification example")]
    [TestCase("README segmentation example")]
    public void ReadmeShowsTheExampleVerbatim(string marker)
    {
        string root = Root;
        string[] source = File.ReadAllLines(Path.Combine(root, "tests", "LossKernels.Tests", "ReadmeExampleTests.cs"));
        int begin = Array.FindIndex(source, l => l.Trim() == $"// {marker} begin");
        int end = Array.FindIndex(source, l => l.Trim() == $"// {marker} end");
        Assert.That(begin, Is.GreaterThanOrEqualTo(0).And.LessThan(end), marker);
        string example = string.Join('\n', source[(begin + 1)..end].Select(l => l.Length >= 8 ? l[8..] : l.Trim()));
        string readme = File.ReadAllText(Path.Combine(root, "README.md")).Replace("\r\n", "\n");
        Assert.That(readme, Does.Contain(example), "README.md must show the example exactly as this test runs it");
    }
}
