#!/usr/bin/python3
"""PyTorch 1.13's / torchvision 0.14's (and the mmdetection formulas') CPU forward+backward through autograd for the
elementwise classification losses, beside ours.

Run where Debian's python3-torch and python3-torchvision are installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --filter focal,binary_cross,hinge,kl_div --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_classification.py --ours /tmp/ours.json
Times 16,777,216 float32 elements (logits in [-8, 8), targets 0, 1 or a probability, as the catalog draws them),
reduction 'mean', the input requiring a gradient, as the median of repeated runs after warm-up with torch's default
intra-op threads. Ours is the quick report's fused row (loss and input gradient in one call).
"""
import argparse
import importlib.util
import json
import os

import torch
import torch.nn.functional as F

from timing import median_ms

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "generate.py")
spec = importlib.util.spec_from_file_location("generate", GOLDEN)
formulas = importlib.util.module_from_spec(spec)
spec.loader.exec_module(formulas)


def logits(n, g):
    return torch.rand(n, generator=g) * 16 - 8


def soft_targets(n, g):
    index = torch.arange(n) % 3
    return torch.where(index == 0, 0.0, torch.where(index == 1, 1.0, torch.rand(n, generator=g)))


def scores(n, g):
    return torch.where(torch.arange(n) % 4 == 0, 1 - torch.rand(n, generator=g), torch.zeros(n))


def signs(n, g):
    return torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)


LOSSES = {
    "binary_cross_entropy": (lambda n, g: (torch.sigmoid(logits(n, g)), soft_targets(n, g)), lambda x, t: F.binary_cross_entropy(x, t)),
    "binary_cross_entropy_with_logits": (lambda n, g: (logits(n, g), soft_targets(n, g)), lambda x, t: F.binary_cross_entropy_with_logits(x, t)),
    "sigmoid_focal_loss": (lambda n, g: (logits(n, g), soft_targets(n, g)), lambda x, t: formulas.tvops.sigmoid_focal_loss(x, t, reduction="mean")),
    "quality_focal_loss": (lambda n, g: (logits(n, g), scores(n, g)), lambda x, t: formulas.mm_quality_focal(x, t, {}).mean()),
    "varifocal_loss": (lambda n, g: (logits(n, g), scores(n, g)), lambda x, t: formulas.mm_varifocal(x, t, {}).mean()),
    "hinge_embedding_loss": (lambda n, g: (torch.rand(n, generator=g) * 3, signs(n, g)), lambda x, t: F.hinge_embedding_loss(x, t)),
    "kl_div": (lambda n, g: (torch.log(1 - torch.rand(n, generator=g)), torch.rand(n, generator=g)), lambda x, t: F.kl_div(x, t, reduction="mean")),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16_777_216)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ours", help="quick-report JSON (--json) to compare with: fused rows of backend 'simd'")
    parser.add_argument("--filter", default="", help="comma-separated substrings of the losses to run")
    args = parser.parse_args()
    ours = {}
    if args.ours:
        with open(args.ours) as f:
            ours = {r["loss"]: r["ms"] for r in json.load(f) if r["backend"] == "simd" and r["mode"] == "fused"}
    wanted = [w for w in args.filter.split(",") if w]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n:,} elements, forward+backward through autograd")
    print(f"{'loss':34s} {'torch ms':>10s} {'ours ms':>9s} {'x':>7s}")
    for name, (sample, loss) in LOSSES.items():
        if wanted and not any(w in name for w in wanted):
            continue
        x, t = sample(args.n, torch.Generator().manual_seed(1))
        x.requires_grad_(True)

        def step():
            x.grad = None
            loss(x, t).backward()

        torch_ms = median_ms(step, args.repeats)
        mine = ours.get(name)
        print(f"{name:34s} {torch_ms:10.1f} {mine if mine else float('nan'):9.2f} {torch_ms / mine if mine else float('nan'):6.1f}x")


if __name__ == "__main__":
    main()
