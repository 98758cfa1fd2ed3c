// Seeded test data shared by the quantization tests: random rows and their encodings.
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

internal static class QuantTestData
{
    public static readonly GgmlType[] WeightTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
        GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL,
        GgmlType.IQ4_XS, GgmlType.Q3_K, GgmlType.Q2_K,
    ];

    public static IEnumerable<object[]> WeightTypeData() => WeightTypes.Select(t => new object[] { t });

    /// <summary>Gaussian-ish values (sum of uniforms) with an occasional outlier, like real weights.</summary>
    public static float[] Floats(Random rng, int n, float scale = 1f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            float v = (float)(rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5) * scale;
            if (rng.Next(64) == 0) v *= 6;
            x[i] = v;
        }

        return x;
    }

    public static byte[] Encode(GgmlType t, float[] x)
    {
        var b = new byte[GgmlTypeInfo.RowBytes(t, x.Length)];
        Quantize.RowReference(t, x, b);
        return b;
    }

    public static float[] Decode(GgmlType t, byte[] b, int n)
    {
        var y = new float[n];
        Dequantize.Row(t, b, y);
        return y;
    }

    /// <summary>Every row length that is a multiple of the type's block, from 0 to 1024 (256 * 4); float types: 0..300 then every 64.</summary>
    public static IEnumerable<int> Lengths(GgmlType t)
    {
        int bs = Math.Max(GgmlTypeInfo.BlockSize(t), GgmlTypeInfo.BlockSize(VecDot.ActivationType(t)));
        for (int n = 0; n <= 1024; n += bs)
        {
            if (bs == 1 && n > 300 && n % 64 != 0) continue; // float types: every length to 300, then a sample
            yield return n;
        }
    }
}
