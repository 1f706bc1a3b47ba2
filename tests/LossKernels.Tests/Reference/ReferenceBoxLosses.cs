namespace LossKernels.Tests.Reference;

/// <summary>
/// The float64 reference of the box losses, each written as the plain formula of torchvision or mmdetection
/// (as tests/golden/generate.py runs it in PyTorch) over <see cref="Dual"/> numbers, whose derivatives with
/// respect to the eight coordinates give the gradients. Boxes are rows of four (xyxy, or cxcywh converted as
/// torchvision's box_convert).
/// </summary>
public static class ReferenceBoxLosses
{
    private const double Float32Epsilon = 1.1920928955078125e-07;

    public static readonly string[] Names =
    [
        "iou_loss", "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss", "efficient_iou_loss",
        "extended_iou_loss", "scylla_iou_loss", "bounded_iou_loss",
    ];

    /// <summary>A box loss reduced as the catalog does (per-box weight, mean over n or avg_factor, 0 for the mean of no boxes), with both gradients.</summary>
    public static ReferenceResult Compute(string loss, IReadOnlyDictionary<string, object?> parameters, double[] prediction, double[] target, double[]? weight, double[]? upstream)
    {
        Func<Dual[], Dual[], Dual> perBox = Function(loss, parameters);
        bool centerSize = Text(parameters, "format", "xyxy") == "cxcywh";
        string reduction = Text(parameters, "reduction", "mean");
        double? avgFactor = parameters.TryGetValue("avg_factor", out object? a) && a is not null ? Convert.ToDouble(a) : null;
        int n = prediction.Length / 4;
        var values = new double[n];
        var slopes = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var p = new Dual[4];
            var t = new Dual[4];
            for (int c = 0; c < 4; c++)
            {
                p[c] = Dual.Variable(prediction[4 * i + c], c);
                t[c] = Dual.Variable(target[4 * i + c], 4 + c);
            }

            Dual value = perBox(centerSize ? Corners(p) : p, centerSize ? Corners(t) : t);
            double w = weight?[i] ?? 1d;
            values[i] = w * value.V;
            slopes[i] = new double[8];
            for (int k = 0; k < 8; k++)
                slopes[i][k] = w * value.D[k];
        }

        double scale = 1d;
        double[] reduced = values;
        if (reduction != "none")
        {
            double sum = values.Sum();
            double divisor = reduction == "sum" ? 1d : avgFactor is double factor ? factor + Float32Epsilon : n;
            reduced = [n == 0 && avgFactor is null && reduction == "mean" ? 0d : sum / divisor];
            scale = n == 0 ? 0d : (upstream?[0] ?? 1d) / divisor;
        }

        var predictionGradient = new double[4 * n];
        var targetGradient = new double[4 * n];
        for (int i = 0; i < n; i++)
        {
            double u = reduction == "none" ? (upstream is null ? 1d : upstream.Length == 1 ? upstream[0] : upstream[i]) : scale;
            for (int c = 0; c < 4; c++)
            {
                predictionGradient[4 * i + c] = u * slopes[i][c];
                targetGradient[4 * i + c] = u * slopes[i][4 + c];
            }
        }

        return new ReferenceResult(reduced, predictionGradient) { TargetGradient = targetGradient };
    }

    private static string Text(IReadOnlyDictionary<string, object?> p, string name, string fallback) =>
        p.TryGetValue(name, out object? v) && v is string s ? s : fallback;

    private static Dual[] Corners(Dual[] b) => [b[0] - 0.5 * b[2], b[1] - 0.5 * b[3], b[0] + 0.5 * b[2], b[1] + 0.5 * b[3]];

    private static Func<Dual[], Dual[], Dual> Function(string loss, IReadOnlyDictionary<string, object?> p)
    {
        double Param(string name, double fallback) => p.TryGetValue(name, out object? v) && v is not null ? Convert.ToDouble(v) : fallback;
        return loss switch
        {
            "iou_loss" => (b1, b2) => MMDetIoU(b1, b2, Text(p, "mode", "log"), Param("eps", 1e-6)),
            "generalized_box_iou_loss" => (b1, b2) => TorchvisionGIoU(b1, b2, Param("eps", 1e-7)),
            "distance_box_iou_loss" => (b1, b2) => TorchvisionDIoU(b1, b2, Param("eps", 1e-7), out _),
            "complete_box_iou_loss" => Text(p, "variant", "torchvision") == "mmdet"
                ? (b1, b2) => MMDetCIoU(b1, b2, Param("eps", 1e-7))
                : (b1, b2) => TorchvisionCIoU(b1, b2, Param("eps", 1e-7)),
            "efficient_iou_loss" => (b1, b2) => EfficientIoU(b1, b2, Param("eps", 1e-7)),
            "extended_iou_loss" => (b1, b2) => MMDetEIoU(b1, b2, Param("smooth_point", 0.1), Param("eps", 1e-7)),
            "scylla_iou_loss" => (b1, b2) => MMDetSIoU(b1, b2, Param("eps", 1e-7), p.TryGetValue("neg_gamma", out object? g) && g is true),
            "bounded_iou_loss" => (b1, b2) => MMDetBoundedIoU(b1, b2, Param("beta", 0.2), Param("eps", 1e-3)),
            _ => throw new ArgumentException($"No box reference for '{loss}'.", nameof(loss)),
        };
    }

    /// <summary>torchvision's _loss_inter_union.</summary>
    private static (Dual Intersection, Dual Union) TorchvisionInterUnion(Dual[] b1, Dual[] b2)
    {
        Dual w = Dual.Min(b1[2], b2[2]) - Dual.Max(b1[0], b2[0]);
        Dual h = Dual.Min(b1[3], b2[3]) - Dual.Max(b1[1], b2[1]);
        Dual intersection = h.V > 0 && w.V > 0 ? w * h : 0d;
        return (intersection, (b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - intersection);
    }

    private static Dual TorchvisionGIoU(Dual[] b1, Dual[] b2, double eps)
    {
        (Dual intersection, Dual union) = TorchvisionInterUnion(b1, b2);
        Dual iou = intersection / (union + eps);
        Dual area = (Dual.Max(b1[2], b2[2]) - Dual.Min(b1[0], b2[0])) * (Dual.Max(b1[3], b2[3]) - Dual.Min(b1[1], b2[1]));
        return 1d - (iou - (area - union) / (area + eps));
    }

    private static Dual TorchvisionDIoU(Dual[] b1, Dual[] b2, double eps, out Dual iou)
    {
        (Dual intersection, Dual union) = TorchvisionInterUnion(b1, b2);
        iou = intersection / (union + eps);
        Dual cw = Dual.Max(b1[2], b2[2]) - Dual.Min(b1[0], b2[0]);
        Dual ch = Dual.Max(b1[3], b2[3]) - Dual.Min(b1[1], b2[1]);
        Dual diagonal = cw * cw + ch * ch + eps;
        Dual dx = (b1[2] + b1[0]) / 2d - (b2[0] + b2[2]) / 2d;
        Dual dy = (b1[3] + b1[1]) / 2d - (b2[1] + b2[3]) / 2d;
        return 1d - iou + (dx * dx + dy * dy) / diagonal;
    }

    /// <summary>torchvision's complete_box_iou_loss, a zero height raised by eps in the aspect term (where torchvision is NaN).</summary>
    private static Dual TorchvisionCIoU(Dual[] b1, Dual[] b2, double eps)
    {
        Dual diou = TorchvisionDIoU(b1, b2, 1e-7, out Dual iou);
        Dual h = b1[3] - b1[1], th = b2[3] - b2[1];
        h = h.V == 0 ? h + eps : h;
        th = th.V == 0 ? th + eps : th;
        Dual angle = Dual.Atan((b2[2] - b2[0]) / th) - Dual.Atan((b1[2] - b1[0]) / h);
        Dual v = 4d / (Math.PI * Math.PI) * angle * angle;
        Dual alpha = (v / (1d - iou + v + eps)).Detached;
        return diou + alpha * v;
    }

    /// <summary>mmdetection's overlap (clamped) and union (+ eps).</summary>
    private static (Dual Overlap, Dual Union) MMDetOverlapUnion(Dual[] p, Dual[] t, double eps)
    {
        Dual w = Dual.Clamp(Dual.Min(p[2], t[2]) - Dual.Max(p[0], t[0]), 0d, double.PositiveInfinity);
        Dual h = Dual.Clamp(Dual.Min(p[3], t[3]) - Dual.Max(p[1], t[1]), 0d, double.PositiveInfinity);
        Dual overlap = w * h;
        return (overlap, (p[2] - p[0]) * (p[3] - p[1]) + (t[2] - t[0]) * (t[3] - t[1]) - overlap + eps);
    }

    private static Dual MMDetIoU(Dual[] p, Dual[] t, string mode, double eps)
    {
        (Dual overlap, Dual union) = MMDetOverlapUnion(p, t, 0d);
        Dual iou = Dual.Clamp(overlap / Dual.Max(union, 1e-6), eps, double.PositiveInfinity);
        return mode switch
        {
            "linear" => 1d - iou,
            "square" => 1d - iou * iou,
            _ => -Dual.Log(iou),
        };
    }

    private static Dual MMDetCIoU(Dual[] p, Dual[] t, double eps)
    {
        (Dual overlap, Dual union) = MMDetOverlapUnion(p, t, eps);
        Dual iou = overlap / union;
        Dual cw = Dual.Clamp(Dual.Max(p[2], t[2]) - Dual.Min(p[0], t[0]), 0d, double.PositiveInfinity);
        Dual ch = Dual.Clamp(Dual.Max(p[3], t[3]) - Dual.Min(p[1], t[1]), 0d, double.PositiveInfinity);
        Dual c2 = cw * cw + ch * ch + eps;
        Dual left = ((t[0] + t[2]) - (p[0] + p[2])) * ((t[0] + t[2]) - (p[0] + p[2])) / 4d;
        Dual right = ((t[1] + t[3]) - (p[1] + p[3])) * ((t[1] + t[3]) - (p[1] + p[3])) / 4d;
        Dual angle = Dual.Atan((t[2] - t[0]) / (t[3] - t[1] + eps)) - Dual.Atan((p[2] - p[0]) / (p[3] - p[1] + eps));
        Dual v = 4d / (Math.PI * Math.PI) * angle * angle;
        Dual alpha = iou.V > 0.5 ? (v / (1d - iou + v)).Detached : 0d;
        return 1d - Dual.Clamp(iou - ((left + right) / c2 + alpha * v), -1d, 1d);
    }

    private static Dual EfficientIoU(Dual[] b1, Dual[] b2, double eps)
    {
        (Dual intersection, Dual union) = TorchvisionInterUnion(b1, b2);
        Dual iou = intersection / (union + eps);
        Dual cw = Dual.Max(b1[2], b2[2]) - Dual.Min(b1[0], b2[0]);
        Dual ch = Dual.Max(b1[3], b2[3]) - Dual.Min(b1[1], b2[1]);
        Dual dx = (b1[0] + b1[2]) / 2d - (b2[0] + b2[2]) / 2d;
        Dual dy = (b1[1] + b1[3]) / 2d - (b2[1] + b2[3]) / 2d;
        Dual dw = (b1[2] - b1[0]) - (b2[2] - b2[0]);
        Dual dh = (b1[3] - b1[1]) - (b2[3] - b2[1]);
        return 1d - iou + (dx * dx + dy * dy) / (cw * cw + ch * ch + eps) + dw * dw / (cw * cw + eps) + dh * dh / (ch * ch + eps);
    }

    private static Dual MMDetEIoU(Dual[] p, Dual[] t, double smoothPoint, double eps)
    {
        Dual ex1 = Dual.Min(p[0], t[0]), ey1 = Dual.Min(p[1], t[1]);
        Dual ix1 = Dual.Max(p[0], t[0]), iy1 = Dual.Max(p[1], t[1]);
        Dual ix2 = Dual.Min(p[2], t[2]), iy2 = Dual.Min(p[3], t[3]);
        Dual xmin = Dual.Min(ix1, ix2), ymin = Dual.Min(iy1, iy2), xmax = Dual.Max(ix1, ix2), ymax = Dual.Max(iy1, iy2);
        Dual intersection = (ix2 - ex1) * (iy2 - ey1) + (xmin - ex1) * (ymin - ey1) - (ix1 - ex1) * (ymax - ey1) - (xmax - ex1) * (iy1 - ey1);
        Dual union = (p[2] - p[0]) * (p[3] - p[1]) + (t[2] - t[0]) * (t[3] - t[1]) - intersection + eps;
        Dual q = 1d - intersection / union;
        return q.V < smoothPoint ? 0.5 * q * q / smoothPoint : q - 0.5 * smoothPoint;
    }

    private static Dual MMDetSIoU(Dual[] p, Dual[] t, double eps, bool negGamma)
    {
        (Dual overlap, Dual union) = MMDetOverlapUnion(p, t, eps);
        Dual iou = overlap / union;
        Dual cw = Dual.Clamp(Dual.Max(p[2], t[2]) - Dual.Min(p[0], t[0]), eps, double.PositiveInfinity);
        Dual ch = Dual.Clamp(Dual.Max(p[3], t[3]) - Dual.Min(p[1], t[1]), eps, double.PositiveInfinity);
        Dual w1 = p[2] - p[0], h1 = p[3] - p[1] + eps;
        Dual w2 = t[2] - t[0], h2 = t[3] - t[1] + eps;
        Dual sx = (t[0] + t[2] - p[0] - p[2]) * 0.5 + eps;
        Dual sy = (t[1] + t[3] - p[1] - p[3]) * 0.5 + eps;
        Dual sigma = Dual.Sqrt(sx * sx + sy * sy);
        // Where mmdetection divides 0 by 0, the library's quotient is 0 (ScyllaIoULoss's remarks).
        Dual sin1 = sigma.V == 0d ? 0d : Dual.Abs(sx) / sigma, sin2 = sigma.V == 0d ? 0d : Dual.Abs(sy) / sigma;
        Dual sin = sin1.V > Math.Sqrt(2d) / 2d ? sin2 : sin1;
        Dual angleCost = Dual.Cos(Dual.Asin(sin) * 2d - Math.PI / 2d);
        Dual rhoX = sx / cw * (sx / cw), rhoY = sy / ch * (sy / ch);
        Dual gamma = negGamma ? angleCost - 2d : 2d - angleCost;
        Dual distanceCost = 2d - Dual.Exp(gamma * rhoX) - Dual.Exp(gamma * rhoY);
        Dual omegaW = Dual.Max(w1, w2).V == 0d ? 0d : Dual.Abs(w1 - w2) / Dual.Max(w1, w2);
        Dual omegaH = Dual.Max(h1, h2).V == 0d ? 0d : Dual.Abs(h1 - h2) / Dual.Max(h1, h2);
        Dual shapeCost = Dual.Pow(1d - Dual.Exp(-omegaW), 4) + Dual.Pow(1d - Dual.Exp(-omegaH), 4);
        return 1d - Dual.Clamp(iou - 0.5 * (distanceCost + shapeCost), -1d, 1d);
    }

    /// <summary>mmdetection's bounded_iou_loss with its four components summed; the target detached.</summary>
    private static Dual MMDetBoundedIoU(Dual[] p, Dual[] target, double beta, double eps)
    {
        Dual[] t = [.. target.Select(c => c.Detached)];
        Dual dx = (t[0] + t[2]) * 0.5 - (p[0] + p[2]) * 0.5;
        Dual dy = (t[1] + t[3]) * 0.5 - (p[1] + p[3]) * 0.5;
        Dual tw = t[2] - t[0], th = t[3] - t[1], pw = p[2] - p[0], ph = p[3] - p[1];
        Dual[] components =
        [
            1d - Dual.Max((tw - 2d * Dual.Abs(dx)) / (tw + 2d * Dual.Abs(dx) + eps), 0d),
            1d - Dual.Max((th - 2d * Dual.Abs(dy)) / (th + 2d * Dual.Abs(dy) + eps), 0d),
            1d - Dual.Min(tw / (pw + eps), pw / (tw + eps)),
            1d - Dual.Min(th / (ph + eps), ph / (th + eps)),
        ];
        Dual sum = 0d;
        foreach (Dual c in components)
            sum += c.V < beta ? 0.5 * c * c / beta : c - 0.5 * beta;
        return sum;
    }
}
