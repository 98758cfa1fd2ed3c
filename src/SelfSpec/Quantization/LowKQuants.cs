// Q2_K and Q3_K: every fact of the two low-bit K-quants in one place (their TensorTypes rows point here).
// Both hold 256 weights in 16 groups of 16 and share the 2-bit layout: element e = 128c + 32j + l (c < 2, j < 4,
// l < 32) keeps its two low bits at bits 2j..2j+1 of qs[32c + l]; group g = e / 16.
// Q2_K (ggml's block_q2_K): scales[16], qs[64], fp16 d, fp16 dmin; x = d * (sc[g] & 15) * q - dmin * (sc[g] >> 4).
// Q3_K (block_q3_K): hmask[32], qs[64], scales[12], fp16 d; x = d * (s[g] - 32) * (q - 4) with q's third bit at
// bit 4c + j of hmask[l]; the 6-bit s[g] keep their low 4 bits in nibble g / 8 of scales[g % 8] and their high 2
// bits at bits 2(g / 4).. of scales[8 + g % 4].
// Activations: Q8_K for both, as in ggml. Dots sum each super-block exactly in integers (the Q2_K min term through
// the activation's bsums) and only then combine floats, as the other K-quants: (da * d) * isum [- (da * dmin) * summ];
// the AVX2 kernels form the same integers 32 values a step (Q3_K as (q + 4) . y - 4 * bsum per group), so they equal
// the reference bit for bit. Fixed block order: batch invariant.
// Quantizers (our own, simple; any valid encoding reads the same everywhere): Q2_K fits min/max per group and codes
// scales and mins as 4-bit multiples of the block's largest; Q3_K maps each group's signed extreme to -4 and codes
// the group scales as 6-bit signed multiples of the block's largest.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class LowKQuants
{
    // ---------- shared layout ----------

    /// <summary>The two low bits of element e.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Low2(byte* qs, int e) => (qs[32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;

    /// <summary>Q3_K: the element's value q - 4 in -4..3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Q3(byte* b, int e) => Low2(b + 32, e) - (((b[e & 31] >> (4 * (e >> 7) + ((e >> 5) & 3))) & 1) != 0 ? 0 : 4);

    /// <summary>Q3_K: the 6-bit scale of group g, 0..63 (the weight uses it minus 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Scale3(byte* sc, int g) => ((sc[g & 7] >> (4 * (g >> 3))) & 0xF) | (((sc[8 + (g & 3)] >> (2 * (g >> 2))) & 3) << 4);

    // ---------- dequantize ----------

    public static void DequantizeQ2_K(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 256; i++, s += BlockQ2_K.Size, y += 256)
        {
            float d = Dequantize.F16(s + 80), dmin = Dequantize.F16(s + 82);
            for (int e = 0; e < 256; e++)
            {
                int sc = s[e >> 4];
                y[e] = d * (sc & 0xF) * Low2(s + 16, e) - dmin * (sc >> 4);
            }
        }
    }

    public static void DequantizeQ3_K(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 256; i++, s += BlockQ3_K.Size, y += 256)
        {
            float d = Dequantize.F16(s + 108);
            for (int e = 0; e < 256; e++) y[e] = d * (Scale3(s + 96, e >> 4) - 32) * Q3(s, e);
        }
    }

    // ---------- quantize ----------

    public static void QuantizeQ2_K(float* x, byte* y, int n)
    {
        Span<float> scales = stackalloc float[16];
        Span<float> mins = stackalloc float[16];
        Span<byte> q = stackalloc byte[256];
        for (int i = 0; i < n / 256; i++, x += 256, y += BlockQ2_K.Size)
        {
            float maxScale = 0, maxMin = 0;
            for (int g = 0; g < 16; g++)
            {
                float lo = 0, hi = float.MinValue;
                for (int l = 0; l < 16; l++)
                {
                    lo = MathF.Min(lo, x[16 * g + l]);
                    hi = MathF.Max(hi, x[16 * g + l]);
                }

                scales[g] = (hi - lo) / 3;
                mins[g] = -lo;
                maxScale = MathF.Max(maxScale, scales[g]);
                maxMin = MathF.Max(maxMin, mins[g]);
            }

            *(Half*)(y + 80) = (Half)(maxScale / 15);
            *(Half*)(y + 82) = (Half)(maxMin / 15);
            float d = Dequantize.F16(y + 80), dmin = Dequantize.F16(y + 82);
            for (int g = 0; g < 16; g++)
            {
                int ls = d > 0 ? Math.Min(15, Nearest(scales[g] / d)) : 0;
                int lm = dmin > 0 ? Math.Min(15, Nearest(mins[g] / dmin)) : 0;
                y[g] = (byte)(ls | (lm << 4));
                float dq = d * ls, dm = dmin * lm;
                for (int l = 0; l < 16; l++)
                {
                    q[16 * g + l] = dq == 0 ? (byte)0 : (byte)Math.Clamp(Nearest((x[16 * g + l] + dm) / dq), 0, 3);
                }
            }

            PackLow2(q, y + 16);
        }
    }

    public static void QuantizeQ3_K(float* x, byte* y, int n)
    {
        Span<float> scales = stackalloc float[16];
        Span<byte> q = stackalloc byte[256];
        for (int i = 0; i < n / 256; i++, x += 256, y += BlockQ3_K.Size)
        {
            float maxScale = 0;
            for (int g = 0; g < 16; g++)
            {
                scales[g] = Quantize.SignedExtreme(x + 16 * g, 16) / -4;
                if (MathF.Abs(scales[g]) > MathF.Abs(maxScale)) maxScale = scales[g];
            }

            // The largest group scale is coded as s - 32 = -32, the others relative to it.
            *(Half*)(y + 108) = (Half)(maxScale / -32);
            float d = Dequantize.F16(y + 108);
            float id = d != 0 ? 1 / d : 0;
            new Span<byte>(y, 108).Clear();
            for (int g = 0; g < 16; g++)
            {
                int s = Math.Clamp(Nearest(scales[g] * id), -32, 31);
                int ls = s + 32;
                y[96 + (g & 7)] |= (byte)((ls & 0xF) << (4 * (g >> 3)));
                y[96 + 8 + (g & 3)] |= (byte)((ls >> 4) << (2 * (g >> 2)));
                float dq = d * s;
                for (int l = 0; l < 16; l++)
                {
                    q[16 * g + l] = (byte)((dq == 0 ? 0 : Math.Clamp(Nearest(x[16 * g + l] / dq), -4, 3)) + 4);
                }
            }

            PackLow2(q, y + 32);
            for (int e = 0; e < 256; e++)
            {
                if (q[e] >= 4) y[e & 31] |= (byte)(1 << (4 * (e >> 7) + ((e >> 5) & 3)));
            }
        }
    }

    private static int Nearest(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    /// <summary>Writes the two low bits of 256 values into 64 bytes of qs in the shared layout (qs cleared first).</summary>
    private static void PackLow2(ReadOnlySpan<byte> q, byte* qs)
    {
        new Span<byte>(qs, 64).Clear();
        for (int e = 0; e < 256; e++) qs[32 * (e >> 7) + (e & 31)] |= (byte)((q[e] & 3) << (2 * ((e >> 5) & 3)));
    }

    // ---------- reference dots ----------

    public static float DotQ2_KReference(byte* w, byte* a, int n)
    {
        float s = 0;
        for (int i = 0; i < n / 256; i++, w += BlockQ2_K.Size, a += BlockQ8_K.Size)
        {
            sbyte* aq = (sbyte*)(a + 4);
            short* bsums = (short*)(a + 260);
            int isum = 0, summ = 0;
            for (int g = 0; g < 16; g++)
            {
                int dot = 0;
                for (int e = 16 * g; e < 16 * g + 16; e++) dot += Low2(w + 16, e) * aq[e];
                isum += (w[g] & 0xF) * dot;
                summ += (w[g] >> 4) * bsums[g];
            }

            float da = *(float*)a;
            s += da * Dequantize.F16(w + 80) * isum - da * Dequantize.F16(w + 82) * summ;
        }

        return s;
    }

    public static float DotQ3_KReference(byte* w, byte* a, int n)
    {
        float s = 0;
        for (int i = 0; i < n / 256; i++, w += BlockQ3_K.Size, a += BlockQ8_K.Size)
        {
            sbyte* aq = (sbyte*)(a + 4);
            int isum = 0;
            for (int g = 0; g < 16; g++)
            {
                int dot = 0;
                for (int e = 16 * g; e < 16 * g + 16; e++) dot += Q3(w, e) * aq[e];
                isum += (Scale3(w + 96, g) - 32) * dot;
            }

            float da = *(float*)a;
            s += da * Dequantize.F16(w + 108) * isum;
        }

        return s;
    }

    // ---------- SIMD dots (AVX2; same integers as the references) ----------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotQ2_K(byte* pw, byte* pa, int n)
    {
        if (!Avx2.IsSupported)
        {
            return DotQ2_KReference(pw, pa, n);
        }

        Vector256<byte> m2 = Vector256.Create((byte)3);
        float s = 0;
        for (int i = 0; i < n / 256; i++, pw += BlockQ2_K.Size, pa += BlockQ8_K.Size)
        {
            sbyte* aq = (sbyte*)(pa + 4);
            Vector128<byte> sc = Vector128.Load(pw);
            // Min term: sum over groups of (sc >> 4) * bsums[g], one vpmaddwd.
            Vector256<short> mins = Avx2.ConvertToVector256Int16(Vector128.ShiftRightLogical(sc, 4));
            int summ = Vector256.Sum(Avx2.MultiplyAddAdjacent(mins, Vector256.Load((short*)(pa + 260))));
            Vector256<int> isum = Vector256<int>.Zero;
            for (int c = 0; c < 2; c++)
            {
                Vector256<byte> qs = Vector256.Load(pw + 16 + 32 * c);
                for (int j = 0; j < 4; j++)
                {
                    int g = 8 * c + 2 * j;
                    Vector256<byte> q = Vector256.ShiftRightLogical(qs, 2 * j) & m2;
                    Vector256<int> p = VecDotLegacy.DotU8S8(q, Vector256.Load(aq + 128 * c + 32 * j));
                    isum += p * Pair(pw[g] & 0xF, pw[g + 1] & 0xF);
                }
            }

            float da = *(float*)pa;
            s += da * Dequantize.F16(pw + 80) * Vector256.Sum(isum) - da * Dequantize.F16(pw + 82) * summ;
        }

        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotQ3_K(byte* pw, byte* pa, int n)
    {
        if (!Avx2.IsSupported)
        {
            return DotQ3_KReference(pw, pa, n);
        }

        Vector256<byte> m2 = Vector256.Create((byte)3), one = Vector256.Create((byte)1);
        short* sc = stackalloc short[16];
        float s = 0;
        for (int i = 0; i < n / 256; i++, pw += BlockQ3_K.Size, pa += BlockQ8_K.Size)
        {
            sbyte* aq = (sbyte*)(pa + 4);
            for (int g = 0; g < 16; g++) sc[g] = (short)(Scale3(pw + 96, g) - 32);
            // The -4 offset of every value: -4 * sum over groups of scale * bsums[g], one vpmaddwd.
            int offset = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(sc), Vector256.Load((short*)(pa + 260))));
            Vector256<byte> hm = Vector256.Load(pw);
            Vector256<int> isum = Vector256<int>.Zero;
            for (int c = 0; c < 2; c++)
            {
                Vector256<byte> qs = Vector256.Load(pw + 32 + 32 * c);
                for (int j = 0; j < 4; j++)
                {
                    int g = 8 * c + 2 * j;
                    // q + 4 in 0..7: the two low bits, and the hmask bit as bit 2.
                    Vector256<byte> u = (Vector256.ShiftRightLogical(qs, 2 * j) & m2)
                        | Vector256.ShiftLeft(Vector256.ShiftRightLogical(hm, 4 * c + j) & one, 2);
                    Vector256<int> p = VecDotLegacy.DotU8S8(u, Vector256.Load(aq + 128 * c + 32 * j));
                    isum += p * Pair(sc[g], sc[g + 1]);
                }
            }

            float da = *(float*)pa;
            s += da * Dequantize.F16(pw + 108) * (Vector256.Sum(isum) - 4 * offset);
        }

        return s;
    }

    /// <summary>int32 lanes 0..3 (the first 16 bytes of a step, one group) get s0, lanes 4..7 (the next group) s1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Pair(int s0, int s1) => Vector256.Create(Vector128.Create(s0), Vector128.Create(s1));
}
