// The activation quantizers (Q8_0, Q8_1, Q8_K) reproduce ggml's *_ref functions: the SIMD versions agree with
// the scalar references bit for bit on random rows of every length and on exact rounding ties
// (q8_0/q8_1 round ties away from zero like roundf; q8_K rounds ties to even like ggml's nearest_int).
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class ActivationQuantizeTests
{
    public static IEnumerable<object[]> Types() => [[GgmlType.Q8_0], [GgmlType.Q8_1], [GgmlType.Q8_K]];

    [Theory]
    [MemberData(nameof(Types))]
    public void FastEqualsReferenceBitwise(GgmlType t)
    {
        var rng = new Random(7);
        int bs = GgmlTypeInfo.BlockSize(t);
        for (int n = 0; n <= 1024; n += bs)
        {
            foreach (float scale in new[] { 1f, 1e-3f, 300f })
            {
                float[] x = QuantTestData.Floats(rng, n, scale);
                if (n > 0 && rng.Next(2) == 0) Array.Clear(x, 0, Math.Min(n, bs)); // an all-zero block
                var fast = new byte[GgmlTypeInfo.RowBytes(t, n)];
                var reference = new byte[fast.Length];
                Quantize.Row(t, x, fast);
                Quantize.RowReference(t, x, reference);
                Assert.Equal(reference, fast);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void TiesFollowGgml(GgmlType t)
    {
        int bs = GgmlTypeInfo.BlockSize(t);
        // amax = 127 gives d = 1 (q8_0/q8_1) and iscale = 1 (q8_K, max = -127), so x * scale lands on exact .5 ties.
        float[] x = new float[bs];
        x[0] = -127f;
        float[] ties = [2.5f, -2.5f, 0.5f, -0.5f, 3.5f, 126.5f, -1.5f];
        for (int i = 0; i < ties.Length; i++) x[1 + i] = ties[i];
        var fast = new byte[GgmlTypeInfo.RowBytes(t, bs)];
        var reference = new byte[fast.Length];
        Quantize.Row(t, x, fast);
        Quantize.RowReference(t, x, reference);
        Assert.Equal(reference, fast);

        int qOffset = t switch { GgmlType.Q8_0 => 2, GgmlType.Q8_1 => 4, _ => 4 };
        sbyte[] q = fast.Skip(qOffset).Take(1 + ties.Length).Select(v => (sbyte)v).ToArray();
        if (t == GgmlType.Q8_K)
        {
            // max = -127 so iscale = -127 / max = 1: ties go to the even neighbour.
            Assert.Equal(new sbyte[] { -127, 2, -2, 0, 0, 4, 126, -2 }, q);
        }
        else
        {
            Assert.Equal(new sbyte[] { -127, 3, -3, 1, -1, 4, 127, -2 }, q);
        }
    }

    [Fact]
    public void Q8_1StoresScaledSum()
    {
        var rng = new Random(3);
        float[] x = QuantTestData.Floats(rng, 32);
        var b = new byte[36];
        Quantize.Row(GgmlType.Q8_1, x, b);
        float d = (float)BitConverter.ToHalf(b, 0);
        int sum = b.Skip(4).Sum(v => (int)(sbyte)v);
        float amax = x.Max(MathF.Abs);
        Assert.Equal((Half)(amax / 127), BitConverter.ToHalf(b, 0));
        Assert.Equal((Half)(sum * (amax / 127)), BitConverter.ToHalf(b, 2));
        Assert.True(d > 0);
    }

    [Fact]
    public void Q8_KTakesTheFirstExtremeForItsSign()
    {
        // +3 comes before -3: ggml keeps max = +3, so iscale = -127/3 and +3 quantizes to -127 with d < 0.
        float[] x = new float[256];
        x[10] = 3f;
        x[200] = -3f;
        x[20] = 1.5f;
        foreach (bool fast in new[] { true, false })
        {
            var b = new byte[292];
            if (fast) Quantize.Row(GgmlType.Q8_K, x, b); else Quantize.RowReference(GgmlType.Q8_K, x, b);
            Assert.Equal(-127, (sbyte)b[4 + 10]);
            Assert.Equal(127, (sbyte)b[4 + 200]);
            Assert.Equal(-64, (sbyte)b[4 + 20]); // iscale * 1.5 is -63.5 in float: nearest_int ties to even
            Assert.Equal(1f / (-127f / 3f), BitConverter.ToSingle(b, 0));
        }
    }

    [Fact]
    public void Q8_KBsumsAreGroupSums()
    {
        var rng = new Random(5);
        float[] x = QuantTestData.Floats(rng, 512);
        var b = new byte[2 * 292];
        Quantize.Row(GgmlType.Q8_K, x, b);
        for (int blk = 0; blk < 2; blk++)
        {
            for (int g = 0; g < 16; g++)
            {
                int sum = 0;
                for (int k = 0; k < 16; k++) sum += (sbyte)b[blk * 292 + 4 + g * 16 + k];
                Assert.Equal(sum, BitConverter.ToInt16(b, blk * 292 + 260 + 2 * g));
            }
        }
    }

    [Fact]
    public void HalfConversionEqualsTheLibraryOnEveryExponentAndEveryTie()
    {
        // Every 8,191st float bit pattern (all exponents, both signs, NaN and infinity), plus each half-range
        // boundary and the exact ties (13 dropped bits = 0x1000) around every representable half.
        for (long bits = 0; bits <= uint.MaxValue; bits += 8191) Check((uint)bits);
        foreach (uint edge in new uint[] { 0x3880_0000, 0x477F_F000, 0x477F_E000, 0x7F80_0000, 0x3380_0000 })
            for (uint delta = 0; delta < 64; delta++) { Check(edge + delta); Check(edge - delta); Check((edge + delta) | 0x8000_0000); }
        for (uint h = 0; h < 0x7C00; h++)
        {
            uint f = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf((ushort)h));
            Check(f + 0x1000); Check(f + 0x0FFF); Check(f + 0x1001); Check((f + 0x1000) | 0x8000_0000);
        }

        static void Check(uint bits)
        {
            float f = BitConverter.UInt32BitsToSingle(bits);
            ushort expected = HalfBits.Reference(f), actual = HalfBits.FromSingle(f);
            if (expected != actual) Assert.Fail($"float bits 0x{bits:X8}: half 0x{actual:X4}, library 0x{expected:X4}");
        }
    }
}
