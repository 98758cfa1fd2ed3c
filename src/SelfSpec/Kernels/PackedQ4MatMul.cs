// Matrix products of packed Q4 weights (PackedQ4.cs) with packed activation rows:
// output[b, o] = dot(weight row o, activation row b) for columns [colStart, colEnd), output row-major (batch x outDim).
// Per group of 4 blocks the AVX-512 step is: one 64-byte load of nibbles, two masks, two u8 x s8 multiply-adds
// (low and high halves of the blocks), one widening add to 16 int32 lanes (4 a block), one conversion, one
// fused multiply-add by the blocks' dw*da spread over their lanes, and one 4-lane fused multiply-add of the
// offset terms mw*sa. The file-layout kernel (VecDotQ4_1) needs about three times the instructions.
// Batch invariance: the tiles (4 weight rows x 1 or 2 activation rows; 1 weight row x 1-4 for small batches) run exactly the one-row Step per
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

    /// <summary>
    /// Batches up to this size run one weight row at a time (1 weight row x up to 4 activation rows); larger ones (prefill) in
    /// 4 x 2 tiles. Measured on SmolLM2-135M, 2 threads, a forward pass with logits for every row: one row 4.2 ms
    /// streamed against 5.2 ms in 4 x 1 tiles (four interleaved weight rows defeat the hardware prefetcher); 8 rows
    /// 17.0 against 18.4 ms; 16 rows 32.1 against 34.2 ms; prefill of 64-row chunks 523 tok/s streamed against 554 in tiles.
    /// </summary>
    private const int MaxStreamedBatch = 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(PackedQ4Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        int outDim = w.OutDim, groups = w.Groups, wb = w.RowBytes, ab = PackedActivations.RowBytes(w.InDim);
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        byte* pw0 = w.Data;
        fixed (byte* pa0 = activations)
        fixed (float* py = output)
        {
            int o = colStart;
            if (Avx512BW.IsSupported && batch > MaxStreamedBatch)
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
                if (!Avx512BW.IsSupported)
                {
                    for (int b = 0; b < batch; b++)
                        py[(long)b * outDim + o] = Dot(pw, pa0 + (long)b * ab, groups);
                    continue;
                }
                RowStream.Run<Streamer>(pw, pa0, ab, batch, groups, py + o, outDim);
            }
        }
    }

    /// <summary>The small-batch kernel, as the type <see cref="RowStream"/> runs.</summary>
    private struct Streamer : IRowStreamKernel
    {
        /// <summary>
        /// One weight row against T.Count (1-4) activation rows: the row streams in order and is unpacked once for all
        /// of them. Writes every row's output (T.Count outputs yStride apart) and returns the first.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float Stream<T>(byte* w, byte* pa, int aStride, int groups, float* y, int yStride) where T : struct, ITileSize
        {
            byte* pb = pa + aStride, pc = pb + aStride, pd = pc + aStride;
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            Vector128<float> m0 = Vector128<float>.Zero, m1 = m0, m2 = m0, m3 = m0;
            for (int g = 0; g < groups; g++)
            {
                var v = Vector512.Load(w + g * WG);
                var sc = Scales(w + g * WG + 64);
                var lo = Low(v);
                var hi = High(v);
                var dw = SpreadScales(sc);
                var mw = sc.GetUpper();
                int off = g * AG;
                acc0 = Step(lo, hi, dw, pa + off, acc0);
                m0 = MinStep(mw, pa + off, m0);
                if (T.Count > 1)
                {
                    acc1 = Step(lo, hi, dw, pb + off, acc1);
                    m1 = MinStep(mw, pb + off, m1);
                }
                if (T.Count > 2)
                {
                    acc2 = Step(lo, hi, dw, pc + off, acc2);
                    m2 = MinStep(mw, pc + off, m2);
                }
                if (T.Count > 3)
                {
                    acc3 = Step(lo, hi, dw, pd + off, acc3);
                    m3 = MinStep(mw, pd + off, m3);
                }
            }
            float first = FloatSum.Sum(acc0) + FloatSum.Sum(m0);
            if (T.Count > 1)
            {
                y[0] = first;
                y[yStride] = FloatSum.Sum(acc1) + FloatSum.Sum(m1);
            }
            if (T.Count > 2) y[2 * yStride] = FloatSum.Sum(acc2) + FloatSum.Sum(m2);
            if (T.Count > 3) y[3 * yStride] = FloatSum.Sum(acc3) + FloatSum.Sum(m3);
            return first;
        }
    }

    /// <summary>Same contract as <see cref="Rows"/>, with the scalar reference dot product.</summary>
    public static void RowsReference(PackedQ4Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        int ab = PackedActivations.RowBytes(w.InDim);
        fixed (byte* pa0 = activations)
        {
            for (int o = colStart; o < colEnd; o++)
                for (int b = 0; b < batch; b++)
                    output[b * w.OutDim + o] = DotReference(w.Data + (long)o * w.RowBytes, pa0 + (long)b * ab, w.Groups);
        }
    }

    /// <summary>One weight row against one activation row, the fastest path this machine has.</summary>
    public static float Dot(byte* w, byte* a, int groups)
    {
        if (Avx512BW.IsSupported) return Streamer.Stream<TileOf1>(w, a, 0, groups, null, 0);
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
                float da = ((float*)(ag + 128))[4 * j], sa = ((float*)(ag + 192))[j];
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
            var v = Vector512.Load(pw + off);
            var sc = Scales(pw + off + 64);
            var lo = Low(v);
            var hi = High(v);
            var dw = SpreadScales(sc);
            var mw = sc.GetUpper();
            acc0 = Step(lo, hi, dw, a, acc0);
            m0 = MinStep(mw, a, m0);
            v = Vector512.Load(pw1 + off);
            sc = Scales(pw1 + off + 64);
            lo = Low(v);
            hi = High(v);
            dw = SpreadScales(sc);
            mw = sc.GetUpper();
            acc1 = Step(lo, hi, dw, a, acc1);
            m1 = MinStep(mw, a, m1);
            v = Vector512.Load(pw2 + off);
            sc = Scales(pw2 + off + 64);
            lo = Low(v);
            hi = High(v);
            dw = SpreadScales(sc);
            mw = sc.GetUpper();
            acc2 = Step(lo, hi, dw, a, acc2);
            m2 = MinStep(mw, a, m2);
            v = Vector512.Load(pw3 + off);
            sc = Scales(pw3 + off + 64);
            lo = Low(v);
            hi = High(v);
            dw = SpreadScales(sc);
            mw = sc.GetUpper();
            acc3 = Step(lo, hi, dw, a, acc3);
            m3 = MinStep(mw, a, m3);
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
            var v = Vector512.Load(pw + off);
            var sc = Scales(pw + off + 64);
            var lo = Low(v);
            var hi = High(v);
            var dw = SpreadScales(sc);
            var mw = sc.GetUpper();
            a00 = Step(lo, hi, dw, a, a00);
            m00 = MinStep(mw, a, m00);
            a10 = Step(lo, hi, dw, b, a10);
            m10 = MinStep(mw, b, m10);
            v = Vector512.Load(pw1 + off);
            sc = Scales(pw1 + off + 64);
            lo = Low(v);
            hi = High(v);
            dw = SpreadScales(sc);
            mw = sc.GetUpper();
            a01 = Step(lo, hi, dw, a, a01);
            m01 = MinStep(mw, a, m01);
            a11 = Step(lo, hi, dw, b, a11);
            m11 = MinStep(mw, b, m11);
            v = Vector512.Load(pw2 + off);
            sc = Scales(pw2 + off + 64);
            lo = Low(v);
            hi = High(v);
            dw = SpreadScales(sc);
            mw = sc.GetUpper();
            a02 = Step(lo, hi, dw, a, a02);
            m02 = MinStep(mw, a, m02);
            a12 = Step(lo, hi, dw, b, a12);
            m12 = MinStep(mw, b, m12);
            v = Vector512.Load(pw3 + off);
            sc = Scales(pw3 + off + 64);
            lo = Low(v);
            hi = High(v);
            dw = SpreadScales(sc);
            mw = sc.GetUpper();
            a03 = Step(lo, hi, dw, a, a03);
            m03 = MinStep(mw, a, m03);
            a13 = Step(lo, hi, dw, b, a13);
            m13 = MinStep(mw, b, m13);
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

    // The helpers return values rather than taking ref/out arguments: the JIT then keeps every accumulator of a
    // tile in a register across the loop instead of spilling it to the stack each group.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Low(Vector512<byte> v) => v & Vector512.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> High(Vector512<byte> v) => Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector512.Create((byte)0x0F);

    /// <summary>The group's scales d spread over the 4 int32 lanes of their block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SpreadScales(Vector256<float> scales) =>
        Avx512F.PermuteVar16x32(scales.ToVector512Unsafe(), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));

    /// <summary>
    /// Widens the group's 8 halves (d[4], m[4]) to float exactly: the half's exponent and mantissa moved into a
    /// float's bits and scaled by 2^112 (right for normal and subnormal halves), then the sign. Scales are finite.
    /// d is in the lower 4 lanes, m in the upper 4. The kernels are compiled fully optimized before any class
    /// initializer runs, so a static readonly here would cost an initialization check in the loop, and the
    /// helper call behind it makes the JIT spill every accumulator.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales(byte* p)
    {
        Vector256<uint> h = Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)p)).AsUInt32();
        Vector256<float> magnitude = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13).AsSingle() * Vector256.Create((112u + 127) << 23).AsSingle(); // 2^112: a constant, not a static (below)
        return magnitude | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16).AsSingle();
    }

    /// <summary>
    /// The one step every AVX-512 kernel runs per (weight group, activation group), with both scales spread over
    /// the 4 int32 lanes of their block: returns acc + (sum(q*y) lanes * dw) * da.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step(Vector512<byte> lo, Vector512<byte> hi, Vector512<float> dw, byte* a, Vector512<float> acc)
    {
        Vector512<short> p16 = Avx512BW.MultiplyAddAdjacent(lo, Vector512.Load((sbyte*)a))
            + Avx512BW.MultiplyAddAdjacent(hi, Vector512.Load((sbyte*)(a + 64)));
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(p16, Vector512.Create((short)1));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p) * dw, Vector512.Load((float*)(a + 128)), acc);
    }

    /// <summary>The offset terms of the step: returns macc + mw * sa per block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> MinStep(Vector128<float> mw, byte* a, Vector128<float> macc) =>
        Fma.MultiplyAdd(mw, Vector128.Load((float*)(a + 192)), macc);

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
            Vector256<float> sc = Scales(wg + 64);
            Vector128<float> dw = sc.GetLower(), mw = sc.GetUpper();
            Vector256<float> dw2 = Vector256.Create(dw, dw);
            for (int h = 0; h < 2; h++)
            {
                Vector256<byte> v = Vector256.Load(wg + 32 * h);
                Vector256<byte> lo = v & mask;
                Vector256<byte> hi = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;
                Vector256<short> p16 = Avx2.MultiplyAddAdjacent(lo, Vector256.Load((sbyte*)(ag + 32 * h)))
                    + Avx2.MultiplyAddAdjacent(hi, Vector256.Load((sbyte*)(ag + 64 + 32 * h)));
                Vector256<int> p = Avx2.MultiplyAddAdjacent(p16, ones);
                Vector256<float> spread = Avx2.PermuteVar8x32(dw2, h == 0 ? first : second);
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p) * spread, Vector256.Load((float*)(ag + 128) + 8 * h), acc);
            }
            macc = Fma.MultiplyAdd(mw, Vector128.Load((float*)(ag + 192)), macc);
        }
        return FloatSum.Sum(acc) + FloatSum.Sum(macc);
    }
}
