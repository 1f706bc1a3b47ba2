#!/usr/bin/python3
"""PyTorch 1.13's CPU forward+backward through autograd for the overlap losses (the smp / MONAI / paper formulas of
tests/golden/generate.py, in float32), beside ours.

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --full --filter dice,tversky --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_segmentation.py --ours /tmp/ours.json
Multiclass: [N, 21, 256, 256] logits in [-4, 4) and class indices 0..19 (the catalog's sample; N from --images, 8 by default:
a Pascal VOC batch), the quick report's fused rows beside them; U-Net's pixel-weighted cross entropy on the same data with a
weight map in [0.5, 3.5); Lovász-softmax (smp's lovasz_softmax with torch's default sort). Binary: [2, 1, 1024, 1024] logits
against a 0/1 mask (--binary; the overlap losses' ours from BenchmarkDotNet's SegmentationBenchmarks, printed as torch's time
alone; the Lovász hinge beside the quick report's --full row). The input requires a
gradient; the median of repeated runs after warm-up, with torch's default intra-op threads (or --threads).
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

LOSSES = ["dice_loss", "tversky_loss", "focal_tversky_loss", "generalized_dice_loss", "pixel_weighted_cross_entropy", "lovasz_softmax_loss", "lovasz_hinge_loss"]


def pixel_weighted(x, t, w):
    """U-Net's weighted cross entropy: the per-pixel cross entropy times the weight map, mean over the pixels kept."""
    return (w * F.cross_entropy(x, t, reduction="none")).sum() / (t != -100).sum()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--binary", action="store_true", help="also time [2, 1, 1024, 1024] in binary mode")
    add_comparison_arguments(parser)
    args = parser.parse_args()
    ours = apply_comparison_arguments(args, torch)

    g = torch.Generator().manual_seed(1)
    shapes = [("multiclass", (args.images, 21, 256, 256))] + ([("binary", (2, 1, 1024, 1024))] if args.binary else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, forward+backward through autograd, float32")
    print(f"{'loss':24s} {'mode':10s} {'shape':18s} {'torch ms':>10s} {'ours ms':>9s} {'x':>7s}")
    for mode, shape in shapes:
        x = torch.rand(shape, generator=g) * 8 - 4
        if mode == "multiclass":
            t = torch.randint(0, 20, (shape[0],) + shape[2:], generator=g)
        else:
            t = (torch.rand(shape, generator=g) < 0.3).to(torch.float32)
        x.requires_grad_(True)
        w = torch.rand((shape[0],) + shape[2:], generator=g) * 3 + 0.5
        for name in LOSSES:
            if name in ("pixel_weighted_cross_entropy", "lovasz_softmax_loss") and mode != "multiclass" or name == "lovasz_hinge_loss" and mode != "binary":
                continue
            params = {"mode": mode}

            def step():
                x.grad = None
                if name == "pixel_weighted_cross_entropy":
                    value = pixel_weighted(x, t, w)
                elif name.startswith("lovasz"):
                    value = formulas.lovasz_value(name, params, x, t, stable=False)
                else:
                    value = formulas.overlap_value(name, params, x, t, None)
                value.backward()

            torch_ms = median_ms(step, args.repeats)
            mine, n = ours.get(name, (None, None)) if mode == "multiclass" or name == "lovasz_hinge_loss" else (None, None)
            if n is not None and n != x.numel():
                mine = None
            ratio = torch_ms / mine if mine else float("nan")
            print(f"{name:24s} {mode:10s} {'x'.join(map(str, shape)):18s} {torch_ms:10.1f} {mine if mine else float('nan'):9.2f} {ratio:6.1f}x")


if __name__ == "__main__":
    main()
