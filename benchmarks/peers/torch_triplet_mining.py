#!/usr/bin/python3
"""PyTorch 1.13's CPU forward+backward through autograd for batch-hard triplet mining (the recipe of the re-identification
codebases: torch.cdist, label masks, the farthest positive and the closest negative per anchor, relu(d_ap - d_an + margin).mean()),
in float32, beside ours (triplet_mining_loss with its defaults: hard mining, euclidean, margin 0.2).

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --full --filter triplet_mining --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_triplet_mining.py --ours /tmp/ours.json
The quick report's full size: B = 4,096 rows of D = 512 (--rows 1024 for the quick report without --full), K = 4 rows per
identity, each a centre in [-1, 1) plus noise in [-3, 3) as the catalog's sample. The median of repeated runs after warm-up,
with torch's default intra-op threads (or --threads).
"""
import argparse

import torch
import torch.nn.functional as F

from timing import add_comparison_arguments, apply_comparison_arguments, median_ms, print_comparison


def batch_hard(x, labels, margin):
    d = torch.cdist(x, x)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool)
    farthest_positive = torch.where(positive, d, torch.full_like(d, -float("inf"))).max(dim=1).values
    closest_negative = torch.where(~same, d, torch.full_like(d, float("inf"))).min(dim=1).values
    return F.relu(farthest_positive - closest_negative + margin).mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=512)
    add_comparison_arguments(parser, repeats=3)
    args = parser.parse_args()
    ours = apply_comparison_arguments(args, torch)

    g = torch.Generator().manual_seed(1)
    b, d = args.rows, args.dim
    centres = torch.rand((b // 4, d), generator=g) * 2 - 1
    x = (centres.repeat_interleave(4, dim=0)[:b] + torch.rand((b, d), generator=g) * 6 - 3).requires_grad_(True)
    labels = torch.arange(b) // 4

    def step():
        x.grad = None
        batch_hard(x, labels, 0.2).backward()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch-hard forward+backward through autograd, float32, B={b}, D={d}")
    torch_ms = median_ms(step, args.repeats)
    print_comparison("triplet_mining_loss", torch_ms, ours, x.numel())


if __name__ == "__main__":
    main()
