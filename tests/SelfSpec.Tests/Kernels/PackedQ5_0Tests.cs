// PackedQ5_0: the repacked layout computes the file's Q5_0 x Q8_0 dot products (within float rounding: the lanes
// add blocks in another order), its fast kernels agree with its scalar reference, and every output is bit for bit
// the one-row result whatever the batch size, the neighbours and the column split (architecture.md 2.1).
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

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4 * (Math.Abs(expected[i]) + 1), $"{what} [{i}]: {actual[i]} vs {expected[i]}");
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
        foreach (int batch in new[] { 1, 5 })
        {
            var rng = new Random(inDim + 17 * batch);
            var (file, packed) = Setup(inDim, outDim, rng);
            float[] x = QuantTestData.Floats(rng, batch * inDim);
            float[] expected = FileReference(file, x, inDim, outDim, batch);
            byte[] a = Activations(packed, x, batch);
            var reference = new float[batch * outDim];
            PackedQ5_0MatMul.RowsReference(packed, a, batch, reference, 0, outDim);
            var fast = new float[batch * outDim];
            PackedQ5_0MatMul.Rows(packed, a, batch, fast, 0, outDim);
            AssertClose(expected, reference, $"{inDim} batch {batch} packed reference");
            AssertClose(expected, fast, $"{inDim} batch {batch} fast vs file reference");
            AssertClose(reference, fast, $"{inDim} batch {batch} fast vs packed reference");
            Assert.Contains(expected, v => Math.Abs(v) > 1e-3);
        }
    }

    [Fact]
    public void BatchNeighboursAndSplitInvariantBitwise()
    {
        const int inDim = 896, outDim = 37; // 7 groups a row; 9.25 tiles of 4 columns
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
        AssertClose(expected, fast, "extremes");
        Assert.True(Math.Abs(expected[0]) > 1 && Math.Abs(expected[1]) > 1);
    }

    [Fact]
    public void TypeRowPacksExactlyWhereTheKernelsRun() =>
        Assert.Equal(PackedQ5_0Matrix.Supported, TensorTypes.Get(GgmlType.Q5_0).Pack != null);
}
