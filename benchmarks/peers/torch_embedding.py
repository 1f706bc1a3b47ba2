#!/usr/bin/python3
"""PyTorch 1.13's CPU forward+backward through autograd for the embedding losses (F.triplet_margin_loss,
F.cosine_embedding_loss, F.margin_ranking_loss, and the contrastive formula of tests/golden/generate.py), in float32, beside ours.

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --full --filter triplet,contrastive,cosine_embedding,margin_ranking --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_embedding.py --ours /tmp/ours.json
The quick report's full size: B = 65,536 rows of D = 256 (2^24 elements per input; margin ranking: 2^24 pairs), inputs in
[-1, 1) and the others near them, labels alternating; every float input requires a gradient; mean reduction. The median of
repeated runs after warm-up, with torch's default intra-op threads (or --threads).
"""
import argparse
import importlib.util
import os

import torch
import torch.nn.functional as F

from timing import add_comparison_arguments, apply_comparison_arguments, median_ms

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "generate.py")
spec = importlib.util.spec_from_file_location("generate", GOLDEN)
formulas = importlib.util.module_from_spec(spec)
spec.loader.exec_module(formulas)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=65536)
    parser.add_argument("--dim", type=int, default=256)
    add_comparison_arguments(parser)
    args = parser.parse_args()
    ours = apply_comparison_arguments(args, torch)

    g = torch.Generator().manual_seed(1)
    b, d = args.rows, args.dim
    first = torch.rand((b, d), generator=g) * 2 - 1

    def near(spread):
        return (first + spread * (torch.rand((b, 1), generator=g)) * (torch.rand((b, d), generator=g) * 2 - 1)).requires_grad_(True)

    x0 = first.clone().requires_grad_(True)
    x1, x2 = near(0.15), near(0.15)
    similar = (torch.arange(b) % 2 == 0).to(torch.float32)
    signed = similar * 2 - 1
    flat1 = (torch.rand(b * d, generator=g) * 2 - 1).requires_grad_(True)
    flat2 = (torch.rand(b * d, generator=g) * 2 - 1).requires_grad_(True)
    flat_target = (torch.arange(b * d) % 2 == 0).to(torch.float32) * 2 - 1
    cases = {
        "triplet_margin_loss": ((x0, x1, x2), lambda: F.triplet_margin_loss(x0, x1, x2)),
        "contrastive_loss": ((x0, x1), lambda: formulas.contrastive_formula(x0, x1, similar, 1.0, 1e-6).mean()),
        "cosine_embedding_loss": ((x0, x1), lambda: F.cosine_embedding_loss(x0, x1, signed)),
        "margin_ranking_loss": ((flat1, flat2), lambda: F.margin_ranking_loss(flat1, flat2, flat_target)),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, forward+backward through autograd, float32, B={b}, D={d}")
    print(f"{'loss':24s} {'torch ms':>10s} {'ours ms':>9s} {'x':>7s}")
    for name, (leaves, value) in cases.items():
        def step():
            for leaf in leaves:
                leaf.grad = None
            value().backward()

        torch_ms = median_ms(step, args.repeats)
        mine, n = ours.get(name, (None, None))
        if n is not None and n != leaves[0].numel():
            mine = None
        ratio = torch_ms / mine if mine else float("nan")
        print(f"{name:24s} {torch_ms:10.1f} {mine if mine else float('nan'):9.2f} {ratio:6.1f}x")


if __name__ == "__main__":
    main()
