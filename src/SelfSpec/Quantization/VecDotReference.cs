// Scalar reference dot products, one per weight type, against the matching activation type.
// Parameter order: (weight type, weight row bytes, activation row bytes, n). Lengths already checked.
// Legacy quants follow ggml's generic ggml_vec_dot_*_generic formulas. K-quants sum each super-block exactly
// in integers and combine floats as (da * d) * isum - (da * dmin) * summins, the same order the SIMD kernels use.
namespace SelfSpec.Quantization;

internal static unsafe class VecDotReference
{
    public static float Dot(GgmlType t, ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n)
    {
        fixed (byte* pw = w)
        fixed (byte* pa = a)
        {
            return Dot(t, pw, pa, n);
        }
    }

    public static float Dot(GgmlType t, byte* pw, byte* pa, int n)
    {
        TensorTypeInfo info = TensorTypes.Get(t);
        return info.DotReference != null ? info.DotReference(pw, pa, n) : throw new NotSupportedException(info.Name);
    }

    public static float F32(byte* pw, byte* pa, int n)
    {
        float* w = (float*)pw, a = (float*)pa;
        float s = 0;
        for (int i = 0; i < n; i++) s += w[i] * a[i];
        return s;
    }

    public static float F16(byte* pw, byte* pa, int n)
    {
        Half* w = (Half*)pw, a = (Half*)pa;
        float s = 0;
        for (int i = 0; i < n; i++) s += (float)w[i] * (float)a[i];
        return s;
    }

    public static float BF16(byte* pw, byte* pa, int n)
    {
        ushort* w = (ushort*)pw, a = (ushort*)pa;
        float s = 0;
        for (int i = 0; i < n; i++) s += BitConverter.Int32BitsToSingle(w[i] << 16) * BitConverter.Int32BitsToSingle(a[i] << 16);
        return s;
    }

    public static float Q4_0(byte* w, byte* a, int n)
    {
        int nb = n / 32;
        float s = 0;
        for (int i = 0; i < nb; i++, w += BlockQ4_0.Size, a += BlockQ8_0.Size)
        {
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                isum += ((w[2 + j] & 0xF) - 8) * (sbyte)a[2 + j];
                isum += ((w[2 + j] >> 4) - 8) * (sbyte)a[2 + j + 16];
            }

            s += isum * Dequantize.F16(w) * Dequantize.F16(a);
        }

        return s;
    }

    public static float Q4_1(byte* w, byte* a, int n)
    {
        int nb = n / 32;
        float s = 0;
        for (int i = 0; i < nb; i++, w += BlockQ4_1.Size, a += BlockQ8_1.Size)
        {
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                isum += (w[4 + j] & 0xF) * (sbyte)a[4 + j];
                isum += (w[4 + j] >> 4) * (sbyte)a[4 + j + 16];
            }

            s += Dequantize.F16(w) * Dequantize.F16(a) * isum + Dequantize.F16(w + 2) * Dequantize.F16(a + 2);
        }

        return s;
    }

    public static float Q8_0(byte* w, byte* a, int n)
    {
        int nb = n / 32;
        float s = 0;
        for (int i = 0; i < nb; i++, w += BlockQ8_0.Size, a += BlockQ8_0.Size)
        {
            int isum = 0;
            for (int j = 0; j < 32; j++) isum += (sbyte)w[2 + j] * (sbyte)a[2 + j];
            s += isum * Dequantize.F16(w) * Dequantize.F16(a);
        }

        return s;
    }

    public static float Q4_K(byte* w, byte* a, int n) => Q45K(w, a, n / 256, fiveBits: false);

    public static float Q5_K(byte* w, byte* a, int n) => Q45K(w, a, n / 256, fiveBits: true);

    private static float Q45K(byte* w, byte* a, int nb, bool fiveBits)
    {
        float s = 0;
        int size = fiveBits ? BlockQ5_K.Size : BlockQ4_K.Size;
        for (int i = 0; i < nb; i++, w += size, a += BlockQ8_K.Size)
        {
            byte* qh = w + 16;
            byte* qs = fiveBits ? w + 48 : w + 16;
            sbyte* aq = (sbyte*)(a + 4);
            short* bsums = (short*)(a + 260);
            int isum = 0, summ = 0;
            for (int j = 0; j < 8; j++)
            {
                KScales.Get(j, w + 4, out int sc, out int m);
                int chunk = j / 2, shift = (j & 1) * 4;
                int dot = 0;
                for (int l = 0; l < 32; l++)
                {
                    int q = (qs[32 * chunk + l] >> shift) & 0xF;
                    if (fiveBits)
                    {
                        q += ((qh[l] >> j) & 1) << 4;
                    }

                    dot += q * aq[32 * j + l];
                }

                isum += sc * dot;
                summ += m * (bsums[2 * j] + bsums[2 * j + 1]);
            }

            float da = *(float*)a;
            s += da * Dequantize.F16(w) * isum - da * Dequantize.F16(w + 2) * summ;
        }

        return s;
    }

    public static float Q6_K(byte* w, byte* a, int n)
    {
        int nb = n / 256;
        float s = 0;
        for (int i = 0; i < nb; i++, w += BlockQ6_K.Size, a += BlockQ8_K.Size)
        {
            sbyte* aq = (sbyte*)(a + 4);
            sbyte* sc = (sbyte*)(w + 192);
            int isum = 0;
            for (int e = 0; e < 256; e++)
            {
                int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
                byte ql = w[64 * half + l + (quarter & 1) * 32];
                int lo = (quarter >> 1) == 0 ? ql & 0xF : ql >> 4;
                int hi = (w[128 + 32 * half + l] >> (2 * quarter)) & 3;
                isum += sc[e / 16] * ((lo | (hi << 4)) - 32) * aq[e];
            }

            float da = *(float*)a;
            s += da * Dequantize.F16(w + 208) * isum;
        }

        return s;
    }
}
