// SIMD dot kernels for the K-quants against Q8_K activations: Q4_K, Q5_K, Q6_K.
// Parameter order: (weight row bytes, activation row bytes, n); lengths checked by VecDot.Check.
// Each 256-element super-block is summed exactly in int32 lanes (vpmaddubsw + vpmaddwd, times the integer
// sub-block scale), reduced to one int, and only then combined in float exactly as VecDotReference does,
// so these kernels agree with the reference bit for bit. The min terms use the activation's bsums.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class VecDotKQuants
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_K(byte* pw0, byte* pa0, int n) => Q45K(pw0, pa0, n, fiveBits: false);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5_K(byte* pw0, byte* pa0, int n) => Q45K(pw0, pa0, n, fiveBits: true);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q45K(byte* pw0, byte* pa0, int n, bool fiveBits)
    {
        GgmlType t = fiveBits ? GgmlType.Q5_K : GgmlType.Q4_K;
        if (!Avx2.IsSupported)
        {
            return VecDotReference.Dot(t, pw0, pa0, n);
        }

        int size = fiveBits ? BlockQ5_K.Size : BlockQ4_K.Size;
        byte* pw = pw0, pa = pa0;
        float s = 0;
        Vector256<byte> m4 = Vector256.Create((byte)0x0F);
        Vector256<byte> one = Vector256.Create((byte)1);
        for (int i = 0; i < n / 256; i++, pw += size, pa += BlockQ8_K.Size)
        {
            byte* qs = fiveBits ? pw + 48 : pw + 16;
            Vector256<byte> qh = fiveBits ? Vector256.Load(pw + 16) : default;
            sbyte* aq = (sbyte*)(pa + 4);
            short* bsums = (short*)(pa + 260);
            Vector256<int> isum = Vector256<int>.Zero;
            int summ = 0;
            for (int k = 0; k < 4; k++)
            {
                KScales.Get(2 * k, pw + 4, out int sc0, out int m0);
                KScales.Get(2 * k + 1, pw + 4, out int sc1, out int m1);
                Vector256<byte> q = Vector256.Load(qs + 32 * k);
                Vector256<byte> lo = q & m4;
                Vector256<byte> hi = Vector256.ShiftRightLogical(q, 4) & m4;
                if (fiveBits)
                {
                    lo |= Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, 2 * k) & one, 4);
                    hi |= Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, 2 * k + 1) & one, 4);
                }

                isum += VecDotLegacy.DotU8S8(lo, Vector256.Load(aq + 64 * k)) * Vector256.Create(sc0);
                isum += VecDotLegacy.DotU8S8(hi, Vector256.Load(aq + 64 * k + 32)) * Vector256.Create(sc1);
                summ += m0 * (bsums[4 * k] + bsums[4 * k + 1]) + m1 * (bsums[4 * k + 2] + bsums[4 * k + 3]);
            }

            float da = *(float*)pa;
            s += da * Dequantize.F16(pw) * Vector256.Sum(isum) - da * Dequantize.F16(pw + 2) * summ;
        }

        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6_K(byte* pw0, byte* pa0, int n)
    {
        if (!Avx2.IsSupported)
        {
            return VecDotReference.Dot(GgmlType.Q6_K, pw0, pa0, n);
        }

        byte* pw = pw0, pa = pa0;
        float s = 0;
        Vector256<byte> m4 = Vector256.Create((byte)0x0F);
        Vector256<byte> m2 = Vector256.Create((byte)3);
        for (int i = 0; i < n / 256; i++, pw += BlockQ6_K.Size, pa += BlockQ8_K.Size)
        {
            sbyte* aq = (sbyte*)(pa + 4);
            short* bsums = (short*)(pa + 260);
            sbyte* sc = (sbyte*)(pw + 192);
            Vector256<int> isum = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                Vector256<byte> ql0 = Vector256.Load(pw + 64 * h);
                Vector256<byte> ql1 = Vector256.Load(pw + 64 * h + 32);
                Vector256<byte> qh = Vector256.Load(pw + 128 + 32 * h);
                // q is unsigned 0..63 here; the -32 offset is applied below through bsums.
                Vector256<byte> q1 = (ql0 & m4) | Vector256.ShiftLeft(qh & m2, 4);
                Vector256<byte> q2 = (ql1 & m4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, 2) & m2, 4);
                Vector256<byte> q3 = (Vector256.ShiftRightLogical(ql0, 4) & m4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, 4) & m2, 4);
                Vector256<byte> q4 = (Vector256.ShiftRightLogical(ql1, 4) & m4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(qh, 6) & m2, 4);
                sbyte* sh = sc + 8 * h;
                sbyte* ah = aq + 128 * h;
                isum += VecDotLegacy.DotU8S8(q1, Vector256.Load(ah)) * Scales2(sh[0], sh[1]);
                isum += VecDotLegacy.DotU8S8(q2, Vector256.Load(ah + 32)) * Scales2(sh[2], sh[3]);
                isum += VecDotLegacy.DotU8S8(q3, Vector256.Load(ah + 64)) * Scales2(sh[4], sh[5]);
                isum += VecDotLegacy.DotU8S8(q4, Vector256.Load(ah + 96)) * Scales2(sh[6], sh[7]);
            }

            int offset = 0;
            for (int g = 0; g < 16; g++) offset += sc[g] * bsums[g];
            float da = *(float*)pa;
            s += da * Dequantize.F16(pw + 208) * (Vector256.Sum(isum) - 32 * offset);
        }

        return s;
    }

    /// <summary>int32 lanes 0..3 cover the first 16 bytes (one scale group), lanes 4..7 the next 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scales2(int s0, int s1) => Vector256.Create(Vector128.Create(s0), Vector128.Create(s1));
}
