using LossKernels.Generative;

namespace LossKernels.Tests.Reference;

/// <summary>CycleGAN's cycle and identity L1 terms in float64, term by term: the weighted terms and the generated images' gradients.</summary>
public static class ReferenceCycleConsistency
{
    /// <summary>The weighted terms (cycle A, cycle B, identity A, identity B; 0 where absent) and ∂(upstream·L)/∂ of rec_A, rec_B, idt_A, idt_B.</summary>
    public static (double[] Terms, double[][] Gradients) Evaluate(CycleConsistencyLoss loss, float[] reconstructionA, float[] realA, float[] reconstructionB,
        float[] realB, float[]? identityA, float[]? identityB, double upstream)
    {
        var terms = new double[4];
        var gradients = new double[4][];
        (float[]? Image, float[] Real, double Weight)[] parts =
        [
            (reconstructionA, realA, loss.LambdaA), (reconstructionB, realB, loss.LambdaB),
            (identityA, realA, (double)loss.LambdaIdentity * loss.LambdaA), (identityB, realB, (double)loss.LambdaIdentity * loss.LambdaB),
        ];
        for (int k = 0; k < 4; k++)
        {
            (float[]? image, float[] real, double weight) = parts[k];
            gradients[k] = new double[image?.Length ?? 0];
            // An identity image of no elements is no identity term (the API's empty span).
            if (image is null || (k >= 2 && image.Length == 0))
                continue;
            double sum = 0;
            for (int i = 0; i < image.Length; i++)
            {
                double d = (double)image[i] - real[i];
                sum += Math.Abs(d);
                gradients[k][i] = upstream * weight * Math.Sign(d) / image.Length;
            }

            terms[k] = weight * sum / image.Length;
        }

        return (terms, gradients);
    }
}
