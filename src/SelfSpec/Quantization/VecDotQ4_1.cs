// Q4_1 x Q8_1 dot kernels, the engine's hottest loop (SmolLM2's matrices are Q4_1).
// Dot: (weight row, activation row, n) -> dot.
// Tile: (first weight row, weight row stride bytes, first activation row, activation row stride bytes, n,
//        output, output row stride floats, batchRows 1 or 2): 4 consecutive weight rows x batchRows activation
//        rows; output[b * yStride + k] = dot(weight row k, activation row b). Each unpacked weight block pair is
//        used by every activation row and each activation block pair by all four weight rows.
// Batch invariance: every (weight row, activation row) pair runs the same inlined Step / Step256 on operands
// built by the same WeightPair / ActPair code, with its own accumulators, in the same block order, so a tile
// returns bit for bit what Dot returns; MatMul's tests check this.
// Layout: on AVX-512 two blocks share a 512-bit vector, values ordered [block 0 elements 0..15, block 1 0..15,
// block 0 16..31, block 1 16..31] so the weight nibbles need one shift and one mask; the scale vectors follow
// the same order. dot = sum over blocks of dw*da*sum(q*y) + mw*sa (sa = da*sum(y), precomputed by Q8_1).
// An odd last block runs the 256-bit Step256 into its own accumulator. Float sums are FloatSum's fixed order.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class VecDotQ4_1
{
    private const int W = BlockQ4_1.Size, A = BlockQ8_1.Size;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* pw, byte* pa, int n)
    {
        if (!VecDotLegacy.Accelerated)
        {
            return VecDotReference.Q4_1(pw, pa, n);
        }

        int nb = n / 32, i = 0;
        float summs = 0, total512 = 0;
        if (Avx512BW.IsSupported)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            Vector128<float> macc = Vector128<float>.Zero;
            for (; i + 1 < nb; i += 2)
            {
                WeightPair(pw + i * W, out var q, out var dw, out var mw);
                ActPair(pa + i * A, out var y, out var da, out var sa);
                Step(q, dw, mw, y, da, sa, ref acc, ref macc);
            }

            total512 = FloatSum.Sum(acc);
            summs = Mins(macc);
        }

        Vector256<float> acc256 = Vector256<float>.Zero;
        for (; i < nb; i++)
        {
            Step256(pw + i * W, pa + i * A, ref acc256, ref summs);
        }

        return total512 + FloatSum.Sum(acc256) + summs;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile(byte* pw, int wStride, byte* pa, int aStride, int n, float* y, int yStride, int batchRows)
    {
        if (batchRows == 2)
        {
            Tile4x2(pw, wStride, pa, aStride, n, y, yStride);
        }
        else
        {
            Tile4x1(pw, wStride, pa, n, y);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x1(byte* pw, int wStride, byte* pa, int n, float* y)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        int nb = n / 32, i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        if (Avx512BW.IsSupported)
        {
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            Vector128<float> m0 = Vector128<float>.Zero, m1 = m0, m2 = m0, m3 = m0;
            for (; i + 1 < nb; i += 2)
            {
                ActPair(pa + i * A, out var ya, out var da, out var sa);
                int off = i * W;
                WeightPair(pw + off, out var q, out var dw, out var mw);
                Step(q, dw, mw, ya, da, sa, ref acc0, ref m0);
                WeightPair(pw1 + off, out q, out dw, out mw);
                Step(q, dw, mw, ya, da, sa, ref acc1, ref m1);
                WeightPair(pw2 + off, out q, out dw, out mw);
                Step(q, dw, mw, ya, da, sa, ref acc2, ref m2);
                WeightPair(pw3 + off, out q, out dw, out mw);
                Step(q, dw, mw, ya, da, sa, ref acc3, ref m3);
            }

            t0 = FloatSum.Sum(acc0);
            t1 = FloatSum.Sum(acc1);
            t2 = FloatSum.Sum(acc2);
            t3 = FloatSum.Sum(acc3);
            s0 = Mins(m0);
            s1 = Mins(m1);
            s2 = Mins(m2);
            s3 = Mins(m3);
        }

        Vector256<float> b0 = Vector256<float>.Zero, b1 = b0, b2 = b0, b3 = b0;
        for (; i < nb; i++)
        {
            byte* a = pa + i * A;
            int off = i * W;
            Step256(pw + off, a, ref b0, ref s0);
            Step256(pw1 + off, a, ref b1, ref s1);
            Step256(pw2 + off, a, ref b2, ref s2);
            Step256(pw3 + off, a, ref b3, ref s3);
        }

        y[0] = t0 + FloatSum.Sum(b0) + s0;
        y[1] = t1 + FloatSum.Sum(b1) + s1;
        y[2] = t2 + FloatSum.Sum(b2) + s2;
        y[3] = t3 + FloatSum.Sum(b3) + s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2(byte* pw, int wStride, byte* pa, int aStride, int n, float* y, int yStride)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        byte* pb = pa + aStride;
        int nb = n / 32, i = 0;
        float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        float t00 = 0, t01 = 0, t02 = 0, t03 = 0, t10 = 0, t11 = 0, t12 = 0, t13 = 0;
        if (Avx512BW.IsSupported)
        {
            Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            Vector128<float> m00 = Vector128<float>.Zero, m01 = m00, m02 = m00, m03 = m00, m10 = m00, m11 = m00, m12 = m00, m13 = m00;
            for (; i + 1 < nb; i += 2)
            {
                ActPair(pa + i * A, out var ya, out var da, out var sa);
                ActPair(pb + i * A, out var yb, out var db, out var sb);
                int off = i * W;
                WeightPair(pw + off, out var q, out var dw, out var mw);
                Step(q, dw, mw, ya, da, sa, ref a00, ref m00);
                Step(q, dw, mw, yb, db, sb, ref a10, ref m10);
                WeightPair(pw1 + off, out q, out dw, out mw);
                Step(q, dw, mw, ya, da, sa, ref a01, ref m01);
                Step(q, dw, mw, yb, db, sb, ref a11, ref m11);
                WeightPair(pw2 + off, out q, out dw, out mw);
                Step(q, dw, mw, ya, da, sa, ref a02, ref m02);
                Step(q, dw, mw, yb, db, sb, ref a12, ref m12);
                WeightPair(pw3 + off, out q, out dw, out mw);
                Step(q, dw, mw, ya, da, sa, ref a03, ref m03);
                Step(q, dw, mw, yb, db, sb, ref a13, ref m13);
            }

            t00 = FloatSum.Sum(a00);
            t01 = FloatSum.Sum(a01);
            t02 = FloatSum.Sum(a02);
            t03 = FloatSum.Sum(a03);
            t10 = FloatSum.Sum(a10);
            t11 = FloatSum.Sum(a11);
            t12 = FloatSum.Sum(a12);
            t13 = FloatSum.Sum(a13);
            s00 = Mins(m00);
            s01 = Mins(m01);
            s02 = Mins(m02);
            s03 = Mins(m03);
            s10 = Mins(m10);
            s11 = Mins(m11);
            s12 = Mins(m12);
            s13 = Mins(m13);
        }

        Vector256<float> b00 = Vector256<float>.Zero, b01 = b00, b02 = b00, b03 = b00, b10 = b00, b11 = b00, b12 = b00, b13 = b00;
        for (; i < nb; i++)
        {
            int off = i * W, aoff = i * A;
            Step256(pw + off, pa + aoff, ref b00, ref s00);
            Step256(pw1 + off, pa + aoff, ref b01, ref s01);
            Step256(pw2 + off, pa + aoff, ref b02, ref s02);
            Step256(pw3 + off, pa + aoff, ref b03, ref s03);
            Step256(pw + off, pb + aoff, ref b10, ref s10);
            Step256(pw1 + off, pb + aoff, ref b11, ref s11);
            Step256(pw2 + off, pb + aoff, ref b12, ref s12);
            Step256(pw3 + off, pb + aoff, ref b13, ref s13);
        }

        float* z = y + yStride;
        y[0] = t00 + FloatSum.Sum(b00) + s00;
        y[1] = t01 + FloatSum.Sum(b01) + s01;
        y[2] = t02 + FloatSum.Sum(b02) + s02;
        y[3] = t03 + FloatSum.Sum(b03) + s03;
        z[0] = t10 + FloatSum.Sum(b10) + s10;
        z[1] = t11 + FloatSum.Sum(b11) + s11;
        z[2] = t12 + FloatSum.Sum(b12) + s12;
        z[3] = t13 + FloatSum.Sum(b13) + s13;
    }

    /// <summary>Nibbles, scale vector and (m0, m1) of the two Q4_1 blocks at w.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightPair(byte* w, out Vector512<byte> q, out Vector512<float> d, out Vector128<float> m)
    {
        Vector256<byte> v = Vector256.Create(Vector128.Load(w + 4), Vector128.Load(w + W + 4));
        q = Vector512.Create(v, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte()) & Vector512.Create((byte)0x0F);
        Vector256<float> t = Vector256.Create(Vector128.Create(F16(w)), Vector128.Create(F16(w + W)));
        d = Vector512.Create(t, t);
        m = Vector128.Create(F16(w + 2), F16(w + W + 2), 0f, 0f);
    }

    /// <summary>Values, scale vector and (s0, s1) of the two Q8_1 blocks at a, in WeightPair's order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ActPair(byte* a, out Vector512<sbyte> y, out Vector512<float> d, out Vector128<float> s)
    {
        y = Vector512.Create(
            Vector256.Create(Vector128.Load((sbyte*)(a + 4)), Vector128.Load((sbyte*)(a + A + 4))),
            Vector256.Create(Vector128.Load((sbyte*)(a + 20)), Vector128.Load((sbyte*)(a + A + 20))));
        Vector256<float> t = Vector256.Create(Vector128.Create(F16(a)), Vector128.Create(F16(a + A)));
        d = Vector512.Create(t, t);
        s = Vector128.Create(F16(a + 2), F16(a + A + 2), 0f, 0f);
    }

    /// <summary>
    /// The one step every kernel runs per block pair: acc += (dw * da) * sum(q * y); macc += (m0*s0, m1*s1) lanewise.
    /// The min terms stay in a vector (no horizontal add, no serial scalar chain) until <see cref="Mins"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(Vector512<byte> q, Vector512<float> dw, Vector128<float> mw, Vector512<sbyte> y, Vector512<float> da, Vector128<float> sa,
        ref Vector512<float> acc, ref Vector128<float> macc)
    {
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, y), Vector512.Create((short)1));
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), dw * da, acc);
        macc = Fma.MultiplyAdd(mw, sa, macc);
    }

    /// <summary>The min terms of the block pairs: lane 0 (first blocks) + lane 1 (second blocks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Mins(Vector128<float> macc) => macc.GetElement(0) + macc.GetElement(1);

    /// <summary>One Q4_1 block at w against one Q8_1 block at a, 256 bits wide (odd last block, or no AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step256(byte* w, byte* a, ref Vector256<float> acc, ref float summs)
    {
        Vector256<int> p = VecDotLegacy.DotU8S8(VecDotLegacy.Nibbles256(w + 4), Vector256.Load((sbyte*)(a + 4)));
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(F16(w) * F16(a)), acc);
        summs += F16(w + 2) * F16(a + 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float F16(byte* p) => Dequantize.F16(p);
}
