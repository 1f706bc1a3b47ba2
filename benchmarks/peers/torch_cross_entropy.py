#!/usr/bin/python3
"""PyTorch 1.13's CPU cross entropy, forward+backward through autograd, at the issue's shape: [4096, 32000] float32
logits, int64 targets, label_smoothing=0.1, reduction 'mean'.

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    /usr/bin/python3 benchmarks/peers/torch_cross_entropy.py
and ours: dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- --filter *CrossEntropyBenchmarks*
Prints the median of repeated runs after warm-up, with torch's default intra-op threads.
"""
import argparse

import torch
import torch.nn.functional as F

from timing import median_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(1)
    logits = (torch.rand(args.rows, args.classes, generator=generator) * 12 - 6).requires_grad_(True)
    target = torch.randint(0, args.classes, (args.rows,), generator=generator)

    def step():
        logits.grad = None
        F.cross_entropy(logits, target, label_smoothing=0.1).backward()

    def forward():
        with torch.no_grad():
            F.cross_entropy(logits, target, label_smoothing=0.1)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, [{args.rows}, {args.classes}], label_smoothing 0.1")
    print(f"forward+backward: {median_ms(step, args.repeats):.1f} ms")
    print(f"forward only:     {median_ms(forward, args.repeats):.1f} ms")


if __name__ == "__main__":
    main()
