using BenchmarkDotNet.Running;

// Kernel micro-benchmarks: `dotnet run -c Release --project bench/SelfSpec.Kernels.Bench -- --filter '*' --job short`.
BenchmarkSwitcher.FromAssembly(typeof(SelfSpec.Kernels.Bench.MatMulBenchmarks).Assembly).Run(args);
