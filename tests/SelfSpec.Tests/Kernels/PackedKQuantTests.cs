// PackedQ4K / PackedQ6K: the repacked K-quant layouts give bit for bit the file layout's scalar reference (their
// integer sums are exact and the float combination is ggml's), their fast kernels equal their own scalar reference,
// and every output is the one-row result whatever the batch size, the neighbours and the column split
// (batch invariance, architecture.md 2.1). Without AVX-512BW Rows runs the packed reference, so these still check
// the layout and the reference there.
using SelfSpec.Kernels;
using SelfSpec.Quantization;
using SelfSpec.Tests.Quantization;

namespace SelfSpec.Tests.Kernels;

public sealed unsafe class PackedKQuantTests
{
    public static IEnumerable<object[]> Shapes() =>
        from t in new[] { GgmlType.Q4_K, GgmlType.Q6_K }
        from inDim in new[] { 256, 512, 768, 2048 }
        select new object[] { t, inDim };

    private static byte[] FileRows(GgmlType t, int inDim, int outDim, Random rng)
    {
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        var w = new byte[outDim * wb];
        for (int o = 0; o < outDim; o++) Quantize.Row(t, QuantTestData.Floats(rng, inDim, 0.05f), w.AsSpan(o * wb, wb));
        return w;
    }

    private static PackedMatrix Pack(GgmlType t, byte[] file, int inDim, int outDim) =>
        t == GgmlType.Q4_K ? PackedQ4KMatrix.Pack(file, inDim, outDim) : PackedQ6KMatrix.Pack(file, inDim, outDim);

    private static void RowsReference(PackedMatrix m, byte[] a, int batch, float[] y) =>
        (m switch
        {
            PackedQ4KMatrix q4 => (Action)(() => q4.RowsReference(a, batch, y, 0, m.OutDim)),
            PackedQ6KMatrix q6 => () => q6.RowsReference(a, batch, y, 0, m.OutDim),
            _ => throw new ArgumentException(m.GetType().Name),
        })();

    /// <summary>Packing in row chunks (as the loader does, so no whole tensor is staged) gives the same bytes as packing at once.</summary>
    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void PackingInRowChunksEqualsPackingAtOnce(GgmlType t)
    {
        const int inDim = 512, outDim = 45;
        byte[] file = FileRows(t, inDim, outDim, new Random(77 + (int)t));
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        PackedMatrix whole = Pack(t, file, inDim, outDim);
        PackedMatrix chunked = t == GgmlType.Q4_K ? PackedQ4KMatrix.Create(inDim, outDim) : PackedQ6KMatrix.Create(inDim, outDim);
        foreach (var (first, count) in new[] { (0, 7), (7, 16), (23, 1), (24, 21) })
        {
            var rows = file.AsSpan(first * wb, count * wb);
            if (chunked is PackedQ4KMatrix q4) q4.PackRows(rows, first, count);
            else ((PackedQ6KMatrix)chunked).PackRows(rows, first, count);
        }
        var x = QuantTestData.Floats(new Random(5), 3 * inDim);
        byte[] a = Activations(whole, x, 3);
        float[] y1 = new float[3 * outDim], y2 = new float[3 * outDim];
        whole.Rows(a, 3, y1, 0, outDim);
        chunked.Rows(a, 3, y2, 0, outDim);
        AssertBits(y1, y2, $"{t} chunked");
        Assert.Throws<ArgumentException>(() => PackedQ4KMatrix.Create(inDim, 4).PackRows(new byte[10 * wb], 2, 3));
    }

    private static byte[] Activations(PackedMatrix m, float[] x, int batch)
    {
        var a = new byte[batch * m.ActivationRowBytes];
        m.QuantizeActivations(x, batch, a);
        return a;
    }

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"{what} [{i}]: {actual[i]} vs {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FastAndReferenceEqualTheFileLayoutReferenceBitwise(GgmlType t, int inDim)
    {
        const int outDim = 13;
        foreach (int batch in new[] { 1, 3, 5, 8 })
        {
            var rng = new Random(inDim * 31 + batch + (int)t);
            byte[] file = FileRows(t, inDim, outDim, rng);
            float[] x = QuantTestData.Floats(rng, batch * inDim);
            var fileAct = new byte[batch * MatMul.ActivationRowBytes(t, inDim)];
            MatMul.QuantizeActivations(t, x, batch, inDim, fileAct);
            var expected = new float[batch * outDim];
            MatMul.RowsReference(t, file, inDim, fileAct, batch, expected, outDim, 0, outDim);

            PackedMatrix packed = Pack(t, file, inDim, outDim);
            byte[] a = Activations(packed, x, batch);
            var fast = new float[batch * outDim];
            packed.Rows(a, batch, fast, 0, outDim);
            var reference = new float[batch * outDim];
            RowsReference(packed, a, batch, reference);
            AssertBits(expected, reference, $"{t} {inDim} batch {batch} packed reference");
            AssertBits(expected, fast, $"{t} {inDim} batch {batch} fast");
            Assert.Contains(expected, v => v != 0);
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void BatchNeighboursAndSplitInvariantBitwise(GgmlType t)
    {
        const int inDim = 768, outDim = 37;
        var rng = new Random(900 + (int)t);
        byte[] file = FileRows(t, inDim, outDim, rng);
        PackedMatrix packed = Pack(t, file, inDim, outDim);
        int ab = packed.ActivationRowBytes;
        // One row alone, then the same row at every place of batches 1-16, 17 and 20 among fresh random neighbours.
        float[] target = QuantTestData.Floats(rng, inDim);
        byte[] alone = Activations(packed, target, 1);
        var one = new float[outDim];
        packed.Rows(alone, 1, one, 0, outDim);
        foreach (int batch in Enumerable.Range(1, 16).Concat([17, 20]))
        {
            int place = rng.Next(batch);
            float[] x = QuantTestData.Floats(rng, batch * inDim);
            target.CopyTo(x, place * inDim);
            byte[] a = Activations(packed, x, batch);
            var whole = new float[batch * outDim];
            packed.Rows(a, batch, whole, 0, outDim);
            AssertBits(one, whole.AsSpan(place * outDim, outDim).ToArray(), $"{t} batch {batch} place {place}");
            for (int b = 0; b < batch; b++)
            {
                var single = new float[outDim];
                packed.Rows(a.AsSpan(b * ab, ab), 1, single, 0, outDim);
                AssertBits(single, whole.AsSpan(b * outDim, outDim).ToArray(), $"{t} batch {batch} row {b}");
            }
            foreach (int k in new[] { 1, 7, outDim / 2, outDim - 1 })
            {
                var split = new float[batch * outDim];
                packed.Rows(a, batch, split, 0, k);
                packed.Rows(a, batch, split, k, outDim);
                AssertBits(whole, split, $"{t} batch {batch} split at {k}");
            }
        }
    }

    /// <summary>
    /// The largest products the 16-bit pair sums see: all-maximal values (Q4_K 15, Q6_K 63 with scale -128 as well
    /// as 127) against activations that quantize to -128 and 127. Saturation would move the result far from the
    /// file layout's scalar reference, which sums in plain int.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void ExtremeValuesDoNotSaturate(GgmlType t)
    {
        const int inDim = 512, outDim = 3;
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        var file = new byte[outDim * wb];
        for (int o = 0; o < outDim; o++)
        {
            for (int b = 0; b < inDim / 256; b++)
            {
                Span<byte> block = file.AsSpan(o * wb + b * (wb / (inDim / 256)), wb / (inDim / 256));
                if (t == GgmlType.Q4_K)
                {
                    BitConverter.TryWriteBytes(block, (Half)0.001f);
                    BitConverter.TryWriteBytes(block[2..], (Half)0.002f);
                    block[4..16].Fill(0xFF); // every scale and min 63
                    block[16..].Fill(0xFF); // every value 15
                }
                else
                {
                    block[..192].Fill(0xFF); // every value 63
                    for (int g = 0; g < 16; g++) block[192 + g] = (byte)(sbyte)(g % 2 == 0 ? -128 : 127);
                    BitConverter.TryWriteBytes(block[208..], (Half)0.001f);
                }
            }
        }
        float[] x = Enumerable.Range(0, inDim).Select(i => i % 5 == 0 ? 1f : -1f).ToArray(); // max |x| negative: quantizes to -128
        var fileAct = new byte[MatMul.ActivationRowBytes(t, inDim)];
        MatMul.QuantizeActivations(t, x, 1, inDim, fileAct);
        var expected = new float[outDim];
        MatMul.RowsReference(t, file, inDim, fileAct, 1, expected, outDim, 0, outDim);
        PackedMatrix packed = Pack(t, file, inDim, outDim);
        var fast = new float[outDim];
        packed.Rows(Activations(packed, x, 1), 1, fast, 0, outDim);
        AssertBits(expected, fast, $"{t} extremes");
        Assert.Contains(expected, v => Math.Abs(v) > 1);
    }

    [Fact]
    public void RefusesRowsThatAreNotWholeSuperBlocks()
    {
        Assert.Throws<ArgumentException>(() => PackedQ4KMatrix.Pack(new byte[1000], 128, 2));
        Assert.Throws<ArgumentException>(() => PackedQ6KMatrix.Pack(new byte[10], 256, 2));
    }

    [Fact]
    public void TypeRowsPackExactlyWhereTheKernelsRun()
    {
        Assert.Equal(PackedQ4KMatrix.Supported, WeightMatrixPackable(GgmlType.Q4_K));
        Assert.Equal(PackedQ6KMatrix.Supported, WeightMatrixPackable(GgmlType.Q6_K));
    }

    private static bool WeightMatrixPackable(GgmlType t) => TensorTypes.Get(t).Pack != null;
}
