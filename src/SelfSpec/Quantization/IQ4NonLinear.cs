// IQ4_NL and IQ4_XS: every fact of the two non-linear 4-bit types in one place (their TensorTypes rows point here).
// Both store 4-bit indices into KValues, a fixed table of 16 signed levels that is part of the file format.
// IQ4_NL (ggml's block_iq4_nl): fp16 d, 16 bytes qs; 32 weights x = d * KValues[q], nibble order as Q4_0.
// IQ4_XS (block_iq4_xs): fp16 d, uint16 scalesH, 4 bytes scalesL, 128 bytes qs; 256 weights in 8 sub-blocks of 32,
// x = d * (ls - 32) * KValues[q], ls 6 bits (low 4 in nibble j % 2 of scalesL[j / 2], high 2 at bit 2j of scalesH);
// each sub-block's 16 bytes of qs are ordered as an IQ4_NL block's.
// Activations: IQ4_NL pairs with Q8_0, IQ4_XS with Q8_K, as in ggml.
// Dots: IQ4_NL as Q4_0 (exact integer sum per block, then isum * dw * da, SIMD lanes within float rounding of the
// reference); IQ4_XS sums each super-block exactly in integers (sum of (ls - 32) * sub-block dot) and only then
// multiplies by da * d, so its SIMD kernel equals the reference bit for bit. Fixed block order: batch invariant.
// Quantizers (our own, simple; any valid encoding reads the same everywhere): the signed extreme of a block maps to
// KValues[0] = -127 and every value takes the nearest level; IQ4_XS first fits a scale per sub-block that way and
// then codes those scales as 6-bit multiples of one super-block scale.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class IQ4NonLinear
{
    /// <summary>The 16 levels an IQ4 index selects (ggml's kvalues_iq4nl), a format fact.</summary>
    public static ReadOnlySpan<sbyte> KValues => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    // ---------- dequantize ----------

    public static void DequantizeIQ4_NL(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 32; i++, s += BlockIQ4_NL.Size, y += 32) Levels(s + 2, Dequantize.F16(s), y);
    }

    public static void DequantizeIQ4_XS(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 256; i++, s += BlockIQ4_XS.Size)
        {
            float d = Dequantize.F16(s);
            for (int j = 0; j < 8; j++, y += 32) Levels(s + 8 + 16 * j, d * (SubScale(s, j) - 32), y);
        }
    }

    private static void Levels(byte* qs, float d, float* y)
    {
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * KValues[qs[j] & 0xF];
            y[j + 16] = d * KValues[qs[j] >> 4];
        }
    }

    /// <summary>The 6-bit scale ls (0..63) of sub-block j of an IQ4_XS block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SubScale(byte* b, int j) => ((b[4 + j / 2] >> (4 * (j & 1))) & 0xF) | (((*(ushort*)(b + 2) >> (2 * j)) & 3) << 4);

    // ---------- quantize ----------

    public static void QuantizeIQ4_NL(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 32; i++, x += 32, y += BlockIQ4_NL.Size)
        {
            *(Half*)y = (Half)(Quantize.SignedExtreme(x, 32) / KValues[0]);
            Indices(x, Dequantize.F16(y), y + 2);
        }
    }

    public static void QuantizeIQ4_XS(float* x, byte* y, int n)
    {
        Span<float> scales = stackalloc float[8];
        for (int i = 0; i < n / 256; i++, x += 256, y += BlockIQ4_XS.Size)
        {
            float maxScale = 0;
            for (int j = 0; j < 8; j++)
            {
                scales[j] = Quantize.SignedExtreme(x + 32 * j, 32) / KValues[0];
                if (MathF.Abs(scales[j]) > MathF.Abs(maxScale)) maxScale = scales[j];
            }

            // The largest sub-block scale is coded as ls - 32 = -32, the others relative to it.
            *(Half*)y = (Half)(maxScale / -32);
            float d = Dequantize.F16(y);
            float id = d != 0 ? 1 / d : 0;
            ushort scalesH = 0;
            new Span<byte>(y + 4, 4).Clear();
            for (int j = 0; j < 8; j++)
            {
                int ls = Math.Clamp((int)MathF.Round(scales[j] * id, MidpointRounding.ToEven), -32, 31) + 32;
                y[4 + j / 2] |= (byte)((ls & 0xF) << (4 * (j & 1)));
                scalesH |= (ushort)((ls >> 4) << (2 * j));
                Indices(x + 32 * j, d * (ls - 32), y + 8 + 16 * j);
            }

            *(ushort*)(y + 2) = scalesH;
        }
    }

    /// <summary>32 values to the indices of their nearest levels at scale d, packed as an IQ4_NL block's qs.</summary>
    private static void Indices(float* x, float d, byte* qs)
    {
        for (int j = 0; j < 16; j++) qs[j] = (byte)(Nearest(x[j], d) | (Nearest(x[j + 16], d) << 4));
    }

    private static int Nearest(float v, float d)
    {
        int best = 0;
        float bestErr = float.MaxValue;
        for (int k = 0; k < 16; k++)
        {
            float err = MathF.Abs(v - d * KValues[k]);
            if (err < bestErr)
            {
                bestErr = err;
                best = k;
            }
        }

        return best;
    }

    // ---------- reference dots ----------

    public static float DotIQ4_NLReference(byte* w, byte* a, int n)
    {
        float s = 0;
        for (int i = 0; i < n / 32; i++, w += BlockIQ4_NL.Size, a += BlockQ8_0.Size)
        {
            s += BlockInts(w + 2, (sbyte*)(a + 2)) * Dequantize.F16(w) * Dequantize.F16(a);
        }

        return s;
    }

    public static float DotIQ4_XSReference(byte* w, byte* a, int n)
    {
        float s = 0;
        for (int i = 0; i < n / 256; i++, w += BlockIQ4_XS.Size, a += BlockQ8_K.Size)
        {
            int isum = 0;
            for (int j = 0; j < 8; j++) isum += (SubScale(w, j) - 32) * BlockInts(w + 8 + 16 * j, (sbyte*)(a + 4 + 32 * j));
            float da = *(float*)a;
            s += da * Dequantize.F16(w) * isum;
        }

        return s;
    }

    /// <summary>Exact sum of KValues[q] * y over one block of 32.</summary>
    private static int BlockInts(byte* qs, sbyte* y)
    {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += KValues[qs[j] & 0xF] * y[j] + KValues[qs[j] >> 4] * y[j + 16];
        return sum;
    }

    // ---------- SIMD dots ----------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotIQ4_NL(byte* pw, byte* pa, int n)
    {
        if (!VecDotLegacy.Accelerated)
        {
            return DotIQ4_NLReference(pw, pa, n);
        }

        Vector256<sbyte> table = Table();
        Vector256<float> acc = Vector256<float>.Zero;
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * BlockIQ4_NL.Size;
            byte* a = pa + i * BlockQ8_0.Size;
            Vector256<int> p = BlockInts(table, w + 2, Vector256.Load((sbyte*)(a + 2)));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(Dequantize.F16(w) * Dequantize.F16(a)), acc);
        }

        return FloatSum.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotIQ4_XS(byte* pw, byte* pa, int n)
    {
        if (!VecDotLegacy.Accelerated)
        {
            return DotIQ4_XSReference(pw, pa, n);
        }

        Vector256<sbyte> table = Table();
        float s = 0;
        for (int i = 0; i < n / 256; i++)
        {
            byte* w = pw + i * BlockIQ4_XS.Size;
            byte* a = pa + i * BlockQ8_K.Size;
            Vector256<int> isum = Vector256<int>.Zero;
            for (int j = 0; j < 8; j++)
            {
                isum += BlockInts(table, w + 8 + 16 * j, Vector256.Load((sbyte*)(a + 4 + 32 * j))) * Vector256.Create(SubScale(w, j) - 32);
            }

            float da = *(float*)a;
            s += da * Dequantize.F16(w) * Vector256.Sum(isum);
        }

        return s;
    }

    /// <summary>KValues in both 128-bit lanes, for vpshufb lookups.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Table()
    {
        Vector128<sbyte> t = Vector128.Create(KValues);
        return Vector256.Create(t, t);
    }

    /// <summary>Lanes of exact partial sums of KValues[q] * y for one block of 32 (|level| and y &lt;= 127: no saturation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockInts(Vector256<sbyte> table, byte* qs, Vector256<sbyte> y)
    {
        Vector256<sbyte> v = Avx2.Shuffle(table, VecDotLegacy.Nibbles256(qs).AsSByte());
        return VecDotLegacy.DotU8S8(Avx2.Abs(v), Avx2.Sign(y, v));
    }
}
