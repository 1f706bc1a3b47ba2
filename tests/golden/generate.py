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
    t64 = torch.tensor(t.astype(np.float64))
    w64 = None if weight is None else torch.tensor(weight.astype(np.float64))
    value = weight_reduce(fn(x64, t64, params), w64, reduction, avg_factor)
    up = torch.tensor(1.0, dtype=torch.float64) if upstream is None else torch.tensor(upstream.astype(np.float64))
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
        "expected": {
            "loss": tensor(value.detach().numpy(), "float64"),
            "grad.input": tensor(x64.grad.numpy(), "float64"),
        },
        "tolerance": tolerance or {"rtol": 1e-5, "atol": 1e-6},
        "source": f"torch {torch.__version__} {source}, float64",
    }
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
    print(f"wrote {len(os.listdir(OUT))} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
