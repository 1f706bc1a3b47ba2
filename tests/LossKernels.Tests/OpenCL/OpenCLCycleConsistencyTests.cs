using LossKernels.Generative;
using LossKernels.OpenCL;
using LossKernels.Tests.Generative;
using LossKernels.Tests.Reference;

namespace LossKernels.Tests.OpenCL;

/// <summary>The cycle-consistency loss on the OpenCL device: against CycleGAN's terms in float64, with and without identities, in place; bad arguments.</summary>
[TestFixture]
[NonParallelizable]
public class OpenCLCycleConsistencyTests
{
    [TestCaseSource(typeof(CycleConsistencyTests), nameof(CycleConsistencyTests.Losses))]
    public void MatchesTheReference(CycleConsistencyLoss loss)
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        foreach ((int a, int b) in (ValueTuple<int, int>[])[(1, 7), (257, 18), (4099, 1031)])
            foreach (bool identities in (bool[])[true, false])
            {
                float[][] images = CycleConsistencyTests.Images(a, b, a + b);
                string what = $"opencl n_A={a} n_B={b} identities {identities}";
                (double[] terms, double[][] expected) = ReferenceCycleConsistency.Evaluate(loss, images[0], images[1], images[2], images[3],
                    identities ? images[4] : null, identities ? images[5] : null, 0.75);
                DeviceBuffer<float>[] buffers = images.Select(device.Upload).ToArray();
                DeviceBuffer<float>[] gradients = [device.Allocate<float>(a), device.Allocate<float>(b), device.Allocate<float>(a), device.Allocate<float>(b)];
                try
                {
                    CycleConsistencyResult result = loss.ForwardBackward(buffers[0], buffers[1], buffers[2], buffers[3], gradients[0], gradients[1],
                        identities ? buffers[4] : null, identities ? buffers[5] : null, identities ? gradients[2] : null, identities ? gradients[3] : null, 0.75f);
                    Numerics.AssertClose($"{what}: loss", result.Loss, terms.Sum(), 1e-5, 1e-6);
                    Numerics.AssertClose($"{what}: cycle B", result.CycleB, terms[1], 1e-5, 1e-6);
                    Numerics.AssertClose($"{what}: identity A", result.IdentityA, terms[2], 1e-5, 1e-6);
                    for (int k = 0; k < (identities ? 4 : 2); k++)
                        Numerics.AssertClose($"{what}: gradient {k}", gradients[k].ToArray(), expected[k], 1e-6, 1e-12);
                    Numerics.AssertClose($"{what}: forward", loss.Forward(buffers[0], buffers[1], buffers[2], buffers[3], identities ? buffers[4] : null,
                        identities ? buffers[5] : null).Loss, terms.Sum(), 1e-5, 1e-6);
                    // In place: each gradient over its own generated image's buffer.
                    loss.Backward(buffers[0], buffers[1], buffers[2], buffers[3], 0.75f, buffers[0], buffers[2], identities ? buffers[4] : null,
                        identities ? buffers[5] : null, identities ? buffers[4] : null, identities ? buffers[5] : null);
                    int[] written = [0, 2, 4, 5];
                    for (int k = 0; k < (identities ? 4 : 2); k++)
                        Numerics.AssertClose($"{what}: in place {k}", buffers[written[k]].ToArray(), expected[k], 1e-6, 1e-12);
                }
                finally
                {
                    foreach (DeviceBuffer<float> buffer in buffers.Concat(gradients))
                        buffer.Dispose();
                }
            }
    }

    [Test]
    public void BadArgumentsThrowWritingNothing()
    {
        OpenCLDevice device = OpenCLTestDevice.Get();
        using OpenCLDevice other = OpenCLTestDevice.OpenSeparate();
        using DeviceBuffer<float> recA = device.Upload(new float[8]), a = device.Upload(new float[8]), recB = device.Upload(new float[6]),
            b = device.Upload(new float[6]), gradA = device.Allocate<float>(8), gradB = device.Allocate<float>(6), shortA = device.Allocate<float>(7);
        using DeviceBuffer<float> foreign = other.Allocate<float>(6);
        var loss = new CycleConsistencyLoss();
        gradA.Upload(Enumerable.Repeat(7f, 8).ToArray());
        OpenCLTestDevice.AssertEachThrowsWritingNothing(
        [
            ("rec_A length", () => loss.ForwardBackward(shortA, a, recB, b, gradA, gradB), typeof(ArgumentException), "reconstructionA"),
            ("rec_B gradient on another device", () => loss.ForwardBackward(recA, a, recB, b, gradA, foreign), typeof(ArgumentException), "reconstructionBGrad"),
            ("short gradient", () => loss.ForwardBackward(recA, a, recB, b, shortA, gradB), typeof(ArgumentException), "reconstructionAGrad"),
            ("gradient is a real image", () => loss.ForwardBackward(recA, a, recB, b, gradA, b), typeof(ArgumentException), "reconstructionBGrad"),
            ("gradient is another image", () => loss.ForwardBackward(recA, a, recB, b, gradA, recA), typeof(ArgumentException), "reconstructionBGrad"),
        ], name => Assert.That(gradA.ToArray(), Is.All.EqualTo(7f), $"{name}: nothing written"));
    }
}
