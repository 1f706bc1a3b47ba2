using LossKernels.Box;
using LossKernels.Catalog;
using LossKernels.Classification;
using LossKernels.OpenCL;

namespace LossKernels.Benchmarks;

/// <summary>
/// <c>kernel-check --sizes 1,7,257,4099 [--filter dice,tversky]</c> (catalog losses whose names contain a part; the utilities always run): every OpenCL kernel entry point on the selected device, in
/// both reduction variants, at each size: every catalog loss × reduction × mode, with and without
/// weight and upstream (and for box losses the cxcywh format), every gradient compared with the CPU
/// kernels; the class-target check, passing and faulting; the box utilities (centerness targets, box_iou). tests/oclgrind.sh runs it on Oclgrind, whose log then holds any out-of-bounds access,
/// race or uninitialized read. Exits 1 on any mismatch or exception.
/// </summary>
internal static class KernelCheck
{
    public static int Run(string[] args)
    {
        int[] sizes = (QuickReport.Option(args, "--sizes") ?? "1,7,257,4099")
            .Split(',').Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        string[]? filter = QuickReport.Option(args, "--filter")?.Split(',');
        using OpenCLDevice device = OpenCLDevice.Select();
        Console.WriteLine($"kernel-check on {device.Info}");
        int launches = 0, failures = 0;
        foreach (OpenCLReductionVariant variant in new[] { OpenCLReductionVariant.ChunkPerWorkItem, OpenCLReductionVariant.WorkGroupTree })
        {
            device.Variant = variant;
            foreach (int n in sizes)
            {
                foreach (LossDefinition definition in LossCatalog.All.Where(d => filter is null || filter.Any(part => d.Name.Contains(part, StringComparison.Ordinal))))
                {
                    foreach ((Dictionary<string, object?> parameters, bool weighted) in Configurations(definition))
                    {
                        string what = $"{variant} n={n} {definition.Name} {string.Join(",", parameters.Select(p => $"{p.Key}={p.Value}"))}{(weighted ? " weighted" : "")}";
                        try
                        {
                            launches += Compare(definition, parameters, weighted, n, device, what, ref failures);
                        }
                        catch (Exception e)
                        {
                            failures++;
                            Console.WriteLine($"FAIL {what}: {e.GetType().Name}: {e.Message}");
                        }
                    }
                }

                launches += CheckClassTargets(device, n, ref failures);
                launches += CheckBoxUtilities(device, n, ref failures);
                launches += CheckClassificationUtilities(device, n, ref failures);
            }
        }

        Console.WriteLine($"{launches} entry point runs, {failures} failures");
        return failures == 0 ? 0 : 1;
    }

    private static IEnumerable<(Dictionary<string, object?> Parameters, bool Weighted)> Configurations(LossDefinition definition)
    {
        if (definition.Name == "lovasz_softmax_loss")
        {
            yield return ([], false);
            yield return (new() { ["per_image"] = true, ["ignore_index"] = 3L }, false);
            yield return (new() { ["from_logits"] = false }, false);
            yield break;
        }

        if (definition.Name == "lovasz_hinge_loss")
        {
            yield return ([], false);
            yield return (new() { ["per_image"] = true, ["mode"] = "multilabel" }, false);
            yield break;
        }

        if (definition.Family == "segmentation" && !definition.Parameters.Contains("reduction"))
        {
            yield return ([], false);
            yield return (new() { ["per_image"] = true, ["ignore_index"] = 3L }, definition.Name != "generalized_dice_loss");
            yield return (new() { ["mode"] = "multilabel", ["ignore_index"] = -1L }, false);
            yield return (new() { ["mode"] = "binary", ["from_logits"] = false }, false);
            yield break;
        }

        if (definition.Name == "relativistic_gan_loss")
        {
            yield return ([], false);
            yield return (new() { ["is_disc"] = true, ["detach_means"] = true }, false);
            yield return (new() { ["gan_type"] = "hinge", ["is_disc"] = true, ["real_label_val"] = 0.9 }, false);
            yield return (new() { ["gan_type"] = "lsgan", ["loss_weight"] = 0.01 }, false);
            yield break;
        }

        if (definition.Name == "cycle_consistency_loss")
        {
            yield return ([], false);
            yield return (new() { ["lambda_a"] = 5.0, ["lambda_b"] = 0.5, ["lambda_identity"] = 0.0 }, false);
            yield break;
        }

        if (definition.Reductions.Count == 0)
        {
            yield return ([], false);
            yield break;
        }

        foreach (string reduction in definition.Reductions)
        {
            yield return (new() { ["reduction"] = reduction }, false);
            yield return (new() { ["reduction"] = reduction }, true);
        }

        // cross_entropy's target gradient needs probability targets (its sample has class indices): CheckClassificationUtilities runs it.
        if (definition.Parameters.Contains("target_grad") && definition.Name != "cross_entropy")
        {
            yield return (new() { ["reduction"] = "mean", ["target_grad"] = true }, true);
            yield return (new() { ["reduction"] = "none", ["target_grad"] = true }, true);
        }

        if (definition.Name == "triplet_margin_loss")
        {
            yield return (new() { ["reduction"] = "mean", ["swap"] = true }, true);
            yield return (new() { ["reduction"] = "none", ["p"] = 1L, ["swap"] = true, ["eps"] = 0.0 }, true);
        }

        if (definition.Name == "triplet_mining_loss")
        {
            yield return (new() { ["reduction"] = "mean", ["mining"] = "semihard", ["distance"] = "squared" }, true);
            yield return (new() { ["reduction"] = "sum", ["mining"] = "all", ["soft_margin"] = true }, false);
            yield return (new() { ["reduction"] = "mean", ["mining"] = "hard", ["distance"] = "cosine", ["normalize"] = true }, true);
            yield return (new() { ["reduction"] = "mean", ["mining"] = "semihard", ["normalize"] = true, ["margin"] = 1.0 }, false);
        }

        if (definition.Name == "total_variation_loss")
        {
            yield return (new() { ["reduction"] = "none", ["norm"] = "isotropic" }, true);
            yield return (new() { ["reduction"] = "mean", ["norm"] = "beta", ["beta"] = 1.5 }, true);
        }

        if (definition.Name == "feature_reconstruction_loss")
            yield return (new() { ["reduction"] = "sum", ["p"] = 1L }, true);

        if (definition.Name == "gram_style_loss")
            yield return (new() { ["reduction"] = "sum", ["normalization"] = "gatys" }, true);

        if (definition.Name == "topology_aware_loss")
            yield return (new() { ["reduction"] = "sum", ["mu"] = 0.1, ["feature_mean"] = true }, true);

        if (definition.Name == "content_style_loss")
        {
            yield return (new() { ["reduction"] = "sum", ["normalization"] = "gatys", ["p"] = 1L, ["norm"] = "isotropic", ["style_weight"] = 1e3 }, true);
            yield return (new() { ["reduction"] = "mean", ["norm"] = "beta", ["beta"] = 1.5, ["tv_weight"] = 0.1 }, false);
        }

        if (definition.Name == "gan_loss")
        {
            // Every element form: lsgan's square, wgan's line, wgan_softplus's softplus, the discriminator's hinge, the minimax generator.
            yield return (new() { ["reduction"] = "none", ["gan_type"] = "lsgan", ["is_disc"] = true, ["real_label_val"] = 0.9 }, true);
            yield return (new() { ["reduction"] = "mean", ["gan_type"] = "wgan", ["target_is_real"] = false, ["loss_weight"] = 0.1 }, true);
            yield return (new() { ["reduction"] = "sum", ["gan_type"] = "wgan_softplus" }, true);
            yield return (new() { ["reduction"] = "none", ["gan_type"] = "hinge", ["is_disc"] = true, ["target_is_real"] = false }, true);
            yield return (new() { ["reduction"] = "mean", ["gan_type"] = "minimax", ["loss_weight"] = 2.0 }, true);
        }

        if (definition.Name == "gradient_penalty")
        {
            yield return (new() { ["reduction"] = "none", ["penalty"] = "r1", ["gp_weight"] = 0.5 }, true);
            yield return (new() { ["reduction"] = "sum", ["penalty"] = "r1" }, false);
        }

        if (definition.Name == "discriminative_loss")
        {
            yield return (new() { ["reduction"] = "mean", ["ignore_label"] = null }, true);
            yield return (new() { ["reduction"] = "sum", ["delta_v"] = 0.0, ["delta_d"] = 0.3, ["gamma"] = 0.1, ["ignore_label"] = 14L }, false);
        }

        if (definition.Name == "pixel_weighted_cross_entropy")
            yield return (new() { ["reduction"] = "mean", ["ignore_index"] = 3L }, true);
        if (definition.Parameters.Contains("avg_factor"))
            yield return (new() { ["reduction"] = "mean", ["avg_factor"] = 3.5 }, true);
        if (definition.Parameters.Contains("label_smoothing"))
            yield return (new() { ["reduction"] = "mean", ["label_smoothing"] = 0.1, ["lse_square_scale"] = 1e-4 }, true);
        if (definition.Parameters.Contains("format"))
            yield return (new() { ["reduction"] = "sum", ["format"] = "cxcywh" }, true);
    }

    private static int Compare(LossDefinition definition, Dictionary<string, object?> parameters, bool weighted, int n, OpenCLDevice device, string what, ref int failures)
    {
        Dictionary<string, LossTensor> inputs = definition.SampleInputs(n, seed: n);
        LossTensor? upstream = null;
        if (definition.Family == "segmentation" && !definition.Name.StartsWith("lovasz", StringComparison.Ordinal))
        {
            SegmentationInputs(inputs, parameters, weighted, n);
            upstream = weighted ? LossTensor.FromFloats([0.75f]) : null;
        }
        else if (weighted && definition.Family == "embedding")
        {
            // No weights here: an upstream per row (or a scalar), and int64 labels in place of float ones.
            LossTensor first = inputs[definition.Inputs[0]];
            int losses = definition.Name == "margin_ranking_loss" ? first.Length : first.Shape[0];
            upstream = parameters["reduction"] as string == "none"
                ? LossTensor.FromFloats(Enumerable.Range(0, losses).Select(i => 0.25f * (i % 7) - 0.5f).ToArray(), losses)
                : LossTensor.FromFloats([0.75f]);
            string label = definition.Inputs[^1];
            if (label is "label" or "target" && inputs[label].Floats is float[] values)
                inputs[label] = LossTensor.FromIntegers(Array.ConvertAll(values, v => (long)v), values.Length);
        }
        else if (weighted && definition.Family == "generative")
        {
            // One input and no weights: an upstream per image (none) or a scalar.
            int images = inputs["input"].Shape[0];
            upstream = parameters["reduction"] as string == "none"
                ? LossTensor.FromFloats(Enumerable.Range(0, images).Select(i => 0.5f + i).ToArray(), images)
                : LossTensor.FromFloats([0.75f]);
        }
        else if (weighted)
        {
            // Row losses ([N, C] input) have one loss per row; cross entropy and nll_loss weigh classes, distribution focal loss rows.
            // The others weigh and return one value per item.
            bool rows = definition.Family == "classification" && inputs["input"].Shape.Length == 2;
            int losses = rows ? inputs["target"].Length : n;
            int weights = rows && definition.Name != "distribution_focal_loss" ? inputs["input"].Shape[1] : losses;
            var random = new Random(n + 1);
            inputs["weight"] = LossTensor.FromFloats(Enumerable.Range(0, weights).Select(_ => (float)random.NextDouble()).ToArray(), weights);
            upstream = parameters["reduction"] as string == "none"
                ? LossTensor.FromFloats(Enumerable.Range(0, losses).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), losses)
                : LossTensor.FromFloats([0.75f]);
        }

        using BoundLoss cpu = definition.Bind(new LossParameters(parameters), inputs, upstream);
        using BoundLoss gpu = definition.Bind(new LossParameters(parameters), inputs, upstream, device);
        int runs = 0;
        foreach (LossMode mode in new[] { LossMode.Forward, LossMode.Fused, LossMode.Backward })
        {
            cpu.Run(mode);
            gpu.Poison(float.NaN);
            gpu.Run(mode);
            gpu.FetchResults();
            runs++;
            if (mode != LossMode.Backward && !Close(gpu.Loss, cpu.Loss))
            {
                failures++;
                Console.WriteLine($"FAIL {what} {mode}: loss differs from the CPU kernels");
            }

            foreach ((string input, float[] gradient) in gpu.Gradients)
            {
                if (mode != LossMode.Forward && !Close(gradient, cpu.Gradients[input]))
                {
                    failures++;
                    Console.WriteLine($"FAIL {what} {mode}: gradient of {input} differs from the CPU kernels");
                }
            }
        }

        return runs;
    }

    /// <summary>
    /// The segmentation sample (multiclass logits [N, C, S] and class indices) turned into what <paramref name="parameters"/> ask:
    /// one-hot float targets with every seventh element ignored (multilabel), class 0 as probabilities against its mask
    /// (binary from probabilities), and class weights [C] when <paramref name="weighted"/>.
    /// </summary>
    private static void SegmentationInputs(Dictionary<string, LossTensor> inputs, Dictionary<string, object?> parameters, bool weighted, int seed)
    {
        LossTensor input = inputs["input"];
        long[] labels = inputs["target"].RequireIntegers("target");
        int batch = input.Shape[0], classes = input.Shape[1], spatial = input.Shape[2];
        float[] x = input.RequireFloats("input");
        switch (parameters.GetValueOrDefault("mode"))
        {
            case "multilabel":
                var dense = new float[x.Length];
                for (int i = 0; i < dense.Length; i++)
                {
                    int image = i / (classes * spatial), c = i / spatial % classes, s = i % spatial;
                    dense[i] = i % 7 == 0 ? -1f : labels[image * spatial + s] == c ? 1f : 0f;
                }

                inputs["target"] = LossTensor.FromFloats(dense, input.Shape);
                break;
            case "binary":
                var probabilities = new float[batch * spatial];
                var mask = new float[batch * spatial];
                for (int i = 0; i < probabilities.Length; i++)
                {
                    probabilities[i] = 1f / (1f + MathF.Exp(-x[i / spatial * classes * spatial + i % spatial]));
                    mask[i] = labels[i] == 0 ? 1f : 0f;
                }

                inputs["input"] = LossTensor.FromFloats(probabilities, batch, 1, spatial);
                inputs["target"] = LossTensor.FromFloats(mask, batch, 1, spatial);
                break;
        }

        if (weighted)
        {
            var random = new Random(seed + 1);
            inputs["weight"] = LossTensor.FromFloats(Enumerable.Range(0, classes).Select(_ => (float)random.NextDouble()).ToArray(), classes);
        }
    }

    /// <summary>
    /// The classification kernels outside the catalog's [N, C] rows: softmax and log-softmax forward and backward, one-hot,
    /// and cross entropy on [2, C, D] (a work-item per position, hard and soft targets, in place), against the CPU.
    /// </summary>
    private static int CheckClassificationUtilities(OpenCLDevice device, int n, ref int failures)
    {
        int classes = Math.Max(1, (int)Math.Sqrt(n));
        int rows = Math.Max(1, n / classes), spatial = Math.Max(1, rows / 2);
        var random = new Random(n);
        float[] x = Enumerable.Range(0, rows * classes).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        float[] g = Enumerable.Range(0, rows * classes).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        int runs = 0;
        foreach (bool logarithm in new[] { false, true })
        {
            float[] y = new float[x.Length], dx = new float[x.Length];
            if (logarithm)
            {
                LogSoftmax.Forward(x, classes, y);
                LogSoftmax.Backward(y, g, classes, dx);
            }
            else
            {
                Softmax.Forward(x, classes, y);
                Softmax.Backward(y, g, classes, dx);
            }

            using DeviceBuffer<float> output = device.Allocate<float>(x.Length), gradient = device.Allocate<float>(x.Length);
            output.Upload(x);
            gradient.Upload(g);
            if (logarithm)
            {
                LogSoftmax.Forward(output, classes, output);
                LogSoftmax.Backward(output, gradient, classes, gradient);
            }
            else
            {
                Softmax.Forward(output, classes, output);
                Softmax.Backward(output, gradient, classes, gradient);
            }

            runs += 2;
            if (!Close(Download(output), y) || !Close(Download(gradient), dx))
            {
                failures++;
                Console.WriteLine($"FAIL n={n} {(logarithm ? "log_softmax" : "softmax")}: differs from the CPU");
            }
        }

        long[] target = Enumerable.Range(0, 2 * spatial).Select(i => i % 5 == 4 ? ClassTargets.DefaultIgnoreIndex : (long)(i % classes)).ToArray();
        float[] logits = Enumerable.Range(0, 2 * classes * spatial).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        float[] soft = Enumerable.Range(0, logits.Length).Select(_ => (float)random.NextDouble()).ToArray();
        var loss = new CrossEntropyLoss(ClassTargets.DefaultIgnoreIndex, 0.1f, 1e-4f);
        float[] expected = new float[logits.Length], expectedSoft = new float[logits.Length], hot = new float[target.Length * classes];
        float value = loss.ForwardBackward(logits, target, expected, Reduction.Mean, default, 1f, spatial);
        float softValue = loss.ForwardBackward(logits, soft, classes, expectedSoft, Reduction.Sum, default, 1f, spatial);
        OneHot.Encode(target, classes, hot);
        float[] posWeight = Enumerable.Range(0, classes).Select(c => 0.5f + c % 3).ToArray(), bceGrad = new float[logits.Length];
        float[] bceTarget = soft.Select(p => p < 0.5f ? 0f : 1f).ToArray();
        float bceValue = new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(logits, bceTarget, posWeight, bceGrad);
        using DeviceBuffer<float> hard = device.Allocate<float>(logits.Length), probabilities = device.Allocate<float>(logits.Length),
            softGrad = device.Allocate<float>(logits.Length), encoded = device.Allocate<float>(hot.Length);
        using DeviceBuffer<long> targets = device.Allocate<long>(target.Length);
        hard.Upload(logits);
        softGrad.Upload(logits);
        probabilities.Upload(soft);
        targets.Upload(target);
        float got = loss.ForwardBackward(hard, targets, hard, Reduction.Mean, null, 1f, spatial);
        float softGot = loss.ForwardBackward(softGrad, probabilities, classes, softGrad, Reduction.Sum, null, 1f, spatial);
        OneHot.Encode(targets, classes, encoded);
        using DeviceBuffer<float> bceLogits = device.Allocate<float>(logits.Length), bceTargets = device.Allocate<float>(logits.Length),
            weights = device.Allocate<float>(classes);
        bceLogits.Upload(logits);
        bceTargets.Upload(bceTarget);
        weights.Upload(posWeight);
        float bceGot = new PosWeightedBinaryCrossEntropyLoss().ForwardBackward(bceLogits, bceTargets, weights, bceLogits);
        runs += 4;
        if (!Close([bceGot], [bceValue]) || !Close(Download(bceLogits), bceGrad))
        {
            failures++;
            Console.WriteLine($"FAIL n={n} binary_cross_entropy_with_logits with a per-class pos_weight: differs from the CPU");
        }

        if (!Close([got, softGot], [value, softValue]) || !Close(Download(hard), expected) || !Close(Download(softGrad), expectedSoft) || !Close(Download(encoded), hot))
        {
            failures++;
            Console.WriteLine($"FAIL n={n} cross_entropy [2, {classes}, {spatial}] or one_hot: differs from the CPU");
        }

        // The target gradients: the probability targets' (written over them), and BCE's with a per-class pos_weight (over the targets).
        float[] softTargetGrad = new float[logits.Length], bceTargetGrad = new float[logits.Length];
        loss.TargetBackward(logits, soft, classes, 0.5f, softTargetGrad, Reduction.Mean, default, spatial);
        new PosWeightedBinaryCrossEntropyLoss().TargetBackward(logits, bceTarget, posWeight, 0.5f, bceTargetGrad);
        using DeviceBuffer<float> softLogits = device.Allocate<float>(logits.Length);
        softLogits.Upload(logits);
        probabilities.Upload(soft);
        bceLogits.Upload(logits);
        loss.TargetBackward(softLogits, probabilities, classes, 0.5f, probabilities, Reduction.Mean, null, spatial);
        new PosWeightedBinaryCrossEntropyLoss().TargetBackward(bceLogits, bceTargets, weights, 0.5f, bceTargets);
        runs += 2;
        if (!Close(Download(probabilities), softTargetGrad) || !Close(Download(bceTargets), bceTargetGrad))
        {
            failures++;
            Console.WriteLine($"FAIL n={n} the target gradients of cross_entropy [2, {classes}, {spatial}] or of a per-class pos_weight: differ from the CPU");
        }

        return runs;
    }

    private static float[] Download(DeviceBuffer<float> buffer)
    {
        var values = new float[buffer.Length];
        buffer.Download(values);
        return values;
    }

    private static int CheckClassTargets(OpenCLDevice device, int n, ref int failures)
    {
        long[] targets = Enumerable.Range(0, n).Select(i => i % 5 == 4 ? ClassTargets.DefaultIgnoreIndex : i % 4).ToArray();
        using DeviceBuffer<long> buffer = device.Allocate<long>(n);
        buffer.Upload(targets);
        ClassTargets.Validate(buffer, classes: 4);
        targets[n / 2] = 4;
        buffer.Upload(targets);
        try
        {
            ClassTargets.Validate(buffer, classes: 4);
            failures++;
            Console.WriteLine($"FAIL n={n} check_class_targets: a target of 4 with 4 classes passed");
        }
        catch (ArgumentOutOfRangeException e) when (e.Message.Contains($"index {n / 2} ", StringComparison.Ordinal))
        {
        }

        return 2;
    }

    /// <summary>FCOS centerness targets of n rows and the IoU matrix of n boxes against 3, against the CPU.</summary>
    private static int CheckBoxUtilities(OpenCLDevice device, int n, ref int failures)
    {
        Dictionary<string, LossTensor> sample = LossCatalog.Get("generalized_box_iou_loss").SampleInputs(n, seed: n);
        float[] boxes = sample["boxes1"].Floats!, others = sample["boxes2"].Floats![..Math.Min(12, 4 * n)];
        int m = others.Length / 4;
        float[] expectedCenterness = new float[n], expectedIou = new float[n * m];
        FcosCenterness.Targets(boxes.Select(Math.Abs).ToArray(), expectedCenterness);
        BoxIou.Pairwise(boxes, others, expectedIou);
        using DeviceBuffer<float> ltrb = device.Allocate<float>(4 * n), first = device.Allocate<float>(4 * n), second = device.Allocate<float>(4 * m);
        using DeviceBuffer<float> centerness = device.Allocate<float>(n), iou = device.Allocate<float>(n * m);
        ltrb.Upload(boxes.Select(Math.Abs).ToArray());
        first.Upload(boxes);
        second.Upload(others);
        FcosCenterness.Targets(ltrb, centerness);
        BoxIou.Pairwise(first, second, iou);
        float[] gotCenterness = new float[n], gotIou = new float[n * m];
        centerness.Download(gotCenterness);
        iou.Download(gotIou);
        if (!Close(gotCenterness, expectedCenterness) || !Close(gotIou, expectedIou))
        {
            failures++;
            Console.WriteLine($"FAIL n={n} box utilities: centerness targets or box_iou differ from the CPU");
        }

        return 2;
    }

    /// <summary>Within 1e-5 relative (1e-6 absolute), NaN only where the CPU has NaN.</summary>
    private static bool Close(float[] got, float[] expected)
    {
        for (int i = 0; i < got.Length; i++)
        {
            if (float.IsNaN(expected[i]) != float.IsNaN(got[i]))
                return false;
            if (!float.IsNaN(expected[i]) && !(Math.Abs(got[i] - expected[i]) <= 1e-6 + 1e-5 * Math.Abs(expected[i])))
                return false;
        }

        return true;
    }
}
