#!/usr/bin/env bash
# The ILGPU backend on a real CUDA GPU, in one run (the tests cannot reach a GPU: they run ILGPU's CPU accelerator):
#   1. every ILGPU test with CUDA required (the golden cases, chunk edges, row kernels, argument checks, 0 bytes per call);
#   2. the quick report with ilgpu-cuda rows beside the CPU SIMD rows (GB/s against a device-to-device copy of the same
#      bytes, and the throughput ratio to the CPU kernel), as JSON in $OUT (or ./gpu-check) for benchmarks/RESULTS.md.
# Usage: bash benchmarks/gpu-check.sh [--filter l1,cross_entropy] [--size N]   (quick-report options are passed on)
# Needs: the .NET 10 SDK, an NVIDIA driver (libcuda.so.1). Exits non-zero when a step fails or no CUDA device is found.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
out="${OUT:-gpu-check}"
mkdir -p "$out"

if ! command -v nvidia-smi > /dev/null 2>&1 || ! nvidia-smi > "$out/nvidia-smi.txt" 2>&1; then
  echo "gpu-check: no NVIDIA GPU (nvidia-smi failed)"; exit 2
fi
head -15 "$out/nvidia-smi.txt"

status=0
dotnet build -c Release > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; echo "gpu-check: build failed"; exit 1; }

LOSSKERNELS_ILGPU_ACCELERATOR=cuda LOSSKERNELS_REQUIRE_CUDA=1 \
  dotnet test -c Release --no-build --filter "FullyQualifiedName~LossKernels.Tests.ILGPU" --logger "console;verbosity=normal" \
  > "$out/tests.log" 2>&1 || status=1
grep -E "^\s+Failed |Passed!|Failed!|bytes for" "$out/tests.log" | tail -40

dotnet run -c Release --no-build --project benchmarks/LossKernels.Benchmarks -- quick --no-opencl --json "$out/quick.json" "$@" \
  > "$out/quick.log" 2>&1 || status=1
grep -E "ILGPU CUDA|No ilgpu|ilgpu-cuda|quick report" "$out/quick.log" | head -80
exit "$status"
