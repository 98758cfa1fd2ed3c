// The per-token path (quantize activations, then MatMul.Rows) allocates nothing on the managed heap
// (architecture.md 2.4), for every weight type.
using SelfSpec.Kernels;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class MatMulAllocationTests
{
    public static IEnumerable<object[]> Types() => QuantTestData.WeightTypeData();

    [Theory]
    [MemberData(nameof(Types))]
    public void HotPathDoesNotAllocate(GgmlType t)
    {
        const int inDim = 512, outDim = 9, batch = 5;
        var rng = new Random(2);
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        var w = new byte[outDim * wb];
        for (int o = 0; o < outDim; o++) Quantize.Row(t, QuantTestData.Floats(rng, inDim), w.AsSpan(o * wb, wb));
        float[] x = QuantTestData.Floats(rng, batch * inDim);
        var a = new byte[batch * MatMul.ActivationRowBytes(t, inDim)];
        var y = new float[batch * outDim];
        MatMul.QuantizeActivations(t, x, batch, inDim, a); // first calls may JIT and initialize statics
        MatMul.Rows(t, w, inDim, a, batch, y, outDim, 0, outDim);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            MatMul.QuantizeActivations(t, x, batch, inDim, a);
            MatMul.Rows(t, w, inDim, a, batch, y, outDim, 0, outDim);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
