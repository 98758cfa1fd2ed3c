using BenchmarkDotNet.Attributes;
using SelfSpec.Threading;

namespace SelfSpec.Kernels.Bench;

/// <summary>
/// What one dispatch of the worker pool costs with nothing to do: the round trip every matrix product, attention
/// call and row stage of a forward pass pays (a one-row pass makes about 150, a several-row pass about 300).
/// </summary>
public class DispatchBenchmarks
{
    private sealed class Nothing : IParallelWork
    {
        public void Execute(int worker, int workers) { }
    }

    private WorkerPool _pool = null!;
    private readonly Nothing _work = new();

    [GlobalSetup] public void Setup() => _pool = new WorkerPool(2);
    [GlobalCleanup] public void Cleanup() => _pool.Dispose();

    [Benchmark(OperationsPerInvoke = 1000)]
    public void EmptyDispatch()
    {
        for (int i = 0; i < 1000; i++) _pool.Run(_work);
    }
}
