#!/usr/bin/python3
"""gram_style_loss beside PyTorch: Johnson's Gram style loss on one layer's features [4, 256, 128, 128] (the quick report's --full
shape; --spatial 4096 for the quick report without it) against one style Gram, forward+backward through autograd in float32:
G = bmm(F, Fᵀ)/(C·H·W), ((G − A)²).sum((1, 2)).mean() — a bmm forward and two in its backward.

Debian's python3-torch 1.13 links the generic reference BLAS (torch.__config__.show(): BLAS_INFO=generic), whose bmm runs at a few
GFLOP/s, so its time says little about a PyTorch built with MKL or OpenBLAS. The script therefore also times the three matrix products
autograd runs (F·Fᵀ, and twice [C, C]·[C, H·W]) with MKL's sgemm from LibTorch 2.10 (TorchSharp's libtorch-cpu-linux-x64 NuGet
package, whose libtorch_cpu.so exports it): a floor for an MKL-backed PyTorch's step, its elementwise work left out. Pass the
package's native folder with --libtorch, or restore the package into ~/.nuget/packages (TorchSharp itself does not load here:
its libLibTorchSharp.so needs GLIBCXX_3.4.32, newer than Debian 12's libstdc++).

    dotnet run -c Release --project benchmarks/LossKernels.Benchmarks -- quick --full --filter gram_style --no-opencl --json /tmp/ours.json
    /usr/bin/python3 benchmarks/peers/torch_gram.py --ours /tmp/ours.json --threads 1
MKL's threads follow --threads too (MKL_NUM_THREADS is set before the library loads).
"""
import argparse
import ctypes
import glob
import os
import subprocess
import sys

from timing import add_comparison_arguments, apply_comparison_arguments, median_ms, print_comparison


def mkl_floor_ms(args):
    """The three products of autograd's step through MKL's Fortran sgemm_ in LibTorch 2.10's libtorch_cpu.so (row-major data passed as
    its column-major transpose), on numpy arrays: run in a process of its own (--mkl-floor), where Debian's torch is not loaded beside
    it. None when the library is not there."""
    paths = [args.libtorch] if args.libtorch else glob.glob(os.path.expanduser("~/.nuget/packages/libtorch-cpu-linux-x64/*/runtimes/linux-x64/native"))
    library = next((os.path.join(p, "libtorch_cpu.so") for p in paths if os.path.exists(os.path.join(p, "libtorch_cpu.so"))), None)
    if library is None:
        return None
    if args.threads:
        os.environ["MKL_NUM_THREADS"] = str(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import numpy as np
    sgemm = ctypes.CDLL(library).sgemm_

    def gemm(transa, transb, m, n, k, a, lda, b, ldb, c, ldc):
        def i(v):
            return ctypes.byref(ctypes.c_int(v))
        one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
        sgemm(ctypes.c_char_p(transa), ctypes.c_char_p(transb), i(m), i(n), i(k), ctypes.byref(one), a.ctypes.data_as(ctypes.c_void_p), i(lda),
              b.ctypes.data_as(ctypes.c_void_p), i(ldb), ctypes.byref(zero), c.ctypes.data_as(ctypes.c_void_p), i(ldc))

    n, c, m = args.images, args.channels, args.spatial
    rng = np.random.default_rng(1)
    x = np.where(rng.random((n, c, m)) < 1 / 3, 0, rng.random((n, c, m)) * 2).astype(np.float32)
    gram = np.empty((c, c), np.float32)
    product = np.empty((c, m), np.float32)

    def products():
        for image in range(n):
            f = x[image]
            # G = F·Fᵀ: column-major Fᵀ [M, C] is the data; G = (Fᵀ)ᵀ·Fᵀ.
            gemm(b"T", b"N", c, c, m, f, m, f, m, gram, c)
            # ∂G·F and ∂Gᵀ·F: row-major [C, M] = column-major [M, C] = Fᵀ·Dᵀ.
            for _ in range(2):
                gemm(b"N", b"N", m, c, c, f, m, gram, c, product, m)

    return median_ms(products, args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--spatial", type=int, default=128 * 128, help="H·W")
    parser.add_argument("--libtorch", help="the folder of LibTorch's libtorch_cpu.so (MKL's sgemm)")
    parser.add_argument("--mkl-floor", action="store_true", help=argparse.SUPPRESS)
    add_comparison_arguments(parser, repeats=5)
    args = parser.parse_args()
    if args.mkl_floor:
        ms = mkl_floor_ms(args)
        print("none" if ms is None else ms)
        return
    import torch
    ours = apply_comparison_arguments(args, torch)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, forward+backward through autograd, float32")
    n, c, m = args.images, args.channels, args.spatial
    g = torch.Generator().manual_seed(1)
    features = torch.where(torch.rand(n, c, m, generator=g) < 1 / 3, torch.zeros(()), torch.rand(n, c, m, generator=g) * 2).requires_grad_(True)
    style = torch.where(torch.rand(c, m, generator=g) < 1 / 2, torch.zeros(()), torch.rand(c, m, generator=g) * 3)
    target = (style @ style.T / (c * m)).unsqueeze(0)

    def step():
        features.grad = None
        gram = torch.bmm(features, features.transpose(1, 2)) / (c * m)
        ((gram - target) ** 2).sum(dim=(1, 2)).mean().backward()

    flops = 6.0 * n * c * c * m
    ms = median_ms(step, args.repeats)
    print(f"torch autograd: {ms:.1f} ms, {flops / ms / 1e6:.1f} GFLOP/s of its 6·N·C²·H·W")
    print_comparison("gram_style_loss", ms, ours, features.numel())
    floor = subprocess.run([sys.executable, os.path.abspath(__file__), "--mkl-floor", *sys.argv[1:]], capture_output=True, text=True, check=True).stdout.strip()
    if floor == "none":
        print("MKL floor: libtorch_cpu.so not found (--libtorch, or restore libtorch-cpu-linux-x64 into ~/.nuget/packages)")
        return
    mkl_ms = float(floor)
    print(f"MKL floor (LibTorch 2.10's sgemm, autograd's three products, no elementwise work): {mkl_ms:.1f} ms, {flops / mkl_ms / 1e6:.1f} GFLOP/s")
    print_comparison("gram_style_loss", mkl_ms, ours, features.numel())


if __name__ == "__main__":
    main()
