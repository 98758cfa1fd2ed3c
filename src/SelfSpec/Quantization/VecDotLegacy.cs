// SIMD dot kernels for Q4_0 x Q8_0 and Q8_0 x Q8_0 (Q4_1 lives in VecDotQ4_1), and the int8 helpers they share.
// One-row kernels: (weight row, activation row, n) -> dot. Four-row kernels Q4_0x4 / Q8_0x4:
// (weight row, first activation row, activation row stride in bytes, n, output, output stride in floats)
// compute four dots with one weight row, unpacking each weight block once for all four.
// Batch invariance: both kinds run every activation row through the same inlined per-block step
// (Q4_0Block / Q8_0Block) with its own accumulator, in the same block order, so the four-row kernel returns
// bit for bit what four one-row calls return; MatMul relies on this.
// Integer products use vpmaddubsw (u8 x s8 -> s16 pairs) then vpmaddwd with ones (-> s32), or one vpdpbusd where
// AvxVnni is supported (same exact integer sums, so results do not depend on which runs). .NET 10 exposes no
// AVX512-VNNI class and the development CPU has no VEX AVX-VNNI, so 512-bit steps use vpmaddubsw too. No
// operand reaches the int16 saturation of vpmaddubsw: weights are at most 63 (K) or |127| (Q8_0, via |x|) and
// activations stay within -127..127 as every q8 quantizer produces them.
// Per block the 8 int32 partials are converted to float and fused-multiply-added with the block scale into a
// float vector accumulator, reduced once at the end in FloatSum's fixed order.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class VecDotLegacy
{
    private const int W40 = BlockQ4_0.Size, A80 = BlockQ8_0.Size;

    /// <summary>True when the SIMD kernels (and the four-row kernels) run; otherwise the scalar reference.</summary>
    public static bool Accelerated => Avx2.IsSupported && Fma.IsSupported;

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
    internal static Vector256<int> DotU8S8(Vector256<byte> u, Vector256<sbyte> s)
        => AvxVnni.IsSupported
            ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u, s) // vpdpbusd: same exact sums, one instruction
            : Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));

    /// <summary>16 packed bytes -> 32 nibbles in element order: low nibbles (elements 0..15), then high (16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Nibbles256(byte* qs)
    {
        Vector128<byte> q = Vector128.Load(qs);
        Vector128<byte> m = Vector128.Create((byte)0x0F);
        return Vector256.Create(q & m, Vector128.ShiftRightLogical(q, 4) & m);
    }
}
