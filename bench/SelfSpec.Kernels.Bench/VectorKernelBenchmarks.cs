using BenchmarkDotNet.Attributes;

namespace SelfSpec.Kernels.Bench;

/// <summary>RMSNorm over an embedding row and SwiGLU over a feed-forward row: reference against fast.</summary>
[MemoryDiagnoser]
public class RowKernelBenchmarks
{
    private const int Embd = 576, FeedForward = 1536;
    private readonly float[] _x = Fill(Embd, 1), _w = Fill(Embd, 2), _y = new float[Embd];
    private readonly float[] _gate = Fill(FeedForward, 3), _up = Fill(FeedForward, 4), _h = new float[FeedForward];

    internal static float[] Fill(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    [Benchmark] public void RmsNormReference() => RmsNorm.Reference(_x, _w, 1e-5f, _y);
    [Benchmark] public void RmsNormFast() => RmsNorm.Apply(_x, _w, 1e-5f, _y);
    [Benchmark] public void SwiGluReference() => SwiGlu.Reference(_gate, _up, _h);
    [Benchmark] public void SwiGluFast() => SwiGlu.Apply(_gate, _up, _h);
}

/// <summary>One query head (dim 64) over the cached keys and values of a context of n positions (kvDim 192, 3 KV heads).</summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private const int HeadDim = 64, KvDim = 192;
    private float[] _q = [], _k = [], _v = [], _scores = [], _out = new float[HeadDim];

    [Params(128, 1024)]
    public int Context { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _q = RowKernelBenchmarks.Fill(HeadDim, 5);
        _k = RowKernelBenchmarks.Fill(Context * KvDim, 6);
        _v = RowKernelBenchmarks.Fill(Context * KvDim, 7);
        _scores = new float[Context];
    }

    [Benchmark(Baseline = true)]
    public void Reference() => Attention.Reference(_q, _k, _v, Context, KvDim, HeadDim, 0.125f, _out);

    [Benchmark]
    public void Fast() => Attention.Head(_q, _k, _v, Context, KvDim, HeadDim, 0.125f, _scores, _out);
}
