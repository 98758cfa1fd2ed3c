// Dot products: the fast kernels agree with the scalar reference (bit for bit for the K-quants and IQ4_XS, within
// 1e-5 * sum|w_i a_i| for the kernels that accumulate floats in SIMD lanes), and the reference agrees with
// the float dot of the dequantized rows within a tolerance per type derived from where it rounds.
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class VecDotTests
{
    public static IEnumerable<object[]> Types() => QuantTestData.WeightTypeData();

    private static (byte[] W, byte[] A, float[] Wf, float[] Af) Rows(GgmlType t, Random rng, int n)
    {
        GgmlType at = VecDot.ActivationType(t);
        byte[] w = QuantTestData.Encode(t, QuantTestData.Floats(rng, n, 0.05f));
        var a = new byte[GgmlTypeInfo.RowBytes(at, n)];
        Quantize.Row(at, QuantTestData.Floats(rng, n, 2f), a);
        return (w, a, QuantTestData.Decode(t, w, n), QuantTestData.Decode(at, a, n));
    }

    private static double AbsSum(float[] x, float[] y)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += Math.Abs((double)x[i] * y[i]);
        return s;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void FastMatchesReference(GgmlType t)
    {
        var rng = new Random(42 + (int)t);
        bool exact = t is GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ4_XS or GgmlType.Q3_K or GgmlType.Q2_K;
        foreach (int n in QuantTestData.Lengths(t))
        {
            for (int rep = 0; rep < 3; rep++)
            {
                var (w, a, wf, af) = Rows(t, rng, n);
                float fast = VecDot.Dot(t, w, a, n);
                float reference = VecDot.DotReference(t, w, a, n);
                if (exact)
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(reference), BitConverter.SingleToInt32Bits(fast));
                }
                else
                {
                    double tol = 1e-5 * AbsSum(wf, af) + 1e-6;
                    Assert.True(Math.Abs(fast - reference) <= tol, $"{t} n={n}: fast {fast} ref {reference} tol {tol}");
                }
            }
        }
    }

    /// <summary>
    /// The reference against the double dot of the dequantized rows, within a tolerance derived per type from where
    /// the reference rounds (u = 2^-24, float's unit roundoff):
    /// <list type="bullet">
    /// <item>F32, F16, BF16: n products and n float additions: (n + 1) u sum|w a| (half and bfloat products are exact).</item>
    /// <item>Q8_0, Q4_0: integer sums per 32-block, then a scale product and a float addition per block: (n/32 + 3) u sum|w a|.</item>
    /// <item>Q4_1 and the K-quants store w = d q - m: the two parts are summed apart and may cancel, so the bound is on
    /// their magnitudes, sum|w a| + sum over 32-blocks of max|w| sum|a| (|m| is at most the block's largest |w|).
    /// Q4_1 and Q5_1 (both paired with Q8_1) also use Q8_1's stored block sum s = d sum(q), computed from the float d
    /// and rounded to fp16, while the dequantized activations use d rounded to fp16: two half roundings (2^-11
    /// relative each) apart, so sum of max|w| |s| 2^-10.</item>
    /// </list>
    /// </summary>
    [Theory]
    [MemberData(nameof(Types))]
    public void ReferenceMatchesDequantizedDot(GgmlType t)
    {
        var rng = new Random(7 + (int)t);
        const double u = 1.0 / (1 << 24);
        foreach (int n in QuantTestData.Lengths(t))
        {
            var (w, a, wf, af) = Rows(t, rng, n);
            double expected = 0;
            for (int i = 0; i < n; i++) expected += (double)wf[i] * af[i];
            float got = VecDot.DotReference(t, w, a, n);
            double absSum = AbsSum(wf, af), minPart = 0, storedSum = 0;
            for (int b = 0; b + 32 <= n; b += 32)
            {
                double maxW = 0, sumA = 0, absA = 0;
                for (int i = b; i < b + 32; i++)
                {
                    maxW = Math.Max(maxW, Math.Abs(wf[i]));
                    sumA += af[i];
                    absA += Math.Abs(af[i]);
                }
                minPart += maxW * absA;
                storedSum += maxW * Math.Abs(sumA);
            }
            double tol = t switch
            {
                GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => (n + 1) * u * absSum,
                GgmlType.Q8_0 or GgmlType.Q4_0 => (n / 32 + 3) * u * absSum,
                GgmlType.Q4_1 or GgmlType.Q5_1 => (n / 32 + 3) * u * (absSum + minPart) + storedSum / 1024,
                _ => (n / 32 + 3) * u * (absSum + minPart),
            } + 1e-7;
            Assert.True(Math.Abs(got - expected) <= tol, $"{t} n={n}: dot {got} dequantized {expected} differ by {Math.Abs(got - expected):E2} > tolerance {tol:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void DotIsDeterministic(GgmlType t)
    {
        var rng = new Random(11);
        int n = GgmlTypeInfo.BlockSize(t) == 256 ? 768 : 576;
        var (w, a, _, _) = Rows(t, rng, n);
        float first = VecDot.Dot(t, w, a, n);
        for (int i = 0; i < 5; i++) Assert.Equal(first, VecDot.Dot(t, w, a, n));
    }

    [Fact]
    public unsafe void HalfToSingleIsExactForEveryBitPattern()
    {
        ushort* h = stackalloc ushort[8];
        ushort* h16 = stackalloc ushort[16];
        for (int i = 0; i < 65536; i += 8)
        {
            for (int k = 0; k < 8; k++) h[k] = (ushort)(i + k);
            var v = VecDotFloat.HalfToSingle(System.Runtime.Intrinsics.Vector128.Load(h));
            for (int k = 0; k < 8; k++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf((ushort)(i + k));
                if (float.IsNaN(expected))
                {
                    Assert.True(float.IsNaN(v[k]));
                }
                else
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(v[k]));
                }
            }

            if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported && i % 16 == 0)
            {
                for (int k = 0; k < 16; k++) h16[k] = (ushort)(i + k);
                var w = VecDotFloat.HalfToSingle(System.Runtime.Intrinsics.Vector256.Load(h16));
                for (int k = 0; k < 16; k++)
                {
                    float expected = (float)BitConverter.UInt16BitsToHalf((ushort)(i + k));
                    Assert.True(float.IsNaN(expected) ? float.IsNaN(w[k]) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(w[k]));
                }
            }
        }
    }

    [Fact]
    public void ShortRowsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => VecDot.Dot(GgmlType.Q4_1, new byte[19], new byte[36], 32));
        Assert.Throws<ArgumentException>(() => VecDot.Dot(GgmlType.Q4_1, new byte[20], new byte[34], 32));
        Assert.Throws<NotSupportedException>(() => VecDot.ActivationType(GgmlType.IQ2_XXS));
    }
}
