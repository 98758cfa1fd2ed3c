// PackedQ5_0: a Q5_0 matrix (most of a Q4_K_M file whose width is not a multiple of 256: llama.cpp's quantizer
// falls back from Q4_K to Q5_0 per tensor, as for Qwen2.5-0.5B's 896) repacked once at load so that one SIMD lane
// is one output row (docs/architecture.md 3, packed layouts), with its tile kernel and scalar reference; used where
// AVX-512BW is.
//
// Why: the file's 22-byte blocks are unaligned, each needs its 32 fifth bits spread over 32 bytes, and a row-wise
// kernel ends in a horizontal sum. Here 16 rows are interleaved; one block (32 values) of a 16-row tile is 384
// bytes (24 a row against the file's 22):
//   nibbles at 0:  4 vectors; vector c, lane i = the file's qs bytes 4c..4c+3 of row i (byte e: value 4c + e low,
//                  value 16 + 4c + e high);
//   fifth at 256:  lane i, byte e: bit c = the fifth bit of value 4c + e, bit 4 + c that of value 16 + 4c + e, so
//                  one 16-bit shift and mask moves chunk c's bits to bit 4 of every byte;
//   d at 320:      16 floats (the file's halves, widened exactly).
// The activations are PackedQ8_0's rows (ggml's Q8_0 blocks with their sums), so Q5_0 and Q8_0 matrices that read
// one input (Qwen's q/k/v) share one quantized copy. Per block and activation row: 8 vpmaddubsw of the unsigned
// 5-bit values (pair sums at most 2 * 31 * 128), added four by four as int16 (at most 31744: no overflow), 2
// vpmaddwd by ones, minus 16 sum(y): the exact (q - 16) . y of every lane. The float step is ggml's scalar one
// (Q5Legacy.DotQ5_0Reference), per lane and block in order: s += (isum * dw) * da. So every output is bit for bit
// the file-layout reference's, on every path, batch, neighbour and column split (architecture.md 2.1).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q5_0 matrix in the lane-per-row packed layout.</summary>
internal sealed unsafe class PackedQ5_0Matrix : PackedLaneMatrix<PackedQ5_0Kernel>
{
    public override string ActivationFormat => "packed q8_0";
    public override int ActivationRowBytes => PackedQ8_0Activations.RowBytes(InDim);

    public override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) => PackedQ8_0Activations.Quantize(x, n, InDim, dst);

    private PackedQ5_0Matrix(int inDim, int outDim) : base(inDim, outDim, 32) { }

    /// <summary>An empty matrix; fill it with <see cref="PackedLaneMatrix{K}.PackRows"/>.</summary>
    public static PackedQ5_0Matrix Create(int inDim, int outDim)
    {
        CheckShape(inDim, outDim, 32, "Q5_0");
        return new PackedQ5_0Matrix(inDim, outDim);
    }

    /// <summary>Repacks <paramref name="outDim"/> rows of the file's Q5_0 blocks.</summary>
    public static PackedQ5_0Matrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim) => Filled(Create(inDim, outDim), rows);

    protected override int FileBlockBytes => BlockQ5_0.Size;

    protected override void PackBlock(byte* block, byte* dst, int lane)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(block + 2);
        for (int c = 0; c < 4; c++)
            Unsafe.WriteUnaligned(dst + 64 * c + 4 * lane, Unsafe.ReadUnaligned<uint>(block + 6 + 4 * c));
        for (int e = 0; e < 4; e++)
        {
            int f = 0;
            for (int c = 0; c < 4; c++)
                f |= (int)((qh >> (4 * c + e)) & 1) << c | (int)((qh >> (16 + 4 * c + e)) & 1) << (4 + c);
            dst[PackedQ5_0Kernel.Fifth + 4 * lane + e] = (byte)f;
        }
        ((float*)(dst + PackedQ5_0Kernel.D))[lane] = Dequantize.F16(block);
    }
}

internal unsafe struct PackedQ5_0Kernel : ILaneTileKernel
{
    public const int Fifth = 256, D = 320, Size = 384;
    private const int AB = PackedQ8_0Activations.BlockBytes, ScaleOffset = 64, SumOffset = 68;

    public static int BlockBytes => Size;

    /// <summary>ggml's scalar Q5_0 formula for one lane: per block s += (sum((q - 16) * y) * dw) * da.</summary>
    public static float LaneReference(byte* tile, int blocks, int lane, byte* a)
    {
        float s = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = tile + (long)b * Size;
            byte* ab = a + (long)b * AB;
            sbyte* y = (sbyte*)ab;
            int isum = 0;
            for (int c = 0; c < 4; c++)
                for (int e = 0; e < 4; e++)
                {
                    byte nib = wb[64 * c + 4 * lane + e], f = wb[Fifth + 4 * lane + e];
                    int lo = (nib & 0xF) | ((f >> c) & 1) << 4, hi = (nib >> 4) | ((f >> (4 + c)) & 1) << 4;
                    isum += (lo - 16) * y[4 * c + e] + (hi - 16) * y[16 + 4 * c + e];
                }
            s += isum * ((float*)(wb + D))[lane] * *(float*)(ab + ScaleOffset);
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<T>(byte* tile, int blocks, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize
    {
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        var m4 = Vector512.Create((byte)0x0F);
        var m10 = Vector512.Create((byte)0x10);
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = tile + (long)b * Size;
            byte* ya = a + (long)b * AB;
            StreamPrefetch.Lines(wb, Size / 64);
            var f = Vector512.Load(wb + Fifth).AsUInt16();
            var v0 = Vector512.Load(wb);
            var v1 = Vector512.Load(wb + 64);
            var v2 = Vector512.Load(wb + 128);
            var v3 = Vector512.Load(wb + 192);
            // 16-bit shifts: what crosses into the neighbouring byte never lands on bit 4.
            var l0 = (v0 & m4) | (Vector512.ShiftLeft(f, 4).AsByte() & m10);
            var h0 = (Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & m4) | (f.AsByte() & m10);
            var l1 = (v1 & m4) | (Vector512.ShiftLeft(f, 3).AsByte() & m10);
            var h1 = (Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & m4) | (Vector512.ShiftRightLogical(f, 1).AsByte() & m10);
            var l2 = (v2 & m4) | (Vector512.ShiftLeft(f, 2).AsByte() & m10);
            var h2 = (Vector512.ShiftRightLogical(v2.AsUInt16(), 4).AsByte() & m4) | (Vector512.ShiftRightLogical(f, 2).AsByte() & m10);
            var l3 = (v3 & m4) | (Vector512.ShiftLeft(f, 1).AsByte() & m10);
            var h3 = (Vector512.ShiftRightLogical(v3.AsUInt16(), 4).AsByte() & m4) | (Vector512.ShiftRightLogical(f, 3).AsByte() & m10);
            var dw = Vector512.Load((float*)(wb + D));
            acc0 = Step(l0, h0, l1, h1, l2, h2, l3, h3, dw, ya, acc0);
            if (T.Count > 1) acc1 = Step(l0, h0, l1, h1, l2, h2, l3, h3, dw, ya + aStride, acc1);
            if (T.Count > 2) acc2 = Step(l0, h0, l1, h1, l2, h2, l3, h3, dw, ya + 2 * aStride, acc2);
            if (T.Count > 3) acc3 = Step(l0, h0, l1, h1, l2, h2, l3, h3, dw, ya + 3 * aStride, acc3);
        }
        PackedLanes.Store<T>(acc0, acc1, acc2, acc3, y, yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Broadcast(byte* p) => Vector512.Create(*(int*)p).AsSByte();

    /// <summary>One block of 16 rows against one activation row: acc + ((exact (q - 16) . y) * dw) * da, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step(Vector512<byte> l0, Vector512<byte> h0, Vector512<byte> l1, Vector512<byte> h1,
        Vector512<byte> l2, Vector512<byte> h2, Vector512<byte> l3, Vector512<byte> h3, Vector512<float> dw, byte* y, Vector512<float> acc)
    {
        Vector512<short> xa = (Avx512BW.MultiplyAddAdjacent(l0, Broadcast(y)) + Avx512BW.MultiplyAddAdjacent(h0, Broadcast(y + 16)))
            + (Avx512BW.MultiplyAddAdjacent(l1, Broadcast(y + 4)) + Avx512BW.MultiplyAddAdjacent(h1, Broadcast(y + 20)));
        Vector512<short> xb = (Avx512BW.MultiplyAddAdjacent(l2, Broadcast(y + 8)) + Avx512BW.MultiplyAddAdjacent(h2, Broadcast(y + 24)))
            + (Avx512BW.MultiplyAddAdjacent(l3, Broadcast(y + 12)) + Avx512BW.MultiplyAddAdjacent(h3, Broadcast(y + 28)));
        var ones = Vector512.Create((short)1);
        Vector512<int> isum = Avx512BW.MultiplyAddAdjacent(xa, ones) + Avx512BW.MultiplyAddAdjacent(xb, ones)
            - Vector512.Create(*(int*)(y + SumOffset) << 4);
        return acc + (Avx512F.ConvertToVector512Single(isum) * dw) * Vector512.Create(*(float*)(y + ScaleOffset));
    }
}
