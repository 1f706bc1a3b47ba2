using LossKernels.Box;
using static LossKernels.Tests.Core.ArgumentTests;

namespace LossKernels.Tests.Box;

/// <summary>Every bad argument of the box entry points throws with ParamName set, and writes nothing.</summary>
[TestFixture]
public class BoxArgumentTests
{
    private const int N = 9;

    [Test]
    public void BadSpansThrowBeforeWriting()
    {
        (float[] prediction, float[] target) = BoxHarness.Boxes(N, seed: 1);
        float[] ragged = new float[4 * N - 1], shortTarget = new float[4 * N - 4], shortWeight = new float[N - 1], shortUpstream = new float[N - 1];
        float[] gradient = Filled(4 * N), targetGradient = Filled(4 * N), output = Filled(N);
        float[] shortGradient = Filled(4 * N - 1), shortOutput = Filled(N - 1), shifted = Filled(4 * N + 1);
        var loss = new CompleteIoULoss();

        Expect<ArgumentException>("prediction", () => loss.Forward(ragged, ragged));
        Expect<ArgumentException>("target", () => loss.Forward(prediction, shortTarget));
        Expect<ArgumentException>("weight", () => loss.Forward(prediction, target, Reduction.Mean, shortWeight));
        Expect<ArgumentException>("reduction", () => loss.Forward(prediction, target, Reduction.None));
        Expect<ArgumentOutOfRangeException>("reduction", () => loss.Forward(prediction, target, (Reduction)7));
        Expect<ArgumentException>("avgFactor", () => loss.Forward(prediction, target, Reduction.Sum, avgFactor: 3f));
        Expect<ArgumentOutOfRangeException>("avgFactor", () => loss.Forward(prediction, target, Reduction.Mean, avgFactor: -1f));
        Expect<ArgumentOutOfRangeException>("format", () => loss.Forward(prediction, target, format: (BoxFormat)9));

        Expect<ArgumentException>("output", () => loss.Forward(prediction, target, shortOutput));
        float[] copy = (float[])prediction.Clone();
        Expect<ArgumentException>("output", () => loss.Forward(copy, target, copy.AsSpan(0, N)));
        Assert.That(copy, Is.EqualTo(prediction), "an output over the boxes is refused before writing");

        Expect<ArgumentException>("predictionGrad", () => loss.ForwardBackward(prediction, target, shortGradient));
        Expect<ArgumentException>("predictionGrad", () => loss.ForwardBackward(shifted.AsSpan(0, 4 * N), target, shifted.AsSpan(1, 4 * N)));
        Expect<ArgumentException>("predictionGrad", () => loss.ForwardBackward(prediction, target, target));
        Expect<ArgumentException>("targetGrad", () => loss.ForwardBackward(prediction, target, gradient, targetGrad: shortGradient));
        Expect<ArgumentException>("targetGrad", () => loss.ForwardBackward(prediction, target, gradient, targetGrad: gradient));
        Expect<ArgumentException>("targetGrad", () => loss.ForwardBackward(prediction, target, gradient, targetGrad: prediction));

        Expect<ArgumentException>("upstream", () => loss.ForwardBackward(prediction, target, output, gradient, shortUpstream));
        Expect<ArgumentException>("output", () => loss.ForwardBackward(prediction, target, shortOutput, gradient));
        Expect<ArgumentException>("output", () => loss.ForwardBackward(prediction, target, gradient.AsSpan(0, N), gradient));

        Expect<ArgumentException>("upstream", () => loss.Backward(prediction, target, shortUpstream, gradient));
        Expect<ArgumentException>("reduction", () => loss.Backward(prediction, target, 1f, gradient, Reduction.None));
        Expect<ArgumentException>("predictionGrad", () => loss.Backward(prediction, target, 1f, shortGradient));

        Assert.That(gradient.Concat(targetGradient).Concat(output).Concat(shortGradient).Concat(shortOutput).Concat(shifted), Is.All.EqualTo(Sentinel), "nothing written");
    }

    [Test]
    public void HyperparametersOutOfRangeAreRejectedByName()
    {
        Expect<ArgumentOutOfRangeException>("eps", () => new GeneralizedIoULoss(-1e-7f));
        Expect<ArgumentOutOfRangeException>("eps", () => new DistanceIoULoss(float.NaN));
        Expect<ArgumentOutOfRangeException>("eps", () => new CompleteIoULoss(float.PositiveInfinity));
        Expect<ArgumentOutOfRangeException>("variant", () => new CompleteIoULoss(1e-7f, (CompleteIoUVariant)5));
        Expect<ArgumentOutOfRangeException>("eps", () => new IoULoss(IoULossMode.Log, 0f));
        Expect<ArgumentOutOfRangeException>("mode", () => new IoULoss((IoULossMode)3));
        Expect<ArgumentOutOfRangeException>("smoothPoint", () => new ExtendedIoULoss(0f));
        Expect<ArgumentOutOfRangeException>("eps", () => new ScyllaIoULoss(-1f));
        Expect<ArgumentOutOfRangeException>("beta", () => new BoundedIoULoss(0f));
        Expect<ArgumentOutOfRangeException>("eps", () => new BoundedIoULoss(0.2f, -1f));
        float[] boxes = [0, 0, 1, 1], gradient = Filled(4);
        Expect<ArgumentOutOfRangeException>("SmoothPoint", () => default(ExtendedIoULoss).ForwardBackward(boxes, boxes, gradient));
        Expect<ArgumentOutOfRangeException>("Beta", () => default(BoundedIoULoss).ForwardBackward(boxes, boxes, gradient));
        Assert.That(gradient, Is.All.EqualTo(Sentinel));
    }

    [Test]
    public void UtilitiesCheckTheirSpans()
    {
        float[] boxes = [0, 0, 1, 1, 0, 0, 2, 2], iou = Filled(3), centerness = Filled(1);
        Expect<ArgumentException>("boxes1", () => BoxIou.Pairwise(boxes.AsSpan(0, 7), boxes, Filled(4)));
        Expect<ArgumentException>("iou", () => BoxIou.Pairwise(boxes, boxes, iou));
        Expect<ArgumentException>("iou", () => BoxIou.Pairwise(boxes, boxes.AsSpan(0, 4), boxes));
        Expect<ArgumentOutOfRangeException>("format", () => BoxIou.Pairwise(boxes, boxes, Filled(4), (BoxFormat)2));
        Expect<ArgumentException>("ltrb", () => FcosCenterness.Targets(boxes.AsSpan(0, 6), centerness));
        Expect<ArgumentException>("centerness", () => FcosCenterness.Targets(boxes, centerness));
        Assert.That(iou.Concat(centerness), Is.All.EqualTo(Sentinel));
    }
}
