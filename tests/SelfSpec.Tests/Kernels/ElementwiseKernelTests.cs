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

    [Fact]
    public void AttentionAgreesWithReference()
    {
        var rng = new Random(3);
        const int headDim = 64, kvDim = 192;
        foreach (int count in new[] { 1, 2, 3, 7, 16, 17, 63, 64, 65, 200, 257 })
        {
            var keys = RandomVector(rng, count * kvDim, 2f);
            var values = RandomVector(rng, count * kvDim);
            var q = RandomVector(rng, headDim, 2f);
            var fast = new float[headDim];
            var reference = new float[headDim];
            var scores = new float[count];
            Attention.Head(q, keys, values, count, kvDim, 64, 0.125f, scores, fast);
            Attention.Reference(q, keys, values, count, kvDim, 64, 0.125f, reference);
            for (int i = 0; i < headDim; i++) Assert.Equal(reference[i], fast[i], 2e-5f);
        }
    }

    [Fact]
    public void RopeRotationPreservesNormAndMatchesTheAngleFormula()
    {
        var cos = new float[32];
        var sin = new float[32];
        Rope.Angles(5, 64, 10000f, 1f, cos, sin);
        for (int i = 0; i < 32; i++)
        {
            double theta = 5 * Math.Pow(10000, -2.0 * i / 64);
            Assert.Equal(Math.Cos(theta), cos[i], 1e-4);
            Assert.Equal(Math.Sin(theta), sin[i], 1e-4);
        }
        foreach (var layout in new[] { RopeLayout.Normal, RopeLayout.NeoX })
        {
            var rng = new Random(4);
            var row = RandomVector(rng, 128);
            var before = row.ToArray();
            Rope.Apply(row, 2, 64, 64, layout, cos, sin);
            for (int h = 0; h < 2; h++)
            {
                double n0 = before.Skip(h * 64).Take(64).Sum(x => (double)x * x);
                double n1 = row.Skip(h * 64).Take(64).Sum(x => (double)x * x);
                Assert.Equal(n0, n1, 1e-4);
            }
            // Position 0 is the identity.
            Rope.Angles(0, 64, 10000f, 1f, cos, sin);
            var same = before.ToArray();
            Rope.Apply(same, 2, 64, 64, layout, cos, sin);
            Assert.Equal(before, same);
            Rope.Angles(5, 64, 10000f, 1f, cos, sin);
        }
    }
}
