// Quantize -> dequantize round trips: relative RMS error per type stays within what the format allows
// (rows have 1-in-64 outliers of 6x, which widen the 32-element Q4_0 blocks and the 256-element Q8_K ones).
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class RoundTripTests
{
    public static IEnumerable<object[]> Cases() =>
    [
        [GgmlType.F32, 0.0], [GgmlType.F16, 1e-3], [GgmlType.BF16, 5e-3], [GgmlType.Q8_0, 0.01],
        [GgmlType.Q4_0, 0.2], [GgmlType.Q4_1, 0.12], [GgmlType.Q4_K, 0.12], [GgmlType.Q5_K, 0.06],
        [GgmlType.Q6_K, 0.04], [GgmlType.Q8_1, 0.01], [GgmlType.Q8_K, 0.025],
        [GgmlType.Q5_0, 0.1], [GgmlType.Q5_1, 0.06], [GgmlType.IQ4_NL, 0.2], [GgmlType.IQ4_XS, 0.2],
        [GgmlType.Q3_K, 0.3], [GgmlType.Q2_K, 0.45],
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void RelativeRmsErrorIsBounded(GgmlType t, double bound)
    {
        var rng = new Random(1234 + (int)t);
        foreach (int n in new[] { 256, 512, 1024 })
        {
            float[] x = QuantTestData.Floats(rng, n, 0.05f);
            float[] y = QuantTestData.Decode(t, QuantTestData.Encode(t, x), n);
            double err = 0, norm = 0;
            for (int i = 0; i < n; i++)
            {
                err += (x[i] - y[i]) * (double)(x[i] - y[i]);
                norm += x[i] * (double)x[i];
            }

            double rel = Math.Sqrt(err / norm);
            Assert.True(rel <= bound, $"{t} n={n}: relative RMS error {rel} > {bound}");
        }
    }

    /// <summary>
    /// Only the activation formats have a fast quantizer apart from the reference (Quantize.Row and RowReference call
    /// the same scalar code for the others; those are checked against bytes worked out from ggml's definitions below).
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q8_1)]
    [InlineData(GgmlType.Q8_K)]
    public void FastAndReferenceQuantizersAgree(GgmlType t)
    {
        var rng = new Random(99);
        foreach (int n in new[] { 256, 512, 1024 })
        {
            float[] x = QuantTestData.Floats(rng, n);
            var a = new byte[GgmlTypeInfo.RowBytes(t, n)];
            var b = new byte[a.Length];
            Quantize.Row(t, x, a);
            Quantize.RowReference(t, x, b);
            Assert.Equal(b, a);
        }
    }

    [Fact]
    public void FloatFormatsMatchGgmlBitPatterns()
    {
        // F32: the IEEE bits, little-endian. F16: IEEE half, round to nearest even (0.1 -> 0x2E66; 1e-7 is 1.68
        // subnormal steps of 2^-24 -> 2; 65520 is halfway to 2^16 and rounds to infinity). BF16 (ggml_compute_fp32_to_bf16):
        // the top 16 bits, rounded to nearest even (0.1f = 0x3DCCCCCD -> 0x3DCD; 0x3F808000 is a tie with an even
        // top half -> 0x3F80; 0x3F818000 a tie with an odd one -> 0x3F82), NaN kept quiet (bit 6 set).
        float[] x = [1f, -2f, 0.1f, 1e-7f, 65504f, 65520f, BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000)];
        Assert.Equal(x.SelectMany(BitConverter.GetBytes).ToArray(), Encode(GgmlType.F32, x));
        Assert.Equal(Words(0x3C00, 0xC000, 0x2E66, 0x0002, 0x7BFF, 0x7C00, 0x3C04, 0x3C0C), Encode(GgmlType.F16, x));
        float[] bf = [1f, -2f, 0.1f, BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000), BitConverter.UInt32BitsToSingle(0x7F800001)];
        Assert.Equal(Words(0x3F80, 0xC000, 0x3DCD, 0x3F80, 0x3F82, 0x7FC0), Encode(GgmlType.BF16, bf));
    }

    [Fact]
    public void Q4_1MatchesGgmlOnAKnownBlock()
    {
        // quantize_row_q4_1_ref on x_i = i/8 - 1: min -1, max 2.875, d = 3.875/15 stored as half 0x3422 (0.2583),
        // m = -1 (0xBC00); q_i = trunc((x_i - min) / d + 0.5) = round(15 i / 31) (never near a half), clamped to 15;
        // byte j holds q_j in its low nibble and q_(j+16) in its high one.
        float[] x = Enumerable.Range(0, 32).Select(i => i / 8f - 1).ToArray();
        int[] q = Enumerable.Range(0, 32).Select(i => Math.Min(15, (30 * i + 31) / 62)).ToArray();
        byte[] expected = [.. Words(0x3422, 0xBC00), .. Enumerable.Range(0, 16).Select(j => (byte)(q[j] | q[j + 16] << 4))];
        Assert.Equal(expected, Encode(GgmlType.Q4_1, x));
        Assert.Equal(0x80, expected[4]); // q0 = 0, q16 = round(7.74) = 8
        Assert.Equal(0xF7, expected[19]); // q15 = round(7.26) = 7, q31 = 15
    }

    /// <summary>
    /// Q4_K and Q5_K (block_q4_K / block_q5_K, dequantize_row_q4_K: y = d * sc_j * q - dmin * m_j per 32-value sub-block j)
    /// on a block that lies on the format's grid: sub-block j has scale k_j 2^-10 and min n_j 2^-8 with k_0 = n_1 = 63,
    /// so d = 2^-10 (half 0x1400), dmin = 2^-8 (0x1C00), sc_j = k_j, m_j = n_j, and value l of sub-block j is q = l mod
    /// (levels + 1). Expected bytes follow ggml's layout: get_scale_min_k4's packing of the eight 6-bit (sc, m) pairs
    /// into 12 bytes; qs[32 c + l] = q[64 c + l] | q[64 c + 32 + l] &lt;&lt; 4 (low 4 bits); for Q5_K, bit 4 of q[64 c + l]
    /// and q[64 c + 32 + l] in bits 2c and 2c + 1 of qh[l].
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    public void QK45MatchGgmlOnAKnownBlock(GgmlType t)
    {
        bool five = t == GgmlType.Q5_K;
        int levels = five ? 31 : 15;
        int[] k = [63, 5, 17, 40, 1, 33, 62, 20], n = [7, 63, 0, 30, 12, 45, 3, 50];
        int[] q = Enumerable.Range(0, 256).Select(i => (i % 32 * 7 + i / 32) % (levels + 1)).ToArray();
        for (int j = 0; j < 8; j++) { q[32 * j] = 0; q[32 * j + 1] = levels; } // each sub-block spans its whole range
        float[] x = Enumerable.Range(0, 256).Select(i => (float)(k[i / 32] * Math.ScaleB(1, -10) * q[i] - n[i / 32] * Math.ScaleB(1, -8))).ToArray();
        var scales = new byte[12];
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                scales[j] = (byte)k[j];
                scales[j + 4] = (byte)n[j];
            }
            else
            {
                scales[j + 4] = (byte)((k[j] & 0xF) | ((n[j] & 0xF) << 4));
                scales[j - 4] |= (byte)((k[j] >> 4) << 6);
                scales[j] |= (byte)((n[j] >> 4) << 6);
            }
        }
        var qh = new byte[32];
        var qs = new byte[128];
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
            {
                int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                qs[32 * c + l] = (byte)((lo & 0xF) | ((hi & 0xF) << 4));
                qh[l] |= (byte)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
        byte[] expected = [.. Words(0x1400, 0x1C00), .. scales, .. (five ? qh : []), .. qs];
        Assert.Equal(expected, Encode(t, x));
        Assert.Equal(x, QuantTestData.Decode(t, expected, 256));
    }

    /// <summary>
    /// Q6_K (block_q6_K, dequantize_row_q6_K: y = d * sc_g * (q - 32) per 16-value group g) on a block on the grid:
    /// group g has step c_g = k_g 2^-10 with k_0 = 128 and contains -32 c_g, its signed extreme; so the block's
    /// iscale = -128 / c_0 makes d = -c_0 / 128 = -2^-10 (half 0x9400) and sc_g = -k_g. ql[l] and ql[l + 32] take
    /// the low nibbles of q[l], q[l + 64] and q[l + 32], q[l + 96] (per 128-value half), qh[l] their top two bits in
    /// bits 0-1, 2-3, 4-5, 6-7; then the 16 signed scales, then d.
    /// </summary>
    [Fact]
    public void Q6_KMatchesGgmlOnAKnownBlock()
    {
        int[] k = [128, 3, 17, 64, 1, 100, 33, 8, 127, 2, 50, 90, 12, 77, 5, 41];
        int[] q = Enumerable.Range(0, 256).Select(i => (i % 16 * 11 + i / 16) % 64).ToArray();
        for (int g = 0; g < 16; g++) { q[16 * g] = 0; q[16 * g + 1] = 63; }
        float[] x = Enumerable.Range(0, 256).Select(i => (float)(k[i / 16] * Math.ScaleB(1, -10) * (q[i] - 32))).ToArray();
        var ql = new byte[128];
        var qh = new byte[64];
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                int q1 = q[128 * h + l], q2 = q[128 * h + l + 32], q3 = q[128 * h + l + 64], q4 = q[128 * h + l + 96];
                ql[64 * h + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[64 * h + l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[32 * h + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        byte[] expected = [.. ql, .. qh, .. k.Select(v => (byte)(sbyte)-v), .. Words(0x9400)];
        Assert.Equal(expected, Encode(GgmlType.Q6_K, x));
        Assert.Equal(x, QuantTestData.Decode(GgmlType.Q6_K, expected, 256));
    }

    private static byte[] Encode(GgmlType t, float[] x)
    {
        var b = new byte[GgmlTypeInfo.RowBytes(t, x.Length)];
        Quantize.Row(t, x, b);
        return b;
    }

    private static byte[] Words(params int[] halves) => [.. halves.SelectMany(h => BitConverter.GetBytes((ushort)h))];

    [Theory]
    [MemberData(nameof(Cases))]
    public void ZerosStayZeros(GgmlType t, double bound)
    {
        _ = bound;
        float[] x = new float[256];
        float[] y = QuantTestData.Decode(t, QuantTestData.Encode(t, x), 256);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Q4_0MatchesGgmlOnAKnownBlock()
    {
        // max = -2 (largest magnitude, negative) -> d = 0.25, q = x / 0.25 + 8.5 truncated, clamped to 15.
        float[] x = new float[32];
        for (int i = 0; i < 32; i++) x[i] = (i - 16) / 8f;
        byte[] b = QuantTestData.Encode(GgmlType.Q4_0, x);
        Assert.Equal((Half)0.25f, BitConverter.ToHalf(b, 0));
        Assert.Equal(0, b[2] & 0xF); // x = -2 -> -8 + 8.5 -> 0
        Assert.Equal(8, b[2] >> 4); // x = 0 -> 8
        Assert.Equal(15, b[17] >> 4); // x = 1.875 -> 7.5 + 8.5 = 16 -> clamped 15
    }
}
