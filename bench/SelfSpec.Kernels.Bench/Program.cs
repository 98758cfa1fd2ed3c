using BenchmarkDotNet.Running;

// Kernel micro-benchmarks: `dotnet run -c Release --project bench/SelfSpec.Kernels.Bench -- --filter '*' --job short`.
// The real-shape benchmark (`shapes write|run|kernels`, bench/shapes.sh) lives here too: it writes quantized models
// and times raw forward passes, which needs the engine's internals that the public-API harness does not see.
if (args.Length > 0 && args[0] == "shapes") return SelfSpec.Kernels.Bench.ShapeBench.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(SelfSpec.Kernels.Bench.MatMulBenchmarks).Assembly).Run(args);
return 0;
