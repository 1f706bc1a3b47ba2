using ILGPU;
using ILGPU.Runtime;
using LossKernels.Generative;
using LossKernels.ILGPU;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.ILGPU;

/// <summary>
/// The content and style loss on the ILGPU accelerator: three layers (content only, style only, both, whose gradient the style's D·F tiles
/// add to) and the image, against the float64 references; a gradient over its style layer's features is refused.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ILGPUContentStyleTests
{
    [TestCaseSource(typeof(ContentStyleTests), nameof(ContentStyleTests.Losses))]
    public void MatchesTheReference(ContentStyleLoss loss)
    {
        Accelerator accelerator = IlgpuTestAccelerator.Get();
        const int images = 2;
        ContentStyleTests.Problem problem = ContentStyleTests.Problem.Create(loss, images, 77);
        MemoryBuffer1D<float, Stride1D.Dense>[] inputs = [.. problem.Features.Select(accelerator.Upload)],
            contents = [.. problem.ContentTargets.Select(accelerator.Upload)], grams = [.. problem.StyleGrams.Select(accelerator.Upload)],
            gradients = [.. problem.Features.Select(f => accelerator.Allocate1D<float>(f.Length))];
        using var pixels = accelerator.Upload(problem.Image);
        using var pixelsGrad = accelerator.Allocate1D<float>(problem.Image.Length);
        try
        {
            ContentStyleViewLayer[] layers =
            [
                .. Enumerable.Range(0, 3).Select(l => new ContentStyleViewLayer(inputs[l].View, gradients[l].View, images, problem.Channels[l],
                    problem.HasContent(l) ? contents[l].View : default, 0.5f + l, problem.HasStyle(l) ? grams[l].View : default, 2f - 0.5f * l)),
            ];
            var image = new ContentStyleViewImage(pixels.View, pixelsGrad.View, problem.ImageShape[0], problem.ImageShape[1], problem.ImageShape[2], problem.ImageShape[3]);
            ContentStyleResult result = loss.ForwardBackward(layers, image, Reduction.Mean, 0.75f);
            ContentStyleTests.AssertMatchesReference("ilgpu", loss, problem, Reduction.Mean, true, result, [.. gradients.Select(g => g.GetAsArray1D())],
                pixelsGrad.GetAsArray1D());
            Assert.Throws<ArgumentException>(() => loss.ForwardBackward([layers[1] with { InputGrad = inputs[1].View }], image));
        }
        finally
        {
            foreach (MemoryBuffer buffer in inputs.Concat(contents).Concat(grams).Concat(gradients))
                buffer.Dispose();
        }
    }
}
