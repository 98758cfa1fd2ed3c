// SIMD dot kernels for the K-quants against Q8_K activations: Q4_K, Q5_K, Q6_K.
// Parameter order: (weight row bytes, activation row bytes, n); lengths checked by VecDot.Check.
// Each 256-element super-block is summed exactly in int32 lanes (vpmaddubsw + vpmaddwd, times the integer
// sub-block scale; Q6_K takes 64 values a step on AVX-512, otherwise 32), reduced to one int, and only then combined in float
// exactly as VecDotReference does, so these kernels agree with the reference bit for bit whatever the vector
// width. The min terms (Q4_K/Q5_K) and Q6_K's -32 offset use the activation's bsums.
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

    private const uint K1 = 0x3f3f3f3f, K2 = 0x0f0f0f0f, K3 = 0x03030303;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Q45K(byte* pw0, byte* pa0, int n, bool fiveBits)
    {
        if (!Avx2.IsSupported)
        {
            return fiveBits ? VecDotReference.Q5_K(pw0, pa0, n) : VecDotReference.Q4_K(pw0, pa0, n);
        }

        int size = fiveBits ? BlockQ5_K.Size : BlockQ4_K.Size;
        byte* pw = pw0, pa = pa0;
        float s = 0;
        for (int i = 0; i < n / 256; i++, pw += size, pa += BlockQ8_K.Size)
        {
            byte* qs = fiveBits ? pw + 48 : pw + 16;
            Vector256<byte> qh = fiveBits ? Vector256.Load(pw + 16) : default;
            sbyte* aq = (sbyte*)(pa + 4);
            short* bsums = (short*)(pa + 260);
            // All 8 scales and 8 mins unpacked at once (KScales layout, 32 bits at a time).
            uint u0 = Unsafe.ReadUnaligned<uint>(pw + 4), u1 = Unsafe.ReadUnaligned<uint>(pw + 8), u2 = Unsafe.ReadUnaligned<uint>(pw + 12);
            ulong scales = (u0 & K1) | ((ulong)((u2 & K2) | (((u0 >> 6) & K3) << 4)) << 32);
            ulong mins = (u1 & K1) | ((ulong)(((u2 >> 4) & K2) | (((u1 >> 6) & K3) << 4)) << 32);
            Vector256<int> pairSums = Avx2.MultiplyAddAdjacent(Vector256.Load(bsums), Vector256.Create((short)1)); // bsums[2j] + bsums[2j+1]
            int summ = Vector256.Sum(pairSums * Avx2.ConvertToVector256Int32(Vector128.CreateScalar(mins).AsByte()));
            byte* sc = (byte*)&scales;
            int total = Ints45K(qs, qh, aq, sc, fiveBits);
            float da = *(float*)pa;
            s += da * Dequantize.F16(pw) * total - da * Dequantize.F16(pw + 2) * summ;
        }

        return s;
    }

    /// <summary>
    /// Exact sum over the 8 sub-blocks of scales[j] * (q . y). 256 bits wide on purpose: a 512-bit version (64 values
    /// a step) measured 1.5x slower, its loads from the 292-byte Q8_K blocks mostly split across cache lines.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Ints45K(byte* qs, Vector256<byte> qh, sbyte* aq, byte* scales, bool fiveBits)
    {
        Vector256<byte> m4 = Vector256.Create((byte)0x0F), one = Vector256.Create((byte)1);
        Vector256<int> isum = Vector256<int>.Zero;
        for (int k = 0; k < 4; k++)
        {
            int sc0 = scales[2 * k], sc1 = scales[2 * k + 1];
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
        }

        return Vector256.Sum(isum);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6_K(byte* pw0, byte* pa0, int n)
    {
        if (!Avx2.IsSupported)
        {
            return VecDotReference.Q6_K(pw0, pa0, n);
        }

        byte* pw = pw0, pa = pa0;
        float s = 0;
        for (int i = 0; i < n / 256; i++, pw += BlockQ6_K.Size, pa += BlockQ8_K.Size)
        {
            sbyte* aq = (sbyte*)(pa + 4);
            short* bsums = (short*)(pa + 260);
            sbyte* sc = (sbyte*)(pw + 192);
            int total = Avx512BW.IsSupported ? Ints6K512(pw, aq, sc) : Ints6K256(pw, aq, sc);
            // sum over groups of scale * bsum: one vpmaddwd of the sign-extended scales with the bsums.
            int offset = Vector256.Sum(Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.Load(sc)), Vector256.Load(bsums)));
            float da = *(float*)pa;
            s += da * Dequantize.F16(pw + 208) * (total - 32 * offset);
        }

        return s;
    }

    /// <summary>Exact sum over the 16 groups of scale * (q . y) with q unsigned (0..63), 512 bits: 64 values a step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Ints6K512(byte* pw, sbyte* aq, sbyte* sc)
    {
        Vector512<byte> m4 = Vector512.Create((byte)0x0F), m2 = Vector512.Create((byte)3);
        Vector512<short> ones = Vector512.Create((short)1);
        Vector512<int> isum = Vector512<int>.Zero;
        Vector512<int> scales = Avx512F.ConvertToVector512Int32(Vector128.Load(sc)); // the 16 group scales as ints
        for (int h = 0; h < 2; h++)
        {
            Vector512<byte> l = Vector512.Load(pw + 64 * h);
            Vector256<byte> qh = Vector256.Load(pw + 128 + 32 * h);
            Vector512<byte> h12 = Vector512.Create(qh, Vector256.ShiftRightLogical(qh, 2)) & m2;
            Vector512<byte> h34 = Vector512.Create(Vector256.ShiftRightLogical(qh, 4), Vector256.ShiftRightLogical(qh, 6)) & m2;
            // [q1 | q2] and [q3 | q4] of the scalar layout; high bits are 0..3 so 16-bit shifts do not cross bytes.
            Vector512<byte> q12 = (l & m4) | Vector512.ShiftLeft(h12.AsUInt16(), 4).AsByte();
            Vector512<byte> q34 = (Vector512.ShiftRightLogical(l.AsUInt16(), 4).AsByte() & m4) | Vector512.ShiftLeft(h34.AsUInt16(), 4).AsByte();
            sbyte* ah = aq + 128 * h;
            isum += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q12, Vector512.Load(ah)), ones) * Scales4(scales, 8 * h);
            isum += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q34, Vector512.Load(ah + 64)), ones) * Scales4(scales, 8 * h + 4);
        }

        return Vector512.Sum(isum);
    }

    /// <summary>Same integer as <see cref="Ints6K512"/>, 256 bits wide.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Ints6K256(byte* pw, sbyte* aq, sbyte* sc)
    {
        Vector256<byte> m4 = Vector256.Create((byte)0x0F), m2 = Vector256.Create((byte)3);
        Vector256<int> isum = Vector256<int>.Zero;
        for (int h = 0; h < 2; h++)
        {
            Vector256<byte> ql0 = Vector256.Load(pw + 64 * h);
            Vector256<byte> ql1 = Vector256.Load(pw + 64 * h + 32);
            Vector256<byte> qh = Vector256.Load(pw + 128 + 32 * h);
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

        return Vector256.Sum(isum);
    }

    /// <summary>int32 lanes 4g..4g+3 get scale first + g (g = 0..3): each group of 16 bytes is 4 lanes after vpmaddwd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Scales4(Vector512<int> scales, int first)
        => Avx512F.PermuteVar16x32(scales, Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3) + Vector512.Create(first));

    /// <summary>int32 lanes 0..3 cover the first 16 bytes (one scale group), lanes 4..7 the next 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scales2(int s0, int s1) => Vector256.Create(Vector128.Create(s0), Vector128.Create(s1));
}
