using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.OpenCL;

/// <summary>
/// The content and style loss on the OpenCL device: three layers (content only, style only, both, whose gradient the style's D·F tiles add
/// to) and the image, against the float64 references; bad arguments.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenCLContentStyleTests
{
    [TestCaseSource(typeof(ContentStyleTests), nameof(ContentStyleTests.Losses))]
    public void MatchesTheReference(ContentStyleLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((int images, Reduction reduction) in (ValueTuple<int, Reduction>[])[(1, Reduction.Mean), (3, Reduction.Sum)])
        {
            ContentStyleTests.Problem problem = ContentStyleTests.Problem.Create(loss, images, images + 40);
            DeviceBuffer<float>[] inputs = [.. problem.Features.Select(device.Upload)], contents = [.. problem.ContentTargets.Select(device.Upload)],
                grams = [.. problem.StyleGrams.Select(device.Upload)], gradients = [.. problem.Features.Select(f => device.Allocate<float>(f.Length))];
            using DeviceBuffer<float> pixels = device.Upload(problem.Image), pixelsGrad = device.Allocate<float>(problem.Image.Length);
            try
            {
                ContentStyleDeviceLayer[] layers =
                [
                    .. Enumerable.Range(0, 3).Select(l => new ContentStyleDeviceLayer(inputs[l], gradients[l], images, problem.Channels[l],
                        problem.HasContent(l) ? contents[l] : null, 0.5f + l, problem.HasStyle(l) ? grams[l] : null, 2f - 0.5f * l)),
                ];
                var image = new ContentStyleDeviceImage(pixels, pixelsGrad, problem.ImageShape[0], problem.ImageShape[1], problem.ImageShape[2], problem.ImageShape[3]);
                ContentStyleResult result = loss.ForwardBackward(layers, image, reduction, 0.75f);
                ContentStyleTests.AssertMatchesReference($"opencl N={images} {reduction}", loss, problem, reduction, true, result,
                    [.. gradients.Select(g => g.ToArray())], pixelsGrad.ToArray());
                ContentStyleResult forward = loss.Forward(layers, null, reduction);
                Assert.That(forward.TotalVariation, Is.Zero);
                Numerics.AssertClose("forward without the image", forward.Loss, result.Loss - loss.TotalVariationWeight * result.TotalVariation, 1e-5, 1e-9);
            }
            finally
            {
                foreach (DeviceBuffer<float> buffer in inputs.Concat(contents).Concat(grams).Concat(gradients))
                    buffer.Dispose();
            }
        }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> x = device.Upload(new float[24]), target = device.Upload(new float[24]), gram = device.Upload(new float[4]),
            gradient = device.Allocate<float>(24), pixels = device.Upload(new float[24]), pixelsGrad = device.Allocate<float>(24);
        var loss = new ContentStyleLoss();
        var layer = new ContentStyleDeviceLayer(x, gradient, 2, 2, target, 1f, gram, 1f);
        var image = new ContentStyleDeviceImage(pixels, pixelsGrad, 2, 1, 3, 4);
        gradient.Upload(Enumerable.Repeat(7f, 24).ToArray());
        pixelsGrad.Upload(Enumerable.Repeat(7f, 24).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("no gradient", () => loss.ForwardBackward([layer with { InputGrad = null }], image), typeof(ArgumentException), "layers"),
            ("style gradient in place", () => loss.ForwardBackward([layer with { InputGrad = x }], image), typeof(ArgumentException), "layers"),
            ("gradient is the image", () => loss.ForwardBackward([layer with { InputGrad = pixels }], image), typeof(ArgumentException), "layers"),
            ("image gradient is the image", () => loss.ForwardBackward([layer], image with { PixelsGrad = pixels }), typeof(ArgumentException), "image"),
            ("image gradient is a target", () => loss.ForwardBackward([layer], image with { PixelsGrad = target }), typeof(ArgumentException), "image"),
            ("style gram length", () => loss.ForwardBackward([layer with { StyleGram = target }], image), typeof(ArgumentException), "targetGram"),
            ("image extents", () => loss.ForwardBackward([layer], image with { Width = 5 }), typeof(ArgumentException), "image"),
            ("reduction none", () => loss.ForwardBackward([layer], image, Reduction.None), typeof(ArgumentException), "reduction"),
        ], name =>
        {
            Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written");
            Assert.That(pixelsGrad.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written");
        });
    }
}
