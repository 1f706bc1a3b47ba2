#!/usr/bin/python3
"""PyTorch 1.13's CPU forward+backward through autograd for the generative family's losses, in float32, beside ours:
total_variation_loss (kornia's TotalVariation: per image Σ|Δx| + Σ|Δy|, then the mean over images), gan_loss (BasicSR's GANLoss for
the discriminator's real logits: vanilla's BCE with logits, hinge's relu(1 − x), wgan_softplus's softplus(−x), each a mean),
cycle_consistency_loss (CycleGAN's backward_G cycle and identity L1 terms), gradient_penalty (WGAN-GP's and R1's on the critic's
gradient rows, as a leaf that requires grad: the penalty's own cost, not the double backward's), relativistic_gan_loss (ESRGAN's
generator loss: vanilla BCE on r − mean(f) and f − mean(r), both logits requiring grad) and feature_reconstruction_loss
(F.mse_loss on one layer's [4, 256, 128, 128] features).

Run where Debian's python3-torch is installed (not needed by the build or the tests):
    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --full --filter total_variation,gan_loss,cycle,penalty,feature --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_generative.py --ours /tmp/ours.json
The quick report's full sizes: [4, 4, 1024, 1024] images, 16M logits, four 4M images with identities, 16 rows of 1M gradient values
(--side 512 and --elements 4194304 for the quick report without --full). The median of repeated runs after warm-up, with torch's
default intra-op threads (or --threads).
"""
import argparse

import torch
import torch.nn.functional as F

from timing import add_comparison_arguments, apply_comparison_arguments, median_ms, print_comparison


def total_variation(x):
    values = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3)) + (x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))
    return values.mean()


def gan_losses():
    """BasicSR's GANLoss for the discriminator's real logits (target_is_real=True, is_disc=True)."""
    return {
        "vanilla": lambda x: F.binary_cross_entropy_with_logits(x, torch.ones_like(x)),
        "hinge": lambda x: torch.relu(1 - x).mean(),
        "wgan_softplus": lambda x: F.softplus(-x).mean(),
    }


def timed(loss_fn, *leaves):
    def step():
        for leaf in leaves:
            leaf.grad = None
        loss_fn().backward()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--elements", type=int, default=1 << 24, help="the GAN logits' count; cycle images get a quarter each, the penalty 16 rows")
    add_comparison_arguments(parser, repeats=5)
    args = parser.parse_args()
    ours = apply_comparison_arguments(args, torch)
    g = torch.Generator().manual_seed(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, forward+backward through autograd, float32")

    shape = (args.images, args.channels, args.side, args.side)
    ramp = 0.001 * torch.arange(args.side, dtype=torch.float32)
    x = torch.where(torch.rand(shape, generator=g) < 0.2, torch.full(shape, 0.25), ramp + torch.rand(shape, generator=g) - 0.5).requires_grad_(True)
    print_comparison("total_variation_loss", median_ms(timed(lambda: total_variation(x), x), args.repeats), ours, x.numel())
    del x

    logits = (torch.rand(args.elements, generator=g) * 12 - 6).requires_grad_(True)
    for name, fn in gan_losses().items():
        # The quick report runs gan_loss with its defaults (vanilla); the other types are printed for the BenchmarkDotNet rows.
        row = "gan_loss" if name == "vanilla" else f"gan_loss ({name})"
        print_comparison(row, median_ms(timed(lambda fn=fn: fn(logits), logits), args.repeats), ours, logits.numel())
    del logits

    n = max(1, args.elements // 4)
    real_a, real_b = torch.rand(n, generator=g) * 2 - 1, torch.rand(n, generator=g) * 2 - 1
    generated = [(r + torch.rand(n, generator=g) * 0.2 - 0.1).requires_grad_(True) for r in (real_a, real_b, real_a, real_b)]
    rec_a, rec_b, idt_a, idt_b = generated

    def cycle():
        return (F.l1_loss(rec_a, real_a) * 10 + F.l1_loss(rec_b, real_b) * 10 + F.l1_loss(idt_a, real_a) * 10 * 0.5
                + F.l1_loss(idt_b, real_b) * 10 * 0.5)

    # The quick report counts the cycle loss at its sample size, four images of a quarter of it.
    print_comparison("cycle_consistency_loss", median_ms(timed(cycle, *generated), args.repeats), ours, 4 * n)
    del generated, rec_a, rec_b, idt_a, idt_b

    batch = 16
    critic = ((torch.rand(batch, args.elements // batch, generator=g) * 2 - 1) * 2 / (args.elements // batch) ** 0.5).requires_grad_(True)
    wgan_gp = timed(lambda: ((critic.norm(2, dim=1) - 1) ** 2).mean() * 10, critic)
    print_comparison("gradient_penalty", median_ms(wgan_gp, args.repeats), ours, critic.numel())
    r1 = timed(lambda: 10 / 2 * critic.pow(2).sum(dim=1).mean(), critic)
    print_comparison("gradient_penalty (r1)", median_ms(r1, args.repeats), ours, critic.numel())
    del critic

    half = args.elements // 2
    real = (torch.rand(half, generator=g) * 6 - 1).requires_grad_(True)
    fake = (torch.rand(half, generator=g) * 6 - 4).requires_grad_(True)

    def relativistic():
        return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.zeros_like(real))
                      + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.ones_like(fake)))

    # The quick report counts the relativistic loss at its sample size, two halves of it.
    print_comparison("relativistic_gan_loss", median_ms(timed(relativistic, real, fake), args.repeats), ours, 2 * half)
    del real, fake

    features = (torch.rand(4, args.elements // 4, generator=g) * 2).requires_grad_(True)
    target = features.detach() + torch.rand(features.shape, generator=g) - 0.5
    print_comparison("feature_reconstruction_loss", median_ms(timed(lambda: F.mse_loss(features, target), features), args.repeats), ours, features.numel())


if __name__ == "__main__":
    main()
