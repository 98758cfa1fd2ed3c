// PackedQ4K: a Q4_K matrix (most of every Q4_K_M file) repacked once at load so that one SIMD lane is one output
// row (docs/architecture.md 3, packed layouts), with its tile kernel and scalar reference; used where AVX-512BW is.
//
// Why: per output row the file's 144-byte super-blocks need their 6-bit scales unpacked, their nibble planes
// paired with activations 32 values apart and, at the end of every super-block, a horizontal sum; on one decoded
// row that bookkeeping costs more than the multiplies. Here 16 rows are interleaved, so a sub-block's integer dot
// for 16 rows is 8 vpmaddubsw against broadcast activation bytes, its scale applies to 16 rows in one vpmaddwd and
// nothing is summed across lanes. One super-block of a 16-row tile (2432 bytes, 152 a row against the file's 144):
//   qs at 0:      32 vectors of 64 bytes; vector 4j + c, lane i, byte e: low nibble value 32j + 4c + e of row i,
//                 high nibble value 32j + 16 + 4c + e (sub-block j = 0..7, chunk c = 0..3, e = 0..3);
//   scales 2048:  4 x 32 bytes; pair p, lane i: bytes 2i, 2i + 1 = scale of sub-blocks 2p, 2p + 1 of row i;
//   mins 2176:    the same for the mins;
//   d 2304, dmin 2368: 16 floats each (the file's halves, widened exactly).
// Per sub-block and activation row: 8 vpmaddubsw (pair sums at most 2 * 15 * 128) added as int16 (at most
// 16 * 15 * 128 = 30720: no overflow), one vpmaddwd by the scale in both halves of the lane; the mins term is 4
// vpmaddwd of (min 2p, min 2p + 1) with the activation's 32-value sums. Both sums are exact, and the float
// combination is ggml's, per lane and super-block in order: s += (da * d) * isum - (da * dmin) * summ
// (VecDotReference.Q4_K). So every output is bit for bit the file-layout reference's, on every path, batch,
// neighbour and column split (architecture.md 2.1).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q4_K matrix in the lane-per-row packed layout.</summary>
internal sealed unsafe class PackedQ4KMatrix : PackedQ8KLaneMatrix<PackedQ4KKernel>
{
    private PackedQ4KMatrix(int inDim, int outDim) : base(inDim, outDim) { }

    /// <summary>An empty matrix; fill it with <see cref="PackedLaneMatrix{K}.PackRows"/>.</summary>
    public static PackedQ4KMatrix Create(int inDim, int outDim)
    {
        CheckShape(inDim, outDim, 256, "Q4_K");
        return new PackedQ4KMatrix(inDim, outDim);
    }

    /// <summary>Repacks <paramref name="outDim"/> rows of the file's Q4_K blocks.</summary>
    public static PackedQ4KMatrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim) => Filled(Create(inDim, outDim), rows);

    protected override int FileBlockBytes => BlockQ4_K.Size;

    protected override void PackBlock(byte* block, byte* dst, int lane)
    {
        for (int j = 0; j < 8; j++)
        {
            // The file's order: 32-byte chunk k holds values 64k..64k+31 in its low nibbles and 64k+32..
            // in its high ones, so sub-block j is the j % 2 nibbles of chunk j / 2; four values at a time.
            byte* chunk = block + 16 + 32 * (j / 2);
            for (int c = 0; c < 4; c++)
            {
                uint lo = *(uint*)(chunk + 4 * c), hi = *(uint*)(chunk + 16 + 4 * c);
                *(uint*)(dst + 64 * (4 * j + c) + 4 * lane) = j % 2 == 0
                    ? (lo & 0x0F0F0F0Fu) | ((hi & 0x0F0F0F0Fu) << 4)
                    : ((lo >> 4) & 0x0F0F0F0Fu) | (hi & 0xF0F0F0F0u);
            }
            KScales.Get(j, block + 4, out int sc, out int m);
            dst[PackedQ4KKernel.Scales + 32 * (j / 2) + 2 * lane + j % 2] = (byte)sc;
            dst[PackedQ4KKernel.Mins + 32 * (j / 2) + 2 * lane + j % 2] = (byte)m;
        }
        ((float*)(dst + PackedQ4KKernel.D))[lane] = Dequantize.F16(block);
        ((float*)(dst + PackedQ4KKernel.DMin))[lane] = Dequantize.F16(block + 2);
    }
}

internal unsafe struct PackedQ4KKernel : ILaneTileKernel
{
    public const int Scales = 2048, Mins = 2176, D = 2304, DMin = 2368, Size = 2432;
    private const int AB = PackedKActivations.BlockBytes;

    public static int BlockBytes => Size;

    /// <summary>ggml's scalar Q4_K formula for one lane: per super-block d*da*sum(sc*q*y) - dmin*da*sum(m*bsum).</summary>
    public static float LaneReference(byte* tile, int blocks, int lane, byte* a)
    {
        float s = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* sb = tile + (long)b * Size;
            byte* ab = a + (long)b * AB;
            sbyte* y = (sbyte*)ab;
            short* sums32 = (short*)(ab + PackedKActivations.Sums32Offset);
            int isum = 0, summ = 0;
            for (int j = 0; j < 8; j++)
            {
                int dot = 0;
                for (int c = 0; c < 4; c++)
                    for (int e = 0; e < 4; e++)
                    {
                        byte v = sb[64 * (4 * j + c) + 4 * lane + e];
                        dot += (v & 0xF) * y[32 * j + 4 * c + e] + (v >> 4) * y[32 * j + 16 + 4 * c + e];
                    }
                isum += sb[Scales + 32 * (j / 2) + 2 * lane + j % 2] * dot;
                summ += sb[Mins + 32 * (j / 2) + 2 * lane + j % 2] * sums32[j];
            }
            float da = *(float*)(ab + PackedKActivations.ScaleOffset);
            s += da * ((float*)(sb + D))[lane] * isum - da * ((float*)(sb + DMin))[lane] * summ;
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<T>(byte* tile, int blocks, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize
    {
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        var m4 = Vector512.Create((byte)0x0F);
        // Within each 32-bit lane, the first (second) 16-bit scale in both halves.
        var first = Vector512.Create(Vector128.Create((byte)0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13));
        var second = Vector512.Create(Vector128.Create((byte)2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15));
        for (int b = 0; b < blocks; b++)
        {
            byte* sb = tile + (long)b * Size;
            byte* ya = a + (long)b * AB;
            Vector512<int> i0 = Vector512<int>.Zero, i1 = i0, i2 = i0, i3 = i0;
            for (int p = 0; p < 4; p++)
            {
                Vector512<byte> sc = Avx512BW.ConvertToVector512Int16(Vector256.Load(sb + Scales + 32 * p)).AsByte();
                for (int h = 0; h < 2; h++)
                {
                    int j = 2 * p + h;
                    var scj = Avx512BW.Shuffle(sc, h == 0 ? first : second).AsInt16();
                    byte* qs = sb + 256 * j;
                    StreamPrefetch.Line(qs);
                    StreamPrefetch.Line(qs + 64);
                    StreamPrefetch.Line(qs + 128);
                    StreamPrefetch.Line(qs + 192);
                    var v0 = Vector512.Load(qs);
                    var v1 = Vector512.Load(qs + 64);
                    var v2 = Vector512.Load(qs + 128);
                    var v3 = Vector512.Load(qs + 192);
                    var l0 = v0 & m4;
                    var h0 = Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & m4;
                    var l1 = v1 & m4;
                    var h1 = Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & m4;
                    var l2 = v2 & m4;
                    var h2 = Vector512.ShiftRightLogical(v2.AsUInt16(), 4).AsByte() & m4;
                    var l3 = v3 & m4;
                    var h3 = Vector512.ShiftRightLogical(v3.AsUInt16(), 4).AsByte() & m4;
                    int off = 32 * j;
                    i0 += SubBlock(l0, h0, l1, h1, l2, h2, l3, h3, scj, ya + off);
                    if (T.Count > 1) i1 += SubBlock(l0, h0, l1, h1, l2, h2, l3, h3, scj, ya + aStride + off);
                    if (T.Count > 2) i2 += SubBlock(l0, h0, l1, h1, l2, h2, l3, h3, scj, ya + 2 * aStride + off);
                    if (T.Count > 3) i3 += SubBlock(l0, h0, l1, h1, l2, h2, l3, h3, scj, ya + 3 * aStride + off);
                }
            }
            StreamPrefetch.Lines(sb + Scales, (Size - Scales) / 64);
            var mn0 = Avx512BW.ConvertToVector512Int16(Vector256.Load(sb + Mins));
            var mn1 = Avx512BW.ConvertToVector512Int16(Vector256.Load(sb + Mins + 32));
            var mn2 = Avx512BW.ConvertToVector512Int16(Vector256.Load(sb + Mins + 64));
            var mn3 = Avx512BW.ConvertToVector512Int16(Vector256.Load(sb + Mins + 96));
            var d = Vector512.Load((float*)(sb + D));
            var dmin = Vector512.Load((float*)(sb + DMin));
            acc0 = Combine(i0, mn0, mn1, mn2, mn3, d, dmin, ya, acc0);
            if (T.Count > 1) acc1 = Combine(i1, mn0, mn1, mn2, mn3, d, dmin, ya + aStride, acc1);
            if (T.Count > 2) acc2 = Combine(i2, mn0, mn1, mn2, mn3, d, dmin, ya + 2 * aStride, acc2);
            if (T.Count > 3) acc3 = Combine(i3, mn0, mn1, mn2, mn3, d, dmin, ya + 3 * aStride, acc3);
        }
        PackedLanes.Store<T>(acc0, acc1, acc2, acc3, y, yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Broadcast(byte* p) => Vector512.Create(*(int*)p).AsSByte();

    /// <summary>One sub-block (32 values) of 16 rows against one activation row: scale * exact dot, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> SubBlock(Vector512<byte> l0, Vector512<byte> h0, Vector512<byte> l1, Vector512<byte> h1,
        Vector512<byte> l2, Vector512<byte> h2, Vector512<byte> l3, Vector512<byte> h3, Vector512<short> sc, byte* y)
    {
        Vector512<short> x = (Avx512BW.MultiplyAddAdjacent(l0, Broadcast(y)) + Avx512BW.MultiplyAddAdjacent(h0, Broadcast(y + 16)))
            + (Avx512BW.MultiplyAddAdjacent(l1, Broadcast(y + 4)) + Avx512BW.MultiplyAddAdjacent(h1, Broadcast(y + 20)))
            + ((Avx512BW.MultiplyAddAdjacent(l2, Broadcast(y + 8)) + Avx512BW.MultiplyAddAdjacent(h2, Broadcast(y + 24)))
            + (Avx512BW.MultiplyAddAdjacent(l3, Broadcast(y + 12)) + Avx512BW.MultiplyAddAdjacent(h3, Broadcast(y + 28))));
        return Avx512BW.MultiplyAddAdjacent(x, sc);
    }

    /// <summary>The mins term and ggml's float combination for one super-block of one activation row, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Combine(Vector512<int> isum, Vector512<short> mn0, Vector512<short> mn1, Vector512<short> mn2,
        Vector512<short> mn3, Vector512<float> d, Vector512<float> dmin, byte* ya, Vector512<float> acc)
    {
        byte* s32 = ya + PackedKActivations.Sums32Offset;
        Vector512<int> summ = (Avx512BW.MultiplyAddAdjacent(mn0, Vector512.Create(*(int*)s32).AsInt16())
            + Avx512BW.MultiplyAddAdjacent(mn1, Vector512.Create(*(int*)(s32 + 4)).AsInt16()))
            + (Avx512BW.MultiplyAddAdjacent(mn2, Vector512.Create(*(int*)(s32 + 8)).AsInt16())
            + Avx512BW.MultiplyAddAdjacent(mn3, Vector512.Create(*(int*)(s32 + 12)).AsInt16()));
        var da = Vector512.Create(*(float*)(ya + PackedKActivations.ScaleOffset));
        return acc + ((da * d) * Avx512F.ConvertToVector512Single(isum) - (da * dmin) * Avx512F.ConvertToVector512Single(summ));
    }
}
