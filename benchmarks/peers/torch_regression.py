#!/usr/bin/python3
"""PyTorch's CPU forward+backward through autograd for the regression losses, beside ours.

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --filter l1,mse,huber,rmse --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_regression.py --ours /tmp/ours.json
Times the same n (16,777,216), the same data ranges and reduction 'mean', as the median of
repeated runs after warm-up, with torch's default intra-op threads (all cores).
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F

from timing import median_ms


def balanced_l1(pred, target, beta=1.0, alpha=0.5, gamma=1.5):
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    return torch.where(diff < beta, alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
                       gamma * diff + gamma / b - alpha * beta).mean()


LOSSES = {
    "l1": lambda x, t: F.l1_loss(x, t),
    "mse": lambda x, t: F.mse_loss(x, t),
    "rmse": lambda x, t: torch.sqrt(F.mse_loss(x, t)),
    "smooth_l1": lambda x, t: F.smooth_l1_loss(x, t, beta=1.0),
    "huber": lambda x, t: F.huber_loss(x, t, delta=1.0),
    "balanced_l1": balanced_l1,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16_777_216)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--ours", help="quick-report JSON (--json) to compare with: fused rows of backend 'simd'")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(1)
    x = torch.rand(args.n, generator=generator) * 4 - 2
    t = torch.rand(args.n, generator=generator) * 2 - 1
    ours = {}
    if args.ours:
        with open(args.ours) as f:
            ours = {r["loss"]: r["ms"] for r in json.load(f) if r["backend"] == "simd" and r["mode"] == "fused"}

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, n = {args.n:,}, forward+backward through autograd")
    print(f"{'loss':12s} {'torch ms':>9s} {'ours ms':>8s} {'speed-up':>9s}")
    for name, loss in LOSSES.items():
        leaf = x.clone().requires_grad_(True)

        def step():
            leaf.grad = None
            loss(leaf, t).backward()

        torch_ms = median_ms(step, args.repeats)
        mine = ours.get(name)
        ratio = f"{torch_ms / mine:8.1f}x" if mine else "        -"
        mine_text = f"{mine:8.2f}" if mine else "       -"
        print(f"{name:12s} {torch_ms:9.1f} {mine_text} {ratio}")


if __name__ == "__main__":
    main()
