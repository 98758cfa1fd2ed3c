// Matrix products of packed Q4 weights (PackedQ4.cs) with packed activation rows:
// output[b, o] = dot(weight row o, activation row b) for columns [colStart, colEnd), output row-major (batch x outDim).
// Per group of 4 blocks the AVX-512 step is: one 64-byte load of nibbles, two masks, two u8 x s8 multiply-adds
// (low and high halves of the blocks), one widening add to 16 int32 lanes (4 a block), one conversion, one
// fused multiply-add by the blocks' dw*da spread over their lanes, and one 4-lane fused multiply-add of the
// offset terms mw*sa. The file-layout kernel (VecDotQ4_1) needs about three times the instructions.
// Batch invariance: the tiles (4 weight rows x 1 or 2 activation rows) run exactly the one-row Step per
// (weight row, activation row) pair in the same group order with their own accumulators, and reduce the same
// way; so any batch, row place and column split gives the same bits (tests check). The AVX2 path (used when
// AVX-512 is off) has its own fixed order; the scalar reference is the plain per-block formula.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

internal static unsafe class PackedQ4MatMul
{
    private const int WG = PackedQ4Matrix.WeightGroupBytes, AG = PackedActivations.GroupBytes;
    private static readonly float TwoTo112 = BitConverter.Int32BitsToSingle((112 + 127) << 23);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(PackedQ4Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        int outDim = w.OutDim, groups = w.Groups, wb = w.RowBytes, ab = PackedActivations.RowBytes(w.InDim);
        Check(w, activations, batch, output, colStart, colEnd);
        byte* pw0 = w.Data;
        fixed (byte* pa0 = activations)
        fixed (float* py = output)
        {
            int o = colStart;
            if (Avx512BW.IsSupported)
            {
                for (; o + 4 <= colEnd; o += 4)
                {
                    byte* pw = pw0 + (long)o * wb;
                    int b = 0;
                    for (; b + 2 <= batch; b += 2)
                        Tile4x2(pw, wb, pa0 + (long)b * ab, ab, groups, py + (long)b * outDim + o, outDim);
                    if (b < batch)
                        Tile4x1(pw, wb, pa0 + (long)b * ab, groups, py + (long)b * outDim + o);
                }
            }
            for (; o < colEnd; o++)
            {
                byte* pw = pw0 + (long)o * wb;
                for (int b = 0; b < batch; b++)
                    py[(long)b * outDim + o] = Dot(pw, pa0 + (long)b * ab, groups);
            }
        }
    }

    /// <summary>Same contract as <see cref="Rows"/>, with the scalar reference dot product.</summary>
    public static void RowsReference(PackedQ4Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        Check(w, activations, batch, output, colStart, colEnd);
        int ab = PackedActivations.RowBytes(w.InDim);
        fixed (byte* pa0 = activations)
        {
            for (int o = colStart; o < colEnd; o++)
                for (int b = 0; b < batch; b++)
                    output[b * w.OutDim + o] = DotReference(w.Data + (long)o * w.RowBytes, pa0 + (long)b * ab, w.Groups);
        }
    }

    private static void Check(PackedQ4Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        if (batch < 0 || colStart < 0 || colEnd < colStart || colEnd > w.OutDim)
            throw new ArgumentOutOfRangeException(nameof(colEnd), $"PackedQ4MatMul: bad range batch={batch} columns [{colStart}, {colEnd}) of {w.OutDim}.");
        if (activations.Length < (long)batch * PackedActivations.RowBytes(w.InDim) || output.Length < (long)batch * w.OutDim)
            throw new ArgumentException($"PackedQ4MatMul: activations {activations.Length} bytes, output {output.Length} floats for batch {batch}.");
    }

    /// <summary>One weight row against one activation row, the fastest path this machine has.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, byte* a, int groups)
    {
        if (Avx512BW.IsSupported)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            Vector128<float> macc = Vector128<float>.Zero;
            for (int g = 0; g < groups; g++)
            {
                Weights(w + g * WG, out var lo, out var hi, out var dw, out var mw);
                Step(lo, hi, dw, mw, a + g * AG, ref acc, ref macc);
            }
            return FloatSum.Sum(acc) + FloatSum.Sum(macc);
        }
        if (Avx2.IsSupported && Fma.IsSupported) return Dot256(w, a, groups);
        return DotReference(w, a, groups);
    }

    /// <summary>The plain formula: sum over blocks of dw*da*sum(q*y) + mw*sa, left to right.</summary>
    public static float DotReference(byte* w, byte* a, int groups)
    {
        float sum = 0;
        for (int g = 0; g < groups; g++)
        {
            byte* wg = w + g * WG;
            byte* ag = a + g * AG;
            for (int j = 0; j < PackedQ4Matrix.BlocksPerGroup; j++)
            {
                int sumi = 0;
                for (int i = 0; i < 16; i++)
                {
                    byte q = wg[16 * j + i];
                    sumi += (q & 0x0F) * ((sbyte*)ag)[16 * j + i] + (q >> 4) * ((sbyte*)ag)[64 + 16 * j + i];
                }
                float dw = (float)((Half*)(wg + 64))[j], mw = (float)((Half*)(wg + 72))[j];
                float da = ((float*)(ag + 128))[j], sa = ((float*)(ag + 144))[j];
                sum += dw * da * sumi + mw * sa;
            }
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x1(byte* pw, int wStride, byte* pa, int groups, float* y)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        Vector128<float> m0 = Vector128<float>.Zero, m1 = m0, m2 = m0, m3 = m0;
        for (int g = 0; g < groups; g++)
        {
            byte* a = pa + g * AG;
            int off = g * WG;
            Weights(pw + off, out var lo, out var hi, out var dw, out var mw);
            Step(lo, hi, dw, mw, a, ref acc0, ref m0);
            Weights(pw1 + off, out lo, out hi, out dw, out mw);
            Step(lo, hi, dw, mw, a, ref acc1, ref m1);
            Weights(pw2 + off, out lo, out hi, out dw, out mw);
            Step(lo, hi, dw, mw, a, ref acc2, ref m2);
            Weights(pw3 + off, out lo, out hi, out dw, out mw);
            Step(lo, hi, dw, mw, a, ref acc3, ref m3);
        }
        y[0] = FloatSum.Sum(acc0) + FloatSum.Sum(m0);
        y[1] = FloatSum.Sum(acc1) + FloatSum.Sum(m1);
        y[2] = FloatSum.Sum(acc2) + FloatSum.Sum(m2);
        y[3] = FloatSum.Sum(acc3) + FloatSum.Sum(m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2(byte* pw, int wStride, byte* pa, int aStride, int groups, float* y, int yStride)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        byte* pb = pa + aStride;
        Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        Vector128<float> m00 = Vector128<float>.Zero, m01 = m00, m02 = m00, m03 = m00, m10 = m00, m11 = m00, m12 = m00, m13 = m00;
        for (int g = 0; g < groups; g++)
        {
            byte* a = pa + g * AG, b = pb + g * AG;
            int off = g * WG;
            Weights(pw + off, out var lo, out var hi, out var dw, out var mw);
            Step(lo, hi, dw, mw, a, ref a00, ref m00);
            Step(lo, hi, dw, mw, b, ref a10, ref m10);
            Weights(pw1 + off, out lo, out hi, out dw, out mw);
            Step(lo, hi, dw, mw, a, ref a01, ref m01);
            Step(lo, hi, dw, mw, b, ref a11, ref m11);
            Weights(pw2 + off, out lo, out hi, out dw, out mw);
            Step(lo, hi, dw, mw, a, ref a02, ref m02);
            Step(lo, hi, dw, mw, b, ref a12, ref m12);
            Weights(pw3 + off, out lo, out hi, out dw, out mw);
            Step(lo, hi, dw, mw, a, ref a03, ref m03);
            Step(lo, hi, dw, mw, b, ref a13, ref m13);
        }
        float* z = y + yStride;
        y[0] = FloatSum.Sum(a00) + FloatSum.Sum(m00);
        y[1] = FloatSum.Sum(a01) + FloatSum.Sum(m01);
        y[2] = FloatSum.Sum(a02) + FloatSum.Sum(m02);
        y[3] = FloatSum.Sum(a03) + FloatSum.Sum(m03);
        z[0] = FloatSum.Sum(a10) + FloatSum.Sum(m10);
        z[1] = FloatSum.Sum(a11) + FloatSum.Sum(m11);
        z[2] = FloatSum.Sum(a12) + FloatSum.Sum(m12);
        z[3] = FloatSum.Sum(a13) + FloatSum.Sum(m13);
    }

    /// <summary>A weight group's nibbles (low and high halves of its 4 blocks), scales and mins.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Weights(byte* g, out Vector512<byte> lo, out Vector512<byte> hi, out Vector128<float> d, out Vector128<float> m)
    {
        Vector512<byte> v = Vector512.Load(g);
        Vector512<byte> mask = Vector512.Create((byte)0x0F);
        lo = v & mask;
        hi = Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;
        Scales(g + 64, out d, out m);
    }

    /// <summary>
    /// Widens the group's 8 halves (d[4], m[4]) to float exactly: the half's exponent and mantissa moved into a
    /// float's bits and scaled by 2^112 (right for normal and subnormal halves), then the sign. Scales are finite.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scales(byte* p, out Vector128<float> d, out Vector128<float> m)
    {
        Vector256<uint> h = Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)p)).AsUInt32();
        Vector256<float> magnitude = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13).AsSingle() * Vector256.Create(TwoTo112);
        Vector256<float> f = magnitude | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16).AsSingle();
        d = f.GetLower();
        m = f.GetUpper();
    }

    /// <summary>
    /// The one step every AVX-512 kernel runs per (weight group, activation group):
    /// acc += (dw*da per block, over its 4 lanes) * (int32 lanes of sum(q*y)); macc += mw*sa per block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(Vector512<byte> lo, Vector512<byte> hi, Vector128<float> dw, Vector128<float> mw, byte* a,
        ref Vector512<float> acc, ref Vector128<float> macc)
    {
        Vector512<short> p16 = Avx512BW.MultiplyAddAdjacent(lo, Vector512.Load((sbyte*)a))
            + Avx512BW.MultiplyAddAdjacent(hi, Vector512.Load((sbyte*)(a + 64)));
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(p16, Vector512.Create((short)1));
        Vector128<float> s = dw * Vector128.Load((float*)(a + 128));
        Vector512<float> spread = Avx512F.PermuteVar16x32(s.ToVector256Unsafe().ToVector512Unsafe(), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), spread, acc);
        macc = Fma.MultiplyAdd(mw, Vector128.Load((float*)(a + 144)), macc);
    }

    /// <summary>The AVX2 path: each group as two 256-bit halves (blocks 0-1, then 2-3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot256(byte* w, byte* a, int groups)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        Vector128<float> macc = Vector128<float>.Zero;
        Vector256<byte> mask = Vector256.Create((byte)0x0F);
        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<int> first = Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1), second = Vector256.Create(2, 2, 2, 2, 3, 3, 3, 3);
        for (int g = 0; g < groups; g++)
        {
            byte* wg = w + g * WG;
            byte* ag = a + g * AG;
            Scales(wg + 64, out var dw, out var mw);
            Vector128<float> s = dw * Vector128.Load((float*)(ag + 128));
            Vector256<float> s2 = Vector256.Create(s, s);
            for (int h = 0; h < 2; h++)
            {
                Vector256<byte> v = Vector256.Load(wg + 32 * h);
                Vector256<byte> lo = v & mask;
                Vector256<byte> hi = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;
                Vector256<short> p16 = Avx2.MultiplyAddAdjacent(lo, Vector256.Load((sbyte*)(ag + 32 * h)))
                    + Avx2.MultiplyAddAdjacent(hi, Vector256.Load((sbyte*)(ag + 64 + 32 * h)));
                Vector256<int> p = Avx2.MultiplyAddAdjacent(p16, ones);
                Vector256<float> spread = Avx2.PermuteVar8x32(s2, h == 0 ? first : second);
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), spread, acc);
            }
            macc = Fma.MultiplyAdd(mw, Vector128.Load((float*)(ag + 144)), macc);
        }
        return FloatSum.Sum(acc) + FloatSum.Sum(macc);
    }
}
