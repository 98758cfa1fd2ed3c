// PackedQ6K: a Q6_K matrix (the output head and part of attn_v / ffn_down in every Q4_K_M file) repacked once at
// load so that one SIMD lane is one output row (docs/architecture.md 3, packed layouts), with its tile kernel and
// scalar reference; used where AVX-512BW is.
//
// Why: as for PackedQ4K, a file-layout row needs its low and high bit planes gathered from places 32 values apart
// and a horizontal sum every super-block. Here 16 rows are interleaved; one super-block of a 16-row tile (3392
// bytes, 212 a row against the file's 210) is, for each group g = 0..15 of 16 values (one scale):
//   at 192g:       lane i, byte e: low 4 bits of value 16g + e (low nibble) and 16g + 4 + e (high nibble) of row i;
//   at 192g + 64:  the same for values 16g + 8 + e and 16g + 12 + e;
//   at 192g + 128: lane i, byte e: the high 2 bits of values 16g + e, + 4, + 8, + 12 (bits 0-1, 2-3, 4-5, 6-7);
// then scales at 3072: 8 x 32 bytes, pair k, lane i: bytes 2i, 2i + 1 = the signed scales of groups 2k, 2k + 1 of
// row i; then d at 3328: 16 floats (the file's halves, widened exactly).
// Per group and activation row: 4 vpmaddubsw of the unsigned 6-bit values (pair sums at most 2 * 63 * 128), added
// two by two as int16 (at most 32256: no overflow), 2 vpmaddwd by the group's scale; the -32 offset is 8 vpmaddwd
// of the scale pairs with the activation's 16-value sums, times 32. The sum is exact and the float step ggml's
// (VecDotReference.Q6_K), per lane and super-block in order: s += (da * d) * isum. So every output is bit for bit
// the file-layout reference's, on every path, batch, neighbour and column split (architecture.md 2.1).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q6_K matrix in the lane-per-row packed layout.</summary>
internal sealed unsafe class PackedQ6KMatrix : PackedQ8KLaneMatrix<PackedQ6KKernel>
{
    private PackedQ6KMatrix(int inDim, int outDim) : base(inDim, outDim) { }

    /// <summary>An empty matrix; fill it with <see cref="PackedLaneMatrix{K}.PackRows"/>.</summary>
    public static PackedQ6KMatrix Create(int inDim, int outDim)
    {
        CheckShape(inDim, outDim, 256, "Q6_K");
        return new PackedQ6KMatrix(inDim, outDim);
    }

    /// <summary>Repacks <paramref name="outDim"/> rows of the file's Q6_K blocks.</summary>
    public static PackedQ6KMatrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim) => Filled(Create(inDim, outDim), rows);

    protected override int FileBlockBytes => BlockQ6_K.Size;

    protected override void PackBlock(byte* w, byte* dst, int lane)
    {
        for (int g = 0; g < 16; g++)
        {
            // The file's order (ggml's dequantize_row_q6_K): per half of 128 values, quarter k of 32 takes
            // its low bits from ql (bytes 0-31 or 32-63 of the half, low or high nibble), its high bits
            // from bits 2k, 2k+1 of qh. Group g's 16 values are consecutive bytes of both; four at a time.
            int half = g / 8, quarter = g % 8 / 2, l = 16 * (g % 2);
            byte* ql = w + 64 * half + 32 * (quarter & 1) + l;
            byte* qh = w + 128 + 32 * half + l;
            int ls = 4 * (quarter >> 1), hs = 2 * quarter;
            uint Low(int i) => (*(uint*)(ql + i) >> ls) & 0x0F0F0F0Fu;
            uint High(int i) => (*(uint*)(qh + i) >> hs) & 0x03030303u;
            *(uint*)(dst + 192 * g + 4 * lane) = Low(0) | (Low(4) << 4);
            *(uint*)(dst + 192 * g + 64 + 4 * lane) = Low(8) | (Low(12) << 4);
            *(uint*)(dst + 192 * g + 128 + 4 * lane) = High(0) | (High(4) << 2) | (High(8) << 4) | (High(12) << 6);
            dst[PackedQ6KKernel.Scales + 32 * (g / 2) + 2 * lane + g % 2] = w[192 + g];
        }
        ((float*)(dst + PackedQ6KKernel.D))[lane] = Dequantize.F16(w + 208);
    }
}

internal unsafe struct PackedQ6KKernel : ILaneTileKernel
{
    public const int Scales = 3072, D = 3328, Size = 3392;
    private const int AB = PackedKActivations.BlockBytes;

    public static int BlockBytes => Size;

    /// <summary>ggml's scalar Q6_K formula for one lane: per super-block d*da*sum(sc*(q-32)*y).</summary>
    public static float LaneReference(byte* tile, int blocks, int lane, byte* a)
    {
        float s = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* sb = tile + (long)b * Size;
            sbyte* y = (sbyte*)(a + (long)b * AB);
            int isum = 0;
            for (int g = 0; g < 16; g++)
            {
                int dot = 0;
                for (int part = 0; part < 4; part++)
                    for (int e = 0; e < 4; e++)
                    {
                        int nib = (sb[192 * g + 64 * (part / 2) + 4 * lane + e] >> (4 * (part % 2))) & 0xF;
                        int hi = (sb[192 * g + 128 + 4 * lane + e] >> (2 * part)) & 3;
                        dot += ((nib | (hi << 4)) - 32) * y[16 * g + 4 * part + e];
                    }
                isum += ((sbyte*)sb)[Scales + 32 * (g / 2) + 2 * lane + g % 2] * dot;
            }
            float da = *(float*)(a + (long)b * AB + PackedKActivations.ScaleOffset);
            s += da * ((float*)(sb + D))[lane] * isum;
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<T>(byte* tile, int blocks, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize
    {
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        var m4 = Vector512.Create((byte)0x0F);
        var m30 = Vector512.Create((byte)0x30);
        var first = Vector512.Create(Vector128.Create((byte)0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13));
        var second = Vector512.Create(Vector128.Create((byte)2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15));
        for (int b = 0; b < blocks; b++)
        {
            byte* sb = tile + (long)b * Size;
            byte* ya = a + (long)b * AB;
            Vector512<int> i0 = Vector512<int>.Zero, i1 = i0, i2 = i0, i3 = i0, o0 = i0, o1 = i0, o2 = i0, o3 = i0;
            for (int k = 0; k < 8; k++)
            {
                Vector512<short> sc = Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(sb + Scales + 32 * k)));
                // The -32 offset: the two groups' scales times their 16-value activation sums (bsums 2k, 2k + 1).
                byte* bs = ya + PackedKActivations.SumsOffset + 4 * k;
                o0 += Avx512BW.MultiplyAddAdjacent(sc, Vector512.Create(*(int*)bs).AsInt16());
                if (T.Count > 1) o1 += Avx512BW.MultiplyAddAdjacent(sc, Vector512.Create(*(int*)(bs + aStride)).AsInt16());
                if (T.Count > 2) o2 += Avx512BW.MultiplyAddAdjacent(sc, Vector512.Create(*(int*)(bs + 2 * aStride)).AsInt16());
                if (T.Count > 3) o3 += Avx512BW.MultiplyAddAdjacent(sc, Vector512.Create(*(int*)(bs + 3 * aStride)).AsInt16());
                for (int h = 0; h < 2; h++)
                {
                    int g = 2 * k + h;
                    var scg = Avx512BW.Shuffle(sc.AsByte(), h == 0 ? first : second).AsInt16();
                    byte* bits = sb + 192 * g;
                    StreamPrefetch.Line(bits);
                    StreamPrefetch.Line(bits + 64);
                    StreamPrefetch.Line(bits + 128);
                    var l0 = Vector512.Load(bits);
                    var l1 = Vector512.Load(bits + 64);
                    var hb = Vector512.Load(bits + 128);
                    // 16-bit shifts: what crosses into the neighbouring byte is masked off.
                    var q0 = (l0 & m4) | (Vector512.ShiftLeft(hb.AsUInt16(), 4).AsByte() & m30);
                    var q1 = (Vector512.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & m4) | (Vector512.ShiftLeft(hb.AsUInt16(), 2).AsByte() & m30);
                    var q2 = (l1 & m4) | (hb & m30);
                    var q3 = (Vector512.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & m4) | (Vector512.ShiftRightLogical(hb.AsUInt16(), 2).AsByte() & m30);
                    int off = 16 * g;
                    i0 += Group(q0, q1, q2, q3, scg, ya + off);
                    if (T.Count > 1) i1 += Group(q0, q1, q2, q3, scg, ya + aStride + off);
                    if (T.Count > 2) i2 += Group(q0, q1, q2, q3, scg, ya + 2 * aStride + off);
                    if (T.Count > 3) i3 += Group(q0, q1, q2, q3, scg, ya + 3 * aStride + off);
                }
            }
            StreamPrefetch.Lines(sb + Scales, (Size - Scales) / 64);
            var d = Vector512.Load((float*)(sb + D));
            acc0 = Combine(i0, o0, d, ya, acc0);
            if (T.Count > 1) acc1 = Combine(i1, o1, d, ya + aStride, acc1);
            if (T.Count > 2) acc2 = Combine(i2, o2, d, ya + 2 * aStride, acc2);
            if (T.Count > 3) acc3 = Combine(i3, o3, d, ya + 3 * aStride, acc3);
        }
        PackedLanes.Store<T>(acc0, acc1, acc2, acc3, y, yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Broadcast(byte* p) => Vector512.Create(*(int*)p).AsSByte();

    /// <summary>One group (16 values) of 16 rows against one activation row: scale * exact dot of the unsigned values, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Group(Vector512<byte> q0, Vector512<byte> q1, Vector512<byte> q2, Vector512<byte> q3, Vector512<short> sc, byte* y)
    {
        Vector512<short> x01 = Avx512BW.MultiplyAddAdjacent(q0, Broadcast(y)) + Avx512BW.MultiplyAddAdjacent(q1, Broadcast(y + 4));
        Vector512<short> x23 = Avx512BW.MultiplyAddAdjacent(q2, Broadcast(y + 8)) + Avx512BW.MultiplyAddAdjacent(q3, Broadcast(y + 12));
        return Avx512BW.MultiplyAddAdjacent(x01, sc) + Avx512BW.MultiplyAddAdjacent(x23, sc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Combine(Vector512<int> isum, Vector512<int> offset, Vector512<float> d, byte* ya, Vector512<float> acc)
    {
        var da = Vector512.Create(*(float*)(ya + PackedKActivations.ScaleOffset));
        return acc + (da * d) * Avx512F.ConvertToVector512Single(isum - Vector512.ShiftLeft(offset, 5));
    }
}
