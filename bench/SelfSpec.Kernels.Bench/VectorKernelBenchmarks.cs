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
    private readonly byte[] _act = new byte[PackedActivations.RowBytes(FeedForward)];
    [Benchmark] public void QuantizeFeedForwardRowQ4_1() => PackedActivations.Quantize(Quantization.GgmlType.Q4_1, _gate, 1, FeedForward, _act);
    [Benchmark] public void QuantizeFeedForwardRowQ4_0() => PackedActivations.Quantize(Quantization.GgmlType.Q4_0, _gate, 1, FeedForward, _act);
    private readonly Half[] _halfRow = new Half[FeedForward];
    [Benchmark] public void HalfRoundingRow() => HalfRounding.Apply(_gate, _gate, _halfRow);
}

/// <summary>One query head (dim 64) over the cached keys and values of a context of n positions (kvDim 192, 3 KV heads).</summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private const int HeadDim = 64, KvDim = 192;
    private float[] _q = [], _k = [], _v = [], _scores = [], _out = new float[24 * HeadDim];
    private ushort[] _keyBlocks = [], _valueRows = [];

    [Params(128, 600, 1024)]
    public int Context { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _q = RowKernelBenchmarks.Fill(24 * HeadDim, 5);
        _k = RowKernelBenchmarks.Fill(Context * KvDim, 6);
        _v = RowKernelBenchmarks.Fill(Context * KvDim, 7);
        _scores = new float[Attention.ScratchFloats(Context, HeadDim)];
        _keyBlocks = new ushort[KvLayout.KeyHeadElements(Context, HeadDim)];
        _valueRows = new ushort[Context * HeadDim];
        for (int j = 0; j < Context; j++)
            for (int d = 0; d < HeadDim; d++)
            {
                _keyBlocks[KvLayout.KeyBlock(j, HeadDim) + 16 * d] = BitConverter.HalfToUInt16Bits((Half)_k[j * KvDim + d]);
                _valueRows[KvLayout.ValueRow(j, HeadDim) + d] = BitConverter.HalfToUInt16Bits((Half)_v[j * KvDim + d]);
            }
    }

    /// <summary>One head, plain double-precision reference over float keys.</summary>
    [Benchmark(Baseline = true)]
    public void Reference() => Attention.Reference(_q.AsSpan(0, HeadDim), _k, _v, Context, KvDim, 0.125f, _out);

    /// <summary>The three query heads that share a kv head, in one call.</summary>
    [Benchmark]
    public void ThreeHeads() => Attention.Heads(_q, 3, HeadDim, _keyBlocks, _valueRows, Context, 0.125f, _scores, _out);

    /// <summary>The same three heads for two rows of a verification pass (prefixes one position apart), in one call.</summary>
    [Benchmark]
    public void ThreeHeadsTwoRows() => Attention.Queries(_q, [0, 64, 128, 192, 256, 320], [Context - 1, Context - 1, Context - 1, Context, Context, Context],
        HeadDim, _keyBlocks, _valueRows, 0.125f, _scores, _out);

    /// <summary>The three heads for the eight rows of a verification pass: 24 queries, three tiles of eight.</summary>
    [Benchmark]
    public void ThreeHeadsEightRows() => Attention.Queries(_q, EightRowOffsets, EightRowCounts(Context), HeadDim, _keyBlocks, _valueRows, 0.125f, _scores, _out);

    private static readonly int[] EightRowOffsets = Enumerable.Range(0, 24).Select(i => i * HeadDim).ToArray();
    private static int[] EightRowCounts(int context) => Enumerable.Range(0, 24).Select(i => context - 7 + i / 3).ToArray();
}
