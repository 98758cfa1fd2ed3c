using BenchmarkDotNet.Attributes;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels.Bench;

/// <summary>
/// The output head (Q8_0, SmolLM2-135M's 576 x 49152, packed), all columns on one thread, by rows of a
/// verification pass: what each extra row costs once the 28 MB of weights stream anyway.
/// </summary>
public class HeadBenchmarks
{
    private const int InDim = 576, OutDim = 49152;
    private byte[] _act = [];
    private float[] _out = [];
    private PackedQ8_0Matrix? _packed;

    [Params(1, 2, 3, 4)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (weights, x) = new MatMulCase(GgmlType.Q8_0, InDim, OutDim).RandomData(Batch, 99);
        _packed = PackedQ8_0Matrix.Pack(weights, InDim, OutDim);
        _act = new byte[Batch * PackedQ8_0Activations.RowBytes(InDim)];
        PackedQ8_0Activations.Quantize(x, Batch, InDim, _act);
        _out = new float[Batch * OutDim];
    }

    [Benchmark]
    public void Head() => _packed!.Rows(_act, Batch, _out, 0, OutDim);
}
