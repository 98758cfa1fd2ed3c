// PackedQ8_0 (the output head's layout): the same dot products as the file's Q8_0 blocks within float rounding,
// fast kernels equal to the scalar reference bit for bit, and bit-for-bit batch, neighbour and split invariance.
// CI reruns these with DOTNET_EnableAVX512=0 and DOTNET_EnableAVX2=0, so each kernel path meets the reference.
using SelfSpec.Kernels;
using SelfSpec.Quantization;
using SelfSpec.Tests.Quantization;

namespace SelfSpec.Tests.Kernels;

public sealed unsafe class PackedQ8_0Tests
{
    public static IEnumerable<object[]> Lengths() => new[] { 32, 64, 96, 576, 1536 }.Select(n => new object[] { n });

    private static (byte[] File, PackedQ8_0Matrix Packed, float[] X, byte[] Act) Setup(int inDim, int outDim, int batch, int seed)
    {
        var rng = new Random(seed);
        int wb = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, inDim);
        var w = new byte[outDim * wb];
        for (int o = 0; o < outDim; o++) Quantize.Row(GgmlType.Q8_0, QuantTestData.Floats(rng, inDim, 0.05f), w.AsSpan(o * wb, wb));
        float[] x = QuantTestData.Floats(rng, batch * inDim);
        var a = new byte[batch * PackedQ8_0Activations.RowBytes(inDim)];
        PackedQ8_0Activations.Quantize(x, batch, inDim, a);
        return (w, PackedQ8_0Matrix.Pack(w, inDim, outDim), x, a);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void PackedReferenceMatchesTheFileLayoutReference(int inDim)
    {
        const int outDim = 7, batch = 3;
        var (file, packed, x, a) = Setup(inDim, outDim, batch, inDim);
        var fileAct = new byte[batch * MatMul.ActivationRowBytes(GgmlType.Q8_0, inDim)];
        MatMul.QuantizeActivations(GgmlType.Q8_0, x, batch, inDim, fileAct);
        var expected = new float[batch * outDim];
        MatMul.RowsReference(GgmlType.Q8_0, file, inDim, fileAct, batch, expected, outDim, 0, outDim);
        var actual = new float[batch * outDim];
        packed.RowsReference(a, batch, actual, 0, outDim);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4 * (Math.Abs(expected[i]) + 1), $"{inDim} [{i}]: {actual[i]} vs {expected[i]}");
    }

    /// <summary>
    /// Rows against the packed scalar reference bit for bit, and against the file layout's reference (MatMul.RowsReference
    /// on the file's Q8_0 blocks: another layout, other code) within float rounding. Without AVX2, Rows itself runs the
    /// packed scalar reference, so the first comparison is of that code with itself there; the second still checks what runs.
    /// </summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void FastKernelsEqualTheScalarReferenceBitwise(int inDim)
    {
        const int outDim = 37; // two whole tiles of 16 rows and a part tile
        foreach (int batch in new[] { 5, 19 })
        {
            var (file, packed, x, a) = Setup(inDim, outDim, batch, 3 * inDim + batch);
            var fast = new float[batch * outDim];
            var reference = new float[batch * outDim];
            packed.Rows(a, batch, fast, 0, outDim);
            packed.RowsReference(a, batch, reference, 0, outDim);
            var fileAct = new byte[batch * MatMul.ActivationRowBytes(GgmlType.Q8_0, inDim)];
            MatMul.QuantizeActivations(GgmlType.Q8_0, x, batch, inDim, fileAct);
            var fileReference = new float[batch * outDim];
            MatMul.RowsReference(GgmlType.Q8_0, file, inDim, fileAct, batch, fileReference, outDim, 0, outDim);
            for (int i = 0; i < fast.Length; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(fast[i]) == BitConverter.SingleToInt32Bits(reference[i]),
                    $"{inDim} batch {batch} [{i}] ({PackedQ8_0MatMul.Path}): {fast[i]} vs {reference[i]}");
                Assert.True(Math.Abs(fast[i] - fileReference[i]) <= 1e-4 * (Math.Abs(fileReference[i]) + 1),
                    $"{inDim} batch {batch} [{i}]: {fast[i]} vs the file layout's reference {fileReference[i]}");
            }
        }
    }

    [Fact]
    public void BatchAndSplitInvariantBitwise()
    {
        const int inDim = 96, outDim = 37; // three blocks a row; two tiles of 16 rows and a part tile
        // Groups of up to 8 activation rows (LaneTiles): every batch from 1 to 24 (every group size, one and two
        // groups, a part group after whole ones), then 31, 33 and a prefill chunk of 64.
        foreach (int batch in Enumerable.Range(1, 24).Concat([31, 33, 64]))
        {
            var (_, packed, _, a) = Setup(inDim, outDim, batch, 500 + batch);
            int ab = PackedQ8_0Activations.RowBytes(inDim);
            var whole = new float[batch * outDim];
            packed.Rows(a, batch, whole, 0, outDim);
            for (int b = 0; b < batch; b++)
            {
                var one = new float[outDim];
                packed.Rows(a.AsSpan(b * ab, ab), 1, one, 0, outDim);
                fixed (byte* pa = a)
                {
                    for (int o = 0; o < outDim; o++)
                    {
                        int bits = BitConverter.SingleToInt32Bits(whole[b * outDim + o]);
                        Assert.Equal(BitConverter.SingleToInt32Bits(one[o]), bits);
                        Assert.Equal(BitConverter.SingleToInt32Bits(packed.Dot(o, pa + b * ab)), bits);
                        Assert.Equal(BitConverter.SingleToInt32Bits(packed.DotReference(o, pa + b * ab)), bits);
                    }
                }
            }
            foreach (int k in new[] { 1, 7, 16, outDim / 2, 33, outDim - 1 })
            {
                var split = new float[batch * outDim];
                packed.Rows(a, batch, split, 0, k);
                packed.Rows(a, batch, split, k, outDim);
                Assert.Equal(whole, split);
            }
            var three = new float[batch * outDim];
            packed.Rows(a, batch, three, 0, 5);
            packed.Rows(a, batch, three, 5, 21);
            packed.Rows(a, batch, three, 21, outDim);
            Assert.Equal(whole, three);
        }
    }

    [Fact]
    public void RowResultIndependentOfItsNeighbours()
    {
        // One activation row placed at every position of batches whose other rows are random (or zero) rows.
        const int inDim = 576, outDim = 48;
        var (_, packed, probe, pa) = Setup(inDim, outDim, 1, 21);
        var alone = new float[outDim];
        packed.Rows(pa, 1, alone, 0, outDim);
        var rng = new Random(4);
        foreach (int batch in new[] { 2, 3, 4, 5, 7, 8, 9, 11, 16, 17, 23, 64 })
            for (int place = 0; place < batch; place++)
            {
                float[] x = QuantTestData.Floats(rng, batch * inDim);
                if (place > 0) Array.Clear(x, 0, inDim);
                probe.CopyTo(x, place * inDim);
                var a = new byte[batch * PackedQ8_0Activations.RowBytes(inDim)];
                PackedQ8_0Activations.Quantize(x, batch, inDim, a);
                var whole = new float[batch * outDim];
                packed.Rows(a, batch, whole, 0, outDim);
                for (int o = 0; o < outDim; o++)
                    Assert.True(BitConverter.SingleToInt32Bits(alone[o]) == BitConverter.SingleToInt32Bits(whole[place * outDim + o]), $"batch {batch} place {place} [{o}]");
            }
    }

    [Fact]
    public void ExtremeWeightsDoNotSaturate()
    {
        // -128 and 127 weights against +-127 activations: the largest pair sums vpmaddubsw sees.
        const int inDim = 64, outDim = 4;
        var file = new byte[outDim * 2 * BlockQ8_0.Size];
        for (int b = 0; b < outDim * 2; b++)
        {
            BitConverter.TryWriteBytes(file.AsSpan(b * BlockQ8_0.Size), (Half)0.01f);
            for (int i = 0; i < 32; i++) file[b * BlockQ8_0.Size + 2 + i] = (byte)(sbyte)(b % 2 == 0 ? -128 : 127);
        }
        var packed = PackedQ8_0Matrix.Pack(file, inDim, outDim);
        float[] x = Enumerable.Range(0, inDim).Select(i => i % 3 == 0 ? -1f : 1f).ToArray();
        var a = new byte[PackedQ8_0Activations.RowBytes(inDim)];
        PackedQ8_0Activations.Quantize(x, 1, inDim, a);
        var fast = new float[outDim];
        var reference = new float[outDim];
        packed.Rows(a, 1, fast, 0, outDim);
        packed.RowsReference(a, 1, reference, 0, outDim);
        // Worked out by hand, so the check holds whatever path runs (without AVX2, Rows is the reference itself): x = +-1
        // quantizes to +-127 with scale 1/127 (as a half), so the dot is the weight scale (as a half) times the sum of
        // the weights times the signs. The two blocks' sums (about +-40) nearly cancel, so float rounding of each
        // (a few float epsilons of the sum of |terms|, about 82) is what the kernels may differ by.
        double da = (double)(Half)(1f / 127), dw = (double)(Half)0.01f;
        for (int o = 0; o < outDim; o++)
        {
            double expected = 0, magnitude = 0;
            for (int i = 0; i < inDim; i++)
            {
                double term = dw * (i / 32 % 2 == 0 ? -128 : 127) * da * (i % 3 == 0 ? -127 : 127);
                expected += term;
                magnitude += Math.Abs(term);
            }
            Assert.Equal(BitConverter.SingleToInt32Bits(reference[o]), BitConverter.SingleToInt32Bits(fast[o])); // saturation would be off by far more
            Assert.True(Math.Abs(fast[o] - expected) <= 4 * 6e-8 * magnitude, $"[{o}]: {fast[o]} vs {expected} worked out by hand");
        }
    }

    /// <summary>Packing in row chunks (as the loader does, so no whole-tensor copy is held) gives the same bits as packing at once.</summary>
    [Fact]
    public void PackingInRowChunksEqualsPackingAtOnce()
    {
        const int inDim = 96, outDim = 45, batch = 3;
        var (file, whole, _, a) = Setup(inDim, outDim, batch, seed: 41);
        int wb = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, inDim);
        var chunked = PackedQ8_0Matrix.Create(inDim, outDim);
        foreach (var (first, count) in new[] { (0, 7), (7, 16), (23, 1), (24, 21) })
            chunked.PackRows(file.AsSpan(first * wb, count * wb), first, count);
        float[] y1 = new float[batch * outDim], y2 = new float[batch * outDim];
        whole.Rows(a, batch, y1, 0, outDim);
        chunked.Rows(a, batch, y2, 0, outDim);
        for (int i = 0; i < y1.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(y1[i]) == BitConverter.SingleToInt32Bits(y2[i]), $"[{i}]");
        Assert.Throws<ArgumentException>(() => chunked.PackRows(file.AsSpan(0, 3 * wb), 43, 3));
        Assert.Throws<ArgumentException>(() => chunked.PackRows(new byte[wb], 0, 2));
    }

    [Fact]
    public void TypeRowPacksInChunksExactlyWhereTheKernelsRun() =>
        Assert.Equal(PackedQ8_0Matrix.Supported, TensorTypes.Get(GgmlType.Q8_0).CreatePacked != null);
}
