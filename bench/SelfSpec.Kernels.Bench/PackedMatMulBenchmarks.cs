using BenchmarkDotNet.Attributes;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels.Bench;

/// <summary>
/// Q4_0 / Q4_1 products, all columns on one thread: the file-layout SIMD kernel (baseline) against the packed
/// layout (PackedQ4) the forward pass uses, one row and a batch of 8, at SmolLM2-135M's shapes. The matrices
/// fit in L2/L3, so this is the kernels' compute speed, not memory bandwidth.
/// </summary>
public class PackedMatMulBenchmarks
{
    private byte[] _weights = [], _act = [], _packedAct = [];
    private float[] _out = [];
    private PackedQ4Matrix? _packed;

    public static IEnumerable<MatMulCase> Cases()
    {
        foreach (var t in new[] { GgmlType.Q4_1, GgmlType.Q4_0 })
        {
            yield return new(t, 576, 576);
            yield return new(t, 576, 1536);
            yield return new(t, 1536, 576);
        }
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
        _packed = PackedQ4Matrix.Pack(Case.Type, _weights, Case.InDim, Case.OutDim);
        _packedAct = new byte[Batch * PackedActivations.RowBytes(Case.InDim)];
        PackedActivations.Quantize(Case.Type, x, Batch, Case.InDim, _packedAct);
        _out = new float[Batch * Case.OutDim];
    }

    [Benchmark(Baseline = true)]
    public void FileLayout() => MatMul.Rows(Case.Type, _weights, Case.InDim, _act, Batch, _out, Case.OutDim, 0, Case.OutDim);

    [Benchmark]
    public void Packed() => _packed!.Rows(_packedAct, Batch, _out, 0, Case.OutDim);
}
