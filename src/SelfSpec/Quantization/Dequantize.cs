// Dequantize.Row(type, src bytes of one row, dst floats): expands a row of any readable type to float32, exactly
// as ggml's dequantize_row_* do, through the type's row of TensorTypes. The per-type row functions of the
// original types live here; types added later keep theirs beside their other facts.
// dst.Length is the element count; src must hold RowBytes(type, dst.Length) bytes.
// Scalar on purpose: dequantization is used for embeddings lookups and tests, not in the matmul hot loop,
// so this one straightforward version is also the reference (RowReference is the same function).
namespace SelfSpec.Quantization;

internal static unsafe class Dequantize
{
    /// <summary>Same as <see cref="Row"/>: there is no separate SIMD path.</summary>
    public static void RowReference(GgmlType t, ReadOnlySpan<byte> src, Span<float> dst) => Row(t, src, dst);

    public static void Row(GgmlType t, ReadOnlySpan<byte> src, Span<float> dst)
    {
        TensorTypeInfo info = TensorTypes.Get(t);
        if (!info.CanDequantize)
        {
            throw new NotSupportedException($"Dequantizing {info.Name} is not supported.");
        }

        int n = dst.Length;
        long need = info.RowBytes(n);
        if (src.Length < need)
        {
            throw new ArgumentException($"Source holds {src.Length} bytes; a {info.Name} row of {n} needs {need}.", nameof(src));
        }

        fixed (byte* s = src)
        fixed (float* y = dst)
        {
            info.Dequantize(s, y, n);
        }
    }

    // ---------- one row of each type: (source, destination, element count), lengths already checked ----------

    public static void F32Row(byte* s, float* y, int n) => Buffer.MemoryCopy(s, y, (long)n * 4, (long)n * 4);

    public static void F16Row(byte* s, float* y, int n)
    {
        for (int i = 0; i < n; i++) y[i] = F16(s + 2 * i);
    }

    public static void BF16Row(byte* s, float* y, int n)
    {
        for (int i = 0; i < n; i++) y[i] = BitConverter.Int32BitsToSingle(((ushort*)s)[i] << 16);
    }

    public static void Q4_0Row(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 32; i++, s += BlockQ4_0.Size, y += 32)
        {
            float d = F16(s);
            for (int j = 0; j < 16; j++)
            {
                y[j] = ((s[2 + j] & 0xF) - 8) * d;
                y[j + 16] = ((s[2 + j] >> 4) - 8) * d;
            }
        }
    }

    public static void Q4_1Row(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 32; i++, s += BlockQ4_1.Size, y += 32)
        {
            float d = F16(s), m = F16(s + 2);
            for (int j = 0; j < 16; j++)
            {
                y[j] = (s[4 + j] & 0xF) * d + m;
                y[j + 16] = (s[4 + j] >> 4) * d + m;
            }
        }
    }

    public static void Q8_0Row(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 32; i++, s += BlockQ8_0.Size, y += 32)
        {
            float d = F16(s);
            for (int j = 0; j < 32; j++) y[j] = (sbyte)s[2 + j] * d;
        }
    }

    public static void Q8_1Row(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 32; i++, s += BlockQ8_1.Size, y += 32)
        {
            float d = F16(s);
            for (int j = 0; j < 32; j++) y[j] = (sbyte)s[4 + j] * d;
        }
    }

    public static void Q8_KRow(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 256; i++, s += BlockQ8_K.Size, y += 256)
        {
            float d = *(float*)s;
            for (int j = 0; j < 256; j++) y[j] = d * (sbyte)s[4 + j];
        }
    }

    public static void Q4_KRow(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 256; i++, s += BlockQ4_K.Size, y += 256) Q4K(s, y);
    }

    public static void Q5_KRow(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 256; i++, s += BlockQ5_K.Size, y += 256) Q5K(s, y);
    }

    public static void Q6_KRow(byte* s, float* y, int n)
    {
        for (int i = 0; i < n / 256; i++, s += BlockQ6_K.Size, y += 256) Q6K(s, y);
    }

    /// <summary>Reads an fp16 value stored little-endian at p.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static float F16(byte* p) => Fp16Table.Load(p);

    private static void Q4K(byte* b, float* y)
    {
        float d = F16(b), dmin = F16(b + 2);
        byte* sc = b + 4;
        byte* q = b + 16;
        for (int j = 0, isb = 0; j < 256; j += 64, isb += 2, q += 32)
        {
            KScales.Get(isb, sc, out int s1, out int m1);
            KScales.Get(isb + 1, sc, out int s2, out int m2);
            float d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - mm1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - mm2;
        }
    }

    private static void Q5K(byte* b, float* y)
    {
        float d = F16(b), dmin = F16(b + 2);
        byte* sc = b + 4;
        byte* qh = b + 16;
        byte* ql = b + 48;
        int u1 = 1, u2 = 2;
        for (int j = 0, isb = 0; j < 256; j += 64, isb += 2, ql += 32, u1 <<= 2, u2 <<= 2)
        {
            KScales.Get(isb, sc, out int s1, out int m1);
            KScales.Get(isb + 1, sc, out int s2, out int m2);
            float d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - mm1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - mm2;
        }
    }

    private static void Q6K(byte* b, float* y)
    {
        byte* ql = b;
        byte* qh = b + 128;
        sbyte* sc = (sbyte*)(b + 192);
        float d = F16(b + 208);
        for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        {
            for (int l = 0; l < 32; l++)
            {
                int isb = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[isb] * q1;
                y[l + 32] = d * sc[isb + 2] * q2;
                y[l + 64] = d * sc[isb + 4] * q3;
                y[l + 96] = d * sc[isb + 6] * q4;
            }
        }
    }
}
