#!/usr/bin/env bash
# Runs every OpenCL kernel entry point (benchmarks' `kernel-check`: every catalog loss x reduction x
# mode x reduction variant, with and without weights, box formats, the class-target check and the box
# utilities) on Oclgrind at sizes 1, 7, 257 and 4099 (4 to 10 minutes on 2 shared cores), with its out-of-bounds,
# data-race and uninitialized-read checks on.
# Oclgrind never changes the exit code, so this reads its log: any entry there fails the script.
# Oclgrind is loaded as an ICD (its `oclgrind` wrapper's LD_PRELOAD crashes the .NET host).
# Needs: apt-get install -y oclgrind ocl-icd-libopencl1; a Release build (pass --build to build it).
set -euo pipefail
cd "$(dirname "$0")/.."

runtime=""
for candidate in /usr/lib/oclgrind/liboclgrind-rt-icd.so /usr/lib/x86_64-linux-gnu/liboclgrind-rt-icd.so /usr/local/lib/liboclgrind-rt-icd.so; do
  if [ -f "$candidate" ]; then runtime=$candidate; break; fi
done
if [ -z "$runtime" ]; then
  echo "oclgrind.sh: liboclgrind-rt-icd.so not found; install it with: apt-get install -y oclgrind" >&2
  exit 1
fi

if [ "${1:-}" = "--build" ]; then
  dotnet build -c Release benchmarks/LossKernels.Benchmarks
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$runtime" > "$work/oclgrind.icd"
log="$work/oclgrind.log"

status=0
OCL_ICD_VENDORS="$work" OCLGRIND_DATA_RACES=1 OCLGRIND_UNINITIALIZED=1 OCLGRIND_LOG="$log" \
  LOSSKERNELS_OPENCL_DEVICE=Oclgrind \
  dotnet run -c Release --no-build --project benchmarks/LossKernels.Benchmarks -- kernel-check --sizes 1,7,257,4099 || status=$?

if [ -s "$log" ]; then
  cat "$log"
  echo "oclgrind.sh: Oclgrind reported $(grep -cE '^(Invalid|Uninitialized|Read-write|Write-write|Work-group divergence|Data race)' "$log") errors (log above)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "oclgrind.sh: kernel-check failed on Oclgrind (exit $status)" >&2
  exit "$status"
fi
echo "oclgrind.sh: no Oclgrind errors"
