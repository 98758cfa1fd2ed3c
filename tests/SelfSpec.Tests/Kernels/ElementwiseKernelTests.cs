using SelfSpec.Kernels;
using SelfSpec.Model;

namespace SelfSpec.Tests.Kernels;

/// <summary>Fast kernels against their plain references, over every length 0..256 so every vector tail is hit.</summary>
public sealed class ElementwiseKernelTests
{
    private static float[] RandomVector(Random rng, int n, float scale = 1f) =>
        Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();

    [Fact]
    public void RmsNormAgreesWithReference()
    {
        var rng = new Random(1);
        for (int n = 1; n <= 256; n++)
        {
            var x = RandomVector(rng, n, 3f);
            var w = RandomVector(rng, n);
            var fast = new float[n];
            var reference = new float[n];
            RmsNorm.Apply(x, w, 1e-5f, fast);
            RmsNorm.Reference(x, w, 1e-5f, reference);
            for (int i = 0; i < n; i++) Assert.Equal(reference[i], fast[i], 1e-5f * Math.Max(1f, Math.Abs(reference[i])));
        }
    }

    /// <summary>
    /// The sum of squares runs in eight chains (element i in chain i % 8) combined in a fixed order, on every
    /// instruction set: the scale is bit-for-bit this scalar spelling of that order (run under AVX-512, AVX2 and
    /// neither by the fallback reruns).
    /// </summary>
    [Fact]
    public void RmsNormScaleFollowsTheFixedEightChainOrder()
    {
        var rng = new Random(3);
        foreach (int n in new[] { 1, 7, 8, 9, 64, 576, 577, 1536, 2053 })
        {
            var x = RandomVector(rng, n, 40f);
            var chains = new double[8];
            int whole = n / 8 * 8;
            for (int i = 0; i < whole; i++) chains[i % 8] += (double)(x[i] * x[i]);
            double sum = ((chains[0] + chains[4]) + (chains[1] + chains[5])) + ((chains[2] + chains[6]) + (chains[3] + chains[7]));
            for (int i = whole; i < n; i++) sum += (double)(x[i] * x[i]);
            float expected = 1f / MathF.Sqrt((float)(sum / n) + 1e-5f);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(RmsNorm.Scale(x, 1e-5f)));
        }
    }

    [Fact]
    public void SwiGluAgreesWithReference()
    {
        var rng = new Random(2);
        for (int n = 0; n <= 256; n++)
        {
            var g = RandomVector(rng, n, 6f);
            var u = RandomVector(rng, n, 2f);
            var fast = new float[n];
            var reference = new float[n];
            SwiGlu.Apply(g, u, fast);
            SwiGlu.Reference(g, u, reference);
            for (int i = 0; i < n; i++) Assert.Equal(reference[i], fast[i], 1e-5f * Math.Max(1f, Math.Abs(reference[i])));
        }
    }

    [Fact]
    public void HalfRoundingAgreesWithScalarConversionBitwise()
    {
        var rng = new Random(5);
        var special = new[] { 0f, -0f, 65504f, 65520f, -65520f, 1e-8f, 6.1e-5f, 5.96e-8f, 2.98e-8f, float.NaN, float.PositiveInfinity, 1.00048828125f, 1.0009765625f };
        for (int n = 0; n <= 256; n++)
        {
            var x = Enumerable.Range(0, n).Select(i => i < special.Length && n > 200 ? special[i] : (float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, rng.Next(-9, 6)))).ToArray();
            var fast = new float[n];
            var reference = new float[n];
            HalfRounding.Apply(x, fast, new Half[n]);
            HalfRounding.Reference(x, reference);
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(fast).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(reference)), $"length {n}");
        }
    }

    /// <summary>Half-rounded random keys and values of one kv head, as floats and in the cache's layout.</summary>
    private static (float[] Keys, float[] Values, ushort[] KeyBlocks, ushort[] ValueRows) RandomKv(Random rng, int count, int headDim, int capacity)
    {
        var keys = RandomVector(rng, count * headDim, 2f).Select(x => (float)(Half)x).ToArray();
        var values = RandomVector(rng, count * headDim).Select(x => (float)(Half)x).ToArray();
        var keyBlocks = new ushort[KvLayout.KeyHeadElements(capacity, headDim)];
        var valueRows = new ushort[capacity * headDim];
        // Positions past count hold garbage, as a cache's scratch does: the kernel must not let it leak in.
        for (int i = 0; i < keyBlocks.Length; i++) keyBlocks[i] = BitConverter.HalfToUInt16Bits((Half)(rng.NextDouble() * 60000));
        for (int i = 0; i < valueRows.Length; i++) valueRows[i] = BitConverter.HalfToUInt16Bits((Half)(rng.NextDouble() * 60000));
        for (int j = 0; j < count; j++)
            for (int d = 0; d < headDim; d++)
            {
                keyBlocks[KvLayout.KeyBlock(j, headDim) + 16 * d] = BitConverter.HalfToUInt16Bits((Half)keys[j * headDim + d]);
                valueRows[KvLayout.ValueRow(j, headDim) + d] = BitConverter.HalfToUInt16Bits((Half)values[j * headDim + d]);
            }
        return (keys, values, keyBlocks, valueRows);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(32)]
    [InlineData(16)]
    [InlineData(8)]
    [InlineData(128)]
    public void AttentionAgreesWithReference(int headDim)
    {
        var rng = new Random(3 + headDim);
        foreach (int count in new[] { 1, 2, 3, 7, 16, 17, 63, 64, 65, 200, 257 })
            foreach (int heads in new[] { 1, 3, 5, 9 })
            {
                var (keys, values, keyBlocks, valueRows) = RandomKv(rng, count, headDim, count + 20);
                var q = RandomVector(rng, heads * headDim, 2f).Select(x => (float)(Half)x).ToArray();
                var fast = new float[heads * headDim];
                var scratch = new float[Attention.ScratchFloats(count, headDim)];
                Attention.Heads(q, heads, headDim, keyBlocks, valueRows, count, 0.125f, scratch, fast);
                var reference = new float[headDim];
                for (int h = 0; h < heads; h++)
                {
                    Attention.Reference(q.AsSpan(h * headDim, headDim), keys, values, count, headDim, 0.125f, reference);
                    for (int i = 0; i < headDim; i++) Assert.Equal(reference[i], fast[h * headDim + i], 2e-5f);
                }
            }
    }

    [Fact]
    public void AttentionOfAHeadIsTheSameBitsInEveryTile()
    {
        // A head's output may not depend on which heads share its call (tile sizes 1-8, and 11 = 6 + 5).
        var rng = new Random(11);
        const int headDim = 64, heads = 11;
        foreach (int count in new[] { 1, 15, 16, 33, 300 })
        {
            var (_, _, keyBlocks, valueRows) = RandomKv(rng, count, headDim, 320);
            var q = RandomVector(rng, heads * headDim, 2f).Select(x => (float)(Half)x).ToArray();
            var scratch = new float[Attention.ScratchFloats(count, headDim)];
            var together = new float[heads * headDim];
            Attention.Heads(q, heads, headDim, keyBlocks, valueRows, count, 0.125f, scratch, together);
            for (int first = 0; first < heads; first++)
                for (int size = 1; first + size <= heads && size <= Attention.MaxTile; size++)
                {
                    var part = new float[size * headDim];
                    Attention.Heads(q.AsSpan(first * headDim, size * headDim), size, headDim, keyBlocks, valueRows, count, 0.125f, scratch, part);
                    Assert.Equal(BitsOf(together.AsSpan(first * headDim, size * headDim)), BitsOf(part));
                }
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(32)]
    [InlineData(16)]
    [InlineData(8)]
    public void AttentionOfQueriesWithTheirOwnPrefixesIsEachQueryAloneBitwise(int headDim)
    {
        // The rows of a verification pass share a call with prefixes a few positions apart: each query's output
        // must be the bits of the query run alone over its prefix, and agree with the reference.
        var rng = new Random(17 + headDim);
        foreach (int baseCount in new[] { 1, 14, 16, 31, 200 })
            foreach (int n in new[] { 1, 2, 6, 8, 9, 13, 24 })
            {
                var counts = Enumerable.Range(0, n).Select(_ => baseCount + rng.Next(0, 5)).ToArray();
                int maxCount = counts.Max();
                var (keys, values, keyBlocks, valueRows) = RandomKv(rng, maxCount, headDim, maxCount + 20);
                // Queries scattered through a larger buffer, in no particular order, as the rows of a batch are.
                var offsets = Enumerable.Range(0, n).Select(i => ((i * 7) % n) * (headDim + 3)).ToArray();
                var q = RandomVector(rng, n * (headDim + 3), 2f).Select(x => (float)(Half)x).ToArray();
                var scratch = new float[Attention.ScratchFloats(maxCount, headDim)];
                var together = new float[q.Length];
                Attention.Queries(q, offsets, counts, headDim, keyBlocks, valueRows, 0.125f, scratch, together);
                var alone = new float[headDim];
                var reference = new float[headDim];
                for (int i = 0; i < n; i++)
                {
                    Attention.Heads(q.AsSpan(offsets[i], headDim), 1, headDim, keyBlocks, valueRows, counts[i], 0.125f, scratch, alone);
                    Assert.Equal(BitsOf(alone), BitsOf(together.AsSpan(offsets[i], headDim)));
                    Attention.Reference(q.AsSpan(offsets[i], headDim), keys, values, counts[i], headDim, 0.125f, reference);
                    for (int d = 0; d < headDim; d++) Assert.Equal(reference[d], together[offsets[i] + d], 2e-5f);
                }
            }
    }

    [Fact]
    public void AttentionRejectsQueriesOutsideTheirBuffersAndChangesNothing()
    {
        const int headDim = 16;
        var (_, _, keyBlocks, valueRows) = RandomKv(new Random(5), 8, headDim, 8);
        var q = new float[2 * headDim];
        var output = new float[2 * headDim];
        var scratch = new float[Attention.ScratchFloats(8, headDim)];
        Assert.Throws<ArgumentException>(() => Attention.Queries(q, [0, headDim + 1], [3, 3], headDim, keyBlocks, valueRows, 0.125f, scratch, output));
        Assert.Throws<ArgumentException>(() => Attention.Queries(q, [0, headDim], [3, 9], headDim, keyBlocks, valueRows, 0.125f, scratch, output));
        Assert.Throws<ArgumentException>(() => Attention.Queries(q, [0, headDim], [3, 0], headDim, keyBlocks, valueRows, 0.125f, scratch, output));
        Assert.Throws<ArgumentException>(() => Attention.Queries(q, [0], [3, 3], headDim, keyBlocks, valueRows, 0.125f, scratch, output));
        Assert.All(output, x => Assert.Equal(0f, x));
    }

    private static int[] BitsOf(ReadOnlySpan<float> x) => System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(x).ToArray();

    [Fact]
    public void RopeAnglesMatchTheFormula()
    {
        var cos = new float[32];
        var sin = new float[32];
        foreach (int position in new[] { 5, -3, 0 })
        {
            Rope.Angles(position, 64, 10000f, 1f, cos, sin);
            for (int i = 0; i < 32; i++)
            {
                double theta = position * Math.Pow(10000, -2.0 * i / 64);
                Assert.Equal(Math.Cos(theta), cos[i], 1e-4);
                Assert.Equal(Math.Sin(theta), sin[i], 1e-4);
            }
        }
    }

    /// <summary>
    /// Apply against an explicit rotation of each pair by theta_i = pos * base^(-2i/ropeDim), in double: normal pairing
    /// (x[2i], x[2i+1]), NeoX pairing (x[i], x[i + ropeDim/2]), dimensions past ropeDim untouched; at positive and
    /// negative positions, and rotating by +pos then -pos gives the row back.
    /// </summary>
    [Theory]
    [InlineData(RopeLayout.Normal, 64)]
    [InlineData(RopeLayout.NeoX, 64)]
    [InlineData(RopeLayout.Normal, 48)]
    [InlineData(RopeLayout.NeoX, 48)]
    public void RopeApplyRotatesEachPairByItsAngle(RopeLayout layout, int ropeDim)
    {
        const int heads = 2, headDim = 64;
        int half = ropeDim / 2;
        var cos = new float[half];
        var sin = new float[half];
        var rng = new Random(4 + ropeDim);
        foreach (int position in new[] { 5, 37, -5, -37 })
        {
            var before = RandomVector(rng, heads * headDim);
            var expected = before.Select(x => (double)x).ToArray();
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    double theta = position * Math.Pow(10000, -2.0 * i / ropeDim);
                    int a = h * headDim + (layout == RopeLayout.Normal ? 2 * i : i);
                    int b = h * headDim + (layout == RopeLayout.Normal ? 2 * i + 1 : i + half);
                    expected[a] = before[a] * Math.Cos(theta) - before[b] * Math.Sin(theta);
                    expected[b] = before[a] * Math.Sin(theta) + before[b] * Math.Cos(theta);
                }
            var row = before.ToArray();
            Rope.Angles(position, ropeDim, 10000f, 1f, cos, sin);
            Rope.Apply(row, heads, headDim, ropeDim, layout, cos, sin);
            for (int d = 0; d < row.Length; d++)
                Assert.True(Math.Abs(row[d] - expected[d]) <= 1e-4, $"{layout} ropeDim {ropeDim} position {position} [{d}]: {row[d]} vs {expected[d]}");
            Rope.Angles(-position, ropeDim, 10000f, 1f, cos, sin);
            Rope.Apply(row, heads, headDim, ropeDim, layout, cos, sin);
            for (int d = 0; d < row.Length; d++)
                Assert.True(Math.Abs(row[d] - before[d]) <= 1e-4, $"{layout} ropeDim {ropeDim}: +{position} then -{position} [{d}]: {row[d]} vs {before[d]}");
        }
    }
}
