// Quantize.Row(type, src floats of one row, dst bytes): encodes a row in any supported weight type and in the
// activation types Q8_0 / Q8_1 / Q8_K, through the type's row of TensorTypes. src.Length is the element count; dst must hold RowBytes(type, n).
// Q4_0 / Q4_1 / Q8_0 / Q8_1 / Q8_K follow ggml's *_ref quantizers exactly. The K-quants use a simpler
// min/max scale search than ggml's iterative make_qkx2_quants / make_qx_quants (any valid encoding is
// readable by every GGUF consumer; this one exists to write small test models), then quantize the
// weights against the rounded 6/8-bit scales as ggml does.
namespace SelfSpec.Quantization;

internal static unsafe class Quantize
{
    /// <summary>Fast path: SIMD for the activation types, scalar elsewhere.</summary>
    public static void Row(GgmlType t, ReadOnlySpan<float> src, Span<byte> dst) => Run(t, src, dst, reference: false);

    /// <summary>Plain scalar version of <see cref="Row"/>; bit-identical output.</summary>
    public static void RowReference(GgmlType t, ReadOnlySpan<float> src, Span<byte> dst) => Run(t, src, dst, reference: true);

    private static void Run(GgmlType t, ReadOnlySpan<float> src, Span<byte> dst, bool reference)
    {
        TensorTypeInfo info = TensorTypes.Get(t);
        delegate*<float*, byte*, int, void> quantize = reference ? info.QuantizeReference : info.Quantize;
        if (quantize == null)
        {
            throw new NotSupportedException($"Quantizing to {info.Name} is not supported.");
        }

        int n = src.Length;
        long need = info.RowBytes(n);
        if (dst.Length < need)
        {
            throw new ArgumentException($"Destination holds {dst.Length} bytes; a {info.Name} row of {n} needs {need}.", nameof(dst));
        }

        fixed (float* x = src)
        fixed (byte* y = dst)
        {
            quantize(x, y, n);
        }
    }

    /// <summary>ggml's fp32 -> bf16: round to nearest even, NaN kept quiet.</summary>
    public static ushort ToBF16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000)
        {
            return (ushort)((u >> 16) | 64);
        }

        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    // ---------- one row of each type: (source, destination, element count), lengths already checked ----------

    public static void F32Row(float* x, byte* y, int n) => Buffer.MemoryCopy(x, y, (long)n * 4, (long)n * 4);

    public static void F16Row(float* x, byte* y, int n)
    {
        for (int i = 0; i < n; i++) ((Half*)y)[i] = (Half)x[i];
    }

    public static void BF16Row(float* x, byte* y, int n)
    {
        for (int i = 0; i < n; i++) ((ushort*)y)[i] = ToBF16(x[i]);
    }

    public static void Q4_0Row(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 32; i++, x += 32, y += BlockQ4_0.Size) Q4_0(x, y);
    }

    public static void Q4_1Row(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 32; i++, x += 32, y += BlockQ4_1.Size) Q4_1(x, y);
    }

    public static void Q4_KRow(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 256; i++, x += 256, y += BlockQ4_K.Size) Q45K(x, y, fiveBits: false);
    }

    public static void Q5_KRow(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 256; i++, x += 256, y += BlockQ5_K.Size) Q45K(x, y, fiveBits: true);
    }

    public static void Q6_KRow(float* x, byte* y, int n)
    {
        for (int i = 0; i < n / 256; i++, x += 256, y += BlockQ6_K.Size) Q6K(x, y);
    }

    // The activation types, fast and reference, in the same (source, destination, count) shape.
    public static void Q8_0Row(float* x, byte* y, int n) => ActivationQuantize.Q8_0(new(x, n), new(y, n / 32 * BlockQ8_0.Size));

    public static void Q8_0RowReference(float* x, byte* y, int n) => ActivationQuantize.Q8_0Reference(new(x, n), new(y, n / 32 * BlockQ8_0.Size));

    public static void Q8_1Row(float* x, byte* y, int n) => ActivationQuantize.Q8_1(new(x, n), new(y, n / 32 * BlockQ8_1.Size));

    public static void Q8_1RowReference(float* x, byte* y, int n) => ActivationQuantize.Q8_1Reference(new(x, n), new(y, n / 32 * BlockQ8_1.Size));

    public static void Q8_KRow(float* x, byte* y, int n) => ActivationQuantize.Q8_K(new(x, n), new(y, n / 256 * BlockQ8_K.Size));

    public static void Q8_KRowReference(float* x, byte* y, int n) => ActivationQuantize.Q8_KReference(new(x, n), new(y, n / 256 * BlockQ8_K.Size));

    // quantize_row_q4_0_ref: the signed extreme maps to -8, the rest rounds by +8.5 and truncation.
    private static void Q4_0(float* x, byte* y)
    {
        float d = SignedExtreme(x, 32) / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        *(Half*)y = (Half)d;
        for (int j = 0; j < 16; j++)
        {
            int q0 = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int q1 = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
            y[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    // quantize_row_q4_1_ref: 16 levels between the block's min and max.
    private static void Q4_1(float* x, byte* y)
    {
        var (min, max) = MinMax(x, 32);
        float d = (max - min) / 15;
        float id = d != 0 ? 1.0f / d : 0.0f;
        *(Half*)y = (Half)d;
        *(Half*)(y + 2) = (Half)min;
        for (int j = 0; j < 16; j++)
        {
            int q0 = Math.Min(15, (int)(sbyte)((x[j] - min) * id + 0.5f));
            int q1 = Math.Min(15, (int)(sbyte)((x[j + 16] - min) * id + 0.5f));
            y[4 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    private static int Nearest(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    // Q4_K / Q5_K: per 32-sub-block min/max scale, 6-bit scales and mins relative to the block maxima.
    private static void Q45K(float* x, byte* y, bool fiveBits)
    {
        int levels = fiveBits ? 31 : 15;
        Span<float> scales = stackalloc float[8];
        Span<float> mins = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float lo = 0, hi = float.MinValue;
            for (int l = 0; l < 32; l++)
            {
                lo = MathF.Min(lo, x[32 * j + l]);
                hi = MathF.Max(hi, x[32 * j + l]);
            }

            scales[j] = (hi - lo) / levels;
            mins[j] = -lo;
            maxScale = MathF.Max(maxScale, scales[j]);
            maxMin = MathF.Max(maxMin, mins[j]);
        }

        float invScale = maxScale > 0 ? 63 / maxScale : 0;
        float invMin = maxMin > 0 ? 63 / maxMin : 0;
        Span<byte> ls = stackalloc byte[8];
        Span<byte> lm = stackalloc byte[8];
        for (int j = 0; j < 8; j++)
        {
            ls[j] = (byte)Math.Min(63, Nearest(invScale * scales[j]));
            lm[j] = (byte)Math.Min(63, Nearest(invMin * mins[j]));
        }

        *(Half*)y = (Half)(maxScale / 63);
        *(Half*)(y + 2) = (Half)(maxMin / 63);
        float d = (float)*(Half*)y, dmin = (float)*(Half*)(y + 2);
        new Span<byte>(y + 4, (fiveBits ? BlockQ5_K.Size : BlockQ4_K.Size) - 4).Clear();
        KScales.Pack(ls, lm, y + 4);

        Span<byte> q = stackalloc byte[256];
        for (int j = 0; j < 8; j++)
        {
            float dq = d * ls[j], dm = dmin * lm[j];
            for (int l = 0; l < 32; l++)
            {
                q[32 * j + l] = dq == 0 ? (byte)0 : (byte)Math.Clamp(Nearest((x[32 * j + l] + dm) / dq), 0, levels);
            }
        }

        byte* qh = y + 16;
        byte* qs = fiveBits ? y + 48 : y + 16;
        for (int j = 0, k = 0; j < 256; j += 64, k++)
        {
            for (int l = 0; l < 32; l++)
            {
                int a = q[j + l], b = q[j + l + 32];
                qs[32 * k + l] = (byte)((a & 0xF) | ((b & 0xF) << 4));
                if (fiveBits)
                {
                    qh[l] |= (byte)(((a >> 4) << (2 * k)) | ((b >> 4) << (2 * k + 1)));
                }
            }
        }
    }

    /// <summary>The first of <paramref name="count"/> values with the largest magnitude, sign kept: the extreme that the
    /// symmetric types (Q4_0, Q5_0, IQ4_NL, the K-quants' groups) map to their most negative level.</summary>
    internal static float SignedExtreme(float* x, int count)
    {
        float amax = 0, max = 0;
        for (int l = 0; l < count; l++)
        {
            if (MathF.Abs(x[l]) > amax)
            {
                amax = MathF.Abs(x[l]);
                max = x[l];
            }
        }
        return max;
    }

    /// <summary>The smallest and largest of <paramref name="count"/> values: the range the offset types (Q4_1, Q5_1) spread their levels over.</summary>
    internal static (float Min, float Max) MinMax(float* x, int count)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        for (int j = 0; j < count; j++)
        {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        return (min, max);
    }

    // Q6_K: per 16-group signed scale (extreme -> -32), 8-bit scales relative to the largest.
    private static void Q6K(float* x, byte* y)
    {
        Span<float> scales = stackalloc float[16];
        float maxScale = 0, amaxScale = 0;
        for (int g = 0; g < 16; g++)
        {
            scales[g] = SignedExtreme(x + 16 * g, 16) / -32;
            if (MathF.Abs(scales[g]) > amaxScale)
            {
                amaxScale = MathF.Abs(scales[g]);
                maxScale = scales[g];
            }
        }

        new Span<byte>(y, BlockQ6_K.Size).Clear();
        byte* ql = y;
        byte* qh = y + 128;
        sbyte* sc = (sbyte*)(y + 192);
        if (amaxScale == 0)
        {
            return; // all zero: d = 0, every q = 0 (stored as 0, meaning -32 * 0)
        }

        float iscale = -128f / maxScale;
        *(Half*)(y + 208) = (Half)(1 / iscale);
        float d = (float)*(Half*)(y + 208);
        Span<byte> q = stackalloc byte[256];
        for (int g = 0; g < 16; g++)
        {
            sc[g] = (sbyte)Math.Min(127, Nearest(iscale * scales[g]));
            float dd = d * sc[g];
            for (int l = 0; l < 16; l++)
            {
                int v = dd == 0 ? 0 : Math.Clamp(Nearest(x[16 * g + l] / dd), -32, 31);
                q[16 * g + l] = (byte)(v + 32);
            }
        }

        for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
        {
            for (int l = 0; l < 32; l++)
            {
                int q1 = q[j + l], q2 = q[j + l + 32], q3 = q[j + l + 64], q4 = q[j + l + 96];
                ql[l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}
