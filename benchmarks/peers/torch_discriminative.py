#!/usr/bin/python3
"""PyTorch 1.13's CPU forward+backward through autograd for the discriminative loss (De Brabandere et al. 2017) as public
implementations write it: per image, a loop over torch.unique ids (background 0 left out), each instance's pixels by a boolean
mask, its mean, the hinged pull of its pixels, the hinged push between means and the regularizer, averaged over the images;
in float32, beside ours (discriminative_loss with its defaults: delta_v 0.5, delta_d 1.5, alpha = beta = 1, gamma 0.001).

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --full --filter discriminative --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_discriminative.py --ours /tmp/ours.json
The quick report's full size is [4, 16, 512, 512] (--pixels 65536 for the quick report without --full). Ids as the catalog's sample:
runs along each image of nine ids (0, 7, ..., 56), a new one drawn with probability 1/64 at each pixel, each id's embedding a centre
in [-1, 1) plus noise in [-0.6, 0.6). The median of repeated runs after warm-up, with torch's default intra-op threads (or --threads).
"""
import argparse

import torch

from timing import add_comparison_arguments, apply_comparison_arguments, median_ms, print_comparison


def discriminative(x, labels, delta_v=0.5, delta_d=1.5, alpha=1.0, beta=1.0, gamma=0.001, ignore=0):
    total = x.new_zeros(())
    for n in range(x.shape[0]):
        ids = torch.unique(labels[n])
        ids = ids[ids != ignore]
        if len(ids) == 0:
            continue
        means, pull = [], []
        for i in ids:
            members = x[n][:, labels[n] == i]
            mean = members.mean(dim=1)
            means.append(mean)
            pull.append(((members - mean[:, None]).norm(dim=0) - delta_v).clamp(min=0).pow(2).mean())
        means = torch.stack(means)
        c = len(ids)
        variance = torch.stack(pull).mean()
        distance = x.new_zeros(())
        if c > 1:
            gaps = (means[:, None, :] - means[None, :, :]).norm(dim=2)
            off = ~torch.eye(c, dtype=torch.bool)
            distance = (2 * delta_d - gaps[off]).clamp(min=0).pow(2).mean()
        regularizer = means.norm(dim=1).mean()
        total = total + alpha * variance + beta * distance + gamma * regularizer
    return total / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--pixels", type=int, default=512 * 512)
    add_comparison_arguments(parser, repeats=3)
    args = parser.parse_args()
    ours = apply_comparison_arguments(args, torch)

    g = torch.Generator().manual_seed(1)
    n, e, s = args.images, args.channels, args.pixels
    change = torch.rand((n, s), generator=g) < 1 / 64
    drawn = torch.randint(0, 9, (n, s), generator=g)
    labels = torch.empty((n, s), dtype=torch.long)
    for image in range(n):
        current = 0
        row_change, row_drawn = change[image].tolist(), drawn[image].tolist()
        row = [0] * s
        for i in range(s):
            if row_change[i]:
                current = row_drawn[i]
            row[i] = current * 7
        labels[image] = torch.tensor(row)
    centres = torch.rand((9, e), generator=g) * 2 - 1
    x = (centres[labels // 7].permute(0, 2, 1) + torch.rand((n, e, s), generator=g) * 1.2 - 0.6).contiguous().requires_grad_(True)

    def step():
        x.grad = None
        discriminative(x, labels).backward()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, discriminative loss forward+backward through autograd, float32, [{n}, {e}, {s}]")
    torch_ms = median_ms(step, args.repeats)
    print_comparison("discriminative_loss", torch_ms, ours, x.numel())


if __name__ == "__main__":
    main()
