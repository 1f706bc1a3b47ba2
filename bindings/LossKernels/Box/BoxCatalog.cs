using LossKernels.Catalog;
using LossKernels.OpenCL;

namespace LossKernels.Box;

/// <summary>The catalog rows of the box losses.</summary>
internal static class BoxCatalog
{
    /// <summary>Box losses run at 1,048,576 box pairs in the quick report.</summary>
    private const int ReportSize = 1 << 20;

    private static readonly string[] Torchvision = ["boxes1", "boxes2"];
    private static readonly string[] MMDetection = ["pred", "target"];

    public static readonly LossDefinition[] Rows =
    [
        Box("iou_loss", "linear 1 − IoU | square 1 − IoU² | log −ln IoU", "mmdet iou_loss / IoULoss", MMDetection,
            p => new IoULoss(Mode(p.String("mode", "log")), p.Float("eps", 1e-6f)), "mode", "eps"),
        Box("generalized_box_iou_loss", "1 − IoU + (C − U)/C", "torchvision.ops.generalized_box_iou_loss", Torchvision,
            p => new GeneralizedIoULoss(p.Float("eps", 1e-7f)), "eps"),
        Box("distance_box_iou_loss", "1 − IoU + ρ²/c²", "torchvision.ops.distance_box_iou_loss", Torchvision,
            p => new DistanceIoULoss(p.Float("eps", 1e-7f)), "eps"),
        Box("complete_box_iou_loss", "1 − IoU + ρ²/c² + α·v", "torchvision.ops.complete_box_iou_loss (variant='mmdet': mmdet ciou_loss)", Torchvision,
            p => new CompleteIoULoss(p.Float("eps", 1e-7f), Variant(p.String("variant", "torchvision"))), "eps", "variant"),
        Box("efficient_iou_loss", "1 − IoU + ρ²/c² + Δw²/C_w² + Δh²/C_h²", "EIoU (Zhang et al. 2022)", MMDetection,
            p => new EfficientIoULoss(p.Float("eps", 1e-7f)), "eps"),
        Box("extended_iou_loss", "smooth(1 − I/U) with mmdet's extended intersection", "mmdet eiou_loss / EIoULoss", MMDetection,
            p => new ExtendedIoULoss(p.Float("smooth_point", 0.1f), p.Float("eps", 1e-7f)), "smooth_point", "eps"),
        Box("scylla_iou_loss", "1 − (IoU − (Δ + Ω)/2)", "mmdet siou_loss / SIoULoss", MMDetection,
            p => new ScyllaIoULoss(p.Float("eps", 1e-7f), p.Bool("neg_gamma", false)), "eps", "neg_gamma"),
        Box("bounded_iou_loss", "Σ smooth(1 − bounded IoU per coordinate)", "mmdet bounded_iou_loss / BoundedIoULoss", MMDetection,
            p => new BoundedIoULoss(p.Float("beta", 0.2f), p.Float("eps", 1e-3f)), "beta", "eps"),
        new LossDefinition("fcos_centerness_loss", "box", "BCE-with-logits(x, √(min(l,r)/max(l,r)·min(t,b)/max(t,b)))",
            "mmdet FCOSHead centerness_target + loss_centerness", ["input", "target"], ["weight"], ["reduction", "avg_factor"], ReportSize,
            (p, inputs, upstream, device) => new CenternessBoundLoss(p, inputs, upstream, device), CenternessSample),
    ];

    private static LossDefinition Box<TLoss>(string name, string formula, string equivalent, string[] names, Func<LossParameters, TLoss> create, params string[] parameters)
        where TLoss : struct, IBoxLoss =>
        new(name, "box", formula, equivalent, names, ["weight"], [.. parameters, "reduction", "avg_factor", "format"], ReportSize,
            (p, inputs, upstream, device) => new BoxBoundLoss<TLoss>(create(p), p, inputs, upstream, device, names[0], names[1]), (n, seed) => Sample(n, seed, names));

    private static IoULossMode Mode(string mode) => mode switch
    {
        "linear" => IoULossMode.Linear,
        "square" => IoULossMode.Square,
        "log" => IoULossMode.Log,
        _ => throw new ArgumentException($"Parameter 'mode' must be 'linear', 'square' or 'log', got '{mode}'.", "mode"),
    };

    private static CompleteIoUVariant Variant(string variant) => variant switch
    {
        "torchvision" => CompleteIoUVariant.Torchvision,
        "mmdet" => CompleteIoUVariant.MMDetection,
        _ => throw new ArgumentException($"Parameter 'variant' must be 'torchvision' or 'mmdet', got '{variant}'.", "variant"),
    };

    internal static BoxFormat Format(LossParameters parameters) => parameters.String("format", "xyxy") switch
    {
        "xyxy" => BoxFormat.Xyxy,
        "cxcywh" => BoxFormat.Cxcywh,
        var other => throw new ArgumentException($"Parameter 'format' must be 'xyxy' or 'cxcywh', got '{other}'.", "format"),
    };

    /// <summary>The number of boxes of an <c>[N, 4]</c> tensor.</summary>
    internal static int Rows4(LossTensor tensor, string name) =>
        tensor.Shape is [int n, 4] ? n : throw new ArgumentException($"Input '{name}' must have shape [N, 4], got [{string.Join(", ", tensor.Shape)}].", name);

    /// <summary>
    /// Targets with centers in [0, 100) and sizes in [1, 20); predictions jittered around them, so that
    /// overlapping, nested and disjoint pairs all occur, as in a detector's positives.
    /// </summary>
    private static Dictionary<string, LossTensor> Sample(int length, int seed, string[] names)
    {
        var random = new Random(seed);
        var prediction = new float[4 * length];
        var target = new float[4 * length];
        for (int i = 0; i < length; i++)
        {
            float cx = (float)(random.NextDouble() * 100), cy = (float)(random.NextDouble() * 100);
            float w = (float)(1 + random.NextDouble() * 19), h = (float)(1 + random.NextDouble() * 19);
            WriteBox(target, i, cx, cy, w, h);
            WriteBox(prediction, i, cx + (float)((random.NextDouble() - 0.5) * w), cy + (float)((random.NextDouble() - 0.5) * h),
                w * (float)(0.5 + random.NextDouble()), h * (float)(0.5 + random.NextDouble()));
        }

        return new() { [names[0]] = LossTensor.FromFloats(prediction, length, 4), [names[1]] = LossTensor.FromFloats(target, length, 4) };
    }

    private static void WriteBox(float[] boxes, int i, float cx, float cy, float w, float h)
    {
        boxes[4 * i] = cx - w / 2;
        boxes[4 * i + 1] = cy - h / 2;
        boxes[4 * i + 2] = cx + w / 2;
        boxes[4 * i + 3] = cy + h / 2;
    }

    /// <summary>Logits in [−4, 4) and (l, t, r, b) distances in [0.1, 10).</summary>
    private static Dictionary<string, LossTensor> CenternessSample(int length, int seed)
    {
        var random = new Random(seed);
        var logits = new float[length];
        var ltrb = new float[4 * length];
        for (int i = 0; i < length; i++)
            logits[i] = (float)(random.NextDouble() * 8 - 4);
        for (int i = 0; i < ltrb.Length; i++)
            ltrb[i] = (float)(0.1 + random.NextDouble() * 9.9);
        return new() { ["input"] = LossTensor.FromFloats(logits, length), ["target"] = LossTensor.FromFloats(ltrb, length, 4) };
    }
}
