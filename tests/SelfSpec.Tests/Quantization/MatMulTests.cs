// MatMul: matches the reference, and is batch invariant bit for bit: every output equals the one-row
// result, for batch sizes 1..9, and for any split of the output columns.
using SelfSpec.Kernels;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class MatMulTests
{
    public static IEnumerable<object[]> Types() => QuantTestData.WeightTypeData();

    private static (byte[] W, byte[] A, int InDim, int OutDim) Setup(GgmlType t, int batch, int seed)
    {
        var rng = new Random(seed);
        int inDim = GgmlTypeInfo.BlockSize(t) == 256 ? 512 : 96;
        int outDim = 37;
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        var w = new byte[outDim * wb];
        for (int o = 0; o < outDim; o++) Quantize.Row(t, QuantTestData.Floats(rng, inDim, 0.05f), w.AsSpan(o * wb, wb));
        float[] x = QuantTestData.Floats(rng, batch * inDim);
        var a = new byte[batch * MatMul.ActivationRowBytes(t, inDim)];
        MatMul.QuantizeActivations(t, x, batch, inDim, a);
        return (w, a, inDim, outDim);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void BatchAndSplitInvariantBitwise(GgmlType t)
    {
        for (int batch = 1; batch <= 9; batch++)
        {
            var (w, a, inDim, outDim) = Setup(t, batch, 100 + batch);
            int ab = MatMul.ActivationRowBytes(t, inDim);
            var whole = new float[batch * outDim];
            MatMul.Rows(t, w, inDim, a, batch, whole, outDim, 0, outDim);

            // Each batch row alone.
            for (int b = 0; b < batch; b++)
            {
                var one = new float[outDim];
                MatMul.Rows(t, w, inDim, a.AsSpan(b * ab, ab), 1, one, outDim, 0, outDim);
                for (int o = 0; o < outDim; o++)
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(one[o]), BitConverter.SingleToInt32Bits(whole[b * outDim + o]));
                }
            }

            // Column splits [0, k) + [k, outDim).
            foreach (int k in new[] { 1, 7, outDim / 2, outDim - 1 })
            {
                var split = new float[batch * outDim];
                MatMul.Rows(t, w, inDim, a, batch, split, outDim, 0, k);
                MatMul.Rows(t, w, inDim, a, batch, split, outDim, k, outDim);
                Assert.Equal(whole, split);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void EveryOutputEqualsOneRowDotBitwise(GgmlType t)
    {
        const int batch = 6; // one four-row group plus two single rows
        var (w, a, inDim, outDim) = Setup(t, batch, 77);
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim), ab = MatMul.ActivationRowBytes(t, inDim);
        var y = new float[batch * outDim];
        MatMul.Rows(t, w, inDim, a, batch, y, outDim, 0, outDim);
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outDim; o++)
            {
                float one = VecDot.Dot(t, w.AsSpan(o * wb, wb), a.AsSpan(b * ab, ab), inDim);
                Assert.Equal(BitConverter.SingleToInt32Bits(one), BitConverter.SingleToInt32Bits(y[b * outDim + o]));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatchesReference(GgmlType t)
    {
        const int batch = 3;
        var (w, a, inDim, outDim) = Setup(t, batch, 5);
        var fast = new float[batch * outDim];
        var reference = new float[batch * outDim];
        MatMul.Rows(t, w, inDim, a, batch, fast, outDim, 0, outDim);
        MatMul.RowsReference(t, w, inDim, a, batch, reference, outDim, 0, outDim);
        for (int i = 0; i < fast.Length; i++)
        {
            Assert.True(Math.Abs(fast[i] - reference[i]) <= 1e-4 * (Math.Abs(reference[i]) + 1), $"{t} [{i}]: {fast[i]} vs {reference[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void ConcurrentColumnChunksMatchOneCall(GgmlType t)
    {
        const int batch = 5;
        var (w, a, inDim, outDim) = Setup(t, batch, 31);
        var whole = new float[batch * outDim];
        MatMul.Rows(t, w, inDim, a, batch, whole, outDim, 0, outDim);
        var parts = new float[batch * outDim];
        int[] bounds = [0, 6, 13, 30, outDim];
        Parallel.For(0, bounds.Length - 1, k => MatMul.Rows(t, w, inDim, a, batch, parts, outDim, bounds[k], bounds[k + 1]));
        Assert.Equal(whole, parts);
    }

    [Fact]
    public void ActivationRowBytesFollowTheVecDotType()
    {
        Assert.Equal(576 / 32 * 36, MatMul.ActivationRowBytes(GgmlType.Q4_1, 576));
        Assert.Equal(576 / 32 * 34, MatMul.ActivationRowBytes(GgmlType.Q8_0, 576));
        Assert.Equal(768 / 256 * 292, MatMul.ActivationRowBytes(GgmlType.Q6_K, 768));
        Assert.Equal(576 * 2, MatMul.ActivationRowBytes(GgmlType.F16, 576));
        Assert.Equal(576 * 4, MatMul.ActivationRowBytes(GgmlType.F32, 576));
    }

    [Fact]
    public void ColumnRangeLeavesOtherOutputsUntouched()
    {
        var (w, a, inDim, outDim) = Setup(GgmlType.Q4_1, 2, 9);
        var y = Enumerable.Repeat(-99f, 2 * outDim).ToArray();
        MatMul.Rows(GgmlType.Q4_1, w, inDim, a, 2, y, outDim, 5, 9);
        for (int b = 0; b < 2; b++)
        {
            for (int o = 0; o < outDim; o++)
            {
                Assert.Equal(o is >= 5 and < 9, y[b * outDim + o] != -99f);
            }
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => MatMul.Rows(GgmlType.Q4_1, w, inDim, a, 2, y, outDim, 5, outDim + 1));
    }
}
