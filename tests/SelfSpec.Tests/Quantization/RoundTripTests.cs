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

    [Theory]
    [MemberData(nameof(Cases))]
    public void FastAndReferenceQuantizersAgree(GgmlType t, double bound)
    {
        _ = bound;
        var rng = new Random(99);
        float[] x = QuantTestData.Floats(rng, 512);
        var a = new byte[GgmlTypeInfo.RowBytes(t, 512)];
        var b = new byte[a.Length];
        Quantize.Row(t, x, a);
        Quantize.RowReference(t, x, b);
        Assert.Equal(b, a);
    }

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
