// PackedQ4: the repacked Q4_0 / Q4_1 layout computes the same dot products as the file's blocks (within float
// rounding), its fast kernels agree with its scalar reference bit for bit, and every output is bit for bit the
// one-row result whatever the batch size, neighbours and column split (batch invariance, architecture.md 2.1).
// CI reruns these with DOTNET_EnableAVX512=0 and DOTNET_EnableAVX2=0, so each kernel path meets the reference.
using SelfSpec.Kernels;
using SelfSpec.Quantization;
using SelfSpec.Tests.Quantization;

namespace SelfSpec.Tests.Kernels;

public sealed unsafe class PackedQ4Tests
{
    public static IEnumerable<object[]> Shapes() =>
        from t in new[] { GgmlType.Q4_0, GgmlType.Q4_1 }
        from inDim in new[] { 32, 96, 128, 160, 576, 1536 }
        select new object[] { t, inDim };

    private static (byte[] File, PackedQ4Matrix Packed, float[] X) Setup(GgmlType t, int inDim, int outDim, int batch, int seed)
    {
        var rng = new Random(seed);
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        var w = new byte[outDim * wb];
        for (int o = 0; o < outDim; o++) Quantize.Row(t, QuantTestData.Floats(rng, inDim, 0.05f), w.AsSpan(o * wb, wb));
        return (w, PackedQ4Matrix.Pack(t, w, inDim, outDim), QuantTestData.Floats(rng, batch * inDim));
    }

    private static byte[] PackedActivationRows(GgmlType t, float[] x, int batch, int inDim)
    {
        var a = new byte[batch * PackedActivations.RowBytes(inDim)];
        PackedActivations.Quantize(t, x, batch, inDim, a);
        return a;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void PackedReferenceMatchesTheFileLayoutReference(GgmlType t, int inDim)
    {
        const int outDim = 9, batch = 3;
        var (file, packed, x) = Setup(t, inDim, outDim, batch, inDim);
        var fileAct = new byte[batch * MatMul.ActivationRowBytes(t, inDim)];
        MatMul.QuantizeActivations(t, x, batch, inDim, fileAct);
        var expected = new float[batch * outDim];
        MatMul.RowsReference(t, file, inDim, fileAct, batch, expected, outDim, 0, outDim);
        var actual = new float[batch * outDim];
        packed.RowsReference(PackedActivationRows(t, x, batch, inDim), batch, actual, 0, outDim);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 2e-4 * (Math.Abs(expected[i]) + 1), $"{t} {inDim} [{i}]: {actual[i]} vs {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FastKernelsEqualTheScalarReferenceBitwise(GgmlType t, int inDim)
    {
        const int outDim = 37, batch = 5; // two whole tiles of 16 rows and a part tile
        var (_, packed, x) = Setup(t, inDim, outDim, batch, 7 * inDim);
        byte[] a = PackedActivationRows(t, x, batch, inDim);
        var fast = new float[batch * outDim];
        var reference = new float[batch * outDim];
        packed.Rows(a, batch, fast, 0, outDim);
        packed.RowsReference(a, batch, reference, 0, outDim);
        AssertBitwise(reference, fast, $"{t} {inDim} ({PackedQ4MatMul.Path})");
    }

    private static void AssertBitwise(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"{what} [{i}]: {actual[i]} vs {expected[i]}");
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    public void BatchAndSplitInvariantBitwise(GgmlType t)
    {
        const int inDim = 576, outDim = 37; // 4.5 activation groups a row (padding), two tiles of 16 rows and a part tile
        // Groups of up to 8 activation rows (LaneTiles): every batch from 1 to 24 (every group size, one and two
        // groups, a part group after whole ones), then 31, 33 and a prefill chunk of 64.
        foreach (int batch in Enumerable.Range(1, 24).Concat([31, 33, 64]))
        {
            var (_, packed, x) = Setup(t, inDim, outDim, batch, 300 + batch);
            byte[] a = PackedActivationRows(t, x, batch, inDim);
            int ab = PackedActivations.RowBytes(inDim);
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
            // A three-way odd split, as threads that do not split on tile edges would make.
            var three = new float[batch * outDim];
            packed.Rows(a, batch, three, 0, 5);
            packed.Rows(a, batch, three, 5, 21);
            packed.Rows(a, batch, three, 21, outDim);
            Assert.Equal(whole, three);
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    public void RowResultIndependentOfItsNeighbours(GgmlType t)
    {
        // One activation row placed at every position of batches whose other rows are random (or zero) rows.
        const int inDim = 1536, outDim = 48;
        var (_, packed, probe) = Setup(t, inDim, outDim, 1, 5);
        byte[] pa = PackedActivationRows(t, probe, 1, inDim);
        var alone = new float[outDim];
        packed.Rows(pa, 1, alone, 0, outDim);
        var rng = new Random(9);
        foreach (int batch in new[] { 2, 3, 4, 5, 7, 8, 9, 11, 16, 17, 23, 64 })
            for (int place = 0; place < batch; place++)
            {
                float[] x = QuantTestData.Floats(rng, batch * inDim);
                if (place > 0) Array.Clear(x, 0, inDim);
                probe.CopyTo(x, place * inDim);
                byte[] a = PackedActivationRows(t, x, batch, inDim);
                var whole = new float[batch * outDim];
                packed.Rows(a, batch, whole, 0, outDim);
                AssertBitwise(alone, whole.AsSpan(place * outDim, outDim).ToArray(), $"{t} batch {batch} place {place}");
            }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    public void FusedActivationQuantizationEqualsTheReferenceBitwise(GgmlType t)
    {
        var rng = new Random(17);
        foreach (int inDim in new[] { 32, 64, 96, 128, 160, 576, 1536 })
            for (int trial = 0; trial < 20; trial++)
            {
                const int n = 3;
                var x = QuantTestData.Floats(rng, n * inDim);
                // Exact rounding ties (k + 0.5 steps of amax / 127), zero blocks, tiny blocks (subnormal half scales) and huge values.
                for (int i = 0; i < x.Length; i++)
                    switch (rng.Next(12))
                    {
                        case 0: x[i] = (rng.Next(-127, 127) + 0.5f) / 127f; break;
                        case 1: x[i] = 0; break;
                        case 2: x[i] *= 1e-6f; break;
                        case 3: x[i] *= 1e4f; break;
                    }
                if (trial % 5 == 0) Array.Clear(x, 0, Math.Min(32, x.Length));
                var fast = new byte[n * PackedActivations.RowBytes(inDim)];
                var reference = new byte[fast.Length];
                rng.NextBytes(fast); // stale bytes the quantizer must overwrite, padding included
                PackedActivations.Quantize(t, x, n, inDim, fast);
                PackedActivations.QuantizeReference(t, x, n, inDim, reference);
                Assert.Equal(reference, fast);
            }
    }

    [Fact]
    public void ActivationsHoldTheQ8_1BlocksInPackedOrder()
    {
        const int inDim = 160; // five blocks: one whole group, one group with a single block and three zero blocks
        var x = QuantTestData.Floats(new Random(3), inDim);
        var blocks = new byte[inDim / 32 * BlockQ8_1.Size];
        ActivationQuantize.Q8_1(x, blocks);
        byte[] packed = PackedActivationRows(GgmlType.Q4_1, x, 1, inDim);
        Assert.Equal(2 * PackedActivations.GroupBytes, packed.Length);
        for (int b = 0; b < 8; b++)
        {
            int g = b / 4 * PackedActivations.GroupBytes, j = b % 4;
            float d = BitConverter.ToSingle(packed, g + 128 + 16 * j), s = BitConverter.ToSingle(packed, g + 192 + 4 * j);
            for (int lane = 1; lane < 4; lane++) Assert.Equal(d, BitConverter.ToSingle(packed, g + 128 + 16 * j + 4 * lane));
            for (int i = 0; i < 32; i++)
            {
                sbyte expected = b < 5 ? (sbyte)blocks[b * BlockQ8_1.Size + 4 + i] : (sbyte)0;
                Assert.Equal(expected, (sbyte)packed[g + (i < 16 ? 16 * j + i : 64 + 16 * j + i - 16)]);
            }
            Assert.Equal(b < 5 ? (float)BitConverter.ToHalf(blocks, b * BlockQ8_1.Size) : 0f, d);
            Assert.Equal(b < 5 ? (float)BitConverter.ToHalf(blocks, b * BlockQ8_1.Size + 2) : 0f, s);
        }
    }

    [Fact]
    public void KernelsWidenEveryKindOfHalfScaleExactly()
    {
        // Q4_1 blocks whose scales and mins are subnormal, negative, zero, tiny and large halves.
        Half[] values = [(Half)6e-8f, (Half)1e-5f, (Half)(-1e-5f), (Half)0f, (Half)(-0.5f), (Half)3f, (Half)60000f, (Half)(-6.1e-5f)];
        const int inDim = 256, outDim = 8;
        var rng = new Random(11);
        var file = new byte[outDim * inDim / 32 * BlockQ4_1.Size];
        rng.NextBytes(file);
        for (int b = 0; b < file.Length / BlockQ4_1.Size; b++)
        {
            BitConverter.TryWriteBytes(file.AsSpan(b * BlockQ4_1.Size), values[b % values.Length]);
            BitConverter.TryWriteBytes(file.AsSpan(b * BlockQ4_1.Size + 2), values[(b * 3 + 1) % values.Length]);
        }
        var packed = PackedQ4Matrix.Pack(GgmlType.Q4_1, file, inDim, outDim);
        float[] x = QuantTestData.Floats(rng, inDim);
        byte[] a = PackedActivationRows(GgmlType.Q4_1, x, 1, inDim);
        var fast = new float[outDim];
        var reference = new float[outDim];
        packed.Rows(a, 1, fast, 0, outDim);
        packed.RowsReference(a, 1, reference, 0, outDim);
        AssertBitwise(reference, fast, PackedQ4MatMul.Path);
        // And the reference widens exactly what the file holds: against the file-layout reference.
        var fileAct = new byte[MatMul.ActivationRowBytes(GgmlType.Q4_1, inDim)];
        MatMul.QuantizeActivations(GgmlType.Q4_1, x, 1, inDim, fileAct);
        var expected = new float[outDim];
        MatMul.RowsReference(GgmlType.Q4_1, file, inDim, fileAct, 1, expected, outDim, 0, outDim);
        for (int o = 0; o < outDim; o++)
            Assert.True(Math.Abs(reference[o] - expected[o]) <= 2e-4 * (Math.Abs(expected[o]) + 1), $"[{o}]: {reference[o]} vs {expected[o]}");
    }

    [Fact]
    public void Q4_0WithScalesTooLargeForTheOffsetStaysUnpacked()
    {
        var block = new byte[BlockQ4_0.Size];
        BitConverter.TryWriteBytes(block, (Half)10000f); // -8 d = -80000 is not a finite half
        Assert.False(PackedQ4Matrix.CanPack(GgmlType.Q4_0, block, 32, 1));
        BitConverter.TryWriteBytes(block, (Half)100f);
        Assert.True(PackedQ4Matrix.CanPack(GgmlType.Q4_0, block, 32, 1));
    }

    [Fact]
    public void RejectsOtherTypesAndShortInput()
    {
        Assert.Throws<ArgumentException>(() => PackedQ4Matrix.Pack(GgmlType.Q8_0, new byte[34], 32, 1));
        Assert.Throws<ArgumentException>(() => PackedQ4Matrix.Pack(GgmlType.Q4_1, new byte[19], 32, 1));
        var (_, packed, x) = Setup(GgmlType.Q4_1, 64, 4, 1, 1);
        Assert.Throws<ArgumentException>(() => packed.Rows(new byte[10], 1, new float[4], 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => packed.Rows(PackedActivationRows(GgmlType.Q4_1, x, 1, 64), 1, new float[4], 0, 5));
    }
}
