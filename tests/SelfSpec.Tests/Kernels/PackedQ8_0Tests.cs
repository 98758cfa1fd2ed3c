// PackedQ8_0 (the output head's layout on AVX-512 machines): the same dot products as the file's Q8_0 blocks
// within float rounding, fast kernels equal to the scalar reference, and bit-for-bit batch and split invariance.
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
        PackedQ8_0MatMul.RowsReference(packed, a, batch, actual, 0, outDim);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4 * (Math.Abs(expected[i]) + 1), $"{inDim} [{i}]: {actual[i]} vs {expected[i]}");
    }

    /// <summary>
    /// Rows against the packed scalar reference, and against the file layout's reference (MatMul.RowsReference on the
    /// file's Q8_0 blocks: another layout, other code). Without AVX-512BW, Rows itself runs the packed scalar
    /// reference, so the first comparison is of that code with itself there; the second still checks what runs.
    /// Batches of 5 stream one weight row at a time, 19 run the 4 x 2 tiles.
    /// </summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void FastKernelsMatchTheScalarReference(int inDim)
    {
        const int outDim = 13;
        foreach (int batch in new[] { 5, 19 })
        {
            var (file, packed, x, a) = Setup(inDim, outDim, batch, 3 * inDim + batch);
            var fast = new float[batch * outDim];
            var reference = new float[batch * outDim];
            PackedQ8_0MatMul.Rows(packed, a, batch, fast, 0, outDim);
            PackedQ8_0MatMul.RowsReference(packed, a, batch, reference, 0, outDim);
            var fileAct = new byte[batch * MatMul.ActivationRowBytes(GgmlType.Q8_0, inDim)];
            MatMul.QuantizeActivations(GgmlType.Q8_0, x, batch, inDim, fileAct);
            var fileReference = new float[batch * outDim];
            MatMul.RowsReference(GgmlType.Q8_0, file, inDim, fileAct, batch, fileReference, outDim, 0, outDim);
            for (int i = 0; i < fast.Length; i++)
            {
                Assert.True(Math.Abs(fast[i] - reference[i]) <= 1e-4 * (Math.Abs(reference[i]) + 1), $"{inDim} batch {batch} [{i}]: {fast[i]} vs {reference[i]}");
                Assert.True(Math.Abs(fast[i] - fileReference[i]) <= 1e-4 * (Math.Abs(fileReference[i]) + 1),
                    $"{inDim} batch {batch} [{i}]: {fast[i]} vs the file layout's reference {fileReference[i]}");
            }
        }
    }

    [Fact]
    public void BatchAndSplitInvariantBitwise()
    {
        const int inDim = 96, outDim = 37; // 1.5 groups a row, tiles of 4 columns plus a remainder
        // Up to 16 rows stream one weight row at a time (1 x 2 tiles), more run in 4 x 2 tiles: both paths.
        foreach (int batch in Enumerable.Range(1, 9).Concat([16, 17, 19]))
        {
            var (_, packed, _, a) = Setup(inDim, outDim, batch, 500 + batch);
            int ab = PackedQ8_0Activations.RowBytes(inDim);
            var whole = new float[batch * outDim];
            PackedQ8_0MatMul.Rows(packed, a, batch, whole, 0, outDim);
            for (int b = 0; b < batch; b++)
            {
                var one = new float[outDim];
                PackedQ8_0MatMul.Rows(packed, a.AsSpan(b * ab, ab), 1, one, 0, outDim);
                for (int o = 0; o < outDim; o++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(one[o]), BitConverter.SingleToInt32Bits(whole[b * outDim + o]));
            }
            foreach (int k in new[] { 1, 7, outDim / 2, outDim - 1 })
            {
                var split = new float[batch * outDim];
                PackedQ8_0MatMul.Rows(packed, a, batch, split, 0, k);
                PackedQ8_0MatMul.Rows(packed, a, batch, split, k, outDim);
                Assert.Equal(whole, split);
            }
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
        PackedQ8_0MatMul.Rows(packed, a, 1, fast, 0, outDim);
        PackedQ8_0MatMul.RowsReference(packed, a, 1, reference, 0, outDim);
        // Worked out by hand, so the check holds without AVX-512BW too (Rows is then the reference itself): x = +-1
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
            Assert.True(Math.Abs(fast[o] - reference[o]) <= 1e-4 * (Math.Abs(reference[o]) + 1), $"[{o}]: {fast[o]} vs {reference[o]}"); // saturation would be off by far more
            Assert.True(Math.Abs(fast[o] - expected) <= 4 * 6e-8 * magnitude, $"[{o}]: {fast[o]} vs {expected} worked out by hand");
        }
    }
}
