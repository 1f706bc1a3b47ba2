#!/usr/bin/python3
"""Writes the golden cases of tests/golden/cases/ (format: losskernels-golden/1, see README).

Run with Debian's PyTorch: /usr/bin/python3 tests/golden/generate.py
Inputs are float32 (what the kernels take); every expected value is computed by PyTorch in
float64 from those same float32 values, through torch.nn.functional where PyTorch has the loss
and through the mmdetection formula otherwise. Gradients come from autograd of sum(loss * upstream).
The generator is deterministic: the same torch gives the same files.
"""
import base64
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.ops as tvops
import torchvision.ops._utils as tvu
import torchvision.ops.diou_loss as tv_diou

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


def tensor(array, dtype):
    array = np.array(array, dtype=dtype, order="C")  # np.ascontiguousarray would make a scalar 1-d
    return {"dtype": dtype, "shape": list(array.shape), "data": base64.b64encode(array.astype("<" + np.dtype(dtype).str[1:]).tobytes()).decode()}


def weight_reduce(loss, weight, reduction, avg_factor):
    """mmdetection's weight_reduce_loss, in float64."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return {"none": loss, "mean": loss.mean() if loss.numel() else loss.sum() / 0.0, "sum": loss.sum()}[reduction]
    if reduction == "mean":
        return loss.sum() / (avg_factor + FLOAT32_EPS)
    raise ValueError("avg_factor only with mean")


def balanced_l1(pred, target, beta, alpha, gamma):
    """mmdetection's balanced_l1_loss, elementwise."""
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    return torch.where(diff < beta, alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
                       gamma * diff + gamma / b - alpha * beta)


ELEMENTWISE = {
    "l1": (lambda x, t, p: F.l1_loss(x, t, reduction="none"), "torch.nn.functional.l1_loss"),
    "mse": (lambda x, t, p: F.mse_loss(x, t, reduction="none"), "torch.nn.functional.mse_loss"),
    "smooth_l1": (lambda x, t, p: F.smooth_l1_loss(x, t, reduction="none", beta=p.get("beta", 1.0)), "torch.nn.functional.smooth_l1_loss"),
    "huber": (lambda x, t, p: F.huber_loss(x, t, reduction="none", delta=p.get("delta", 1.0)), "torch.nn.functional.huber_loss"),
    "balanced_l1": (lambda x, t, p: balanced_l1(x, t, p.get("beta", 1.0), p.get("alpha", 0.5), p.get("gamma", 1.5)), "mmdetection balanced_l1_loss formula"),
}


def balanced_bce(x, t, p):
    """Class-balanced BCE: alpha weighs the positive term, 1 - alpha the negative one."""
    alpha = p.get("alpha", 0.25)
    return alpha * t * F.softplus(-x) + (1 - alpha) * (1 - t) * F.softplus(x)


def mm_quality_focal(x, t, p):
    """mmdetection's quality_focal_loss_tensor_target (dense IoU-score targets), elementwise (before its sum over classes)."""
    return F.binary_cross_entropy_with_logits(x, t, reduction="none") * (x.sigmoid() - t).abs().pow(p.get("beta", 2.0))


def mm_varifocal(x, t, p):
    """mmdetection's varifocal_loss (mmdet/models/losses/varifocal_loss.py), elementwise."""
    alpha, gamma = p.get("alpha", 0.75), p.get("gamma", 2.0)
    positive = (t > 0).to(x.dtype)
    negative_weight = alpha * (x.sigmoid() - t).abs().pow(gamma) * (t <= 0).to(x.dtype)
    focal_weight = (t * positive if p.get("iou_weighted", True) else positive) + negative_weight
    return F.binary_cross_entropy_with_logits(x, t, reduction="none") * focal_weight


def bce_with_logits(x, t, p):
    pos_weight = torch.tensor(p["pos_weight"], dtype=x.dtype) if "pos_weight" in p else None
    return F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=pos_weight)


ELEMENTWISE.update({
    "binary_cross_entropy": (lambda x, t, p: F.binary_cross_entropy(x, t, reduction="none"), "torch.nn.functional.binary_cross_entropy"),
    "binary_cross_entropy_with_logits": (bce_with_logits, "torch.nn.functional.binary_cross_entropy_with_logits"),
    "balanced_binary_cross_entropy": (balanced_bce, "the class-balanced BCE formula (torchvision sigmoid_focal_loss with gamma=0 on 0/1 targets)"),
    "sigmoid_focal_loss": (lambda x, t, p: tvops.sigmoid_focal_loss(x, t, alpha=p.get("alpha", 0.25), gamma=p.get("gamma", 2.0), reduction="none"),
                           f"torchvision {torchvision.__version__} torchvision.ops.sigmoid_focal_loss"),
    "quality_focal_loss": (mm_quality_focal, "mmdetection quality_focal_loss_tensor_target formula"),
    "varifocal_loss": (mm_varifocal, "mmdetection varifocal_loss formula"),
    "hinge_loss": (lambda x, t, p: torch.clamp(p.get("margin", 1.0) - t * x, min=0), "torch.clamp(margin - target * input, min=0)"),
    "hinge_embedding_loss": (lambda x, t, p: F.hinge_embedding_loss(x, t, margin=p.get("margin", 1.0), reduction="none"),
                             "torch.nn.functional.hinge_embedding_loss"),
    "kl_div": (lambda x, t, p: F.kl_div(x, t, reduction="none", log_target=p.get("log_target", False)), "torch.nn.functional.kl_div"),
    "zero_one_loss": (lambda x, t, p: ((x > 0) != (t > 0)).to(x.dtype), "the 0-1 loss [x > 0] != [t > 0] (not differentiable: no gradient)"),
})

NOT_DIFFERENTIABLE = {"zero_one_loss"}


def write(case):
    name = case["name"]
    path = os.path.join(OUT, name.replace("/", "__") + ".json")
    with open(path, "w") as f:
        json.dump(case, f, indent=1)
        f.write("\n")


def elementwise_case(loss, params, x, t, tag, weight=None, upstream=None, tolerance=None):
    fn, source = ELEMENTWISE[loss]
    reduction = params.get("reduction", "mean")
    avg_factor = params.get("avg_factor")
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    t64 = torch.tensor(t.astype(np.float64), requires_grad=bool(params.get("target_grad")))
    w64 = None if weight is None else torch.tensor(weight.astype(np.float64))
    if reduction == "batchmean":
        value = fn(x64, t64, params).sum() / x.shape[0]
    else:
        value = weight_reduce(fn(x64, t64, params), w64, reduction, avg_factor)
    up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
    if loss not in NOT_DIFFERENTIABLE:
        (value * up).sum().backward()
    n = x.size
    inputs = {"input": tensor(x, "float32"), "target": tensor(t, "float32")}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    case = {
        "format": "losskernels-golden/1",
        "name": f"{loss}/{tag}/{reduction}/n{n}",
        "loss": loss,
        "params": params,
        "inputs": inputs,
        "upstream": None if upstream is None else tensor(upstream, "float32"),
        "expected": {"loss": tensor(value.detach().numpy(), "float64")},
        "tolerance": tolerance or {"rtol": 1e-5, "atol": 1e-6},
        "source": f"torch {torch.__version__} {source}, float64",
    }
    if loss not in NOT_DIFFERENTIABLE:
        case["expected"]["grad.input"] = tensor(x64.grad.numpy(), "float64")
    if params.get("target_grad"):
        case["expected"]["grad.target"] = tensor(t64.grad.numpy(), "float64")
    write(case)


def rmse_case(x, t, tag):
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    value = torch.sqrt(F.mse_loss(x64, torch.tensor(t.astype(np.float64))))
    value.backward()
    write({
        "format": "losskernels-golden/1",
        "name": f"rmse/{tag}/n{x.size}",
        "loss": "rmse",
        "params": {},
        "inputs": {"input": tensor(x, "float32"), "target": tensor(t, "float32")},
        "upstream": None,
        "expected": {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64")},
        "tolerance": {"rtol": 1e-5, "atol": 1e-6},
        "source": f"torch {torch.__version__} torch.sqrt(torch.nn.functional.mse_loss), float64",
    })


# ---- Box losses: rows of [x1, y1, x2, y2]; the mmdetection formulas below follow mmdet/models/losses/iou_loss.py (3.x).

def mm_iou(pred, target, mode="log", eps=1e-6):
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    area1 = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area2 = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    union = torch.max(area1 + area2 - overlap, union_eps(area1, 1e-6))
    ious = (overlap / union).clamp(min=eps)
    return {"linear": 1 - ious, "square": 1 - ious ** 2, "log": -ious.log()}[mode]


def union_eps(like, eps):
    return like.new_tensor([eps])


def mm_overlap_union(pred, target, eps):
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    ap = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    ag = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    return overlap, ap + ag - overlap + eps


def mm_ciou(pred, target, eps=1e-7):
    overlap, union = mm_overlap_union(pred, target, eps)
    ious = overlap / union
    enclose_wh = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])).clamp(min=0)
    c2 = enclose_wh[:, 0] ** 2 + enclose_wh[:, 1] ** 2 + eps
    w1, h1 = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1] + eps
    w2, h2 = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1] + eps
    rho2 = ((target[:, 0] + target[:, 2]) - (pred[:, 0] + pred[:, 2])) ** 2 / 4 + ((target[:, 1] + target[:, 3]) - (pred[:, 1] + pred[:, 3])) ** 2 / 4
    v = (4 / math.pi ** 2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
    with torch.no_grad():
        alpha = (ious > 0.5).double() * v / (1 - ious + v)
    cious = ious - (rho2 / c2 + alpha * v)
    return 1 - cious.clamp(min=-1.0, max=1.0)


def efficient_iou(boxes1, boxes2, eps=1e-7):
    """EIoU (Zhang et al. 2022) with torchvision's intersection and eps in every denominator."""
    inter, union = tvu._loss_inter_union(boxes1, boxes2)
    iou = inter / (union + eps)
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    cw = torch.max(x2, x2g) - torch.min(x1, x1g)
    ch = torch.max(y2, y2g) - torch.min(y1, y1g)
    rho = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    return 1 - iou + rho / (cw ** 2 + ch ** 2 + eps) + ((x2 - x1) - (x2g - x1g)) ** 2 / (cw ** 2 + eps) + ((y2 - y1) - (y2g - y1g)) ** 2 / (ch ** 2 + eps)


def tv_ciou(boxes1, boxes2, eps=1e-7):
    """torchvision's complete_box_iou_loss, except that a zero height becomes eps inside the aspect term
    (mmdetection's guard, h + eps) where torchvision divides 0/0 or w/0 and returns NaN; checked equal to 1e-7 elsewhere."""
    diou, iou = tv_diou._diou_iou_loss(boxes1, boxes2)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    h_pred, h_gt = y2 - y1, y2g - y1g
    h_pred = h_pred + (h_pred == 0).double() * eps
    h_gt = h_gt + (h_gt == 0).double() * eps
    v = (4 / (torch.pi ** 2)) * torch.pow(torch.atan((x2g - x1g) / h_gt) - torch.atan((x2 - x1) / h_pred), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    loss = diou + alpha * v
    with torch.no_grad():
        reference = tvops.complete_box_iou_loss(boxes1, boxes2, eps=eps)
        finite = torch.isfinite(reference)
        assert torch.allclose(loss[finite], reference[finite], rtol=1e-7, atol=1e-9), "guarded CIoU differs from torchvision where torchvision is finite"
    return loss


def mm_eiou(pred, target, smooth_point=0.1, eps=1e-7):
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    ex1, ey1 = torch.min(px1, tx1), torch.min(py1, ty1)
    ix1, iy1 = torch.max(px1, tx1), torch.max(py1, ty1)
    ix2, iy2 = torch.min(px2, tx2), torch.min(py2, ty2)
    xmin, ymin = torch.min(ix1, ix2), torch.min(iy1, iy2)
    xmax, ymax = torch.max(ix1, ix2), torch.max(iy1, iy2)
    intersection = (ix2 - ex1) * (iy2 - ey1) + (xmin - ex1) * (ymin - ey1) - (ix1 - ex1) * (ymax - ey1) - (xmax - ex1) * (iy1 - ey1)
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - intersection + eps
    ious = 1 - intersection / union
    smooth_sign = (ious < smooth_point).detach().double()
    return 0.5 * smooth_sign * ious ** 2 / smooth_point + (1 - smooth_sign) * (ious - 0.5 * smooth_point)


def mm_siou(pred, target, eps=1e-7, neg_gamma=False):
    overlap, union = mm_overlap_union(pred, target, eps)
    ious = overlap / union
    enclose_wh = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])).clamp(min=eps)
    cw, ch = enclose_wh[:, 0], enclose_wh[:, 1]
    w1, h1 = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1] + eps
    w2, h2 = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1] + eps
    s_cw = (target[:, 0] + target[:, 2] - pred[:, 0] - pred[:, 2]) * 0.5 + eps
    s_ch = (target[:, 1] + target[:, 3] - pred[:, 1] - pred[:, 3]) * 0.5 + eps
    sigma = torch.pow(s_cw ** 2 + s_ch ** 2, 0.5)
    sin_alpha_1 = torch.abs(s_cw) / sigma
    sin_alpha_2 = torch.abs(s_ch) / sigma
    threshold = pow(2, 0.5) / 2
    sin_alpha = torch.where(sin_alpha_1 > threshold, sin_alpha_2, sin_alpha_1)
    angle_cost = torch.cos(torch.asin(sin_alpha) * 2 - math.pi / 2)
    rho_x, rho_y = (s_cw / cw) ** 2, (s_ch / ch) ** 2
    gamma = angle_cost - 2 if neg_gamma else 2 - angle_cost
    distance_cost = 2 - torch.exp(gamma * rho_x) - torch.exp(gamma * rho_y)
    omiga_w = torch.abs(w1 - w2) / torch.max(w1, w2)
    omiga_h = torch.abs(h1 - h2) / torch.max(h1, h2)
    shape_cost = torch.pow(1 - torch.exp(-1 * omiga_w), 4) + torch.pow(1 - torch.exp(-1 * omiga_h), 4)
    return 1 - (ious - 0.5 * (distance_cost + shape_cost)).clamp(min=-1.0, max=1.0)


def mm_bounded_iou(pred, target, beta=0.2, eps=1e-3):
    """mmdetection's bounded_iou_loss; its [N, 4] components summed per box (see BoundedIoULoss)."""
    pred_ctrx, pred_ctry = (pred[:, 0] + pred[:, 2]) * 0.5, (pred[:, 1] + pred[:, 3]) * 0.5
    pred_w, pred_h = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1]
    with torch.no_grad():
        target_ctrx, target_ctry = (target[:, 0] + target[:, 2]) * 0.5, (target[:, 1] + target[:, 3]) * 0.5
        target_w, target_h = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1]
    dx, dy = target_ctrx - pred_ctrx, target_ctry - pred_ctry
    loss_dx = 1 - torch.max((target_w - 2 * dx.abs()) / (target_w + 2 * dx.abs() + eps), torch.zeros_like(dx))
    loss_dy = 1 - torch.max((target_h - 2 * dy.abs()) / (target_h + 2 * dy.abs() + eps), torch.zeros_like(dy))
    loss_dw = 1 - torch.min(target_w / (pred_w + eps), pred_w / (target_w + eps))
    loss_dh = 1 - torch.min(target_h / (pred_h + eps), pred_h / (target_h + eps))
    loss_comb = torch.stack([loss_dx, loss_dy, loss_dw, loss_dh], dim=-1)
    return torch.where(loss_comb < beta, 0.5 * loss_comb * loss_comb / beta, loss_comb - 0.5 * beta).sum(-1)


def centerness_target(ltrb):
    """mmdetection's FCOSHead.centerness_target."""
    left_right, top_bottom = ltrb[:, [0, 2]], ltrb[:, [1, 3]]
    return torch.sqrt((left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0]) * (top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0]))


# catalog name: (function(boxes1, boxes2, params) -> per-box loss, input names, source, target differentiable)
BOX = {
    "iou_loss": (lambda p, t, q: mm_iou(p, t, q.get("mode", "log"), q.get("eps", 1e-6)), ("pred", "target"), "mmdetection iou_loss formula", True),
    "generalized_box_iou_loss": (lambda p, t, q: tvops.generalized_box_iou_loss(p, t, eps=q.get("eps", 1e-7)), ("boxes1", "boxes2"), f"torchvision {torchvision.__version__} generalized_box_iou_loss", True),
    "distance_box_iou_loss": (lambda p, t, q: tvops.distance_box_iou_loss(p, t, eps=q.get("eps", 1e-7)), ("boxes1", "boxes2"), f"torchvision {torchvision.__version__} distance_box_iou_loss", True),
    "complete_box_iou_loss": (lambda p, t, q: mm_ciou(p, t, q.get("eps", 1e-7)) if q.get("variant") == "mmdet" else tv_ciou(p, t, q.get("eps", 1e-7)),
                              ("boxes1", "boxes2"), f"torchvision {torchvision.__version__} complete_box_iou_loss, zero heights guarded by eps where it is NaN (variant mmdet: mmdetection ciou_loss formula)", True),
    "efficient_iou_loss": (lambda p, t, q: efficient_iou(p, t, q.get("eps", 1e-7)), ("pred", "target"), "EIoU (Zhang et al. 2022) formula", True),
    "extended_iou_loss": (lambda p, t, q: mm_eiou(p, t, q.get("smooth_point", 0.1), q.get("eps", 1e-7)), ("pred", "target"), "mmdetection eiou_loss formula", True),
    "scylla_iou_loss": (lambda p, t, q: mm_siou(p, t, q.get("eps", 1e-7), q.get("neg_gamma", False)), ("pred", "target"), "mmdetection siou_loss formula", True),
    "bounded_iou_loss": (lambda p, t, q: mm_bounded_iou(p, t, q.get("beta", 0.2), q.get("eps", 1e-3)), ("pred", "target"), "mmdetection bounded_iou_loss formula, components summed per box", True),
}


def to_xyxy(boxes, fmt):
    """Corners from the float64 boxes; for cxcywh, shifted by the rounding that box_convert makes in float32
    (the kernels convert in float32 as torchvision does), with the float64 conversion's gradient."""
    if fmt == "xyxy":
        return boxes
    exact = tvops.box_convert(boxes, "cxcywh", "xyxy")
    rounded = tvops.box_convert(boxes.detach().float(), "cxcywh", "xyxy").double()
    return exact + (rounded - exact).detach()


def box_case(loss, params, p, t, tag, weight=None, upstream=None, tolerance=None, tolerances=None):
    fn, names, source, target_grad = BOX[loss]
    reduction = params.get("reduction", "mean")
    fmt = params.get("format", "xyxy")
    p64 = torch.tensor(p.astype(np.float64), requires_grad=True)
    t64 = torch.tensor(t.astype(np.float64), requires_grad=True)
    w64 = None if weight is None else torch.tensor(weight.astype(np.float64))
    per_box = fn(to_xyxy(p64, fmt), to_xyxy(t64, fmt), params)
    value = weight_reduce(per_box, w64, reduction, params.get("avg_factor"))
    if reduction == "mean" and per_box.numel() == 0:
        value = per_box.sum() * 0.0  # torchvision's mean of no boxes
    up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
    (value * up).sum().backward()
    inputs = {names[0]: tensor(p, "float32"), names[1]: tensor(t, "float32")}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    expected = {"loss": tensor(value.detach().numpy(), "float64"), "grad." + names[0]: tensor(p64.grad.numpy(), "float64")}
    if target_grad:
        expected["grad." + names[1]] = tensor(t64.grad.numpy() if t64.grad is not None else np.zeros_like(t, dtype=np.float64), "float64")
    case = {
        "format": "losskernels-golden/1",
        "name": f"{loss}/{tag}/{reduction}/n{p.shape[0]}",
        "loss": loss,
        "params": params,
        "inputs": inputs,
        "upstream": None if upstream is None else tensor(upstream, "float32"),
        "expected": expected,
        "tolerance": tolerance or {"rtol": 1e-5, "atol": 1e-6},
        "source": f"torch {torch.__version__} {source}, float64",
    }
    if tolerances:
        case["tolerances"] = tolerances
    write(case)


def random_boxes(rng, n, scale=10.0):
    """Predictions near their targets (overlapping, apart and nested all occur), both xyxy."""
    cx, cy = rng.uniform(0, scale, n), rng.uniform(0, scale, n)
    w, h = rng.uniform(0.5, 4, n), rng.uniform(0.5, 4, n)
    t = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    pcx, pcy = cx + rng.normal(0, 1.5, n), cy + rng.normal(0, 1.5, n)
    pw, ph = w * rng.uniform(0.5, 1.6, n), h * rng.uniform(0.5, 1.6, n)
    p = np.stack([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2], -1)
    return p.astype(np.float32), t.astype(np.float32)


def degenerate_boxes():
    """Zero width, zero height, zero area, identical, touching, apart, far apart, nested, around 1e4."""
    pairs = [
        ([0, 0, 0, 2], [0, 0, 1, 2]),        # zero-width prediction
        ([0, 0, 2, 0], [0, 0, 2, 1]),        # zero-height prediction
        ([1, 1, 1, 1], [0, 0, 2, 2]),        # zero-area prediction inside the target
        ([0, 0, 2, 3], [0, 0, 2, 3]),        # identical
        ([0, 0, 1, 1], [1, 0, 2, 1]),        # touching edges
        ([0, 0, 1, 1], [3, 4, 5, 6]),        # apart
        ([0, 0, 1, 1], [900, 800, 901, 801]),  # far apart
        ([1, 1, 2, 2], [0, 0, 4, 4]),        # nested
        ([10000, 10000, 10010, 10020], [10002, 10001, 10012, 10019]),  # around 1e4
        ([0.5, 0.5, 2.5, 1.5], [0, 0, 3, 2]),  # equal centers
        ([0, 0, 2, 2], [1, 1, 3, 3]),        # equal sizes, diagonal offset (ties in the enclosure)
    ]
    return np.array([a for a, _ in pairs], dtype=np.float32), np.array([b for _, b in pairs], dtype=np.float32)


def centerness_case(params, x, ltrb, tag, weight=None):
    reduction = params.get("reduction", "mean")
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    target = centerness_target(torch.tensor(ltrb.astype(np.float64)))
    per = F.binary_cross_entropy_with_logits(x64, target, reduction="none")
    w64 = None if weight is None else torch.tensor(weight.astype(np.float64))
    value = weight_reduce(per, w64, reduction, params.get("avg_factor"))
    value.sum().backward()
    inputs = {"input": tensor(x, "float32"), "target": tensor(ltrb, "float32")}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    write_case(f"fcos_centerness_loss/{tag}/{reduction}/n{x.size}", "fcos_centerness_loss", params, inputs, None, value, x64,
               f"torch {torch.__version__} mmdetection FCOSHead.centerness_target + binary_cross_entropy_with_logits, float64")


def box_cases(rng):
    configs = {
        "iou_loss": [{"mode": "log"}, {"mode": "linear"}, {"mode": "square", "eps": 0.01}],
        "generalized_box_iou_loss": [{}],
        "distance_box_iou_loss": [{}],
        "complete_box_iou_loss": [{}, {"variant": "mmdet"}],
        "efficient_iou_loss": [{}],
        "extended_iou_loss": [{}, {"smooth_point": 0.3}],
        "scylla_iou_loss": [{}, {"neg_gamma": True}],
        "bounded_iou_loss": [{}, {"beta": 0.5, "eps": 0.01}],
    }
    for loss, variants in configs.items():
        for extra in variants:
            tag = "default" if not extra else "_".join(f"{k}{v}" for k, v in extra.items())
            reductions = ("none", "sum", "mean")
            for reduction in reductions:
                for n in (1, 5, 37, 263):
                    p, t = random_boxes(rng, n)
                    box_case(loss, {**extra, "reduction": reduction}, p, t, tag)
            p, t = random_boxes(rng, 301)
            w = rng.uniform(0, 2, 301).astype(np.float32)
            box_case(loss, {**extra, "reduction": "mean", "avg_factor": 77.5}, p, t, tag + "_weighted_avg", weight=w)
            u = rng.uniform(-1, 1, 301).astype(np.float32)
            box_case(loss, {**extra, "reduction": "none"}, p, t, tag + "_upstream", weight=w, upstream=u)
            # Around 1e4 the coordinates carry ~1e-3 of float32 rounding; the sizes (differences) are exact.
            p, t = degenerate_boxes()
            box_case(loss, {**extra, "reduction": "none"}, p, t, tag + "_degenerate", tolerance={"rtol": 1e-4, "atol": 1e-5})
        p, t = random_boxes(rng, 41)
        cp = tvops.box_convert(torch.tensor(p), "xyxy", "cxcywh").numpy()
        ct = tvops.box_convert(torch.tensor(t), "xyxy", "cxcywh").numpy()
        box_case(loss, {"reduction": "sum", "format": "cxcywh"}, cp, ct, "cxcywh")
        empty = np.zeros((0, 4), dtype=np.float32)
        box_case(loss, {"reduction": "mean"}, empty, empty, "empty")
        box_case(loss, {"reduction": "sum"}, empty, empty, "empty")
    for reduction in ("none", "mean", "sum"):
        for n in (1, 7, 263):
            ltrb = rng.uniform(0.1, 5, (n, 4)).astype(np.float32)
            centerness_case({"reduction": reduction}, rng.uniform(-4, 4, n).astype(np.float32), ltrb, "random")
    ltrb = rng.uniform(0.1, 5, (129, 4)).astype(np.float32)
    centerness_case({"reduction": "mean", "avg_factor": 40.0}, rng.uniform(-4, 4, 129).astype(np.float32), ltrb, "weighted_avg",
                    weight=rng.uniform(0, 2, 129).astype(np.float32))
    edge_x = np.array([0, 1e4, -1e4, 88.7, -103.9, 3, -3], dtype=np.float32)
    edge_ltrb = np.array([[1, 1, 1, 1], [1, 2, 3, 4], [1, 2, 3, 4], [5, 1, 5, 1], [0.1, 9, 0.1, 9], [2, 3, 2, 3], [1e-3, 1, 1, 1e-3]], dtype=np.float32)
    centerness_case({"reduction": "none"}, edge_x, edge_ltrb, "edges")


def classification_cases(rng):
    """The elementwise classification losses: logits, probabilities or labels as each takes them."""
    def logits(n):
        return rng.uniform(-8, 8, n).astype(np.float32)

    def soft_targets(n):
        return np.where(np.arange(n) % 3 == 0, 0.0, np.where(np.arange(n) % 3 == 1, 1.0, rng.uniform(0, 1, n))).astype(np.float32)

    def scores(n):
        return np.where(np.arange(n) % 4 == 0, 1 - rng.uniform(0, 1, n), 0.0).astype(np.float32)

    def signs(n):
        return np.where(rng.integers(0, 2, n) == 0, -1.0, 1.0).astype(np.float32)

    samplers = {
        "binary_cross_entropy": lambda n: ((1 / (1 + np.exp(-rng.uniform(-8, 8, n)))).astype(np.float32), soft_targets(n)),
        "binary_cross_entropy_with_logits": lambda n: (logits(n), soft_targets(n)),
        "balanced_binary_cross_entropy": lambda n: (logits(n), soft_targets(n)),
        "sigmoid_focal_loss": lambda n: (logits(n), soft_targets(n)),
        "quality_focal_loss": lambda n: (logits(n), scores(n)),
        "varifocal_loss": lambda n: (logits(n), scores(n)),
        "hinge_loss": lambda n: (rng.uniform(-3, 3, n).astype(np.float32), signs(n)),
        "hinge_embedding_loss": lambda n: (rng.uniform(0, 3, n).astype(np.float32), signs(n)),
        "kl_div": lambda n: (np.log(1 - rng.uniform(0, 1, n)).astype(np.float32), np.where(np.arange(n) % 5 == 0, 0.0, rng.uniform(0, 1, n)).astype(np.float32)),
        "zero_one_loss": lambda n: (rng.uniform(-3, 3, n).astype(np.float32), signs(n)),
    }
    configs = {
        "binary_cross_entropy": [{}],
        "binary_cross_entropy_with_logits": [{}, {"pos_weight": 3.0}],
        "balanced_binary_cross_entropy": [{"alpha": 0.25}, {"alpha": 0.7}],
        "sigmoid_focal_loss": [{"alpha": 0.25, "gamma": 2.0}, {"alpha": -1.0, "gamma": 1.5}, {"alpha": 0.5, "gamma": 0.0}],
        "quality_focal_loss": [{"beta": 2.0}, {"beta": 1.5}],
        "varifocal_loss": [{"alpha": 0.75, "gamma": 2.0, "iou_weighted": True}, {"alpha": 0.5, "gamma": 1.5, "iou_weighted": False}],
        "hinge_loss": [{"margin": 1.0}, {"margin": 0.5}],
        "hinge_embedding_loss": [{"margin": 1.0}, {"margin": 2.0}],
        "kl_div": [{"log_target": False}, {"log_target": True}],
        "zero_one_loss": [{}],
    }
    edge_logits = np.array([1e4, -1e4, 88.7, -88.7, 88.72, -103.9, 30.0, -30.0, 17.0, -17.0, 0.0, 1e-30], dtype=np.float32)
    edge_inputs = {
        "binary_cross_entropy": np.array([0.0, 1.0, 1e-30, 1e-7, 0.99999994, 0.5], dtype=np.float32),
        "hinge_loss": np.array([1.0, -1.0, 0.5, -0.5, 1e4, -1e4, 0.0], dtype=np.float32),
        "hinge_embedding_loss": np.array([1.0, 2.0, 0.0, -1.0, 1e4, -1e4, 3.0], dtype=np.float32),
        "kl_div": np.array([0.0, -1e4, -88.7, -103.9, -1e-30, -2.0], dtype=np.float32),
        "zero_one_loss": np.array([1.0, -1.0, 0.0, 1e4, -1e4], dtype=np.float32),
    }
    edge_targets = {"hinge_loss": [-1.0, 1.0], "hinge_embedding_loss": [-1.0, 1.0], "zero_one_loss": [-1.0, 1.0], "kl_div": [0.0, 1.0, 0.5]}
    for loss, variants in configs.items():
        sample = samplers[loss]
        for extra in variants:
            tag = "default" if not extra else "_".join(f"{k}{v}" for k, v in extra.items())
            for reduction in ("none", "mean", "sum"):
                for n in (1, 7, 257, 1031):
                    x, t = sample(n)
                    elementwise_case(loss, {**extra, "reduction": reduction}, x, t, tag)
            x, t = sample(517)
            w = rng.uniform(0, 2, 517).astype(np.float32)
            elementwise_case(loss, {**extra, "reduction": "mean", "avg_factor": 123.5}, x, t, tag + "_weighted_avg", weight=w)
            u = rng.uniform(-1, 1, 517).astype(np.float32)
            elementwise_case(loss, {**extra, "reduction": "none"}, x, t, tag + "_upstream", weight=w, upstream=u)
            inputs = edge_inputs.get(loss, edge_logits)
            targets = edge_targets.get(loss, [0.0, 1.0, 0.5])
            edge_x = np.repeat(inputs, len(targets)).astype(np.float32)
            edge_t = np.tile(np.array(targets, dtype=np.float32), len(inputs))
            elementwise_case(loss, {**extra, "reduction": "none"}, edge_x, edge_t, tag + "_edges")
            elementwise_case(loss, {**extra, "reduction": "sum"}, edge_x, edge_t, tag + "_edges")
        empty = np.zeros(0, dtype=np.float32)
        elementwise_case(loss, {"reduction": "mean"}, empty, empty, "empty")
    # kl_div's batchmean divides the sum by the first dimension of an [N, C] input.
    for log_target in (False, True):
        x, t = samplers["kl_div"](24 * 37)
        elementwise_case("kl_div", {"log_target": log_target, "reduction": "batchmean"}, x.reshape(24, 37), t.reshape(24, 37), f"log_target{log_target}")
    # The balanced BCE is torchvision's focal loss with gamma = 0 on 0/1 targets: checked here, in float64.
    x = torch.tensor(logits(101).astype(np.float64))
    t = torch.tensor((np.arange(101) % 2).astype(np.float64))
    assert torch.allclose(balanced_bce(x, t, {"alpha": 0.3}), tvops.sigmoid_focal_loss(x, t, alpha=0.3, gamma=0.0, reduction="none"), rtol=1e-12, atol=1e-15)


def write_expected(name, loss, params, inputs, upstream, expected, source, tolerance=None):
    """Writes one case with the expected tensors given (loss and grad.*), at rtol 1e-5 / atol 1e-6 unless told."""
    write({
        "format": "losskernels-golden/1",
        "name": name,
        "loss": loss,
        "params": params,
        "inputs": inputs,
        "upstream": None if upstream is None else tensor(upstream, "float32"),
        "expected": expected,
        "tolerance": tolerance or {"rtol": 1e-5, "atol": 1e-6},
        "source": source,
    })


def write_case(name, loss, params, inputs, upstream, value, x64, source):
    """Writes one case whose expected values are value (the loss) and x64.grad (grad.input)."""
    write_expected(name, loss, params, inputs, upstream,
                   {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64")}, source)


def cross_entropy_case(params, x, t, tag, weight=None, upstream=None, target_dtype="int64"):
    """F.cross_entropy on [N, C] in float64, plus Liger-Kernel's z-loss lse_square_scale * lse^2 on the rows not
    ignored, divided for 'mean' like the rest (by the summed weight of those rows' targets)."""
    reduction = params.get("reduction", "mean")
    ignore_index = params.get("ignore_index", -100)
    z = params.get("lse_square_scale", 0.0)
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    soft = t.dtype == np.float32
    t64 = torch.tensor(t.astype(np.float64 if soft else np.int64), requires_grad=bool(params.get("target_grad")))
    w64 = None if weight is None else torch.tensor(weight.astype(np.float64))
    value = F.cross_entropy(x64, t64, weight=w64, ignore_index=ignore_index, reduction=reduction, label_smoothing=params.get("label_smoothing", 0.0))
    if z:
        kept = torch.ones(t64.shape[:1] + t64.shape[2:], dtype=torch.float64) if soft else (t64 != ignore_index).to(torch.float64)
        z_rows = z * torch.logsumexp(x64, dim=1) ** 2 * kept
        if reduction == "none":
            value = value + z_rows
        elif reduction == "sum":
            value = value + z_rows.sum()
        else:
            if soft:
                value = value + z_rows.sum() / z_rows.numel()
            else:
                target_weight = kept if w64 is None else w64[t64.clamp(min=0)] * kept
                value = value + z_rows.sum() / target_weight.sum()
    up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
    (value * up).sum().backward()
    inputs = {"input": tensor(x, "float32"), "target": tensor(t, "float32" if soft else target_dtype)}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    expected = {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64")}
    if params.get("target_grad"):
        expected["grad.target"] = tensor(t64.grad.numpy(), "float64")
    write_expected(f"cross_entropy/{tag}/{reduction}/{'x'.join(str(d) for d in x.shape)}", "cross_entropy", params, inputs, upstream, expected,
                   f"torch {torch.__version__} torch.nn.functional.cross_entropy" + (" + the z-loss lse_square_scale * logsumexp^2 (Liger-Kernel)" if z else "")
                   + (" (probability targets requiring grad)" if params.get("target_grad") else "") + ", float64")


def soft_cross_entropy_target_cases(rng):
    """cross_entropy with probability targets that require a gradient (target_grad): [N, C] and [N, C, d1, d2], smoothing, class
    weights, the z-loss, every reduction (an upstream per position for 'none')."""
    for tag, extra, weighted in (("soft_target_grad", {}, False), ("soft_target_grad_ls0.2_weight", {"label_smoothing": 0.2}, True),
                                 ("soft_target_grad_z1e-3_ls0.1", {"lse_square_scale": 1e-3, "label_smoothing": 0.1}, False)):
        for shape in ((3, 5), (4, 1031), (2, 5, 3, 4), (1, 2, 20, 20)):
            x = rng.uniform(-6, 6, shape).astype(np.float32)
            p = rng.uniform(0, 1, shape)
            t = (p / p.sum(1, keepdims=True)).astype(np.float32)
            w = rng.uniform(0, 2, shape[1]).astype(np.float32) if weighted else None
            positions = (shape[0],) + shape[2:]
            for reduction, upstream in (("none", rng.uniform(-1, 1, positions).astype(np.float32)), ("mean", None), ("sum", None)):
                cross_entropy_case({**extra, "reduction": reduction, "target_grad": True}, x, t, tag, weight=w, upstream=upstream)


def nll_case(params, x, t, tag, weight=None, upstream=None):
    """F.nll_loss on [N, C] log-probabilities in float64."""
    reduction = params.get("reduction", "mean")
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    w64 = None if weight is None else torch.tensor(weight.astype(np.float64))
    value = F.nll_loss(x64, torch.tensor(t), weight=w64, ignore_index=params.get("ignore_index", -100), reduction=reduction)
    up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
    (value * up).sum().backward()
    inputs = {"input": tensor(x, "float32"), "target": tensor(t, "int64")}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    write_case(f"nll_loss/{tag}/{reduction}/{x.shape[0]}x{x.shape[1]}", "nll_loss", params, inputs, upstream, value, x64,
               f"torch {torch.__version__} torch.nn.functional.nll_loss, float64")


def mm_distribution_focal(pred, label):
    """mmdetection's distribution_focal_loss (mmdet/models/losses/gfocal_loss.py), per row."""
    dis_left = label.long()
    dis_right = dis_left + 1
    weight_left = dis_right.to(pred.dtype) - label
    weight_right = label - dis_left.to(pred.dtype)
    # mmdetection indexes class dis_right even where its weight is 0 (l = C - 1); the clamp keeps that index in range.
    right = F.cross_entropy(pred, dis_right.clamp(max=pred.shape[1] - 1), reduction="none") * weight_right
    return F.cross_entropy(pred, dis_left, reduction="none") * weight_left + right


def distribution_cases(rng):
    for rows, bins in ((1, 2), (5, 17), (33, 17), (7, 8)):
        x = rng.uniform(-4, 4, (rows, bins)).astype(np.float32)
        label = rng.uniform(0, bins - 1, rows)
        label[::3] = rng.integers(0, bins, label[::3].shape[0])
        label[-1] = bins - 1
        label = label.astype(np.float32)
        w = rng.uniform(0, 2, rows).astype(np.float32)
        for params, weight in (({"reduction": "none"}, None), ({"reduction": "mean"}, None), ({"reduction": "sum"}, w), ({"reduction": "mean", "avg_factor": 4.0}, w)):
            x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
            value = weight_reduce(mm_distribution_focal(x64, torch.tensor(label.astype(np.float64))),
                                  None if weight is None else torch.tensor(weight.astype(np.float64)), params["reduction"], params.get("avg_factor"))
            value.sum().backward()
            inputs = {"input": tensor(x, "float32"), "target": tensor(label, "float32")}
            if weight is not None:
                inputs["weight"] = tensor(weight, "float32")
            tag = "weighted" if weight is not None else "default"
            if "avg_factor" in params:
                tag += "_avg"
            write_case(f"distribution_focal_loss/{tag}/{params['reduction']}/{rows}x{bins}", "distribution_focal_loss", params, inputs, None, value, x64,
                       f"torch {torch.__version__} mmdetection distribution_focal_loss formula (F.cross_entropy), float64")


def mm_softmax_focal(x, t, alpha, gamma, weight, ignore_index):
    """mmcv's softmax_focal_loss per row, -alpha * (1 - p_t)^gamma * log(p_t) * weight[t], with ignore_index rows 0
    (mmcv has no ignore_index; its log clamps p_t at FLT_MIN, never reached here)."""
    kept = t != ignore_index
    safe = torch.where(kept, t, torch.zeros_like(t))
    log_p = F.log_softmax(x, dim=1).gather(1, safe[:, None])[:, 0]
    loss = -alpha * (1 - log_p.exp()) ** gamma * log_p
    if weight is not None:
        loss = loss * weight[safe]
    return torch.where(kept, loss, torch.zeros_like(loss)), kept


def softmax_focal_cases(rng):
    for tag, params, weighted, ignore_every in (("default", {}, False, 0), ("alpha0.5_gamma1.5_weight", {"alpha": 0.5, "gamma": 1.5}, True, 0),
                                                 ("gamma0_ignored", {"gamma": 0.0}, False, 3), ("gamma0.5_weight_ignored", {"gamma": 0.5}, True, 2)):
        for rows, classes in ((1, 2), (5, 7), (16, 81), (3, 1031)):
            x = rng.uniform(-6, 6, (rows, classes)).astype(np.float32)
            t = rng.integers(0, classes, rows).astype(np.int64)
            if ignore_every:
                t[1::ignore_every] = -100
            w = rng.uniform(0, 2, classes).astype(np.float32) if weighted else None
            for reduction in ("none", "mean", "sum"):
                x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
                loss, kept = mm_softmax_focal(x64, torch.tensor(t), params.get("alpha", 0.25), params.get("gamma", 2.0),
                                              None if w is None else torch.tensor(w.astype(np.float64)), -100)
                value = {"none": loss, "sum": loss.sum(), "mean": loss.sum() / kept.sum()}[reduction]
                value.sum().backward()
                inputs = {"input": tensor(x, "float32"), "target": tensor(t, "int64")}
                if w is not None:
                    inputs["weight"] = tensor(w, "float32")
                write_case(f"softmax_focal_loss/{tag}/{reduction}/{rows}x{classes}", "softmax_focal_loss", {**params, "reduction": reduction}, inputs, None, value, x64,
                           f"torch {torch.__version__} mmcv softmax_focal_loss formula (+ ignore_index), float64")


def multi_margin_cases(rng):
    for tag, params, weighted in (("default", {}, False), ("p2_margin0.5", {"p": 2, "margin": 0.5}, False), ("weight_margin2", {"margin": 2.0}, True),
                                  ("p2_weight", {"p": 2}, True)):
        for rows, classes in ((1, 1), (3, 5), (8, 17), (4, 100)):
            x = rng.uniform(-2, 2, (rows, classes)).astype(np.float32)
            t = rng.integers(0, classes, rows).astype(np.int64)
            w = rng.uniform(0, 2, classes).astype(np.float32) if weighted else None
            for reduction in ("none", "mean", "sum"):
                x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
                value = F.multi_margin_loss(x64, torch.tensor(t), p=params.get("p", 1), margin=params.get("margin", 1.0),
                                            weight=None if w is None else torch.tensor(w.astype(np.float64)), reduction=reduction)
                value.sum().backward()
                inputs = {"input": tensor(x, "float32"), "target": tensor(t, "int64")}
                if w is not None:
                    inputs["weight"] = tensor(w, "float32")
                write_case(f"multi_margin_loss/{tag}/{reduction}/{rows}x{classes}", "multi_margin_loss", {**params, "reduction": reduction}, inputs, None, value, x64,
                           f"torch {torch.__version__} torch.nn.functional.multi_margin_loss, float64")


def mm_ghmc(pred, target, label_weight, bins, momentum):
    """mmdetection's GHMC.forward (use_sigmoid) for one call from a zero moving-average state; edges b/bins as float32."""
    edges = [float(np.float32(b) / np.float32(bins)) for b in range(bins + 1)]
    edges[-1] += 1e-6
    g = torch.abs(pred.sigmoid().detach() - target)
    valid = label_weight > 0
    tot = max(valid.float().sum().item(), 1.0)
    weights = torch.zeros_like(pred)
    acc_sum = [0.0] * bins
    n = 0
    for i in range(bins):
        inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
        num_in_bin = inds.sum().item()
        if num_in_bin > 0:
            if momentum > 0:
                acc_sum[i] = momentum * acc_sum[i] + (1 - momentum) * num_in_bin
                weights[inds] = tot / acc_sum[i]
            else:
                weights[inds] = tot / num_in_bin
            n += 1
    if n > 0:
        weights = weights / n
    return F.binary_cross_entropy_with_logits(pred, target, reduction="none") * weights * label_weight, tot


def ghmc_cases(rng):
    for tag, params, weighted in (("default", {}, False), ("bins5_momentum0.75", {"bins": 5, "momentum": 0.75}, True), ("bins30", {"bins": 30}, True)):
        for n in (1, 7, 257, 1031):
            x = rng.uniform(-8, 8, n).astype(np.float32)
            t = (rng.uniform(0, 1, n) < 0.3).astype(np.float32)
            lw = (rng.uniform(0, 1, n) > 0.2).astype(np.float32) if weighted else None
            for reduction in ("none", "mean", "sum"):
                x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
                loss, tot = mm_ghmc(x64, torch.tensor(t.astype(np.float64)), torch.ones(n, dtype=torch.float64) if lw is None else torch.tensor(lw.astype(np.float64)),
                                    params.get("bins", 10), params.get("momentum", 0.0))
                value = {"none": loss, "sum": loss.sum(), "mean": loss.sum() / (tot + FLOAT32_EPS)}[reduction]
                value.sum().backward()
                inputs = {"input": tensor(x, "float32"), "target": tensor(t, "float32")}
                if lw is not None:
                    inputs["weight"] = tensor(lw, "float32")
                write_case(f"ghm_c/{tag}/{reduction}/n{n}", "ghm_c", {**params, "reduction": reduction}, inputs, None, value, x64,
                           f"torch {torch.__version__} mmdetection GHMC.forward (one call from a zero state), float64")


def pos_weight_case(x, t, pw, reduction, weight, upstream, target_grad):
    """One binary_cross_entropy_with_logits case with a pos_weight tensor; with target_grad the target requires a gradient too."""
    rows, classes = x.shape
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    t64 = torch.tensor(t.astype(np.float64), requires_grad=target_grad)
    value = F.binary_cross_entropy_with_logits(x64, t64, reduction=reduction, weight=None if weight is None else torch.tensor(weight.astype(np.float64)),
                                               pos_weight=torch.tensor(pw.astype(np.float64)))
    up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
    (value * up).sum().backward()
    inputs = {"input": tensor(x, "float32"), "target": tensor(t, "float32"), "pos_weight": tensor(pw, "float32")}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    expected = {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64")}
    params = {"reduction": reduction}
    if target_grad:
        expected["grad.target"] = tensor(t64.grad.numpy(), "float64")
        params["target_grad"] = True
    write_expected(f"binary_cross_entropy_with_logits/pos_weight_tensor{'_target_grad' if target_grad else ''}{'_weighted' if weight is not None else ''}/{reduction}/{rows}x{classes}",
                   "binary_cross_entropy_with_logits", params, inputs, upstream, expected,
                   f"torch {torch.__version__} torch.nn.functional.binary_cross_entropy_with_logits (pos_weight tensor{', target requiring grad' if target_grad else ''}), float64")


def pos_weight_cases(rng):
    """binary_cross_entropy_with_logits with PyTorch's pos_weight tensor of C values over the last axis of [N, C]."""
    for rows, classes in ((1, 1), (3, 5), (16, 17), (4, 80)):
        x = rng.uniform(-8, 8, (rows, classes)).astype(np.float32)
        t = np.where(rng.uniform(0, 1, (rows, classes)) < 0.3, 1.0, np.where(rng.uniform(0, 1, (rows, classes)) < 0.5, 0.0, rng.uniform(0, 1, (rows, classes)))).astype(np.float32)
        pw = rng.uniform(0.2, 5, classes).astype(np.float32)
        w = rng.uniform(0, 2, (rows, classes)).astype(np.float32)
        for reduction, weight, upstream in (("none", None, rng.uniform(-1, 1, (rows, classes)).astype(np.float32)), ("mean", None, None), ("sum", w, None), ("mean", w, None)):
            pos_weight_case(x, t, pw, reduction, weight, upstream, target_grad=False)
    # The target's gradient too (target_grad), on shapes of their own so that the cases above keep their bits.
    for rows, classes in ((2, 3), (9, 17)):
        x = rng.uniform(-8, 8, (rows, classes)).astype(np.float32)
        t = np.where(rng.uniform(0, 1, (rows, classes)) < 0.5, rng.uniform(0, 1, (rows, classes)), (rng.uniform(0, 1, (rows, classes)) < 0.5)).astype(np.float32)
        pw = rng.uniform(0.2, 5, classes).astype(np.float32)
        w = rng.uniform(0, 2, (rows, classes)).astype(np.float32)
        for reduction, weight, upstream in (("none", w, rng.uniform(-1, 1, (rows, classes)).astype(np.float32)), ("mean", None, None), ("sum", w, None)):
            pos_weight_case(x, t, pw, reduction, weight, upstream, target_grad=True)


def nll_cases(rng):
    for tag, extra, weighted, ignore_every in (("default", {}, False, 0), ("weight", {}, True, 0), ("ignored", {}, False, 3),
                                                ("weight_ignored", {}, True, 2), ("ignore_index1", {"ignore_index": 1}, False, 0)):
        for rows, classes in ((1, 1), (3, 5), (16, 17), (4, 1031)):
            x = np.log(rng.uniform(0.01, 1, (rows, classes))).astype(np.float32)
            t = rng.integers(0, classes, rows).astype(np.int64)
            if ignore_every:
                t[1::ignore_every] = -100
            w = rng.uniform(0, 2, classes).astype(np.float32) if weighted else None
            for reduction in ("none", "mean", "sum"):
                nll_case({**extra, "reduction": reduction}, x, t, tag, weight=w)
        x = np.log(rng.uniform(0.01, 1, (6, 9))).astype(np.float32)
        t = rng.integers(0, 9, 6).astype(np.int64)
        nll_case({**extra, "reduction": "none"}, x, t, tag + "_upstream", upstream=rng.uniform(-1, 1, 6).astype(np.float32))
    for reduction in ("mean", "sum"):
        nll_case({"reduction": reduction}, np.zeros((3, 4), dtype=np.float32), np.full(3, -100, dtype=np.int64), "all_ignored")


def cross_entropy_cases(rng):
    variants = [
        ("default", {}, False, 0),
        ("ls0.1", {"label_smoothing": 0.1}, False, 0),
        ("weight", {}, True, 0),
        ("weight_ls0.2", {"label_smoothing": 0.2}, True, 0),
        ("ignored", {}, False, 3),
        ("weight_ls0.1_ignored", {"label_smoothing": 0.1}, True, 3),
        ("ignore_index2", {"ignore_index": 2}, False, 0),
        ("z1e-4", {"lse_square_scale": 1e-4}, False, 0),
        ("z1e-3_ls0.1_weight_ignored", {"lse_square_scale": 1e-3, "label_smoothing": 0.1}, True, 4),
    ]
    for tag, extra, weighted, ignore_every in variants:
        for rows, classes in ((1, 1), (3, 5), (7, 10), (16, 17), (5, 100), (4, 1031)):
            x = rng.uniform(-6, 6, (rows, classes)).astype(np.float32)
            t = rng.integers(0, classes, rows).astype(np.int64)
            if ignore_every:
                t[1::ignore_every] = -100
            w = rng.uniform(0, 2, classes).astype(np.float32) if weighted else None
            for reduction in ("none", "mean", "sum"):
                cross_entropy_case({**extra, "reduction": reduction}, x, t, tag, weight=w)
        x = rng.uniform(-6, 6, (9, 33)).astype(np.float32)
        t = rng.integers(0, 33, 9).astype(np.int64)
        w = rng.uniform(0, 2, 33).astype(np.float32) if weighted else None
        cross_entropy_case({**extra, "reduction": "none"}, x, t, tag + "_upstream", weight=w, upstream=rng.uniform(-1, 1, 9).astype(np.float32))
        cross_entropy_case({**extra, "reduction": "mean"}, x, t, tag + "_int32", weight=w, target_dtype="int32")
    # Probability targets (PyTorch's soft targets): rows summing to 1, some one-hot, some with zeros.
    for tag, extra, weighted in (("soft", {}, False), ("soft_ls0.2", {"label_smoothing": 0.2}, False), ("soft_weight", {}, True),
                                 ("soft_z1e-3_ls0.1_weight", {"lse_square_scale": 1e-3, "label_smoothing": 0.1}, True)):
        for rows, classes in ((1, 1), (3, 5), (7, 10), (5, 100), (4, 1031)):
            x = rng.uniform(-6, 6, (rows, classes)).astype(np.float32)
            p = rng.uniform(0, 1, (rows, classes)) * (rng.uniform(0, 1, (rows, classes)) > 0.2)
            p[::3] = np.eye(classes)[rng.integers(0, classes, p[::3].shape[0])]
            p = (p / np.maximum(p.sum(1, keepdims=True), 1e-30)).astype(np.float32)
            w = rng.uniform(0, 2, classes).astype(np.float32) if weighted else None
            for reduction in ("none", "mean", "sum"):
                cross_entropy_case({**extra, "reduction": reduction}, x, p, tag, weight=w)
    # [N, C, d1, d2] (segmentation): the class axis is the second, targets [N, d1, d2] or probabilities shaped like the input.
    for tag, extra, weighted, ignore_every, soft in (("spatial", {}, False, 0, False), ("spatial_weight_ls0.1_ignored", {"label_smoothing": 0.1}, True, 3, False),
                                                     ("spatial_z1e-3", {"lse_square_scale": 1e-3}, False, 0, False), ("spatial_soft_ls0.1_weight", {"label_smoothing": 0.1}, True, 0, True)):
        for shape in ((2, 5, 3, 4), (1, 3, 17, 1), (3, 21, 6, 7), (1, 2, 40, 40)):
            x = rng.uniform(-6, 6, shape).astype(np.float32)
            if soft:
                p = rng.uniform(0, 1, shape)
                t = (p / p.sum(1, keepdims=True)).astype(np.float32)
            else:
                t = rng.integers(0, shape[1], (shape[0],) + shape[2:]).astype(np.int64)
                if ignore_every:
                    t.reshape(-1)[1::ignore_every] = -100
            w = rng.uniform(0, 2, shape[1]).astype(np.float32) if weighted else None
            for reduction in ("none", "mean", "sum"):
                cross_entropy_case({**extra, "reduction": reduction}, x, t, tag, weight=w)
    # Logits at the float exp edges, one row per target class; a class weight of 0.
    row = np.array([1e4, -1e4, 88.7, -88.7, -103.9, 0.0, 30.0, -30.0, 88.72, 1e-30, 17.0], dtype=np.float32)
    edges = np.tile(row, (row.size, 1))
    targets = np.arange(row.size, dtype=np.int64)
    zero_weight = np.where(np.arange(row.size) == 3, 0.0, 1.0 + np.arange(row.size) % 3).astype(np.float32)
    for reduction in ("none", "mean", "sum"):
        cross_entropy_case({"label_smoothing": 0.1, "reduction": reduction}, edges, targets, "edges")
        cross_entropy_case({"reduction": reduction}, edges, targets, "edges_class_weight0", weight=zero_weight)
    # Every target ignored: PyTorch's mean is 0/0 = NaN, its sum 0.
    x = rng.uniform(-6, 6, (4, 7)).astype(np.float32)
    for reduction in ("mean", "sum"):
        cross_entropy_case({"reduction": reduction}, x, np.full(4, -100, dtype=np.int64), "all_ignored")


def smp_prepare(x64, t, mode, from_logits, ignore_index):
    """segmentation_models_pytorch DiceLoss.forward up to compute_score, in float64: probabilities and one-hot targets
    [N, C, S], both multiplied by the ignore mask as smp does."""
    bs, classes = x64.shape[0], x64.shape[1]
    if from_logits:
        y_pred = x64.log_softmax(dim=1).exp() if mode == "multiclass" else F.logsigmoid(x64).exp()
    else:
        y_pred = x64
    if mode == "multiclass":
        y_true = t.view(bs, -1)
        y_pred = y_pred.reshape(bs, classes, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            y_pred = y_pred * mask.unsqueeze(1)
            y_true = F.one_hot((y_true * mask).to(torch.long), classes).permute(0, 2, 1) * mask.unsqueeze(1)
        else:
            y_true = F.one_hot(y_true, classes).permute(0, 2, 1)
    else:
        y_true = t.reshape(bs, classes, -1)
        y_pred = y_pred.reshape(bs, classes, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            y_pred = y_pred * mask
            y_true = y_true * mask
    return y_pred, y_true.to(torch.float64)


def overlap_value(loss, params, x64, t, weight):
    """The loss in float64: smp DiceLoss / TverskyLoss (+ MONAI's squared_pred, batch=False and weight), the focal Tversky
    loss of Abraham & Khan, MONAI GeneralizedDiceLoss."""
    p, y = smp_prepare(x64, t, params.get("mode", "multiclass"), params.get("from_logits", True), params.get("ignore_index"))
    dims = (2,) if params.get("per_image", False) else (0, 2)
    eps, smooth = params.get("eps", 1e-7), params.get("smooth", 0.0)
    present = (y.sum(dims) > 0).to(torch.float64)
    w = 1.0 if weight is None else torch.tensor(weight.astype(np.float64))
    if loss == "dice_loss":
        intersection = (p * y).sum(dims)
        cardinality = (p * p).sum(dims) + (y * y).sum(dims) if params.get("squared", False) else (p + y).sum(dims)
        score = (2.0 * intersection + smooth) / (cardinality + smooth).clamp_min(eps)
        per_class = -torch.log(score.clamp_min(eps)) if params.get("log_loss", False) else 1.0 - score
        return (per_class * present * w).mean()
    if loss in ("tversky_loss", "focal_tversky_loss"):
        focal = loss == "focal_tversky_loss"
        alpha, beta = params.get("alpha", 0.7 if focal else 0.5), params.get("beta", 0.3 if focal else 0.5)
        gamma = params.get("gamma", 4.0 / 3.0 if focal else 1.0)
        intersection = (p * y).sum(dims)
        fp = (p * (1.0 - y)).sum(dims)
        fn = ((1 - p) * y).sum(dims)
        score = (intersection + smooth) / (intersection + alpha * fp + beta * fn + smooth).clamp_min(eps)
        if focal:
            return ((1.0 - score) ** (1.0 / gamma) * present * w).mean()
        return ((1.0 - score) * present * w).mean() ** gamma
    batch = not params.get("per_image", False)
    reduce_axis = [0, 2] if batch else [2]
    intersection = torch.sum(y * p, reduce_axis)
    ground = torch.sum(y, reduce_axis)
    predicted = torch.sum(p, reduce_axis)
    weight_type = params.get("weight_type", "square")
    cw = torch.reciprocal(ground * ground) if weight_type == "square" else torch.reciprocal(ground) if weight_type == "simple" else torch.ones_like(ground)
    infs = torch.isinf(cw)
    cw = cw.masked_fill(infs, 0.0)
    cw = cw + infs * (torch.max(cw) if batch else torch.max(cw, dim=1)[0].unsqueeze(dim=1))
    final = 0 if batch else 1
    numer = 2.0 * (intersection * cw).sum(final, keepdim=True) + params.get("smooth_nr", 1e-5)
    denom = ((ground + predicted) * cw).sum(final, keepdim=True) + params.get("smooth_dr", 1e-5)
    return torch.mean(1.0 - numer / denom)


OVERLAP_SOURCES = {
    "dice_loss": "segmentation_models_pytorch DiceLoss formula (+ MONAI squared_pred, batch=False, weight)",
    "tversky_loss": "segmentation_models_pytorch TverskyLoss formula (+ MONAI batch=False, weight)",
    "focal_tversky_loss": "focal Tversky loss, Abraham & Khan 2019, mean_c (1 - T_c)^(1/gamma), on smp's Tversky score",
    "generalized_dice_loss": "MONAI GeneralizedDiceLoss formula",
}


def overlap_case(loss, params, x, t, tag, weight=None, upstream=None):
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    t64 = torch.tensor(t.astype(np.float64)) if t.dtype == np.float32 else torch.tensor(t.astype(np.int64))
    value = overlap_value(loss, params, x64, t64, weight)
    (value * (1.0 if upstream is None else float(upstream))).backward()
    inputs = {"input": tensor(x, "float32"), "target": tensor(t, "float32" if t.dtype == np.float32 else "int64")}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    write_case(f"{loss}/{tag}/{'x'.join(str(d) for d in x.shape)}", loss, params, inputs, None if upstream is None else np.float32(upstream), value, x64,
               f"torch {torch.__version__} {OVERLAP_SOURCES[loss]}, float64")


def overlap_cases(rng):
    def logits(*shape, scale=4.0):
        return rng.uniform(-scale, scale, shape).astype(np.float32)

    def labels(n, classes, *spatial, absent=None):
        choices = [c for c in range(classes) if c != absent]
        return rng.choice(choices, (n,) + spatial).astype(np.int64)

    variants = {
        "dice_loss": [{}, {"smooth": 1.0}, {"log_loss": True}, {"squared": True}, {"per_image": True}],
        "tversky_loss": [{}, {"alpha": 0.3, "beta": 0.7}, {"alpha": 0.7, "beta": 0.3, "gamma": 2.0}, {"per_image": True, "gamma": 0.75, "smooth": 1.0}],
        "focal_tversky_loss": [{}, {"gamma": 2.0, "smooth": 1.0}, {"per_image": True}],
        "generalized_dice_loss": [{}, {"weight_type": "simple"}, {"weight_type": "uniform"}, {"per_image": True}],
    }
    for loss, configs in variants.items():
        for extra in configs:
            tag = "default" if not extra else "_".join(f"{k}{v}" for k, v in extra.items())
            # Multiclass from logits: S not a multiple of any vector width, class 3 absent from the batch.
            overlap_case(loss, {"mode": "multiclass", **extra}, logits(2, 4, 5, 7), labels(2, 4, 5, 7, absent=3), tag)
            # Binary and multilabel from logits, soft targets.
            overlap_case(loss, {"mode": "binary", **extra}, logits(2, 1, 9, 11), (rng.uniform(0, 1, (2, 1, 9, 11)) > 0.6).astype(np.float32), tag)
            overlap_case(loss, {"mode": "multilabel", **extra}, logits(3, 3, 6, 5), rng.uniform(0, 1, (3, 3, 6, 5)).astype(np.float32), tag)
        # Larger and odd: three images of 37 x 41 pixels.
        overlap_case(loss, {"mode": "multiclass"}, logits(3, 5, 37, 41), labels(3, 5, 37, 41), "large")
        # ignore_index: multiclass pixels marked 255; multilabel elements marked -1.
        t = labels(2, 4, 6, 6)
        t[rng.uniform(0, 1, t.shape) < 0.3] = 255
        overlap_case(loss, {"mode": "multiclass", "ignore_index": 255}, logits(2, 4, 6, 6), t, "ignore")
        t = rng.uniform(0, 1, (2, 2, 4, 5)).astype(np.float32)
        t[rng.uniform(0, 1, t.shape) < 0.25] = -1.0
        overlap_case(loss, {"mode": "multilabel", "ignore_index": -1}, logits(2, 2, 4, 5), t, "ignore")
        # From probabilities (softmax of random logits, in float32).
        probabilities = torch.softmax(torch.tensor(logits(2, 3, 4, 9)), dim=1).numpy().astype(np.float32)
        overlap_case(loss, {"mode": "multiclass", "from_logits": False}, probabilities, labels(2, 3, 4, 9), "probabilities")
        # Edges: logits of +-1e4 (probabilities exactly 0 and 1) and an upstream gradient.
        edge = np.where(rng.uniform(0, 1, (2, 3, 3, 5)) < 0.5, np.float32(1e4), np.float32(-1e4)).astype(np.float32)
        edge[:, 0] = rng.uniform(-2, 2, (2, 3, 5))
        overlap_case(loss, {"mode": "multiclass"}, edge, labels(2, 3, 3, 5), "edges", upstream=0.37)
        # A single class in binary mode with an empty mask (no target pixels).
        overlap_case(loss, {"mode": "binary"}, logits(1, 1, 4, 4), np.zeros((1, 1, 4, 4), np.float32), "empty_mask")
        # Every pixel ignored.
        overlap_case(loss, {"mode": "multiclass", "ignore_index": 7}, logits(1, 3, 2, 3), np.full((1, 2, 3), 7, np.int64), "all_ignored")
        if loss != "generalized_dice_loss":
            overlap_case(loss, {"mode": "multiclass"}, logits(2, 4, 3, 3), labels(2, 4, 3, 3), "weighted",
                         weight=rng.uniform(0.2, 2.0, 4).astype(np.float32))


def pixel_weighted_case(params, x, t, w, tag, weight=None, upstream=None):
    """U-Net's weighted cross entropy in float64: F.cross_entropy per position times the weight map, the mean over the
    positions kept (their summed class weights), or over avg_factor + eps."""
    reduction = params.get("reduction", "mean")
    ignore_index = params.get("ignore_index", -100)
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    t64 = torch.tensor(t.astype(np.int64))
    w64 = torch.tensor(w.astype(np.float64))
    c64 = None if weight is None else torch.tensor(weight.astype(np.float64))
    per = F.cross_entropy(x64, t64, weight=c64, ignore_index=ignore_index, reduction="none") * w64
    kept = (t64 != ignore_index).to(torch.float64)
    if c64 is not None:
        kept = kept * c64[t64.clamp(min=0, max=x.shape[1] - 1)]
    if reduction == "none":
        value = per
    elif reduction == "sum":
        value = per.sum()
    elif "avg_factor" in params:
        value = per.sum() / (params["avg_factor"] + FLOAT32_EPS)
    else:
        value = per.sum() / kept.sum()
    up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
    (value * up).sum().backward()
    inputs = {"input": tensor(x, "float32"), "target": tensor(t, "int64"), "pixel_weight": tensor(w, "float32")}
    if weight is not None:
        inputs["weight"] = tensor(weight, "float32")
    write_case(f"pixel_weighted_cross_entropy/{tag}/{reduction}/{'x'.join(str(d) for d in x.shape)}", "pixel_weighted_cross_entropy", params, inputs,
               upstream, value, x64, f"torch {torch.__version__} (w * torch.nn.functional.cross_entropy(reduction='none')), U-Net's weighted cross entropy, float64")


def pixel_weighted_cases(rng):
    def sample(*shape, ignore=None):
        x = rng.uniform(-4, 4, shape).astype(np.float32)
        t = rng.integers(0, shape[1], (shape[0],) + shape[2:]).astype(np.int64)
        if ignore is not None:
            t[rng.uniform(0, 1, t.shape) < 0.25] = ignore
        w = rng.uniform(0.5, 3.5, t.shape).astype(np.float32)
        return x, t, w

    for reduction in ("mean", "sum", "none"):
        pixel_weighted_case({"reduction": reduction}, *sample(2, 4, 5, 7), "default")
        pixel_weighted_case({"reduction": reduction, "ignore_index": 255}, *sample(2, 3, 6, 6, ignore=255), "ignore")
        pixel_weighted_case({"reduction": reduction}, *sample(9, 5), "rows")
    x, t, w = sample(3, 5, 37, 41)
    pixel_weighted_case({"reduction": "mean"}, x, t, w, "large")
    x, t, w = sample(2, 4, 3, 5)
    pixel_weighted_case({"reduction": "mean"}, x, t, w, "class_weighted", weight=rng.uniform(0.2, 2, 4).astype(np.float32))
    pixel_weighted_case({"reduction": "mean", "avg_factor": 17.5}, x, t, w, "avg_factor")
    pixel_weighted_case({"reduction": "none"}, x, t, w, "upstream", upstream=rng.uniform(-1, 1, t.shape).astype(np.float32))
    pixel_weighted_case({"reduction": "sum"}, x, t, w, "upstream", upstream=np.float32(0.37))
    edge = np.where(rng.uniform(0, 1, (2, 3, 4, 4)) < 0.5, np.float32(1e4), np.float32(-1e4)).astype(np.float32)
    pixel_weighted_case({"reduction": "mean"}, edge, rng.integers(0, 3, (2, 4, 4)).astype(np.int64), rng.uniform(0, 3, (2, 4, 4)).astype(np.float32), "edges")
    x, t, w = sample(1, 3, 2, 3)
    t[:] = -100
    pixel_weighted_case({"reduction": "mean"}, x, t, w, "all_ignored")
    pixel_weighted_case({"reduction": "sum"}, x, t, w, "all_ignored")


def target_gradient_cases(rng):
    """grad.target where PyTorch gives it (issue 12 item 2): the elementwise regression losses, BCE, BCE with logits (with and
    without a scalar pos_weight), kl_div in both forms and the hinge on float targets, run with target_grad; mean, sum and
    none, weights and avg_factor, edges."""
    def uniform(low, high, n):
        return rng.uniform(low, high, n).astype(np.float32)

    data = {
        "l1": lambda n: (uniform(-2, 2, n), uniform(-1, 1, n)),
        "mse": lambda n: (uniform(-2, 2, n), uniform(-1, 1, n)),
        "smooth_l1": lambda n: (uniform(-2, 2, n), uniform(-1, 1, n)),
        "huber": lambda n: (uniform(-2, 2, n), uniform(-1, 1, n)),
        "balanced_l1": lambda n: (uniform(-2, 2, n), uniform(-1, 1, n)),
        "binary_cross_entropy": lambda n: (uniform(0.001, 0.999, n), uniform(0, 1, n)),
        "binary_cross_entropy_with_logits": lambda n: (uniform(-8, 8, n), uniform(0, 1, n)),
        "kl_div": lambda n: (np.log(1 - rng.uniform(0, 1, n)).astype(np.float32), np.where(np.arange(n) % 5 == 0, 0.0, rng.uniform(0, 1, n)).astype(np.float32)),
        "hinge_loss": lambda n: (uniform(-3, 3, n), uniform(-1.5, 1.5, n)),
    }
    variants = {
        "smooth_l1": [{"beta": 0.5}],
        "huber": [{"delta": 0.7}],
        "balanced_l1": [{}],
        "binary_cross_entropy_with_logits": [{}, {"pos_weight": 2.5}],
        "kl_div": [{"log_target": False}, {"log_target": True}],
        "hinge_loss": [{"margin": 1.0}],
    }
    for loss, make in data.items():
        for extra in variants.get(loss, [{}]):
            tag = "target_grad" + "".join(f"_{k}{v}" for k, v in extra.items())
            for reduction in ("mean", "sum", "none"):
                x, t = make(37)
                if loss == "kl_div" and extra.get("log_target"):
                    t = np.log(np.maximum(t, 1e-3)).astype(np.float32)
                upstream = rng.uniform(-1, 1, 37).astype(np.float32) if reduction == "none" else None
                elementwise_case(loss, {"reduction": reduction, "target_grad": True, **extra}, x, t, tag, upstream=upstream)
            x, t = make(9)
            elementwise_case(loss, {"reduction": "mean", "avg_factor": 3.5, "target_grad": True, **extra}, x, t, tag + "_weighted",
                             weight=rng.uniform(0, 2, 9).astype(np.float32), upstream=np.float32(0.37))


def lovasz_grad(gt_sorted):
    """segmentation_models_pytorch _lovasz_grad: the gradient of the Lovasz extension of the Jaccard loss, in sorted order."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def smp_mean(values, zero):
    """segmentation_models_pytorch's mean helper: 0 for no values (zero: a 0 that autograd reaches)."""
    values = list(values)
    return sum(values[1:], values[0]) / len(values) if values else zero


def lovasz_value(loss, params, x64, t, stable=True):
    """smp LovaszLoss in float64, torch.sort(stable=True) so that equal errors keep their order (stable=False: smp's own sort)."""
    per_image, ignore = params.get("per_image", False), params.get("ignore_index")
    groups = [(x64[i:i + 1], t[i:i + 1]) for i in range(x64.shape[0])] if per_image else [(x64, t)]
    values = []
    for scores, labels in groups:
        if loss == "lovasz_hinge_loss":
            scores, labels = scores.reshape(-1), labels.reshape(-1)
            if ignore is not None:
                valid = labels != ignore
                scores, labels = scores[valid], labels[valid]
            if len(labels) == 0:
                values.append(scores.sum() * 0.0)
                continue
            errors = 1.0 - scores * (2.0 * labels - 1.0)
            errors_sorted, perm = torch.sort(errors, dim=0, descending=True, stable=stable)
            values.append(torch.dot(F.relu(errors_sorted), lovasz_grad(labels[perm])))
            continue
        probas = scores.softmax(dim=1) if params.get("from_logits", True) else scores
        classes = probas.shape[1]
        probas = probas.movedim(1, -1).reshape(-1, classes)
        labels = labels.reshape(-1)
        if ignore is not None:
            valid = labels != ignore
            probas, labels = probas[valid], labels[valid]
        losses = []
        for c in range(classes):
            fg = (labels == c).to(torch.float64)
            if fg.sum() == 0:
                continue
            errors = (fg - probas[:, c]).abs()
            errors_sorted, perm = torch.sort(errors, dim=0, descending=True, stable=stable)
            losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
        values.append(smp_mean(losses, x64.sum() * 0.0))
    return smp_mean(values, x64.sum() * 0.0)


def lovasz_case(loss, params, x, t, tag, upstream=None):
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    t64 = torch.tensor(t.astype(np.float64)) if t.dtype == np.float32 else torch.tensor(t.astype(np.int64))
    value = lovasz_value(loss, params, x64, t64)
    (value * (1.0 if upstream is None else float(upstream))).backward()
    inputs = {"input": tensor(x, "float32"), "target": tensor(t, "float32" if t.dtype == np.float32 else "int64")}
    write_case(f"{loss}/{tag}/{'x'.join(str(d) for d in x.shape)}", loss, params, inputs, None if upstream is None else np.float32(upstream), value, x64,
               f"torch {torch.__version__} segmentation_models_pytorch LovaszLoss formula (lovasz_softmax / lovasz_hinge), torch.sort(stable=True), float64")


def lovasz_cases(rng):
    """Errors that float32 and float64 order alike: logits resampled until every error of a sort is 1e-5 from the next,
    or quantized logits and probabilities whose errors are exact in float32, ties included (their order is the stable one)."""
    def separated_logits(shape, labels):
        while True:
            x = rng.uniform(-4, 4, shape).astype(np.float32)
            p = torch.softmax(torch.tensor(x.astype(np.float64)), dim=1).numpy()
            onehot = np.moveaxis(np.eye(shape[1])[labels], -1, 1)
            errors = np.abs(onehot - p).reshape(shape[0], shape[1], -1)
            gaps = [np.diff(np.sort(errors[:, c].reshape(-1))).min() for c in range(shape[1])]
            gaps += [np.diff(np.sort(errors[n, c])).min() for n in range(shape[0]) for c in range(shape[1])]
            if min(gaps) > 1e-5:
                return x

    def labels(n, classes, *spatial, absent=None):
        choices = [c for c in range(classes) if c != absent]
        return rng.choice(choices, (n,) + spatial).astype(np.int64)

    def quantized(*shape, scale=4.0):
        return (rng.integers(-int(scale * 64), int(scale * 64) + 1, shape) / 64.0).astype(np.float32)

    for extra in ({}, {"per_image": True}):
        tag = "default" if not extra else "per_image"
        t = labels(2, 4, 5, 7, absent=3)
        lovasz_case("lovasz_softmax_loss", extra, separated_logits((2, 4, 5, 7), t), t, tag)
        t = labels(2, 3, 4, 9)
        probabilities = (rng.integers(0, 65, (2, 3, 4, 9)) / 64.0).astype(np.float32)
        lovasz_case("lovasz_softmax_loss", {"from_logits": False, **extra}, probabilities, t, f"{tag}_quantized_probabilities")
        lovasz_case("lovasz_hinge_loss", {"mode": "binary", **extra}, quantized(2, 1, 9, 11), (rng.uniform(0, 1, (2, 1, 9, 11)) > 0.6).astype(np.float32), tag)
        lovasz_case("lovasz_hinge_loss", {"mode": "multilabel", **extra}, quantized(3, 3, 6, 5), (rng.uniform(0, 1, (3, 3, 6, 5)) > 0.5).astype(np.float32), tag)
    # Larger and odd, with many ties: three images of 37 x 41 pixels, quantized probabilities and logits.
    lovasz_case("lovasz_softmax_loss", {"from_logits": False}, (rng.integers(0, 129, (3, 5, 37, 41)) / 128.0).astype(np.float32), labels(3, 5, 37, 41), "large")
    lovasz_case("lovasz_hinge_loss", {"mode": "binary", "per_image": True}, quantized(3, 1, 37, 41), (rng.uniform(0, 1, (3, 1, 37, 41)) > 0.7).astype(np.float32), "large")
    # ignore_index: multiclass pixels marked 255; binary elements marked -1.
    t = labels(2, 4, 6, 6)
    t[rng.uniform(0, 1, t.shape) < 0.3] = 255
    lovasz_case("lovasz_softmax_loss", {"ignore_index": 255}, separated_logits((2, 4, 6, 6), np.where(t == 255, 0, t)), t, "ignore")
    t = (rng.uniform(0, 1, (2, 1, 7, 5)) > 0.5).astype(np.float32)
    t[rng.uniform(0, 1, t.shape) < 0.25] = -1.0
    lovasz_case("lovasz_hinge_loss", {"mode": "binary", "ignore_index": -1, "per_image": True}, quantized(2, 1, 7, 5), t, "ignore")
    # Edges: logits of +-1e4 (probabilities exactly 0 and 1, ties), an upstream gradient; an empty mask; every pixel ignored.
    edge = np.where(rng.uniform(0, 1, (2, 3, 3, 5)) < 0.5, np.float32(1e4), np.float32(-1e4)).astype(np.float32)
    lovasz_case("lovasz_softmax_loss", {}, edge, labels(2, 3, 3, 5), "edges", upstream=0.37)
    lovasz_case("lovasz_hinge_loss", {"mode": "binary"}, edge[:, :1], (rng.uniform(0, 1, (2, 1, 3, 5)) > 0.5).astype(np.float32), "edges", upstream=0.37)
    lovasz_case("lovasz_hinge_loss", {"mode": "binary"}, quantized(1, 1, 4, 4), np.zeros((1, 1, 4, 4), np.float32), "empty_mask")
    lovasz_case("lovasz_hinge_loss", {"mode": "binary", "per_image": True}, quantized(2, 1, 4, 4), np.ones((2, 1, 4, 4), np.float32), "full_mask")
    lovasz_case("lovasz_softmax_loss", {"ignore_index": 7}, quantized(1, 3, 2, 3), np.full((1, 2, 3), 7, np.int64), "all_ignored")
    lovasz_case("lovasz_hinge_loss", {"mode": "binary", "ignore_index": 7}, quantized(1, 1, 2, 3), np.full((1, 1, 2, 3), 7, np.float32), "all_ignored")


def embedding_case(name, loss, params, floats, label, fn, source, upstream=None, tolerance=None):
    """One case of an embedding loss: floats (name -> float32 array) are leaves in float64, label (name, array) is passed as
    given (float32 or int64); fn(leaves64, label64) is the loss; grad.<name> for every float input."""
    leaves = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in floats.items()}
    label64 = None
    if label is not None:
        label64 = torch.tensor(label[1].astype(np.float64) if label[1].dtype == np.float32 else label[1])
    value = fn(leaves, label64)
    if upstream is None:
        value.sum().backward()
    else:
        (value * torch.tensor(np.asarray(upstream).astype(np.float64))).sum().backward()
    inputs = {k: tensor(v, "float32") for k, v in floats.items()}
    if label is not None:
        inputs[label[0]] = tensor(label[1], "int64" if label[1].dtype == np.int64 else "float32")
    expected = {"loss": tensor(value.detach().numpy(), "float64")}
    for k, leaf in leaves.items():
        expected["grad." + k] = tensor(leaf.grad.numpy(), "float64")
    write_expected(name, loss, params, inputs, upstream, expected, source, tolerance)


def contrastive_formula(x1, x2, y, margin, eps):
    """Hadsell et al. 2006 without the halves: y·d² + (1 − y)·max(0, margin − d)², d = F.pairwise_distance (torch float64)."""
    d = F.pairwise_distance(x1, x2, eps=eps)
    return y * d.pow(2) + (1 - y) * torch.clamp(margin - d, min=0).pow(2)


def embedding_cases(rng):
    """triplet_margin_loss, contrastive_loss, cosine_embedding_loss and margin_ranking_loss (issue 15): shapes from one row of
    one element to rows longer than a vector, D not a multiple of the vector width, every reduction, an upstream, labels as
    float32 and int64, and the edges (identical embeddings, zero distance, ties under swap, the hinge exactly at 0)."""
    version = f"torch {torch.__version__}"
    reductions = ("none", "mean", "sum")

    def reduce(value, reduction):
        return {"none": value, "mean": value.mean(), "sum": value.sum()}[reduction]

    def triplet(tag, params, a, p, n, reduction, upstream=None):
        b, d = a.shape
        fn = lambda x, _: F.triplet_margin_loss(x["anchor"], x["positive"], x["negative"], margin=params.get("margin", 1.0), p=params.get("p", 2),
                                                eps=params.get("eps", 1e-6), swap=params.get("swap", False), reduction=reduction)
        embedding_case(f"triplet_margin_loss/{tag}/{reduction}/{b}x{d}", "triplet_margin_loss", {**params, "reduction": reduction},
                       {"anchor": a, "positive": p, "negative": n}, None, fn, f"{version} torch.nn.functional.triplet_margin_loss, float64", upstream)

    def near(x, spread):
        return (x + rng.uniform(-spread, spread, x.shape)).astype(np.float32)

    for tag, params in (("default", {}), ("p1", {"p": 1}), ("swap", {"swap": True}), ("margin0.5_eps0", {"margin": 0.5, "eps": 0.0}),
                        ("p1_swap", {"p": 1, "swap": True})):
        for b, d in ((1, 1), (3, 5), (8, 17), (4, 100), (2, 257)):
            a = rng.uniform(-1, 1, (b, d)).astype(np.float32)
            spread = 1.0 / np.sqrt(d)
            p, n = near(a, 2 * spread), near(a, 3 * spread)
            for reduction in reductions:
                triplet(tag, params, a, p, n, reduction)
            triplet(tag + "_upstream", params, a, p, n, "none", rng.uniform(-1, 1, b).astype(np.float32))
    # Identical embeddings: zero distances (eps 0: the norm's gradient is 0 there), the hinge exactly at 0 with margin 0 (its
    # gradient passes), and swap's tie d(a, n) = d(p, n) (half each way).
    same = rng.uniform(-1, 1, (3, 9)).astype(np.float32)
    for tag, params in (("identical", {}), ("identical_eps0", {"eps": 0.0}), ("identical_margin0_swap", {"margin": 0.0, "swap": True}),
                        ("identical_margin0_eps0_swap", {"margin": 0.0, "eps": 0.0, "swap": True})):
        triplet(tag, params, same, same.copy(), same.copy(), "none")
        triplet(tag, params, same, same.copy(), same.copy(), "mean")
    triplet("tie_swap", {"swap": True}, same, near(same, 0.1), same.copy(), "none")
    big = rng.uniform(-1, 1, (2, 13)).astype(np.float32) * np.float32(1e4)
    triplet("large", {}, big, near(big, 1e3), near(big, 1e3), "none")

    def pair(loss, tag, params, x1, x2, label_name, label, reduction, fn, source, upstream=None):
        shape = "x".join(str(k) for k in x1.shape)
        embedding_case(f"{loss}/{tag}/{reduction}/{shape}", loss, {**params, "reduction": reduction}, {"input1": x1, "input2": x2}, (label_name, label),
                       lambda x, y: reduce(fn(x["input1"], x["input2"], y), reduction), source, upstream)

    contrastive_source = f"{version}: y * F.pairwise_distance(x1, x2, eps=eps).pow(2) + (1 - y) * clamp(margin - d, min=0).pow(2), float64"
    for tag, params in (("default", {}), ("margin2_eps0", {"margin": 2.0, "eps": 0.0})):
        margin, eps = params.get("margin", 1.0), params.get("eps", 1e-6)
        fn = lambda x1, x2, y: contrastive_formula(x1, x2, y, margin, eps)
        for b, d in ((1, 1), (3, 5), (8, 17), (4, 100), (2, 257)):
            x1 = rng.uniform(-1, 1, (b, d)).astype(np.float32)
            x2 = near(x1, 2.0 / np.sqrt(d) * margin)
            y = (rng.random(b) < 0.5).astype(np.float32)
            for reduction in reductions:
                pair("contrastive_loss", tag, params, x1, x2, "label", y, reduction, fn, contrastive_source)
            pair("contrastive_loss", tag + "_int64", params, x1, x2, "label", y.astype(np.int64), "mean", fn, contrastive_source)
            pair("contrastive_loss", tag + "_upstream", params, x1, x2, "label", y, "none", fn, contrastive_source, rng.uniform(-1, 1, b).astype(np.float32))
        soft = rng.random(8).astype(np.float32)
        x1 = rng.uniform(-1, 1, (8, 6)).astype(np.float32)
        pair("contrastive_loss", tag + "_soft", params, x1, near(x1, 0.5), "label", soft, "none", fn, contrastive_source)
        same = rng.uniform(-1, 1, (4, 7)).astype(np.float32)
        pair("contrastive_loss", tag + "_identical", params, same, same.copy(), "label", np.array([1, 0, 1, 0], dtype=np.float32), "none", fn, contrastive_source)

    cosine_source = f"{version} torch.nn.functional.cosine_embedding_loss, float64"
    for tag, margin in (("default", 0.0), ("margin0.5", 0.5), ("margin-0.3", -0.3)):
        fn = lambda x1, x2, y: F.cosine_embedding_loss(x1, x2, y, margin=margin, reduction="none")
        params = {} if margin == 0.0 else {"margin": margin}
        for b, d in ((1, 1), (3, 5), (8, 17), (4, 100), (2, 257)):
            x1 = rng.uniform(-1, 1, (b, d)).astype(np.float32)
            x2 = np.where(rng.random((b, 1)) < 0.5, near(x1, 1.0), rng.uniform(-1, 1, (b, d))).astype(np.float32)
            y = np.where(rng.random(b) < 0.5, 1.0, -1.0).astype(np.float32)
            for reduction in reductions:
                pair("cosine_embedding_loss", tag, params, x1, x2, "target", y, reduction, fn, cosine_source)
            pair("cosine_embedding_loss", tag + "_int64", params, x1, x2, "target", y.astype(np.int64), "sum", fn, cosine_source)
            pair("cosine_embedding_loss", tag + "_upstream", params, x1, x2, "target", y, "none", fn, cosine_source, rng.uniform(-1, 1, b).astype(np.float32))
    # Zero vectors (the cosine is 0 through PyTorch's 1e-12), identical rows (cos = 1), a target of 0 (loss 0 in PyTorch).
    x1 = np.array([[0, 0, 0], [1, 2, 3], [1, 2, 3], [-1, 0.5, 2], [0, 0, 0]], dtype=np.float32)
    x2 = np.array([[0, 0, 0], [1, 2, 3], [-1, -2, -3], [0.5, 1, -1], [1, 1, 1]], dtype=np.float32)
    fn = lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.0, reduction="none")
    pair("cosine_embedding_loss", "edges", {}, x1, x2, "target", np.array([1, -1, -1, 0, -1], dtype=np.float32), "none", fn, cosine_source)

    ranking_source = f"{version} torch.nn.functional.margin_ranking_loss, float64"
    for tag, margin in (("default", 0.0), ("margin0.5", 0.5)):
        fn = lambda x1, x2, y: F.margin_ranking_loss(x1, x2, y, margin=margin, reduction="none")
        params = {} if margin == 0.0 else {"margin": margin}
        for n in (1, 7, 257, 1031):
            x1 = rng.uniform(-1, 1, n).astype(np.float32)
            x2 = rng.uniform(-1, 1, n).astype(np.float32)
            y = np.where(rng.random(n) < 0.5, 1.0, -1.0).astype(np.float32)
            for reduction in reductions:
                pair("margin_ranking_loss", tag, params, x1, x2, "target", y, reduction, fn, ranking_source)
            pair("margin_ranking_loss", tag + "_int64", params, x1, x2, "target", y.astype(np.int64), "mean", fn, ranking_source)
            pair("margin_ranking_loss", tag + "_upstream", params, x1, x2, "target", y, "none", fn, ranking_source, rng.uniform(-1, 1, n).astype(np.float32))
    # Ties (the hinge exactly at 0 with margin 0: its gradient passes), ±1e4 scores, a 2-d input.
    x1 = np.array([0.5, -0.25, 1e4, -1e4, 3.0, 0.0], dtype=np.float32)
    x2 = np.array([0.5, -0.25, -1e4, 1e4, 1.0, 0.0], dtype=np.float32)
    fn = lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=0.0, reduction="none")
    pair("margin_ranking_loss", "edges", {}, x1, x2, "target", np.array([1, -1, 1, 1, -1, 1], dtype=np.float32), "none", fn, ranking_source)
    grid1 = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
    grid2 = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
    pair("margin_ranking_loss", "grid", {"margin": 0.1}, grid1, grid2, "target", np.where(rng.random((3, 5)) < 0.5, 1.0, -1.0).astype(np.float32), "none",
         lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=0.1, reduction="none"), ranking_source)


def mining_distances(e, distance):
    """Every pairwise distance of the rows e (torch float64): euclidean with a zero gradient at d = 0 (where sqrt's is infinite),
    squared, or 1 − e_i·e_j on rows already normalized (cosine)."""
    if distance == "cosine":
        return 1 - e @ e.T
    sq = (e[:, None, :] - e[None, :, :]).pow(2).sum(-1)
    if distance == "squared":
        return sq
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


def mined_triplets(d, labels, mining, margin, soft):
    """The triplets (a, p, n) mined from the float64 distances d (numpy) by brute force, ties to the lowest index (argmax/argmin
    return the first): hard — per anchor the farthest positive and the closest negative; semihard — per anchor and positive the
    closest negative farther than the positive, else the farthest negative (TensorFlow Addons); all — every valid triplet with
    d_ap − d_an + margin > 0 (every one with a soft margin)."""
    triplets = []
    for a in range(len(labels)):
        positives = [j for j in range(len(labels)) if j != a and labels[j] == labels[a]]
        negatives = [j for j in range(len(labels)) if labels[j] != labels[a]]
        if not positives or not negatives:
            continue
        if mining == "hard":
            triplets.append((a, positives[int(np.argmax(d[a, positives]))], negatives[int(np.argmin(d[a, negatives]))]))
            continue
        for p in positives:
            if mining == "semihard":
                farther = [n for n in negatives if d[a, n] > d[a, p]]
                n = farther[int(np.argmin(d[a, farther]))] if farther else negatives[int(np.argmax(d[a, negatives]))]
                triplets.append((a, p, n))
            else:
                triplets.extend((a, p, n) for n in negatives if soft or d[a, p] - d[a, n] + margin > 0)
    return triplets


def triplet_mining_loss(x, labels, mining="hard", margin=0.2, distance="euclidean", soft_margin=False, normalize=False, reduction="mean"):
    """Triplet loss with online mining in torch float64: rows normalized as F.normalize where asked (always for cosine), distances from
    the rows' differences, triplets mined by brute force (constants, as in every autograd implementation), ℓ = relu(h) or softplus(h)
    with h = d_ap − d_an + margin, the mean over the mined count (0 when there is none)."""
    e = F.normalize(x, dim=1, eps=1e-12) if normalize or distance == "cosine" else x
    d = mining_distances(e, distance)
    triplets = mined_triplets(d.detach().numpy(), labels.numpy(), mining, margin, soft_margin)
    if not triplets:
        return (x * 0).sum()
    a, p, n = (torch.tensor(index) for index in zip(*triplets))
    h = d[a, p] - d[a, n] + margin
    values = F.softplus(h) if soft_margin else F.relu(h)
    return values.sum() / len(triplets) if reduction == "mean" else values.sum()


def triplet_mining_cases(rng):
    """triplet_mining_loss (issue 15): P×K batches of every mining, distance, soft margin and normalization, D from 1 to past a
    vector, both reductions, a scalar upstream, and the edges (a class of one, one label only, identical rows of a class, ties).
    The kernels take their distances from a float32 Gram matrix (as torch.cdist's matrix-multiply path), so the tolerance is
    rtol 1e-4 / atol 1e-5; every batch keeps its distances and hinges apart by more than that error so both mine the same."""
    source = f"torch {torch.__version__}: triplet loss with brute-force mining (batch-hard recipe; semihard as TensorFlow Addons), float64"
    tolerance = {"rtol": 1e-4, "atol": 1e-5}

    def case(tag, params, x, labels, reduction="mean", upstream=None):
        b, d = x.shape
        fn = lambda leaves, y: triplet_mining_loss(leaves["embeddings"], y, reduction=reduction, **params)
        embedding_case(f"triplet_mining_loss/{tag}/{reduction}/{b}x{d}", "triplet_mining_loss", {**params, "reduction": reduction},
                       {"embeddings": x}, ("labels", labels), fn, source, upstream, tolerance)

    def batch(identities, per_identity, d, noise):
        centres = rng.uniform(-1, 1, (identities, d))
        x = np.repeat(centres, per_identity, axis=0) + rng.uniform(-noise, noise, (identities * per_identity, d))
        labels = np.repeat(rng.choice(np.arange(-50, 50), identities, replace=False), per_identity).astype(np.int64)
        order = rng.permutation(len(labels))
        return x[order].astype(np.float32), labels[order]

    for mining in ("hard", "semihard", "all"):
        for distance in ("euclidean", "squared", "cosine"):
            for soft_margin, normalize in ((False, False), (True, False), (False, True)):
                params = {"mining": mining, "distance": distance, "soft_margin": soft_margin, "normalize": normalize,
                          "margin": 0.1 if distance == "cosine" else 0.5}
                tag = f"{mining}_{distance}" + ("_soft" if soft_margin else "") + ("_normalize" if normalize else "")
                # Cosine rows of one element are ±1 after normalizing: every distance 0 or 2 in float64, within rounding of them in
                # float32, so semihard's strict d_an > d_ap would be decided by rounding; its smallest D is 2.
                for identities, per_identity, d in ((3, 2, 2 if distance == "cosine" else 1), (4, 3, 17), (5, 4, 40)):
                    x, labels = batch(identities, per_identity, d, 1.5)
                    case(tag, params, x, labels)
                case(tag, params, *batch(4, 3, 9, 1.5), reduction="sum", upstream=np.array([0.75], dtype=np.float32))
    # A class of one (its anchor mines nothing), one label only (no triplet: loss and gradient 0), identical rows within each class
    # (d_ap = 0, where the euclidean gradient is 0), and equal distances (ties go to the lowest index).
    x, labels = batch(3, 3, 6, 1.0)
    labels[0] = 99
    case("single_member", {"mining": "hard"}, x, labels)
    case("one_label", {"mining": "all"}, x, np.zeros(len(labels), dtype=np.int64))
    same = np.repeat(rng.uniform(-1, 1, (3, 5)), 3, axis=0).astype(np.float32)
    for mining in ("hard", "semihard", "all"):
        case(f"identical_{mining}", {"mining": mining, "margin": 0.5}, same, np.repeat(np.arange(3), 3).astype(np.int64))
    grid = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1], [2, 0]], dtype=np.float32)
    case("ties", {"mining": "hard", "margin": 1.0}, grid, np.array([0, 0, 0, 1, 1, 1], dtype=np.int64))


def discriminative_loss(x, labels, delta_v=0.5, delta_d=1.5, alpha=1.0, beta=1.0, gamma=0.001, ignore_label=0, reduction="mean"):
    """De Brabandere et al. 2017 per image over its sorted distinct ids (ignore_label left out), x [N, E, d...], labels [N, d...]."""
    n, e = x.shape[0], x.shape[1]
    flat, ids_flat = x.reshape(n, e, -1), labels.reshape(n, -1)
    total = (x * 0).sum()  # a zero on the graph: images without instances give a zero gradient
    for image in range(n):
        ids = torch.unique(ids_flat[image])
        if ignore_label is not None:
            ids = ids[ids != ignore_label]
        c = len(ids)
        if c == 0:
            continue
        means, pulls = [], []
        for i in ids:
            members = flat[image][:, ids_flat[image] == i]
            mean = members.mean(dim=1)
            means.append(mean)
            pulls.append(((members - mean[:, None]).norm(dim=0) - delta_v).clamp(min=0).pow(2).mean())
        means = torch.stack(means)
        variance = torch.stack(pulls).mean()
        distance = x.new_zeros(())
        if c > 1:
            gaps = (means[:, None, :] - means[None, :, :]).norm(dim=2)
            distance = (2 * delta_d - gaps[~torch.eye(c, dtype=torch.bool)]).clamp(min=0).pow(2).mean()
        total = total + alpha * variance + beta * distance + gamma * means.norm(dim=1).mean()
    return total / n if reduction == "mean" else total


def discriminative_cases(rng):
    """discriminative_loss (issue 15): [N, E, d...] embeddings of instances with ids that are not contiguous, 3-d and 4-d, every
    option, both reductions, a scalar upstream, and the edges (identical embeddings, every pixel ignored, an image without
    instances, one instance, a pixel per instance, +-1e4). The kernels' means are float32 sums over up to thousands of pixels, whose
    rounding the pull's sum over an instance amplifies: rtol 1e-4 / atol 1e-6 (near 1e4, where float32 keeps differences to 1e-3: rtol 5e-3 / atol 1e-4)."""
    source = f"torch {torch.__version__}: the paper's three terms per image over torch.unique ids, float64"
    tolerance = {"rtol": 1e-4, "atol": 1e-6}
    ids = np.array([0, 7, 1000, -3, 42, 5, 999999999999, 11], dtype=np.int64)

    def case(tag, params, x, labels, reduction="mean", upstream=None, tol=tolerance):
        shape = "x".join(str(v) for v in x.shape)
        fn = lambda leaves, y: discriminative_loss(leaves["embeddings"], y, reduction=reduction, **params)
        embedding_case(f"discriminative_loss/{tag}/{reduction}/{shape}", "discriminative_loss", {**params, "reduction": reduction},
                       {"embeddings": x}, ("labels", labels), fn, source, upstream, tol)

    def problem(n, e, spatial, instances, run=6):
        centres = rng.uniform(-1.2, 1.2, (len(ids), e))
        s = int(np.prod(spatial))
        which = np.empty((n, s), dtype=np.int64)
        for image in range(n):
            current = rng.integers(instances)
            for i in range(s):
                if rng.integers(run) == 0:
                    current = rng.integers(instances)
                which[image, i] = current
        x = centres[which].transpose(0, 2, 1) + rng.uniform(-0.6, 0.6, (n, e, s))
        return x.reshape((n, e) + spatial).astype(np.float32), ids[which].reshape((n,) + spatial)

    variants = {
        "defaults": {},
        "every_pixel": {"delta_v": 0.3, "delta_d": 1.0, "alpha": 0.7, "beta": 1.3, "gamma": 0.05, "ignore_label": None},
        "deltav0_ignore42": {"delta_v": 0.0, "delta_d": 0.4, "alpha": 2.0, "beta": 0.5, "gamma": 0.0, "ignore_label": 42},
    }
    for tag, params in variants.items():
        for n, e, spatial, instances in ((1, 1, (1,), 1), (2, 3, (17,), 3), (3, 16, (5, 7), 5), (2, 5, (9, 29), 8), (1, 2, (2100,), 3)):
            case(tag, params, *problem(n, e, spatial, instances))
        case(tag, params, *problem(2, 4, (6, 6), 4), reduction="sum", upstream=np.array([0.75], dtype=np.float32))
    same = np.full((2, 3, 10), 0.5, dtype=np.float32)
    ids_same = np.array([[1, 1, 2, 2, 3, 3, 0, 0, 7, 7], [1, 1, 1, 1, 1, 9, 9, 9, 9, 9]], dtype=np.int64)
    case("identical", {}, same, ids_same)
    x, labels = problem(2, 3, (10,), 4)
    case("all_ignored", {}, x, np.zeros_like(labels))
    labels[1] = 0
    case("second_image_empty", {}, x, labels)
    x, _ = problem(1, 4, (50,), 1)
    case("one_instance", {}, x, np.full((1, 50), 3, dtype=np.int64))
    case("pixel_per_instance", {}, x, (np.arange(1, 51, dtype=np.int64) * 37).reshape(1, 50))
    large = x + np.where(np.arange(x.size).reshape(x.shape) % 3 == 0, 1e4, -1e4).astype(np.float32)
    case("large", {}, large, (np.arange(50, dtype=np.int64) % 3 + 1).reshape(1, 50), tol={"rtol": 5e-3, "atol": 1e-4})


def total_variation(x, norm="anisotropic", eps=1e-8, beta=2.0, reduction="mean"):
    """Per image of [N, C, H, W] (or one [C, H, W] image): kornia's TotalVariation (anisotropic), or the isotropic and beta norms
    over the pixels with both differences."""
    image = x if x.dim() == 4 else x[None]
    if norm == "anisotropic":
        values = (image[..., 1:, :] - image[..., :-1, :]).abs().sum(dim=(1, 2, 3)) + (image[..., :, 1:] - image[..., :, :-1]).abs().sum(dim=(1, 2, 3))
    else:
        dx = image[..., :-1, 1:] - image[..., :-1, :-1]
        dy = image[..., 1:, :-1] - image[..., :-1, :-1]
        s = dx * dx + dy * dy + (eps if norm == "isotropic" else 0.0)
        power = 0.5 if norm == "isotropic" else beta / 2
        # s^power with the gradient 0 where s = 0 (pow's is inf or NaN there for power < 1).
        safe = torch.where(s > 0, s, torch.ones_like(s))
        values = torch.where(s > 0, safe.pow(power), torch.zeros_like(s)).sum(dim=(1, 2, 3))
    if x.dim() == 3 and reduction == "none":
        return values[0]
    return values if reduction == "none" else values.sum() if reduction == "sum" else values.mean()


def total_variation_cases(rng):
    """total_variation_loss (issue 16 item 5): every norm and reduction, H or W = 1, a [C, H, W] image, a constant image, values on a
    grid of 1/16 with equal neighbours (|.|'s subgradient 0 at 0, as torch.abs), and +-1e4."""
    source = f"torch {torch.__version__}: kornia's TotalVariation (per image) and the isotropic and beta norms, float64"

    def case(tag, params, x, reduction, upstream=None, tolerance=None):
        x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
        value = total_variation(x64, reduction=reduction, **params)
        if upstream is None:
            value.sum().backward()
        else:
            (value * torch.tensor(np.asarray(upstream).astype(np.float64))).sum().backward()
        shape = "x".join(str(v) for v in x.shape)
        write_expected(f"total_variation_loss/{tag}/{reduction}/{shape}", "total_variation_loss", {**params, "reduction": reduction},
                       {"input": tensor(x, "float32")}, upstream, {"loss": tensor(value.detach().numpy(), "float64"),
                       "grad.input": tensor(x64.grad.numpy(), "float64")}, source, tolerance)

    def grid(shape):
        return np.where(rng.integers(0, 4, shape) == 0, 0.5, rng.integers(-48, 49, shape) / 16).astype(np.float32)

    variants = {"anisotropic": {}, "isotropic": {"norm": "isotropic"}, "isotropic_eps": {"norm": "isotropic", "eps": 0.01},
                "beta2": {"norm": "beta", "beta": 2.0}, "beta1.5": {"norm": "beta", "beta": 1.5}}
    for tag, params in variants.items():
        for shape in ((1, 1, 1, 1), (2, 1, 9, 1), (1, 2, 1, 7), (2, 3, 5, 17), (1, 2, 66, 35)):
            case(tag, params, grid(shape), "mean")
        x = grid((3, 2, 6, 9))
        case(tag, params, x, "sum")
        case(tag, params, x, "none", upstream=np.array([0.5, -1.0, 2.0], dtype=np.float32))
        case(tag, params, grid((2, 4, 5)), "none")
        case(tag + "_constant", params, np.full((2, 2, 4, 4), 0.25, dtype=np.float32), "mean")
        # The beta norm's float32 power is exp(p*ln s): ln s near 20 scales its rounding to about 1e-5 of the value.
        large = (grid((1, 3, 5, 6)) * 4e3).astype(np.float32)
        case(tag + "_large", params, large, "mean", tolerance={"rtol": 1e-4, "atol": 1e-6} if params.get("norm") == "beta" else None)


def basicsr_gan(x, gan_type="vanilla", target_is_real=True, is_disc=False, real_label_val=1.0, fake_label_val=0.0, loss_weight=1.0,
                reduction="mean"):
    """BasicSR's GANLoss(gan_type, real_label_val, fake_label_val, loss_weight)(x, target_is_real, is_disc) per element, in float64,
    with a reduction (BasicSR always averages) and the saturating minimax generator loss, -BCE(x, fake label)."""
    label = torch.full_like(x, real_label_val if target_is_real else fake_label_val)
    if gan_type == "hinge":
        values = torch.relu(1 + (-x if target_is_real else x)) if is_disc else -x
    elif gan_type == "wgan":
        values = -x if target_is_real else x
    elif gan_type == "wgan_softplus":
        values = F.softplus(-x) if target_is_real else F.softplus(x)
    elif gan_type == "lsgan":
        values = F.mse_loss(x, label, reduction="none")
    elif gan_type == "minimax" and not is_disc:
        values = -F.binary_cross_entropy_with_logits(x, torch.full_like(x, fake_label_val), reduction="none")
    else:
        values = F.binary_cross_entropy_with_logits(x, label, reduction="none")
    value = values if reduction == "none" else values.sum() if reduction == "sum" else values.mean()
    return value if is_disc else value * loss_weight


def gan_cases(rng):
    """gan_loss (issue 16 item 6): every type for the discriminator's real and fake logits and the generator's, every reduction, a
    patch discriminator's [N, 1, H, W] map, smoothed labels, a generator weight, +-1e4 and the hinge's kinks at +-1, no elements."""
    source = f"torch {torch.__version__}: BasicSR's GANLoss (basicsr/losses/gan_loss.py) written in PyTorch, float64"

    def case(tag, params, x, upstream=None):
        x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
        value = basicsr_gan(x64, **params)
        up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
        (value * up).sum().backward()
        shape = "x".join(str(v) for v in x.shape)
        write_expected(f"gan_loss/{tag}/{params.get('reduction', 'mean')}/{shape}", "gan_loss", params, {"input": tensor(x, "float32")}, upstream,
                       {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64")}, source)

    edges = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 30.0, -30.0, 1e4, -1e4, 1e-6, 89.0, -89.0, 2.0], dtype=np.float32)
    for gan_type in ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge", "minimax"):
        for is_disc in (True, False):
            for real in (True, False):
                role = ("disc" if is_disc else "gen") + ("_real" if real else "_fake")
                params = {"gan_type": gan_type, "target_is_real": real, "is_disc": is_disc}
                if not is_disc:
                    params["loss_weight"] = 0.05
                case(f"{gan_type}/{role}", params, rng.uniform(-4, 4, (4, 1, 5, 5)).astype(np.float32))
                case(f"{gan_type}/{role}", {**params, "reduction": "sum"}, rng.uniform(-4, 4, 257).astype(np.float32))
                case(f"{gan_type}/{role}", {**params, "reduction": "none"}, rng.uniform(-4, 4, 7).astype(np.float32),
                     upstream=rng.uniform(-1, 1, 7).astype(np.float32))
                case(f"{gan_type}/{role}_edges", params, edges)
        smoothed = {"gan_type": gan_type, "real_label_val": 0.9, "fake_label_val": 0.1}
        for real in (True, False):
            case(f"{gan_type}/smoothed_{'real' if real else 'fake'}", {**smoothed, "target_is_real": real, "is_disc": True},
                 rng.uniform(-3, 3, 1031).astype(np.float32))
        case(f"{gan_type}/smoothed_gen", {**smoothed, "target_is_real": True, "is_disc": False, "loss_weight": 2.5}, rng.uniform(-3, 3, 33).astype(np.float32))
    empty = np.zeros(0, dtype=np.float32)
    case("hinge/empty", {"gan_type": "hinge", "target_is_real": False, "is_disc": True, "reduction": "sum"}, empty)
    case("vanilla/empty", {"gan_type": "vanilla", "target_is_real": True, "is_disc": True}, empty)


def feature_reconstruction(x, t, p=2, reduction="mean"):
    """Johnson et al.'s feature reconstruction loss per image of [N, ...]: |x - t|_p^p / (C*H*W), then the mean or sum over images, in
    float64 (F.mse_loss or F.l1_loss per image)."""
    d = (x - t).reshape(x.shape[0], -1)
    values = (d * d if p == 2 else d.abs()).mean(dim=1)
    return values.sum() if reduction == "sum" else values.mean()


def feature_reconstruction_cases(rng):
    """feature_reconstruction_loss (issue 16 item 1): p = 2 and 1, mean and sum, VGG-like non-negative features with ties, one image of
    one value, zero features, +-1e4, an upstream."""
    source = f"torch {torch.__version__}: Johnson et al.'s feature reconstruction loss (F.mse_loss / F.l1_loss per image), float64"

    def case(tag, params, x, t, upstream=None, tolerance=None):
        x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
        value = feature_reconstruction(x64, torch.tensor(t.astype(np.float64)), **params)
        (value * (1.0 if upstream is None else float(upstream))).backward()
        shape = "x".join(str(v) for v in x.shape)
        write_expected(f"feature_reconstruction_loss/{tag}/{params.get('reduction', 'mean')}/{shape}", "feature_reconstruction_loss", params,
                       {"input": tensor(x, "float32"), "target": tensor(t, "float32")}, None if upstream is None else np.float32(upstream),
                       {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64")}, source, tolerance)

    def features(shape):
        x = np.where(rng.integers(0, 3, shape) == 0, 0.0, rng.integers(0, 33, shape) / 16).astype(np.float32)
        t = np.where(rng.integers(0, 8, shape) == 0, x, np.maximum(0, x + rng.integers(-8, 9, shape) / 16)).astype(np.float32)
        return x, t

    for p in (2, 1):
        for reduction in ("mean", "sum"):
            for shape in ((1, 1, 1, 1), (2, 3, 5, 7), (3, 64, 4, 4), (1, 8, 33, 31)):
                x, t = features(shape)
                case(f"p{p}", {"p": p, "reduction": reduction}, x, t)
        x, t = features((2, 16, 9, 9))
        case(f"p{p}_upstream", {"p": p, "reduction": "sum"}, x, t, upstream=0.37)
        case(f"p{p}_zero", {"p": p}, np.zeros((2, 4, 3, 3), np.float32), np.zeros((2, 4, 3, 3), np.float32))
        case(f"p{p}_large", {"p": p}, (features((2, 3, 4, 4))[0] * 1e4).astype(np.float32), (features((2, 3, 4, 4))[1] * 1e4).astype(np.float32))


def relu_features(rng, shape):
    """ReLU-like features: non-negative, a third zero."""
    return np.where(rng.integers(0, 3, shape) == 0, 0.0, rng.uniform(0, 2, shape)).astype(np.float32)


def gram_of(style, normalization):
    """The float32 Gram of features [N, C, ...] computed in float64: F F^T, over C*H*W for johnson."""
    f = style.reshape(style.shape[0], style.shape[1], -1).astype(np.float64)
    g = f @ f.transpose(0, 2, 1)
    return (g / (f.shape[1] * f.shape[2]) if normalization == "johnson" else g).astype(np.float32)


def gram_style(x, target_gram=None, style=None, normalization="johnson", reduction="mean"):
    """Johnson's / Gatys's Gram style loss in float64 through autograd: G = bmm(F, F^T) per image of [N, C, ...] (over C*H*W for
    johnson), per image ||G - A||_F^2 (over 4*C^2*(H*W)^2 for gatys), the mean or sum over images; A is target_gram ([1 or N, C, C]) or
    the Gram of the style's features."""
    n, c = x.shape[0], x.shape[1]

    def gram(features):
        f = features.reshape(features.shape[0], c, -1)
        g = torch.bmm(f, f.transpose(1, 2))
        return g / (c * f.shape[2]) if normalization == "johnson" else g

    a = target_gram if target_gram is not None else gram(style)
    spatial = x.reshape(n, c, -1).shape[2]
    values = ((gram(x) - a) ** 2).sum(dim=(1, 2))
    if normalization == "gatys":
        values = values / (4.0 * c * c * spatial * spatial)
    return values.sum() if reduction == "sum" else values.mean()


def gram_style_cases(rng):
    """gram_style_loss (issue 16 item 2): johnson and gatys, mean and sum, the style as its Gram ([1, C, C] or [N, C, C]) or as its
    features (of another spatial extent), a Gram of one channel, zero features, +-1e4, a target Gram that is not symmetric, an upstream."""
    source = f"torch {torch.__version__}: torch.bmm(F, F.transpose(1, 2)) Gram style loss (Johnson / Gatys normalization) through autograd, float64"

    def case(tag, params, x, target_gram=None, style=None, upstream=None):
        x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
        a64 = None if target_gram is None else torch.tensor(target_gram.astype(np.float64))
        s64 = None if style is None else torch.tensor(style.astype(np.float64))
        value = gram_style(x64, a64, s64, **params)
        (value * (1.0 if upstream is None else float(upstream))).backward()
        inputs = {"input": tensor(x, "float32")}
        if target_gram is not None:
            inputs["target_gram"] = tensor(target_gram, "float32")
        else:
            inputs["target"] = tensor(style, "float32")
        shape = "x".join(str(v) for v in x.shape)
        scale = float(np.abs(x64.grad.numpy()).max()) if x.size else 0.0
        # G - A cancels where the two Grams are close: the float32 Gram's relative error (~sqrt(H*W) ulps) grows by their ratio.
        tolerance = {"rtol": 1e-3, "atol": 1e-6 * scale + 1e-30}
        write_expected(f"gram_style_loss/{tag}/{params.get('normalization', 'johnson')}/{params.get('reduction', 'mean')}/{shape}", "gram_style_loss", params,
                       inputs, None if upstream is None else np.float32(upstream),
                       {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64")}, source, tolerance)

    def features(shape):
        return relu_features(rng, shape)

    for normalization in ("johnson", "gatys"):
        for reduction in ("mean", "sum"):
            for shape in ((1, 1, 1, 1), (2, 3, 5, 7), (3, 8, 4, 4), (1, 33, 7, 9)):
                x = features(shape)
                style = features((1, shape[1], shape[2] + 1, shape[3]))
                params = {"normalization": normalization, "reduction": reduction}
                case("gram", params, x, target_gram=gram_of(style, normalization))
                case("features", params, x, style=style)
        x = features((2, 16, 6, 5))
        case("per_image_gram_upstream", {"normalization": normalization, "reduction": "sum"}, x,
             target_gram=gram_of(features((2, 16, 6, 5)), normalization), upstream=0.37)
        case("zero", {"normalization": normalization}, np.zeros((2, 4, 3, 3), np.float32), target_gram=gram_of(features((1, 4, 3, 3)), normalization))
        case("large", {"normalization": normalization}, ((features((2, 3, 4, 4)) - 1) * 1e4).astype(np.float32),
             target_gram=gram_of(((features((1, 3, 4, 4)) - 1) * 1e4).astype(np.float32), normalization))
        asymmetric = gram_of(features((1, 5, 4, 4)), normalization) * rng.uniform(0.5, 1.5, (1, 5, 5)).astype(np.float32)
        case("asymmetric_target", {"normalization": normalization}, features((2, 5, 4, 4)), target_gram=asymmetric.astype(np.float32))


def content_style_cases(rng):
    """content_style_loss (issue 16 item 3): one layer both terms read (its gradient their sum), each term alone, the image's total
    variation in each norm, johnson and gatys, p = 1 and 2, mean and sum, other weights and an upstream, zero features, +-1e4."""
    source = (f"torch {torch.__version__}: content_weight*feature reconstruction + style_weight*Gram style (torch.bmm) + tv_weight*total variation "
              "through autograd, float64")

    def features(shape):
        return relu_features(rng, shape)

    def case(tag, params, x, content=None, style_gram=None, image=None, upstream=None):
        weights = {"content_weight": 1.0, "style_weight": 1.0, "tv_weight": 1.0}
        weights.update({k: v for k, v in params.items() if k in weights})
        reduction = params.get("reduction", "mean")
        x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
        value = torch.zeros((), dtype=torch.float64)
        inputs = {"input": tensor(x, "float32")}
        expected = {}
        if content is not None:
            value = value + weights["content_weight"] * feature_reconstruction(x64, torch.tensor(content.astype(np.float64)), params.get("p", 2), reduction)
            inputs["content_target"] = tensor(content, "float32")
        if style_gram is not None:
            value = value + weights["style_weight"] * gram_style(x64, torch.tensor(style_gram.astype(np.float64)), None, params.get("normalization", "johnson"),
                                                                 reduction)
            inputs["style_gram"] = tensor(style_gram, "float32")
        if image is not None:
            i64 = torch.tensor(image.astype(np.float64), requires_grad=True)
            value = value + weights["tv_weight"] * total_variation(i64, params.get("norm", "anisotropic"), params.get("eps", 1e-8), params.get("beta", 2.0),
                                                                   reduction)
            inputs["image"] = tensor(image, "float32")
        (value * (1.0 if upstream is None else float(upstream))).backward()
        gradient = x64.grad.numpy() if x64.grad is not None else np.zeros(x.shape)
        expected["loss"] = tensor(value.detach().numpy(), "float64")
        expected["grad.input"] = tensor(gradient, "float64")
        if image is not None:
            expected["grad.image"] = tensor(i64.grad.numpy(), "float64")
        shape = "x".join(str(v) for v in x.shape)
        scale = float(np.abs(gradient).max()) if x.size else 0.0
        # As the Gram style loss's: G - A cancels where the two Grams are close.
        tolerance = {"rtol": 1e-3, "atol": 1e-6 * scale + 1e-6}
        write_expected(f"content_style_loss/{tag}/{params.get('normalization', 'johnson')}/{reduction}/{shape}", "content_style_loss", params, inputs, None if upstream is None else np.float32(upstream), expected,
                       source, tolerance)

    def near(x):
        return np.where(rng.integers(0, 8, x.shape) == 0, x, np.maximum(0, x + rng.uniform(-0.5, 0.5, x.shape))).astype(np.float32)

    def image(shape):
        return np.where(rng.integers(0, 5, shape) == 0, 0.25, rng.uniform(-0.5, 0.5, shape)).astype(np.float32)

    for normalization in ("johnson", "gatys"):
        for reduction in ("mean", "sum"):
            for shape in ((1, 1, 1, 1), (2, 3, 5, 7), (1, 33, 7, 9)):
                x = features(shape)
                style = features((1, shape[1], shape[2] + 1, shape[3]))
                params = {"normalization": normalization, "reduction": reduction}
                case("both_tv", params, x, near(x), gram_of(style, normalization), image((shape[0], 3, 6, 5)))
            x = features((2, 4, 3, 3))
            params = {"normalization": normalization, "reduction": reduction}
            case("content_only", params, x, content=near(x))
            case("style_only", params, x, style_gram=gram_of(features((2, 4, 3, 3)), normalization))
    x = features((2, 6, 4, 5))
    gram = gram_of(features((1, 6, 4, 5)), "johnson")
    for norm in ("isotropic", "beta"):
        case(f"tv_{norm}", {"norm": norm, "beta": 1.5}, x, near(x), gram, image((2, 2, 7, 8)))
    case("weights_upstream", {"content_weight": 1e2, "style_weight": 1e4, "tv_weight": 1e-1, "p": 1, "reduction": "sum"}, x, near(x), gram,
         image((2, 3, 4, 4)), upstream=0.37)
    case("zero", {}, np.zeros((2, 4, 3, 3), np.float32), np.zeros((2, 4, 3, 3), np.float32), gram_of(features((1, 4, 3, 3)), "johnson"),
         np.zeros((2, 1, 3, 3), np.float32))
    big = ((features((1, 3, 4, 4)) - 1) * 1e4).astype(np.float32)
    case("large", {}, big, near(big), gram_of(((features((1, 3, 4, 4)) - 1) * 1e4).astype(np.float32), "johnson"), (image((1, 3, 4, 4)) * 1e4).astype(np.float32))


def topology_aware_cases(rng):
    """topology_aware_loss (issue 16 item 4): Mosinska et al.'s BCE + mu * per-image squared feature distance (or its mean over C*H*W),
    mean and sum, other mu and an upstream, logits of +-1e4 and exact masks, zero feature differences."""
    source = f"torch {torch.__version__}: F.binary_cross_entropy_with_logits + mu * ((phi(sigmoid(x)) - phi(m))**2).sum() / N through autograd, float64"

    def case(tag, params, logits, mask, features, target_features, upstream=None):
        x64 = torch.tensor(logits.astype(np.float64), requires_grad=True)
        f64 = torch.tensor(features.astype(np.float64), requires_grad=True)
        t64 = torch.tensor(target_features.astype(np.float64))
        reduction = params.get("reduction", "mean")
        bce = torch.nn.functional.binary_cross_entropy_with_logits(x64, torch.tensor(mask.astype(np.float64)), reduction=reduction)
        squares = ((f64 - t64) ** 2).reshape(f64.shape[0], -1)
        per_image = squares.mean(dim=1) if params.get("feature_mean", False) else squares.sum(dim=1)
        value = bce + params.get("mu", 1.0) * (per_image.sum() if reduction == "sum" else per_image.mean())
        (value * (1.0 if upstream is None else float(upstream))).backward()
        inputs = {"input": tensor(logits, "float32"), "target": tensor(mask, "float32"), "input_features": tensor(features, "float32"),
                  "target_features": tensor(target_features, "float32")}
        expected = {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(x64.grad.numpy(), "float64"),
                    "grad.input_features": tensor(f64.grad.numpy(), "float64")}
        shape = "x".join(str(v) for v in logits.shape) + "_" + "x".join(str(v) for v in features.shape)
        write_expected(f"topology_aware_loss/{tag}/{reduction}/{shape}", "topology_aware_loss", params, inputs, None if upstream is None else np.float32(upstream),
                       expected, source)

    def sample(mask_shape, feature_shape):
        logits = rng.uniform(-6, 6, mask_shape).astype(np.float32)
        mask = (rng.integers(0, 5, mask_shape) == 0).astype(np.float32)
        features = relu_features(rng, feature_shape)
        target = np.where(rng.integers(0, 8, feature_shape) == 0, features, np.maximum(0, features + rng.uniform(-0.5, 0.5, feature_shape))).astype(np.float32)
        return logits, mask, features, target

    for reduction in ("mean", "sum"):
        for mask_shape, feature_shape in (((1, 1, 1, 1), (1, 1, 1, 1)), ((2, 1, 9, 7), (2, 4, 5, 4)), ((1, 1, 33, 31), (1, 8, 17, 16))):
            case("paper", {"reduction": reduction}, *sample(mask_shape, feature_shape))
            case("feature_mean", {"reduction": reduction, "mu": 0.5, "feature_mean": True}, *sample(mask_shape, feature_shape))
    case("mu_upstream", {"mu": 0.01}, *sample((2, 1, 6, 6), (2, 3, 3, 3)), upstream=0.37)
    logits, mask, features, _ = sample((1, 1, 4, 4), (1, 2, 2, 2))
    logits = np.where(mask > 0, 1e4, -1e4).astype(np.float32)
    logits[0, 0, 0, :2] = [1e4, -1e4]
    case("large_logits_zero_features", {}, logits, mask, features, features.copy())


def relativistic_gan(real, fake, gan_type="vanilla", is_disc=False, real_label_val=1.0, fake_label_val=0.0, loss_weight=1.0, detach_means=False):
    """ESRGAN's relativistic average GAN loss with BasicSR's GANLoss, in float64: the discriminator's 0.5*(gan(real - mean(fake), True) +
    gan(fake - mean(real), False)), the generator's with True and False swapped. detach_means detaches both means (ESRGAN's discriminator
    step); otherwise the gradient is L's own."""
    mean_real, mean_fake = real.mean(), fake.mean()
    if detach_means:
        mean_real, mean_fake = mean_real.detach(), mean_fake.detach()
    labels = {"real_label_val": real_label_val, "fake_label_val": fake_label_val, "loss_weight": loss_weight}
    return 0.5 * (basicsr_gan(real - mean_fake, gan_type, is_disc, is_disc, **labels) + basicsr_gan(fake - mean_real, gan_type, not is_disc, is_disc, **labels))


def relativistic_cases(rng):
    """relativistic_gan_loss (issue 16 item 7): every type for both roles, ESRGAN's detached means, smoothed labels, a generator weight,
    different counts of real and fake logits, +-1e4, an upstream."""
    source = f"torch {torch.__version__}: ESRGAN's relativistic average GAN loss with BasicSR's GANLoss written in PyTorch, float64"

    def case(tag, params, real, fake, upstream=None):
        r64 = torch.tensor(real.astype(np.float64), requires_grad=True)
        f64 = torch.tensor(fake.astype(np.float64), requires_grad=True)
        value = relativistic_gan(r64, f64, **params)
        (value * (1.0 if upstream is None else float(upstream))).backward()
        shapes = "x".join(str(v) for v in real.shape) + "_" + "x".join(str(v) for v in fake.shape)
        write_expected(f"relativistic_gan_loss/{tag}/{shapes}", "relativistic_gan_loss", params,
                       {"real_logits": tensor(real, "float32"), "fake_logits": tensor(fake, "float32")}, None if upstream is None else np.float32(upstream),
                       {"loss": tensor(value.detach().numpy(), "float64"), "grad.real_logits": tensor(r64.grad.numpy(), "float64"),
                        "grad.fake_logits": tensor(f64.grad.numpy(), "float64")}, source)

    for gan_type in ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge", "minimax"):
        for is_disc in (True, False):
            role = "disc" if is_disc else "gen"
            params = {"gan_type": gan_type, "is_disc": is_disc}
            if not is_disc:
                params["loss_weight"] = 0.005
            case(f"{gan_type}/{role}", params, rng.uniform(-1, 4, (4, 1, 5, 5)).astype(np.float32), rng.uniform(-4, 1, (4, 1, 5, 5)).astype(np.float32))
            case(f"{gan_type}/{role}_detached", {**params, "detach_means": True}, rng.uniform(-2, 3, 257).astype(np.float32),
                 rng.uniform(-3, 2, 33).astype(np.float32))
    case("vanilla/smoothed", {"gan_type": "vanilla", "is_disc": True, "real_label_val": 0.9, "fake_label_val": 0.1}, rng.uniform(-3, 3, 1031).astype(np.float32),
         rng.uniform(-3, 3, 517).astype(np.float32), upstream=0.37)
    edges = np.array([0.0, 1.0, -1.0, 1e4, -1e4, 30.0, -30.0, 2.0], dtype=np.float32)
    case("vanilla/edges", {"gan_type": "vanilla", "is_disc": True}, edges, edges[::-1].copy())
    case("lsgan/one_each", {"gan_type": "lsgan", "is_disc": False}, np.array([0.5], dtype=np.float32), np.array([-0.25], dtype=np.float32))


def cycle_gan_terms(rec_a, real_a, rec_b, real_b, idt_a=None, idt_b=None, lambda_a=10.0, lambda_b=10.0, lambda_identity=0.5):
    """CycleGAN's backward_G cycle and identity terms (criterionCycle = criterionIdt = L1Loss), in float64. idt_a is the generator into A
    applied to real A (CycleGAN's idt_B = netG_B(real_A)), weighted by lambda_a * lambda_identity as CycleGAN weights loss_idt_B."""
    loss = F.l1_loss(rec_a, real_a) * lambda_a + F.l1_loss(rec_b, real_b) * lambda_b
    if idt_a is not None:
        loss = loss + F.l1_loss(idt_a, real_a) * lambda_a * lambda_identity
    if idt_b is not None:
        loss = loss + F.l1_loss(idt_b, real_b) * lambda_b * lambda_identity
    return loss


def cycle_cases(rng):
    """cycle_consistency_loss (issue 16 item 9): with and without identity terms, domains of different shapes, CycleGAN's and other
    weights, lambda_identity 0, exact ties (sign 0), +-1e4, a scalar upstream."""
    source = f"torch {torch.__version__}: CycleGAN backward_G's cycle and identity L1 terms, float64"

    def near(real, scale=0.1):
        return np.where(rng.integers(0, 8, real.shape) == 0, real, real + rng.uniform(-scale, scale, real.shape)).astype(np.float32)

    def case(tag, params, shape_a, shape_b, identities=True, upstream=None, large=False):
        a = (rng.integers(-16, 17, shape_a) / 16).astype(np.float32)
        b = (rng.integers(-16, 17, shape_b) / 16).astype(np.float32)
        if large:
            a, b = (a * 1e4).astype(np.float32), (b * 1e4).astype(np.float32)
        arrays = {"reconstruction_a": near(a, 1e3 if large else 0.1), "real_a": a, "reconstruction_b": near(b, 1e3 if large else 0.1), "real_b": b}
        if identities:
            arrays["identity_a"] = near(a, 1e3 if large else 0.1)
            arrays["identity_b"] = near(b, 1e3 if large else 0.1)
        t = {k: torch.tensor(v.astype(np.float64), requires_grad=not k.startswith("real")) for k, v in arrays.items()}
        value = cycle_gan_terms(t["reconstruction_a"], t["real_a"], t["reconstruction_b"], t["real_b"], t.get("identity_a"), t.get("identity_b"), **params)
        (value * (1.0 if upstream is None else float(upstream))).backward()
        expected = {"loss": tensor(value.detach().numpy(), "float64")}
        for k, v in t.items():
            if v.requires_grad:
                expected[f"grad.{k}"] = tensor(v.grad.numpy(), "float64")
        shapes = "x".join(str(v) for v in shape_a) + "_" + "x".join(str(v) for v in shape_b)
        write_expected(f"cycle_consistency_loss/{tag}/{shapes}", "cycle_consistency_loss", params, {k: tensor(v, "float32") for k, v in arrays.items()},
                       None if upstream is None else np.float32(upstream), expected, source,
                       tolerance={"rtol": 1e-5, "atol": 1e-3} if large else None)

    for shape_a, shape_b in (((1, 3, 4, 4), (1, 3, 4, 4)), ((2, 3, 17, 9), (1, 1, 5, 7)), ((7,), (257,)), ((1, 3, 33, 31), (1, 3, 33, 31))):
        case("cyclegan", {}, shape_a, shape_b)
        case("no_identity", {}, shape_a, shape_b, identities=False)
    case("weights", {"lambda_a": 5.0, "lambda_b": 2.5, "lambda_identity": 0.1}, (2, 3, 8, 8), (2, 3, 8, 8), upstream=0.37)
    case("identity0", {"lambda_identity": 0.0}, (1, 3, 6, 6), (1, 3, 6, 6))
    case("large", {}, (1, 3, 5, 5), (1, 3, 5, 5), large=True)


def gradient_penalty(g, penalty="wgan_gp", gp_weight=10.0, reduction="mean"):
    """WGAN-GP's ((g.norm(2, dim=1) - 1) ** 2) * gp_weight and R1's gp_weight / 2 * |g|^2 per row of [B, ...], in float64; WGAN-GP's
    norm with the gradient 0 at a zero row (torch's norm backward is NaN there)."""
    squares = (g.reshape(g.shape[0], -1) ** 2).sum(dim=1)
    if penalty == "r1":
        values = gp_weight / 2 * squares
    else:
        safe = torch.where(squares > 0, squares, torch.ones_like(squares))
        norm = torch.where(squares > 0, safe.sqrt(), torch.zeros_like(squares))
        values = gp_weight * (norm - 1) ** 2
    return values if reduction == "none" else values.sum() if reduction == "sum" else values.mean()


def gradient_penalty_cases(rng):
    """gradient_penalty (issue 16 item 8): both penalties and every reduction on [B, D] and [B, C, H, W] gradients, a zero row, norms of
    exactly 1, one row of one value, large values."""
    source = f"torch {torch.__version__}: WGAN-GP's and R1's penalties on the critic's gradient rows, float64"

    def case(tag, params, g, upstream=None):
        g64 = torch.tensor(g.astype(np.float64), requires_grad=True)
        value = gradient_penalty(g64, **params)
        up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
        (value * up).sum().backward()
        shape = "x".join(str(v) for v in g.shape)
        write_expected(f"gradient_penalty/{tag}/{params.get('reduction', 'mean')}/{shape}", "gradient_penalty", params, {"input": tensor(g, "float32")},
                       upstream, {"loss": tensor(value.detach().numpy(), "float64"), "grad.input": tensor(g64.grad.numpy(), "float64")}, source)

    for penalty in ("wgan_gp", "r1"):
        for shape in ((1, 1), (4, 7), (3, 257), (2, 3, 9, 11), (5, 1031)):
            g = (rng.uniform(-1, 1, shape) * 2 / np.sqrt(np.prod(shape[1:]))).astype(np.float32)
            case(penalty, {"penalty": penalty}, g)
        g = (rng.uniform(-1, 1, (6, 33)) / 3).astype(np.float32)
        g[2] = 0
        g[4] = 0
        g[4, 5] = 1.0
        case(penalty + "_zero_and_unit_rows", {"penalty": penalty, "reduction": "sum", "gp_weight": 2.5}, g)
        case(penalty + "_zero_and_unit_rows", {"penalty": penalty, "reduction": "none"}, g, upstream=rng.uniform(-1, 1, 6).astype(np.float32))
        case(penalty + "_large", {"penalty": penalty, "gp_weight": 0.1}, (rng.uniform(-1, 1, (3, 40)) * 1e3).astype(np.float32))


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".json"):
            os.remove(os.path.join(OUT, old))
    rng = np.random.default_rng(20261122)

    def data(n, scale=2.0):
        return (rng.uniform(-scale, scale, n).astype(np.float32), rng.uniform(-1, 1, n).astype(np.float32))

    configs = {
        "l1": [{}],
        "mse": [{}],
        "smooth_l1": [{"beta": 1.0}, {"beta": 0.5}, {"beta": 0.0}],
        "huber": [{"delta": 1.0}, {"delta": 0.3}],
        "balanced_l1": [{"alpha": 0.5, "gamma": 1.5, "beta": 1.0}, {"alpha": 0.3, "gamma": 1.0, "beta": 0.5}],
    }
    for loss, variants in configs.items():
        for extra in variants:
            tag = "default" if not extra else "_".join(f"{k}{v}" for k, v in extra.items())
            for reduction in ("none", "mean", "sum"):
                for n in (1, 7, 257, 1031):
                    x, t = data(n)
                    elementwise_case(loss, {**extra, "reduction": reduction}, x, t, tag)
            # Weighted, with mmdetection's avg_factor, and an upstream gradient for 'none'.
            x, t = data(517)
            w = rng.uniform(0, 2, 517).astype(np.float32)
            elementwise_case(loss, {**extra, "reduction": "mean", "avg_factor": 123.5}, x, t, tag + "_weighted_avg", weight=w)
            elementwise_case(loss, {**extra, "reduction": "sum"}, x, t, tag + "_weighted", weight=w)
            u = rng.uniform(-1, 1, 517).astype(np.float32)
            elementwise_case(loss, {**extra, "reduction": "none"}, x, t, tag + "_upstream", weight=w, upstream=u)
            # Edge values: exact ties (d = 0), differences on the thresholds, and ±1e4.
            edge_x = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 0.3, -0.3, 1e4, -1e4, 2.5, 1e-6, -1e-6, 3.0], dtype=np.float32)
            edge_t = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1e4, 1e4, 2.5, 0.0, 0.0, 2.0], dtype=np.float32)
            elementwise_case(loss, {**extra, "reduction": "none"}, edge_x, edge_t, tag + "_edges")
            elementwise_case(loss, {**extra, "reduction": "mean"}, edge_x, edge_t, tag + "_edges")
        # Zero elements: mean is NaN (as PyTorch), sum is 0.
        empty = np.zeros(0, dtype=np.float32)
        elementwise_case(loss, {"reduction": "sum"}, empty, empty, "empty")
        elementwise_case(loss, {"reduction": "mean"}, empty, empty, "empty")
    for n in (1, 7, 257, 1031):
        x, t = data(n)
        rmse_case(x, t, "random")
    x, _ = data(33)
    rmse_case(x, x + np.float32(0.25), "constant_offset")
    box_cases(rng)
    classification_cases(np.random.default_rng(20261123))
    cross_entropy_cases(np.random.default_rng(20261124))
    soft_cross_entropy_target_cases(np.random.default_rng(20261217))
    nll_cases(np.random.default_rng(20261125))
    distribution_cases(np.random.default_rng(20261126))
    softmax_focal_cases(np.random.default_rng(20261127))
    multi_margin_cases(np.random.default_rng(20261128))
    ghmc_cases(np.random.default_rng(20261129))
    pos_weight_cases(np.random.default_rng(20261130))
    overlap_cases(np.random.default_rng(20261201))
    pixel_weighted_cases(np.random.default_rng(20261202))
    lovasz_cases(np.random.default_rng(20261203))
    target_gradient_cases(np.random.default_rng(20261204))
    embedding_cases(np.random.default_rng(20261205))
    triplet_mining_cases(np.random.default_rng(20261206))
    discriminative_cases(np.random.default_rng(20261207))
    total_variation_cases(np.random.default_rng(20261208))
    gan_cases(np.random.default_rng(20261209))
    cycle_cases(np.random.default_rng(20261210))
    content_style_cases(np.random.default_rng(20261215))
    topology_aware_cases(np.random.default_rng(20261216))
    relativistic_cases(np.random.default_rng(20261212))
    feature_reconstruction_cases(np.random.default_rng(20261213))
    gradient_penalty_cases(np.random.default_rng(20261211))
    gram_style_cases(np.random.default_rng(20261214))
    print(f"wrote {len(os.listdir(OUT))} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
