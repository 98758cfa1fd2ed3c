// Matrix products of packed Q4 weights (PackedQ4.cs) with packed activation rows:
// output[b, o] = dot(weight row o, activation row b) for columns [colStart, colEnd), output row-major (batch x outDim).
// Shape: a tile of 16 weight rows (one per float lane) x up to 8 activation rows (the loop over tiles and groups is
// LaneTiles, shared with PackedQ8_0MatMul). Per block, the
// tile's 256 bytes of nibbles are loaded and unpacked once (8 vectors) and its 32 scales widened once; then each
// activation row costs 8 u8 x s8 multiply-adds against its broadcast bytes (vpmaddubsw, pairs summed exactly in
// int16: 8 x 2 x 15 x 127 < 32767; or vpdpbusd through AVX-VNNI on the 256-bit path), one widening add to int32,
// one conversion and two fused multiply-adds for 16 outputs. No horizontal sums: a lane is one output.
// Batch invariance and agreement: every path computes, per output, block by block in order,
//   acc = fma(float(isum), dw * da, acc); acc = fma(mw, sa, acc)
// with an exact integer isum, which is what the scalar reference (LaneReference) does; so the result of a row
// is the same bits whatever its batch, neighbours, tile, column split and instruction set (tests check).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Kernels;

internal static unsafe class PackedQ4MatMul
{
    private const int TR = PackedQ4Matrix.TileRows, TB = PackedQ4Matrix.BlockBytes, AG = PackedActivations.GroupBytes;

    /// <summary>Which kernel the products run here: "avx512", "avx2+vnni", "avx2" or "scalar".</summary>
    public static string Path => LaneTiles.Path;

    /// <summary>The layout's kernels for <see cref="LaneTiles"/>: the scalar reference (Lane) and the 512- and 256-bit tiles.</summary>
    internal readonly struct Kernel : ILaneKernel
    {
        public static float Lane(byte* wt, int nb, int lane, byte* a) => LaneReference(wt, nb, lane, a);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Tile512<T>(byte* wt, int nb, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize =>
            Tile512Of<T>(wt, nb, a, aStride, y, yStride);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Tile256<T>(byte* wt, int nb, int h, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize =>
            Tile256Of<T>(wt, nb, h, a, aStride, y, yStride);
    }

    private static float LaneReference(byte* wt, int nb, int lane, byte* a)
    {
        float acc = 0;
        for (int b = 0; b < nb; b++)
        {
            byte* wb = wt + b * TB;
            byte* ya = a + b / 4 * AG + 16 * (b % 4); // the block's elements 0..15; 16..31 are 64 bytes on
            int isum = 0;
            for (int c = 0; c < 4; c++)
                for (int e = 0; e < 4; e++)
                {
                    byte q = wb[64 * c + 4 * lane + e];
                    isum += (q & 0x0F) * ((sbyte*)ya)[4 * c + e] + (q >> 4) * ((sbyte*)ya)[64 + 4 * c + e];
                }
            float dw = (float)((Half*)(wb + 256))[lane], mw = (float)((Half*)(wb + 288))[lane];
            float da = *(float*)(ya + 128), sa = *(float*)(a + b / 4 * AG + 192 + 4 * (b % 4));
            acc = MathF.FusedMultiplyAdd(isum, dw * da, acc);
            acc = MathF.FusedMultiplyAdd(mw, sa, acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512Of<T>(byte* wt, int nb, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize
    {
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0, acc6 = acc0, acc7 = acc0;
        Vector512<byte> mask = Vector512.Create((byte)0x0F);
        for (int b = 0; b < nb; b++)
        {
            byte* wb = wt + b * TB;
            StreamPrefetch.Lines(wb, TB / 64);
            Vector512<byte> v0 = Vector512.Load(wb), v1 = Vector512.Load(wb + 64), v2 = Vector512.Load(wb + 128), v3 = Vector512.Load(wb + 192);
            Vector512<byte> l0 = v0 & mask, l1 = v1 & mask, l2 = v2 & mask, l3 = v3 & mask;
            Vector512<byte> h0 = High(v0, mask), h1 = High(v1, mask), h2 = High(v2, mask), h3 = High(v3, mask);
            Vector512<float> dw = Halves512(wb + 256), mw = Halves512(wb + 288);
            int ya = b / 4 * AG + 16 * (b % 4), sa = b / 4 * AG + 192 + 4 * (b % 4);
            acc0 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + ya, a + sa, acc0);
            if (T.Count > 1) acc1 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + aStride + ya, a + aStride + sa, acc1);
            if (T.Count > 2) acc2 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + 2 * aStride + ya, a + 2 * aStride + sa, acc2);
            if (T.Count > 3) acc3 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + 3 * aStride + ya, a + 3 * aStride + sa, acc3);
            if (T.Count > 4) acc4 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + 4 * aStride + ya, a + 4 * aStride + sa, acc4);
            if (T.Count > 5) acc5 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + 5 * aStride + ya, a + 5 * aStride + sa, acc5);
            if (T.Count > 6) acc6 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + 6 * aStride + ya, a + 6 * aStride + sa, acc6);
            if (T.Count > 7) acc7 = Pair512(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + 7 * aStride + ya, a + 7 * aStride + sa, acc7);
        }
        acc0.Store(y);
        if (T.Count > 1) acc1.Store(y + yStride);
        if (T.Count > 2) acc2.Store(y + 2 * yStride);
        if (T.Count > 3) acc3.Store(y + 3 * yStride);
        if (T.Count > 4) acc4.Store(y + 4 * yStride);
        if (T.Count > 5) acc5.Store(y + 5 * yStride);
        if (T.Count > 6) acc6.Store(y + 6 * yStride);
        if (T.Count > 7) acc7.Store(y + 7 * yStride);
    }

    // The helpers return values rather than taking ref/out arguments: the JIT then keeps every accumulator of a
    // tile in a register across the loop instead of spilling it to the stack each block.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> High(Vector512<byte> v, Vector512<byte> mask) => Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;

    /// <summary>Four activation bytes (elements 4c..4c+3 of a block) in every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Broadcast512(byte* p) => Vector512.Create(*(int*)p).AsSByte();

    /// <summary>
    /// One block of the tile against one activation row: ya points at the row's block elements 0..15 (16..31 are
    /// 64 bytes on, da 128 bytes on), sa at its offset term. Returns fma(fma(isum, dw*da, acc)... as documented above.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair512(Vector512<byte> l0, Vector512<byte> l1, Vector512<byte> l2, Vector512<byte> l3,
        Vector512<byte> h0, Vector512<byte> h1, Vector512<byte> h2, Vector512<byte> h3,
        Vector512<float> dw, Vector512<float> mw, byte* ya, byte* sa, Vector512<float> acc)
    {
        Vector512<short> p = (Avx512BW.MultiplyAddAdjacent(l0, Broadcast512(ya)) + Avx512BW.MultiplyAddAdjacent(l1, Broadcast512(ya + 4)))
            + (Avx512BW.MultiplyAddAdjacent(l2, Broadcast512(ya + 8)) + Avx512BW.MultiplyAddAdjacent(l3, Broadcast512(ya + 12)))
            + ((Avx512BW.MultiplyAddAdjacent(h0, Broadcast512(ya + 64)) + Avx512BW.MultiplyAddAdjacent(h1, Broadcast512(ya + 68)))
            + (Avx512BW.MultiplyAddAdjacent(h2, Broadcast512(ya + 72)) + Avx512BW.MultiplyAddAdjacent(h3, Broadcast512(ya + 76))));
        Vector512<int> isum = Avx512BW.MultiplyAddAdjacent(p, Vector512.Create((short)1));
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), dw * Vector512.Create(*(float*)(ya + 128)), acc);
        return Avx512F.FusedMultiplyAdd(mw, Vector512.Create(*(float*)sa), acc);
    }

    /// <summary>
    /// Widens 16 halves to float exactly: the half's exponent and mantissa moved into a float's bits and scaled by
    /// 2^112 (right for normal and subnormal halves), then the sign. Scales are finite. A constant, not a static
    /// readonly: the kernels are compiled fully optimized before any class initializer runs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halves512(byte* p)
    {
        Vector512<uint> h = Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)p));
        Vector512<float> magnitude = Vector512.ShiftLeft(h & Vector512.Create(0x7FFFu), 13).AsSingle() * Vector512.Create((112u + 127) << 23).AsSingle();
        return magnitude | Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16).AsSingle();
    }

    /// <summary>As <see cref="Halves512"/> for 8 halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Halves256(byte* p)
    {
        Vector256<uint> h = Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)p)).AsUInt32();
        Vector256<float> magnitude = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13).AsSingle() * Vector256.Create((112u + 127) << 23).AsSingle();
        return magnitude | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16).AsSingle();
    }

    /// <summary>
    /// The 256-bit path (AVX-512 off): lanes 8h..8h+7 of the tile against T (1-2) activation rows; the integer dot is
    /// vpdpbusd through AVX-VNNI where the machine has it, else vpmaddubsw pairs as in the 512-bit path (same integers).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256Of<T>(byte* wt, int nb, int h, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = acc0;
        Vector256<byte> mask = Vector256.Create((byte)0x0F);
        for (int b = 0; b < nb; b++)
        {
            byte* wb = wt + b * TB + 32 * h;
            if (h == 0) StreamPrefetch.Lines(wt + b * TB, TB / 64); // the second half reads the lines the first brought in
            Vector256<byte> v0 = Vector256.Load(wb), v1 = Vector256.Load(wb + 64), v2 = Vector256.Load(wb + 128), v3 = Vector256.Load(wb + 192);
            Vector256<byte> l0 = v0 & mask, l1 = v1 & mask, l2 = v2 & mask, l3 = v3 & mask;
            Vector256<byte> h0 = High(v0, mask), h1 = High(v1, mask), h2 = High(v2, mask), h3 = High(v3, mask);
            Vector256<float> dw = Halves256(wt + b * TB + 256 + 16 * h), mw = Halves256(wt + b * TB + 288 + 16 * h);
            int ya = b / 4 * AG + 16 * (b % 4), sa = b / 4 * AG + 192 + 4 * (b % 4);
            acc0 = Pair256(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + ya, a + sa, acc0);
            if (T.Count > 1) acc1 = Pair256(l0, l1, l2, l3, h0, h1, h2, h3, dw, mw, a + aStride + ya, a + aStride + sa, acc1);
        }
        acc0.Store(y);
        if (T.Count > 1) acc1.Store(y + yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> v, Vector256<byte> mask) => Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast256(byte* p) => Vector256.Create(*(int*)p).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pair256(Vector256<byte> l0, Vector256<byte> l1, Vector256<byte> l2, Vector256<byte> l3,
        Vector256<byte> h0, Vector256<byte> h1, Vector256<byte> h2, Vector256<byte> h3,
        Vector256<float> dw, Vector256<float> mw, byte* ya, byte* sa, Vector256<float> acc)
    {
        Vector256<int> isum;
        if (AvxVnni.IsSupported)
        {
            isum = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, l0, Broadcast256(ya));
            isum = AvxVnni.MultiplyWideningAndAdd(isum, l1, Broadcast256(ya + 4));
            isum = AvxVnni.MultiplyWideningAndAdd(isum, l2, Broadcast256(ya + 8));
            isum = AvxVnni.MultiplyWideningAndAdd(isum, l3, Broadcast256(ya + 12));
            isum = AvxVnni.MultiplyWideningAndAdd(isum, h0, Broadcast256(ya + 64));
            isum = AvxVnni.MultiplyWideningAndAdd(isum, h1, Broadcast256(ya + 68));
            isum = AvxVnni.MultiplyWideningAndAdd(isum, h2, Broadcast256(ya + 72));
            isum = AvxVnni.MultiplyWideningAndAdd(isum, h3, Broadcast256(ya + 76));
        }
        else
        {
            Vector256<short> p = (Avx2.MultiplyAddAdjacent(l0, Broadcast256(ya)) + Avx2.MultiplyAddAdjacent(l1, Broadcast256(ya + 4)))
                + (Avx2.MultiplyAddAdjacent(l2, Broadcast256(ya + 8)) + Avx2.MultiplyAddAdjacent(l3, Broadcast256(ya + 12)))
                + ((Avx2.MultiplyAddAdjacent(h0, Broadcast256(ya + 64)) + Avx2.MultiplyAddAdjacent(h1, Broadcast256(ya + 68)))
                + (Avx2.MultiplyAddAdjacent(h2, Broadcast256(ya + 72)) + Avx2.MultiplyAddAdjacent(h3, Broadcast256(ya + 76))));
            isum = Avx2.MultiplyAddAdjacent(p, Vector256.Create((short)1));
        }
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), dw * Vector256.Create(*(float*)(ya + 128)), acc);
        return Fma.MultiplyAdd(mw, Vector256.Create(*(float*)sa), acc);
    }
}
