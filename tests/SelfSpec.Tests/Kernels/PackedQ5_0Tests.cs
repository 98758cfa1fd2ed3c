// PackedQ5_0: the lane-per-row layout computes the file's Q5_0 x Q8_0 dot products bit for bit (exact integer sums,
// ggml's float step per block in order), its fast kernel equals its scalar reference, and every output is bit for
// bit the one-row result whatever the batch size, the neighbours and the column split (architecture.md 2.1).
using SelfSpec.Kernels;
using SelfSpec.Quantization;
using SelfSpec.Tests.Quantization;

namespace SelfSpec.Tests.Kernels;

public sealed unsafe class PackedQ5_0Tests
{
    public static IEnumerable<object[]> Lengths() => new[] { 32, 96, 128, 160, 896, 4864 }.Select(n => new object[] { n });

    private static (byte[] File, PackedQ5_0Matrix Packed) Setup(int inDim, int outDim, Random rng)
    {
        int wb = (int)GgmlTypeInfo.RowBytes(GgmlType.Q5_0, inDim);
        var w = new byte[outDim * wb];
        for (int o = 0; o < outDim; o++) Quantize.Row(GgmlType.Q5_0, QuantTestData.Floats(rng, inDim, 0.05f), w.AsSpan(o * wb, wb));
        return (w, PackedQ5_0Matrix.Pack(w, inDim, outDim));
    }

    private static byte[] Activations(PackedQ5_0Matrix m, float[] x, int batch)
    {
        var a = new byte[batch * m.ActivationRowBytes];
        m.QuantizeActivations(x, batch, a);
        return a;
    }

    private static float[] FileReference(byte[] file, float[] x, int inDim, int outDim, int batch)
    {
        var act = new byte[batch * MatMul.ActivationRowBytes(GgmlType.Q5_0, inDim)];
        MatMul.QuantizeActivations(GgmlType.Q5_0, x, batch, inDim, act);
        var y = new float[batch * outDim];
        MatMul.RowsReference(GgmlType.Q5_0, file, inDim, act, batch, y, outDim, 0, outDim);
        return y;
    }

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"{what} [{i}]: {actual[i]} vs {expected[i]}");
    }

    /// <summary>
    /// The packed reference and the fast kernel against the file layout's reference (other code, other layout), and
    /// the fast kernel against the packed reference. Without AVX-512BW Rows is the packed reference itself.
    /// </summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void PackedKernelsMatchTheFileLayoutReference(int inDim)
    {
        const int outDim = 13;
        foreach (int batch in new[] { 1, 3, 5, 8 })
        {
            var rng = new Random(inDim + 17 * batch);
            var (file, packed) = Setup(inDim, outDim, rng);
            float[] x = QuantTestData.Floats(rng, batch * inDim);
            float[] expected = FileReference(file, x, inDim, outDim, batch);
            byte[] a = Activations(packed, x, batch);
            var reference = new float[batch * outDim];
            packed.RowsReference(a, batch, reference, 0, outDim);
            var fast = new float[batch * outDim];
            packed.Rows(a, batch, fast, 0, outDim);
            AssertBits(expected, reference, $"{inDim} batch {batch} packed reference");
            AssertBits(expected, fast, $"{inDim} batch {batch} fast vs file reference");
            AssertBits(reference, fast, $"{inDim} batch {batch} fast vs packed reference");
            Assert.Contains(expected, v => Math.Abs(v) > 1e-3);
        }
    }

    [Fact]
    public void BatchNeighboursAndSplitInvariantBitwise()
    {
        const int inDim = 896, outDim = 37; // 28 blocks a row; 2 whole tiles of 16 rows and a part
        var rng = new Random(41);
        var (_, packed) = Setup(inDim, outDim, rng);
        int ab = packed.ActivationRowBytes;
        float[] target = QuantTestData.Floats(rng, inDim);
        var one = new float[outDim];
        packed.Rows(Activations(packed, target, 1), 1, one, 0, outDim);
        foreach (int batch in Enumerable.Range(1, 16).Concat([17, 20]))
        {
            int place = rng.Next(batch);
            float[] x = QuantTestData.Floats(rng, batch * inDim);
            target.CopyTo(x, place * inDim);
            byte[] a = Activations(packed, x, batch);
            var whole = new float[batch * outDim];
            packed.Rows(a, batch, whole, 0, outDim);
            Assert.Equal(one, whole.AsSpan(place * outDim, outDim).ToArray());
            for (int b = 0; b < batch; b++)
            {
                var single = new float[outDim];
                packed.Rows(a.AsSpan(b * ab, ab), 1, single, 0, outDim);
                Assert.Equal(single, whole.AsSpan(b * outDim, outDim).ToArray());
            }
            foreach (int k in new[] { 1, 7, outDim / 2, outDim - 1 })
            {
                var split = new float[batch * outDim];
                packed.Rows(a, batch, split, 0, k);
                packed.Rows(a, batch, split, k, outDim);
                Assert.Equal(whole, split);
            }
        }
    }

    /// <summary>All values 31 (every fifth bit set) and 0 against activations of +-127: the largest pair sums.</summary>
    [Fact]
    public void ExtremeValuesDoNotSaturate()
    {
        const int inDim = 256, outDim = 2;
        var file = new byte[outDim * inDim / 32 * BlockQ5_0.Size];
        for (int b = 0; b < outDim * inDim / 32; b++)
        {
            Span<byte> block = file.AsSpan(b * BlockQ5_0.Size, BlockQ5_0.Size);
            BitConverter.TryWriteBytes(block, (Half)0.01f);
            block[2..].Fill(b < inDim / 32 ? (byte)0xFF : (byte)0x00);
        }
        var packed = PackedQ5_0Matrix.Pack(file, inDim, outDim);
        float[] x = Enumerable.Range(0, inDim).Select(i => i % 3 == 0 ? -1f : 1f).ToArray();
        float[] expected = FileReference(file, x, inDim, outDim, 1);
        var fast = new float[outDim];
        packed.Rows(Activations(packed, x, 1), 1, fast, 0, outDim);
        AssertBits(expected, fast, "extremes");
        Assert.True(Math.Abs(expected[0]) > 1 && Math.Abs(expected[1]) > 1);
    }

    /// <summary>Packing in row chunks (as the loader does) gives the same products as packing at once.</summary>
    [Fact]
    public void PackingInRowChunksEqualsPackingAtOnce()
    {
        const int inDim = 160, outDim = 45;
        var (file, whole) = Setup(inDim, outDim, new Random(8));
        int wb = (int)GgmlTypeInfo.RowBytes(GgmlType.Q5_0, inDim);
        var chunked = PackedQ5_0Matrix.Create(inDim, outDim);
        foreach (var (first, count) in new[] { (0, 7), (7, 16), (23, 1), (24, 21) })
            chunked.PackRows(file.AsSpan(first * wb, count * wb), first, count);
        byte[] a = Activations(whole, QuantTestData.Floats(new Random(9), 3 * inDim), 3);
        float[] y1 = new float[3 * outDim], y2 = new float[3 * outDim];
        whole.Rows(a, 3, y1, 0, outDim);
        chunked.Rows(a, 3, y2, 0, outDim);
        AssertBits(y1, y2, "chunked");
    }

    [Fact]
    public void TypeRowPacksExactlyWhereTheKernelsRun() =>
        Assert.Equal(PackedQ5_0Matrix.Supported, TensorTypes.Get(GgmlType.Q5_0).Pack != null);
}
