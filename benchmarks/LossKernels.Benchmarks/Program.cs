using BenchmarkDotNet.Running;
using LossKernels.Benchmarks;

// `quick` runs the quick report, `kernel-check` every OpenCL entry point against the CPU kernels
// (tests/oclgrind.sh), `golden DIR…` golden cases on every backend present, `fuzz` random catalog calls on every backend, `gemm` the CPU SGEMM's GFLOP/s against the core's FP32 peak, `ab --before PATH --after PATH` two builds of the library timed in alternating blocks in one process; anything else goes to BenchmarkDotNet's switcher (e.g. `--filter *Regression*`).
if (args.Length > 0 && args[0] == "quick")
    return QuickReport.Run(args[1..]);
if (args.Length > 0 && args[0] == "kernel-check")
    return KernelCheck.Run(args[1..]);
if (args.Length > 0 && args[0] == "golden")
    return GoldenCommand.Run(args[1..]);
if (args.Length > 0 && args[0] == "gemm")
    return GemmCommand.Run(args[1..]);
if (args.Length > 0 && args[0] == "ab")
    return AbCommand.Run(args[1..]);
if (args.Length > 0 && args[0] == "fuzz")
    return FuzzCommand.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(QuickReport).Assembly).Run(args);
return 0;
