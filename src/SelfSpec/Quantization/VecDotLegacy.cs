// SIMD dot kernels for Q4_0 x Q8_0 and Q8_0 x Q8_0 (Q4_1 lives in VecDotQ4_1), and the int8 helpers they share.
// One-row kernels: (weight row, activation row, n) -> dot. Tiles Q4_0Tile / Q8_0Tile: 4 weight rows x 1 or 2
// activation rows, contract as VecDotQ4_1.Tile; each weight block is unpacked once for both activation rows,
// and the 4 to 8 independent accumulators hide the FMA latency that bounds a one-row dot.
// Batch invariance: both kinds run every (weight row, activation row) pair through the same inlined per-block
// step (Q4_0Block / Q8_0Block) with its own accumulator, in the same block order, so a tile returns bit for bit
// what one-row calls return; MatMul relies on this.
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
            return VecDotReference.Q4_0(pw, pa, n);
        }

        Vector256<float> acc = Vector256<float>.Zero;
        for (int i = 0; i < n / 32; i++)
        {
            byte* w = pw + i * W40;
            Q4_0Block(Nibbles256(w + 2), F16(w), pa + i * A80, ref acc);
        }

        return FloatSum.Sum(acc);
    }

    /// <summary>4 weight rows x batchRows (1 or 2) activation rows; same contract as VecDotQ4_1.Tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4_0Tile(byte* pw, int wStride, byte* pa, int aStride, int n, float* y, int yStride, int batchRows)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        byte* pb = pa + aStride;
        bool two = batchRows == 2;
        Vector256<float> a00 = Vector256<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        for (int i = 0; i < n / 32; i++)
        {
            int off = i * W40, aoff = i * A80;
            Vector256<byte> q0 = Nibbles256(pw + off + 2), q1 = Nibbles256(pw1 + off + 2), q2 = Nibbles256(pw2 + off + 2), q3 = Nibbles256(pw3 + off + 2);
            float d0 = F16(pw + off), d1 = F16(pw1 + off), d2 = F16(pw2 + off), d3 = F16(pw3 + off);
            Q4_0Block(q0, d0, pa + aoff, ref a00);
            Q4_0Block(q1, d1, pa + aoff, ref a01);
            Q4_0Block(q2, d2, pa + aoff, ref a02);
            Q4_0Block(q3, d3, pa + aoff, ref a03);
            if (two)
            {
                Q4_0Block(q0, d0, pb + aoff, ref a10);
                Q4_0Block(q1, d1, pb + aoff, ref a11);
                Q4_0Block(q2, d2, pb + aoff, ref a12);
                Q4_0Block(q3, d3, pb + aoff, ref a13);
            }
        }

        Store(y, yStride, two, a00, a01, a02, a03, a10, a11, a12, a13);
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
            return VecDotReference.Q8_0(pw, pa, n);
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

    /// <summary>4 weight rows x batchRows (1 or 2) activation rows; same contract as VecDotQ4_1.Tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_0Tile(byte* pw, int wStride, byte* pa, int aStride, int n, float* y, int yStride, int batchRows)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        byte* pb = pa + aStride;
        bool two = batchRows == 2;
        Vector256<float> a00 = Vector256<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        for (int i = 0; i < n / 32; i++)
        {
            int off = i * A80;
            Vector256<sbyte> x0 = Vector256.Load((sbyte*)(pw + off + 2)), x1 = Vector256.Load((sbyte*)(pw1 + off + 2));
            Vector256<sbyte> x2 = Vector256.Load((sbyte*)(pw2 + off + 2)), x3 = Vector256.Load((sbyte*)(pw3 + off + 2));
            Vector256<byte> ax0 = Avx2.Abs(x0), ax1 = Avx2.Abs(x1), ax2 = Avx2.Abs(x2), ax3 = Avx2.Abs(x3);
            float d0 = F16(pw + off), d1 = F16(pw1 + off), d2 = F16(pw2 + off), d3 = F16(pw3 + off);
            Q8_0Block(ax0, x0, d0, pa + off, ref a00);
            Q8_0Block(ax1, x1, d1, pa + off, ref a01);
            Q8_0Block(ax2, x2, d2, pa + off, ref a02);
            Q8_0Block(ax3, x3, d3, pa + off, ref a03);
            if (two)
            {
                Q8_0Block(ax0, x0, d0, pb + off, ref a10);
                Q8_0Block(ax1, x1, d1, pb + off, ref a11);
                Q8_0Block(ax2, x2, d2, pb + off, ref a12);
                Q8_0Block(ax3, x3, d3, pb + off, ref a13);
            }
        }

        Store(y, yStride, two, a00, a01, a02, a03, a10, a11, a12, a13);
    }

    /// <summary>Writes a tile's sums: y[k] for the first activation row, y[yStride + k] for the second.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, int yStride, bool two, Vector256<float> a00, Vector256<float> a01, Vector256<float> a02, Vector256<float> a03,
        Vector256<float> a10, Vector256<float> a11, Vector256<float> a12, Vector256<float> a13)
    {
        y[0] = FloatSum.Sum(a00);
        y[1] = FloatSum.Sum(a01);
        y[2] = FloatSum.Sum(a02);
        y[3] = FloatSum.Sum(a03);
        if (two)
        {
            y[yStride] = FloatSum.Sum(a10);
            y[yStride + 1] = FloatSum.Sum(a11);
            y[yStride + 2] = FloatSum.Sum(a12);
            y[yStride + 3] = FloatSum.Sum(a13);
        }
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
