using BenchmarkDotNet.Attributes;
using SelfSpec.Kernels;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels.Bench;

/// <summary>A weight type at one of the bundled model's matrix shapes (inDim x outDim).</summary>
public sealed record MatMulCase(GgmlType Type, int InDim, int OutDim)
{
    public override string ToString() => $"{Type} {InDim}x{OutDim}";

    /// <summary>Random weights of this shape in this type (rows quantized from uniform [-0.05, 0.05)), and a random batch of inputs.</summary>
    public (byte[] Weights, float[] Inputs) RandomData(int batch, int seed)
    {
        var rng = new Random(seed);
        int wb = checked((int)GgmlTypeInfo.RowBytes(Type, InDim));
        var weights = new byte[(long)wb * OutDim];
        var row = new float[InDim];
        for (int o = 0; o < OutDim; o++)
        {
            for (int i = 0; i < row.Length; i++) row[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
            Quantize.Row(Type, row, weights.AsSpan(o * wb, wb));
        }
        var x = new float[batch * InDim];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return (weights, x);
    }
}

/// <summary>
/// Quantized matrix times quantized activations, all output columns on one thread: the scalar reference
/// against the SIMD kernels, one row (a decode step) against a batch of 8 (prefill, verification).
/// Shapes are SmolLM2-135M's (embd 576, ff 1536, vocab 49152): q/k/v/o, gate/up, down and the Q8_0 head.
/// K-quants need inDim a multiple of 256, so Q6_K runs only as the down projection.
/// </summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    private byte[] _weights = [], _act = [];
    private float[] _out = [];

    public static IEnumerable<MatMulCase> Cases()
    {
        foreach (var t in new[] { GgmlType.Q4_1, GgmlType.Q4_0, GgmlType.Q8_0 })
        {
            yield return new(t, 576, 576);
            yield return new(t, 576, 1536);
            yield return new(t, 1536, 576);
        }
        yield return new(GgmlType.Q8_0, 576, 49152);
        yield return new(GgmlType.Q6_K, 1536, 576);
    }

    [ParamsSource(nameof(Cases))]
    public MatMulCase Case { get; set; } = new(GgmlType.Q4_1, 576, 576);

    [Params(1, 8)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_weights, var x) = Case.RandomData(Batch, 1234);
        _act = new byte[Batch * MatMul.ActivationRowBytes(Case.Type, Case.InDim)];
        MatMul.QuantizeActivations(Case.Type, x, Batch, Case.InDim, _act);
        _out = new float[Batch * Case.OutDim];
    }

    [Benchmark(Baseline = true)]
    public void Reference() => MatMul.RowsReference(Case.Type, _weights, Case.InDim, _act, Batch, _out, Case.OutDim, 0, Case.OutDim);

    [Benchmark]
    public void Fast() => MatMul.Rows(Case.Type, _weights, Case.InDim, _act, Batch, _out, Case.OutDim, 0, Case.OutDim);
}
