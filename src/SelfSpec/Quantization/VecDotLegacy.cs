// SIMD dot kernels for the 32-element legacy quants: Q4_0 x Q8_0, Q4_1 x Q8_1, Q8_0 x Q8_0.
// One-row kernels: (weight row, activation row, n) -> dot. Four-row kernels Q4_0x4 / Q8_0x4:
// (weight row, first activation row, activation row stride in bytes, n, output, output stride in floats)
// compute four dots with one weight row, unpacking each weight block once for all four. Q4_1w4:
// (first weight row, weight row stride in bytes, activation row, n, output[4]) shares the activation block
// across four weight rows instead (measured as fast as a Q4_1x4 for batches, and it also serves batch 1).
// Batch invariance: both kinds run every activation row through the same inlined per-block step
// (Q4_1Pair / Q4_1Block / Q4_0Block / Q8_0Block) with its own accumulators, in the same block order, so the
// four-row kernel returns bit for bit what four one-row calls return; MatMul relies on this.
// Integer products use vpmaddubsw (u8 x s8 -> s16 pairs) then vpmaddwd with ones (-> s32), or one vpdpbusd where
// AvxVnni is supported (same exact integer sums, so results do not depend on which runs). .NET 10 exposes no
// AVX512-VNNI class and the development CPU has no VEX AVX-VNNI, so the 512-bit step uses vpmaddubsw too. No
// operand reaches the int16 saturation of vpmaddubsw: weights are at most 63 (K) or |127| (Q8_0, via |x|) and
// activations stay within -127..127 as every q8 quantizer produces them.
// Per block the 8 int32 partials are converted to float and fused-multiply-added with the block scale into a
// float vector accumulator, reduced once at the end. Q4_1 on AVX-512 handles two blocks per 512-bit vector; an
// odd last block goes through the 256-bit step into its own accumulator (reduced in a fixed order).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class VecDotLegacy
{
    private const int W41 = BlockQ4_1.Size, A81 = BlockQ8_1.Size, W40 = BlockQ4_0.Size, A80 = BlockQ8_0.Size;

    /// <summary>True when the SIMD kernels (and the four-row kernels) run; otherwise the scalar reference.</summary>
    public static bool Accelerated => Avx2.IsSupported && Fma.IsSupported;

    // ---------------- Q4_1 x Q8_1 ----------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_1(byte* pw, byte* pa, int n)
    {
        if (!Accelerated)
        {
            return VecDotReference.Dot(GgmlType.Q4_1, pw, pa, n);
        }

        int nb = n / 32, i = 0;
        float summs = 0, total512 = 0;
        if (Avx512BW.IsSupported)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i + 1 < nb; i += 2)
            {
                byte* w = pw + i * W41;
                Vector512<byte> q = NibblesPair(w + 4);
                Q4_1Pair(q, F16(w), F16(w + W41), F16(w + 2), F16(w + W41 + 2), pa + i * A81, ref acc, ref summs);
            }

            total512 = FloatSum.Sum(acc);
        }

        Vector256<float> acc256 = Vector256<float>.Zero;
        for (; i < nb; i++)
        {
            byte* w = pw + i * W41;
            Q4_1Block(Nibbles256(w + 4), F16(w), F16(w + 2), pa + i * A81, ref acc256, ref summs);
        }

        return total512 + FloatSum.Sum(acc256) + summs;
    }

    /// <summary>Two Q4_1 blocks (nibbles q, scales d0/d1, mins m0/m1) against two Q8_1 blocks at a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_1Pair(Vector512<byte> q, float d0, float d1, float m0, float m1, byte* a, ref Vector512<float> acc, ref float summs)
        => Q4_1Pair(q, d0, d1, m0, m1, LoadPair(a), F16(a), F16(a + A81), F16(a + 2), F16(a + A81 + 2), ref acc, ref summs);

    /// <summary>
    /// The 64 int8 values of two consecutive Q8_1 blocks at a, in the order NibblesPair gives the weights:
    /// [block 0 elements 0..15, block 1 elements 0..15, block 0 elements 16..31, block 1 elements 16..31].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> LoadPair(byte* a)
        => Vector512.Create(
            Vector256.Create(Vector128.Load((sbyte*)(a + 4)), Vector128.Load((sbyte*)(a + A81 + 4))),
            Vector256.Create(Vector128.Load((sbyte*)(a + 20)), Vector128.Load((sbyte*)(a + A81 + 20))));

    /// <summary>
    /// The nibbles of two consecutive Q4_1 blocks (qs of block 0 at qs, block 1 at qs + 20): low nibbles of both
    /// (elements 0..15 of each), then high nibbles of both (elements 16..31). One shift and one mask for 64 values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> NibblesPair(byte* qs)
    {
        Vector256<byte> v = Vector256.Create(Vector128.Load(qs), Vector128.Load(qs + W41));
        return Vector512.Create(v, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte()) & Vector512.Create((byte)0x0F);
    }

    /// <summary>The one step every Q4_1 kernel runs per block pair (so all of them give identical bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_1Pair(Vector512<byte> q, float d0, float d1, float m0, float m1,
        Vector512<sbyte> y, float da0, float da1, float sa0, float sa1, ref Vector512<float> acc, ref float summs)
    {
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, y), Vector512.Create((short)1));
        // int32 lanes 0..3 and 8..11 hold block 0, lanes 4..7 and 12..15 block 1 (see LoadPair).
        Vector256<float> d01 = Vector256.Create(Vector128.Create(d0 * da0), Vector128.Create(d1 * da1));
        Vector512<float> d = Vector512.Create(d01, d01);
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), d, acc);
        summs += m0 * sa0 + m1 * sa1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_1Block(Vector256<byte> q, float d, float m, byte* a, ref Vector256<float> acc, ref float summs)
        => Q4_1Block(q, d, m, Vector256.Load((sbyte*)(a + 4)), F16(a), F16(a + 2), ref acc, ref summs);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_1Block(Vector256<byte> q, float d, float m, Vector256<sbyte> y, float da, float sa, ref Vector256<float> acc, ref float summs)
    {
        Vector256<int> p = DotU8S8(q, y);
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(d * da), acc);
        summs += m * sa;
    }

    /// <summary>
    /// Four consecutive weight rows (stride wStride bytes) against one activation row: the activation block is
    /// loaded once for all four. Outputs go to y[0], y[1], y[2], y[3].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_1w4(byte* pw, int wStride, byte* pa, int n, float* y)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        int nb = n / 32, i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        if (Avx512BW.IsSupported)
        {
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (; i + 1 < nb; i += 2)
            {
                byte* a = pa + i * A81;
                Vector512<sbyte> ya = LoadPair(a);
                float da0 = F16(a), da1 = F16(a + A81), sa0 = F16(a + 2), sa1 = F16(a + A81 + 2);
                int off = i * W41;
                Q4_1PairW(pw + off, ya, da0, da1, sa0, sa1, ref acc0, ref s0);
                Q4_1PairW(pw1 + off, ya, da0, da1, sa0, sa1, ref acc1, ref s1);
                Q4_1PairW(pw2 + off, ya, da0, da1, sa0, sa1, ref acc2, ref s2);
                Q4_1PairW(pw3 + off, ya, da0, da1, sa0, sa1, ref acc3, ref s3);
            }

            t0 = FloatSum.Sum(acc0);
            t1 = FloatSum.Sum(acc1);
            t2 = FloatSum.Sum(acc2);
            t3 = FloatSum.Sum(acc3);
        }

        Vector256<float> b0 = Vector256<float>.Zero, b1 = b0, b2 = b0, b3 = b0;
        for (; i < nb; i++)
        {
            byte* a = pa + i * A81;
            Vector256<sbyte> ya = Vector256.Load((sbyte*)(a + 4));
            float da = F16(a), sa = F16(a + 2);
            int off = i * W41;
            Q4_1Block(Nibbles256(pw + off + 4), F16(pw + off), F16(pw + off + 2), ya, da, sa, ref b0, ref s0);
            Q4_1Block(Nibbles256(pw1 + off + 4), F16(pw1 + off), F16(pw1 + off + 2), ya, da, sa, ref b1, ref s1);
            Q4_1Block(Nibbles256(pw2 + off + 4), F16(pw2 + off), F16(pw2 + off + 2), ya, da, sa, ref b2, ref s2);
            Q4_1Block(Nibbles256(pw3 + off + 4), F16(pw3 + off), F16(pw3 + off + 2), ya, da, sa, ref b3, ref s3);
        }

        y[0] = t0 + FloatSum.Sum(b0) + s0;
        y[1] = t1 + FloatSum.Sum(b1) + s1;
        y[2] = t2 + FloatSum.Sum(b2) + s2;
        y[3] = t3 + FloatSum.Sum(b3) + s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_1PairW(byte* w, Vector512<sbyte> ya, float da0, float da1, float sa0, float sa1, ref Vector512<float> acc, ref float summs)
    {
        Vector512<byte> q = NibblesPair(w + 4);
        Q4_1Pair(q, F16(w), F16(w + W41), F16(w + 2), F16(w + W41 + 2), ya, da0, da1, sa0, sa1, ref acc, ref summs);
    }

    // ---------------- Q4_0 x Q8_0 ----------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_0(byte* pw, byte* pa, int n)
    {
        if (!Accelerated)
        {
            return VecDotReference.Dot(GgmlType.Q4_0, pw, pa, n);
        }

        Vector256<float> acc = Vector256<float>.Zero;
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * W40;
            Q4_0Block(Nibbles256(w + 2), F16(w), pa + i * A80, ref acc);
        }

        return FloatSum.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_0x4(byte* pw, byte* pa, int aStride, int n, float* y, int yStride)
    {
        byte* pa1 = pa + aStride, pa2 = pa1 + aStride, pa3 = pa2 + aStride;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * W40;
            Vector256<byte> q = Nibbles256(w + 2);
            float d = F16(w);
            int off = i * A80;
            Q4_0Block(q, d, pa + off, ref acc0);
            Q4_0Block(q, d, pa1 + off, ref acc1);
            Q4_0Block(q, d, pa2 + off, ref acc2);
            Q4_0Block(q, d, pa3 + off, ref acc3);
        }

        y[0] = FloatSum.Sum(acc0);
        y[yStride] = FloatSum.Sum(acc1);
        y[2 * yStride] = FloatSum.Sum(acc2);
        y[3 * yStride] = FloatSum.Sum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_0Block(Vector256<byte> q, float d, byte* a, ref Vector256<float> acc)
    {
        Vector256<sbyte> y = Vector256.Load((sbyte*)(a + 2));
        // (q - 8) . y = q . y - 8 . y; both products fit vpmaddubsw without saturation.
        Vector256<int> p = DotU8S8(q, y) - DotU8S8(Vector256.Create((byte)8), y);
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(d * F16(a)), acc);
    }

    // ---------------- Q8_0 x Q8_0 ----------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q8_0(byte* pw, byte* pa, int n)
    {
        if (!Accelerated)
        {
            return VecDotReference.Dot(GgmlType.Q8_0, pw, pa, n);
        }

        Vector256<float> acc = Vector256<float>.Zero;
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * A80;
            Vector256<sbyte> x = Vector256.Load((sbyte*)(w + 2));
            Q8_0Block(Avx2.Abs(x), x, F16(w), pa + i * A80, ref acc);
        }

        return FloatSum.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_0x4(byte* pw, byte* pa, int aStride, int n, float* y, int yStride)
    {
        byte* pa1 = pa + aStride, pa2 = pa1 + aStride, pa3 = pa2 + aStride;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * A80;
            Vector256<sbyte> x = Vector256.Load((sbyte*)(w + 2));
            Vector256<byte> ax = Avx2.Abs(x);
            float d = F16(w);
            int off = i * A80;
            Q8_0Block(ax, x, d, pa + off, ref acc0);
            Q8_0Block(ax, x, d, pa1 + off, ref acc1);
            Q8_0Block(ax, x, d, pa2 + off, ref acc2);
            Q8_0Block(ax, x, d, pa3 + off, ref acc3);
        }

        y[0] = FloatSum.Sum(acc0);
        y[yStride] = FloatSum.Sum(acc1);
        y[2 * yStride] = FloatSum.Sum(acc2);
        y[3 * yStride] = FloatSum.Sum(acc3);
    }

    /// <summary>x . y = |x| . (y * sign(x)): vpmaddubsw wants one unsigned operand.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q8_0Block(Vector256<byte> ax, Vector256<sbyte> x, float d, byte* a, ref Vector256<float> acc)
    {
        Vector256<int> p = DotU8S8(ax, Avx2.Sign(Vector256.Load((sbyte*)(a + 2)), x));
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(d * F16(a)), acc);
    }

    // ---------------- shared ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float F16(byte* p) => Dequantize.F16(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotU8S8(Vector256<byte> u, Vector256<sbyte> s)
        => AvxVnni.IsSupported
            ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s) // vpdpbusd: same exact sums, one instruction
            : Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));

    /// <summary>16 packed bytes -> 32 nibbles in element order: low nibbles (elements 0..15), then high (16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles256(byte* qs)
    {
        Vector128<byte> q = Vector128.Load(qs);
        Vector128<byte> m = Vector128.Create((byte)0x0F);
        return Vector256.Create(q & m, Vector128.ShiftRightLogical(q, 4) & m);
    }
}
