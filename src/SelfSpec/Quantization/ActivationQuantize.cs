// Activation quantizers: one row of floats -> Q8_0 / Q8_1 / Q8_K blocks, bit-identical to ggml's
// quantize_row_q8_0_ref, quantize_row_q8_1_ref and quantize_row_q8_K_ref. Parameter order: (src floats, dst bytes).
// Why two rounding modes: ggml's q8_0/q8_1 reference uses roundf (ties away from zero) while q8_K uses
// nearest_int (the 1.5*2^23 trick: ties to even). The SIMD versions reproduce each exactly:
// ties-away is built from Truncate plus a +-1 step when |frac| >= 0.5 (v - trunc(v) is exact in float),
// ties-even is Vector256.Round. The hot path runs once per token per matmul input, so it is SIMD.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SelfSpec.Quantization;

internal static unsafe class ActivationQuantize
{
    // ---------- scalar references ----------

    public static void Q8_0Reference(ReadOnlySpan<float> x, Span<byte> dst)
    {
        int nb = CheckBlocks(x, dst, 32, BlockQ8_0.Size);
        fixed (float* x0 = x)
        fixed (byte* y0 = dst)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xs = x0 + i * 32;
                byte* y = y0 + i * BlockQ8_0.Size;
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(xs[j]));
                float d = amax / 127;
                float id = d != 0 ? 1.0f / d : 0.0f;
                *(Half*)y = (Half)d;
                for (int j = 0; j < 32; j++) y[2 + j] = (byte)(sbyte)MathF.Round(xs[j] * id, MidpointRounding.AwayFromZero);
            }
        }
    }

    public static void Q8_1Reference(ReadOnlySpan<float> x, Span<byte> dst)
    {
        int nb = CheckBlocks(x, dst, 32, BlockQ8_1.Size);
        fixed (float* x0 = x)
        fixed (byte* y0 = dst)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xs = x0 + i * 32;
                byte* y = y0 + i * BlockQ8_1.Size;
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(xs[j]));
                float d = amax / 127;
                float id = d != 0 ? 1.0f / d : 0.0f;
                int sum = 0;
                for (int j = 0; j < 32; j++)
                {
                    sbyte q = (sbyte)MathF.Round(xs[j] * id, MidpointRounding.AwayFromZero);
                    y[4 + j] = (byte)q;
                    sum += q;
                }

                *(Half*)y = (Half)d;
                *(Half*)(y + 2) = (Half)(sum * d);
            }
        }
    }

    public static void Q8_KReference(ReadOnlySpan<float> x, Span<byte> dst)
    {
        int nb = CheckBlocks(x, dst, 256, BlockQ8_K.Size);
        fixed (float* x0 = x)
        fixed (byte* y0 = dst)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xs = x0 + i * 256;
                byte* y = y0 + i * BlockQ8_K.Size;
                sbyte* qs = (sbyte*)(y + 4);
                short* bsums = (short*)(y + 260);
                float max = 0, amax = 0;
                for (int j = 0; j < 256; j++)
                {
                    float ax = MathF.Abs(xs[j]);
                    if (ax > amax)
                    {
                        amax = ax;
                        max = xs[j];
                    }
                }

                if (amax == 0)
                {
                    // ggml leaves bsums untouched here; zeroing them keeps the block well defined.
                    new Span<byte>(y, BlockQ8_K.Size).Clear();
                    continue;
                }

                float iscale = -127f / max;
                for (int j = 0; j < 256; j++) qs[j] = (sbyte)Math.Min(127, (int)MathF.Round(iscale * xs[j], MidpointRounding.ToEven));
                for (int g = 0; g < 16; g++)
                {
                    int sum = 0;
                    for (int k = 0; k < 16; k++) sum += qs[g * 16 + k];
                    bsums[g] = (short)sum;
                }

                *(float*)y = 1 / iscale;
            }
        }
    }

    // ---------- SIMD (Vector256; scalar reference when not accelerated) ----------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_0(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            Q8_0Reference(x, dst);
            return;
        }

        int nb = CheckBlocks(x, dst, 32, BlockQ8_0.Size);
        fixed (float* x0 = x)
        fixed (byte* y0 = dst)
        {
            for (int i = 0; i < nb; i++) Block32(x0 + i * 32, y0 + i * BlockQ8_0.Size, withSum: false);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_1(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            Q8_1Reference(x, dst);
            return;
        }

        int nb = CheckBlocks(x, dst, 32, BlockQ8_1.Size);
        fixed (float* x0 = x)
        fixed (byte* y0 = dst)
        {
            for (int i = 0; i < nb; i++) Block32(x0 + i * 32, y0 + i * BlockQ8_1.Size, withSum: true);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block32(float* xs, byte* y, bool withSum)
    {
        Vector256<float> v0 = Vector256.Load(xs), v1 = Vector256.Load(xs + 8), v2 = Vector256.Load(xs + 16), v3 = Vector256.Load(xs + 24);
        Vector256<float> m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        float amax = HMax(m);
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        Vector256<float> vid = Vector256.Create(id);
        Vector256<int> q0 = RoundAway(v0 * vid), q1 = RoundAway(v1 * vid), q2 = RoundAway(v2 * vid), q3 = RoundAway(v3 * vid);
        Vector256<sbyte> q = Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3));
        if (withSum)
        {
            int sum = Vector256.Sum((q0 + q1) + (q2 + q3));
            q.Store((sbyte*)(y + 4));
            *(ushort*)y = HalfBits.FromSingle(d);
            *(ushort*)(y + 2) = HalfBits.FromSingle(sum * d);
        }
        else
        {
            q.Store((sbyte*)(y + 2));
            *(ushort*)y = HalfBits.FromSingle(d);
        }
    }

    /// <summary>roundf semantics (ties away from zero), exactly, for |v| well below 2^23.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> RoundAway(Vector256<float> v)
    {
        Vector256<float> t = Vector256.Truncate(v);
        Vector256<float> step = Vector256.Create(1f) | (v & Vector256.Create(-0f)); // +-1 with v's sign
        Vector256<float> up = Vector256.GreaterThanOrEqual(Vector256.Abs(v - t), Vector256.Create(0.5f));
        return Vector256.ConvertToInt32(t + (step & up));
    }

    /// <summary>The same rounding, 16 lanes (the packed activation quantizer's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> RoundAway(Vector512<float> v)
    {
        Vector512<float> t = Vector512.Truncate(v);
        Vector512<float> step = Vector512.Create(1f) | (v & Vector512.Create(-0f));
        Vector512<float> up = Vector512.GreaterThanOrEqual(Vector512.Abs(v - t), Vector512.Create(0.5f));
        return Vector512.ConvertToInt32(t + (step & up));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HMax(Vector256<float> m)
    {
        Vector128<float> h = Vector128.Max(m.GetLower(), m.GetUpper());
        return MathF.Max(MathF.Max(h[0], h[1]), MathF.Max(h[2], h[3]));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_K(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            Q8_KReference(x, dst);
            return;
        }

        int nb = CheckBlocks(x, dst, 256, BlockQ8_K.Size);
        fixed (float* x0 = x)
        fixed (byte* y0 = dst)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xs = x0 + i * 256;
                byte* y = y0 + i * BlockQ8_K.Size;
                Vector256<float> m = Vector256<float>.Zero;
                for (int k = 0; k < 256; k += 8) m = Vector256.Max(m, Vector256.Abs(Vector256.Load(xs + k)));
                float amax = HMax(m);
                if (amax == 0)
                {
                    new Span<byte>(y, BlockQ8_K.Size).Clear();
                    continue;
                }

                // The reference keeps the signed value of the FIRST element whose |x| is the maximum.
                Vector256<float> va = Vector256.Create(amax);
                float max = 0;
                for (int k = 0; k < 256; k += 8)
                {
                    uint hit = Vector256.Equals(Vector256.Abs(Vector256.Load(xs + k)), va).ExtractMostSignificantBits();
                    if (hit != 0)
                    {
                        max = xs[k + BitOperations.TrailingZeroCount(hit)];
                        break;
                    }
                }

                float iscale = -127f / max;
                Vector256<float> vs = Vector256.Create(iscale);
                Vector256<int> lim = Vector256.Create(127);
                sbyte* qs = (sbyte*)(y + 4);
                short* bsums = (short*)(y + 260);
                for (int g = 0; g < 16; g++)
                {
                    float* xg = xs + g * 16;
                    Vector256<int> a = Vector256.Min(lim, Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(xg) * vs)));
                    Vector256<int> b = Vector256.Min(lim, Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(xg + 8) * vs)));
                    Vector256<short> ab = Vector256.Narrow(a, b);
                    Vector128<sbyte> q = Vector128.Narrow(ab.GetLower(), ab.GetUpper());
                    q.Store(qs + g * 16);
                    bsums[g] = (short)Vector256.Sum(a + b);
                }

                *(float*)y = 1 / iscale;
            }
        }
    }

    private static int CheckBlocks(ReadOnlySpan<float> x, Span<byte> dst, int qk, int blockBytes)
    {
        if (x.Length % qk != 0)
        {
            throw new ArgumentException($"Row length {x.Length} is not a multiple of {qk}.", nameof(x));
        }

        int nb = x.Length / qk;
        if (dst.Length < (long)nb * blockBytes)
        {
            throw new ArgumentException($"Destination holds {dst.Length} bytes; {nb * (long)blockBytes} needed.", nameof(dst));
        }

        return nb;
    }
}
