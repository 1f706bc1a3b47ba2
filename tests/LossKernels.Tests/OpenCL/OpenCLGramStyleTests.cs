using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;

namespace LossKernels.Tests.OpenCL;

/// <summary>
/// The Gram style loss on the OpenCL device: Johnson's and Gatys's, mean and sum, against the float64 formula at tile remainders; the Gram
/// the same bits as the CPU's (one fma chain per entry); bad arguments.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenCLGramStyleTests
{
    [TestCaseSource(typeof(GramStyleTests), nameof(GramStyleTests.Losses))]
    public void MatchesTheReference(GramStyleLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((int images, int channels, int spatial, int targetImages) in (ValueTuple<int, int, int, int>[])[(1, 1, 1, 1), (2, 3, 17, 2), (1, 17, 40, 1), (2, 33, 5, 1)])
            foreach (Reduction reduction in (Reduction[])[Reduction.Mean, Reduction.Sum])
            {
                (float[] x, float[] a) = GramStyleTests.Sample(loss, images, channels, spatial, targetImages, channels + spatial);
                string what = $"opencl N={images} C={channels} M={spatial} A of {targetImages} {reduction}";
                (double expected, double[] gradient) = GramStyleTests.Reference(loss, x, a, images, channels, reduction, 0.75);
                using DeviceBuffer<float> input = device.Upload(x), target = device.Upload(a), grad = device.Allocate<float>(x.Length),
                    gram = device.Allocate<float>(images * channels * channels);
                Numerics.AssertClose($"{what}: loss", loss.ForwardBackward(input, target, images, channels, grad, reduction, 0.75f), expected, 1e-4, 1e-9);
                Numerics.AssertClose($"{what}: gradient", grad.ToArray(), gradient, 1e-3, 1e-6 * gradient.Select(Math.Abs).Max());
                Numerics.AssertClose($"{what}: forward", loss.Forward(input, target, images, channels, reduction), expected, 1e-4, 1e-9);
                var cpuGram = new float[images * channels * channels];
                loss.ComputeGram(x, images, channels, cpuGram);
                loss.ComputeGram(input, images, channels, gram);
                Assert.That(Numerics.BitEqual(gram.ToArray(), cpuGram), $"{what}: the Gram's bits");
            }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using DeviceBuffer<float> x = device.Upload(new float[24]), a = device.Upload(new float[4]), gradient = device.Allocate<float>(24),
            longTarget = device.Allocate<float>(5), gram = device.Allocate<float>(7);
        var loss = new GramStyleLoss();
        gradient.Upload(Enumerable.Repeat(7f, 24).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("images not dividing", () => loss.ForwardBackward(x, a, 5, 2, gradient), typeof(ArgumentException), "input"),
            ("reduction none", () => loss.ForwardBackward(x, a, 2, 2, gradient, Reduction.None), typeof(ArgumentException), "reduction"),
            ("target length", () => loss.ForwardBackward(x, longTarget, 2, 2, gradient), typeof(ArgumentException), "targetGram"),
            ("gradient is the input", () => loss.ForwardBackward(gradient, a, 2, 2, gradient), typeof(ArgumentException), "inputGrad"),
            ("gram short", () => loss.ComputeGram(x, 2, 2, gram), typeof(ArgumentException), "gram"),
        ], name => Assert.That(gradient.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
