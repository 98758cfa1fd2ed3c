// Q5_0 and Q5_1: every fact of the two 5-bit legacy types in one place (their TensorTypes rows point here).
// Layout (ggml's block_q5_0 / block_q5_1): fp16 d (Q5_1: then fp16 m), 4 bytes qh, 16 bytes qs. Element j < 16 is
// the low nibble of qs[j], element j + 16 the high nibble; bit j of qh (read as a little-endian uint32) is the
// fifth bit of element j. Q5_0: x = d * (q - 16); Q5_1: x = d * q + m.
// Activations: Q5_0 pairs with Q8_0, Q5_1 with Q8_1 (its stored s = d * sum(q) carries the min term), as in ggml.
// Dots: the reference sums each block exactly in integers, then adds isum * dw * da (Q5_1: + mw * sa) block by
// block. The SIMD kernels do the same integer sums and fused-multiply-add the per-block products into lanes,
// reduced once in FloatSum's order: a fixed sequence per row pair (batch invariant), within float rounding of
// the reference.
// Quantizers: Q5_0 maps the block's signed extreme to -16 and rounds by +16.5 and truncation; Q5_1 spreads 32
// levels between the block's min and max (the same rules as ggml's reference quantizers, so files match).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class Q5Legacy
{
    // ---------- dequantize ----------

    public static void DequantizeQ5_0(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 32; i++, s += BlockQ5_0.Size, y += 32)
        {
            float d = Dequantize.F16(s);
            uint qh = Unsafe.ReadUnaligned<uint>(s + 2);
            for (int j = 0; j < 16; j++)
            {
                y[j] = (Low(s + 6, qh, j) - 16) * d;
                y[j + 16] = (High(s + 6, qh, j) - 16) * d;
            }
        }
    }

    public static void DequantizeQ5_1(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 32; i++, s += BlockQ5_1.Size, y += 32)
        {
            float d = Dequantize.F16(s), m = Dequantize.F16(s + 2);
            uint qh = Unsafe.ReadUnaligned<uint>(s + 4);
            for (int j = 0; j < 16; j++)
            {
                y[j] = Low(s + 8, qh, j) * d + m;
                y[j + 16] = High(s + 8, qh, j) * d + m;
            }
        }
    }

    /// <summary>The 5-bit value of element j (j &lt; 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Low(byte* qs, uint qh, int j) => (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);

    /// <summary>The 5-bit value of element j + 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int High(byte* qs, uint qh, int j) => (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);

    // ---------- quantize ----------

    public static void QuantizeQ5_0(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 32; i++, x += 32, y += BlockQ5_0.Size)
        {
            float d = Quantize.SignedExtreme(x, 32) / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            *(Half*)y = (Half)d;
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(31, (int)(sbyte)(x[j] * id + 16.5f));
                int q1 = Math.Min(31, (int)(sbyte)(x[j + 16] * id + 16.5f));
                y[6 + j] = (byte)((q0 & 0xF) | ((q1 & 0xF) << 4));
                qh |= (uint)(q0 >> 4) << j;
                qh |= (uint)(q1 >> 4) << (j + 16);
            }

            Unsafe.WriteUnaligned(y + 2, qh);
        }
    }

    public static void QuantizeQ5_1(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 32; i++, x += 32, y += BlockQ5_1.Size)
        {
            var (min, max) = Quantize.MinMax(x, 32);
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            *(Half*)y = (Half)d;
            *(Half*)(y + 2) = (Half)min;
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(31, (int)(byte)((x[j] - min) * id + 0.5f));
                int q1 = Math.Min(31, (int)(byte)((x[j + 16] - min) * id + 0.5f));
                y[8 + j] = (byte)((q0 & 0xF) | ((q1 & 0xF) << 4));
                qh |= (uint)(q0 >> 4) << j;
                qh |= (uint)(q1 >> 4) << (j + 16);
            }

            Unsafe.WriteUnaligned(y + 4, qh);
        }
    }

    // ---------- reference dots ----------

    public static float DotQ5_0Reference(byte* w, byte* a, int n)
    {
        float s = 0;
        for (int i = 0; i < n / 32; i++, w += BlockQ5_0.Size, a += BlockQ8_0.Size)
        {
            uint qh = Unsafe.ReadUnaligned<uint>(w + 2);
            sbyte* q8 = (sbyte*)(a + 2);
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                isum += (Low(w + 6, qh, j) - 16) * q8[j];
                isum += (High(w + 6, qh, j) - 16) * q8[j + 16];
            }

            s += isum * Dequantize.F16(w) * Dequantize.F16(a);
        }

        return s;
    }

    public static float DotQ5_1Reference(byte* w, byte* a, int n)
    {
        float s = 0;
        for (int i = 0; i < n / 32; i++, w += BlockQ5_1.Size, a += BlockQ8_1.Size)
        {
            uint qh = Unsafe.ReadUnaligned<uint>(w + 4);
            sbyte* q8 = (sbyte*)(a + 4);
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                isum += Low(w + 8, qh, j) * q8[j];
                isum += High(w + 8, qh, j) * q8[j + 16];
            }

            s += Dequantize.F16(w) * Dequantize.F16(a) * isum + Dequantize.F16(w + 2) * Dequantize.F16(a + 2);
        }

        return s;
    }

    // ---------- SIMD dots ----------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotQ5_0(byte* pw, byte* pa, int n)
    {
        if (!VecDotLegacy.Accelerated)
        {
            return DotQ5_0Reference(pw, pa, n);
        }

        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> sixteen = Vector256.Create((byte)16);
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * BlockQ5_0.Size;
            byte* a = pa + i * BlockQ8_0.Size;
            Vector256<byte> q = VecDotLegacy.Nibbles256(w + 6) | FifthBits(Unsafe.ReadUnaligned<uint>(w + 2));
            Vector256<sbyte> y = Vector256.Load((sbyte*)(a + 2));
            // (q - 16) . y = q . y - 16 . y; both fit vpmaddubsw without saturation (q <= 31, |y| <= 127).
            Vector256<int> p = VecDotLegacy.DotU8S8(q, y) - VecDotLegacy.DotU8S8(sixteen, y);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(Dequantize.F16(w) * Dequantize.F16(a)), acc);
        }

        return FloatSum.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotQ5_1(byte* pw, byte* pa, int n)
    {
        if (!VecDotLegacy.Accelerated)
        {
            return DotQ5_1Reference(pw, pa, n);
        }

        Vector256<float> acc = Vector256<float>.Zero;
        float summs = 0;
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * BlockQ5_1.Size;
            byte* a = pa + i * BlockQ8_1.Size;
            Vector256<byte> q = VecDotLegacy.Nibbles256(w + 8) | FifthBits(Unsafe.ReadUnaligned<uint>(w + 4));
            Vector256<int> p = VecDotLegacy.DotU8S8(q, Vector256.Load((sbyte*)(a + 4)));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(Dequantize.F16(w) * Dequantize.F16(a)), acc);
            summs += Dequantize.F16(w + 2) * Dequantize.F16(a + 2);
        }

        return FloatSum.Sum(acc) + summs;
    }

    /// <summary>The 32 bits of qh spread to bytes in element order: 0x10 where the bit is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> FifthBits(uint qh)
    {
        // Byte e of the result looks at byte e / 8 of qh (the shuffle works within 128-bit lanes, and every lane
        // holds a copy of qh), then tests bit e % 8 of it.
        Vector256<byte> spread = Avx2.Shuffle(Vector256.Create(qh).AsByte(), Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        Vector256<byte> bit = Vector256.Create(
            (byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        return Vector256.Equals(spread & bit, bit) & Vector256.Create((byte)0x10);
    }
}
