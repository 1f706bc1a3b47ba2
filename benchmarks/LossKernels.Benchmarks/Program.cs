using BenchmarkDotNet.Running;
using LossKernels.Benchmarks;

// `quick` runs the quick report; anything else goes to BenchmarkDotNet's switcher
// (e.g. `--filter *Regression*`).
if (args.Length > 0 && args[0] == "quick")
    return QuickReport.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(QuickReport).Assembly).Run(args);
return 0;
