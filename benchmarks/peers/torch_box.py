#!/usr/bin/python3
"""torchvision 0.14's (and the mmdetection formulas') CPU forward+backward through autograd for the box losses, beside ours.

Run where Debian's python3-torch and python3-torchvision are installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --filter iou,centerness --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_box.py --ours /tmp/ours.json
Times 1,048,576 box pairs drawn as the catalog draws them (targets with centers in [0, 100) and sizes in
[1, 20), predictions jittered around them), reduction 'mean', as the median of repeated runs after warm-up,
with torch's default intra-op threads (all cores). torch runs twice: with only the predictions requiring a
gradient (what a detector does) and with both boxes requiring one (what our catalog's fused run writes).
Our time is always the catalog's fused run, which writes both gradients.
"""
import argparse
import importlib.util
import json
import os

import torch
import torchvision.ops as tvops

from timing import median_ms

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "generate.py")
spec = importlib.util.spec_from_file_location("generate", GOLDEN)
formulas = importlib.util.module_from_spec(spec)
spec.loader.exec_module(formulas)

LOSSES = {
    "iou_loss": lambda p, t: formulas.mm_iou(p, t).mean(),
    "generalized_box_iou_loss": lambda p, t: tvops.generalized_box_iou_loss(p, t, reduction="mean"),
    "distance_box_iou_loss": lambda p, t: tvops.distance_box_iou_loss(p, t, reduction="mean"),
    "complete_box_iou_loss": lambda p, t: tvops.complete_box_iou_loss(p, t, reduction="mean"),
    "efficient_iou_loss": lambda p, t: formulas.efficient_iou(p, t).mean(),
    "extended_iou_loss": lambda p, t: formulas.mm_eiou(p, t).mean(),
    "scylla_iou_loss": lambda p, t: formulas.mm_siou(p, t).mean(),
    "bounded_iou_loss": lambda p, t: formulas.mm_bounded_iou(p, t).sum() / p.shape[0],
}


def boxes(n, generator):
    def uniform(low, high):
        return torch.rand(n, generator=generator) * (high - low) + low

    cx, cy, w, h = uniform(0, 100), uniform(0, 100), uniform(1, 20), uniform(1, 20)
    target = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    pcx, pcy = cx + (uniform(0, 1) - 0.5) * w, cy + (uniform(0, 1) - 0.5) * h
    pw, ph = w * uniform(0.5, 1.5), h * uniform(0.5, 1.5)
    prediction = torch.stack([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2], -1)
    return prediction, target


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_048_576)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--ours", help="quick-report JSON (--json) to compare with: fused rows of backend 'simd'")
    args = parser.parse_args()

    prediction, target = boxes(args.n, torch.Generator().manual_seed(1))
    ours = {}
    if args.ours:
        with open(args.ours) as f:
            ours = {r["loss"]: r["ms"] for r in json.load(f) if r["backend"] == "simd" and r["mode"] == "fused"}

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n:,} boxes, forward+backward through autograd")
    print(f"{'loss':26s} {'torch ms (pred)':>15s} {'torch ms (both)':>15s} {'ours ms (both)':>14s} {'x (pred)':>9s} {'x (both)':>9s}")
    for name, loss in LOSSES.items():
        times = []
        for both in (False, True):
            p = prediction.clone().requires_grad_(True)
            t = target.clone().requires_grad_(both)

            def step():
                p.grad = None
                t.grad = None
                loss(p, t).backward()

            times.append(median_ms(step, args.repeats))
        mine = ours.get(name)
        ratios = f"{times[0] / mine:8.1f}x {times[1] / mine:8.1f}x" if mine else "        -         -"
        mine_text = f"{mine:14.2f}" if mine else "             -"
        print(f"{name:26s} {times[0]:15.1f} {times[1]:15.1f} {mine_text} {ratios}")


if __name__ == "__main__":
    main()
