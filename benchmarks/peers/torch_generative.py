#!/usr/bin/python3
"""PyTorch 1.13's CPU forward+backward through autograd for the generative family's losses, in float32, beside ours:
total_variation_loss (kornia's TotalVariation: per image Σ|Δx| + Σ|Δy|, then the mean over images).

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --full --filter total_variation --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_generative.py --ours /tmp/ours.json
The quick report's full size is [4, 4, 1024, 1024] (--side 512 for the quick report without --full), values as the catalog's sample.
The median of repeated runs after warm-up, with torch's default intra-op threads (or --threads).
"""
import argparse

import torch

from timing import add_comparison_arguments, apply_comparison_arguments, median_ms, print_comparison


def total_variation(x):
    values = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3)) + (x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))
    return values.mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--side", type=int, default=1024)
    add_comparison_arguments(parser, repeats=5)
    args = parser.parse_args()
    ours = apply_comparison_arguments(args, torch)

    g = torch.Generator().manual_seed(1)
    shape = (args.images, args.channels, args.side, args.side)
    ramp = 0.001 * torch.arange(args.side, dtype=torch.float32)
    x = torch.where(torch.rand(shape, generator=g) < 0.2, torch.full(shape, 0.25), ramp + torch.rand(shape, generator=g) - 0.5).requires_grad_(True)

    def step():
        x.grad = None
        total_variation(x).backward()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, total variation forward+backward through autograd, float32, {list(shape)}")
    print_comparison("total_variation_loss", median_ms(step, args.repeats), ours, x.numel())


if __name__ == "__main__":
    main()
