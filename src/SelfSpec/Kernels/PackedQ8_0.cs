// PackedQ8_0: a Q8_0 matrix (in practice the output head, often tied to the token embedding) repacked once at
// load so that one SIMD lane is one output row, with its kernels and scalar reference (docs/architecture.md,
// packed layouts).
//
// Why: the head is the largest single product of a decode step, and verification multiplies it by every
// drafted row. With one output per lane, a block's integer dot for 16 weight rows is 8 multiply-adds against
// broadcast activation bytes and its scales apply to 16 outputs at once, with no horizontal sum; each weight
// block, prepared once, serves up to eight activation rows (the tile loop is LaneTiles, shared with PackedQ4MatMul). A tile of 16 rows:
//   per block (576 bytes): qs[8 chunks x 16 lanes x 4 bytes]: lane i of chunk c holds elements 4c..4c+3 of row i,
//                          each stored as x + 128 (x ^ 0x80, unsigned: what vpdpbusd multiplies);
//                          d[16] float (the file's half scales, widened exactly at load);
//   tiles follow each other every Blocks x 576 bytes; rows past OutDim are zero and never written out.
//   activation block (72 bytes): y[32] (ggml's Q8_0 values), -y[32], d float, sum(y) int32.
// Signed x signed products: with AVX-VNNI (both paths) vpdpbusd multiplies x + 128 (unsigned) by y and the
// kernel subtracts 128 sum(y); without it vpmaddubsw needs |x| times y or -y chosen by x's sign (vpsignb on the
// 256-bit path; no pair sum reaches int16 saturation: 2 x 128 x 127 < 32767). All give the exact integer dot, so
// every path computes, per output, block by block in order, acc = fma(float(isum), dw * da, acc), as the scalar
// reference does: the same bits on every path, batch, neighbour, tile and column split (architecture.md 2.1).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q8_0 matrix in the packed layout: ceil(OutDim / 16) tiles of 16 rows, Blocks blocks each.</summary>
internal sealed unsafe class PackedQ8_0Matrix : LanePackedMatrix<PackedQ8_0MatMul.Kernel>, IRowPacker
{
    public const int TileRows = LaneTiles.TileRows;
    /// <summary>One block of a tile: 512 bytes of values, 16 float scales.</summary>
    public const int BlockBytes = 576;
    public override string ActivationFormat => "packed q8_0";
    public override int ActivationRowBytes => PackedQ8_0Activations.RowBytes(InDim);

    public override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) =>
        PackedQ8_0Activations.Quantize(x, n, InDim, dst);


    /// <summary>The packed kernels need AVX-512BW, or AVX2 and FMA; elsewhere the file-layout kernels serve Q8_0.</summary>
    public static bool Supported => Avx512BW.IsSupported || (Avx2.IsSupported && Fma.IsSupported);

    private PackedQ8_0Matrix(int inDim, int outDim) : base(inDim, outDim, BlockBytes) { }

    /// <summary>An empty packed matrix that the loader fills rows at a time (<see cref="IRowPacker"/>), so no whole-tensor staging array is held.</summary>
    public static PackedQ8_0Matrix Create(int inDim, int outDim)
    {
        if (inDim % 32 != 0) throw new ArgumentException($"row length {inDim} is not a whole number of blocks");
        return new PackedQ8_0Matrix(inDim, outDim);
    }

    public static PackedQ8_0Matrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim)
    {
        var p = Create(inDim, outDim);
        p.PackRows(rows, 0, outDim);
        return p;
    }

    public PackedMatrix Matrix => this;

    /// <summary>Repacks file rows [first, first + count) from <paramref name="rows"/> (exactly those rows' bytes).</summary>
    public void PackRows(ReadOnlySpan<byte> rows, int first, int count)
    {
        int nb = Blocks, fileRowBytes = nb * BlockQ8_0.Size;
        CheckRows(rows, first, count, fileRowBytes);
        fixed (byte* src0 = rows)
        {
            for (int i = 0; i < count; i++)
            {
                int r = first + i;
                byte* src = src0 + (long)i * fileRowBytes;
                int lane = r % TileRows;
                byte* tile = Data + (long)(r / TileRows) * TileBytes;
                for (int b = 0; b < nb; b++)
                {
                    byte* block = src + b * BlockQ8_0.Size;
                    byte* dst = tile + b * BlockBytes;
                    for (int c = 0; c < 8; c++) *(uint*)(dst + 64 * c + 4 * lane) = *(uint*)(block + 2 + 4 * c) ^ 0x80808080u;
                    ((float*)(dst + 512))[lane] = Dequantize.F16(block);
                }
            }
        }
    }
}

/// <summary>Activation rows for <see cref="PackedQ8_0Matrix"/> products, quantized as ggml's Q8_0 (bit-exact blocks).</summary>
internal static unsafe class PackedQ8_0Activations
{
    public const int BlockBytes = 72;

    public static int RowBytes(int inDim) => inDim / 32 * BlockBytes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(ReadOnlySpan<float> x, int n, int inDim, Span<byte> dst)
    {
        int rowBytes = RowBytes(inDim);
        if (inDim % 32 != 0 || x.Length < (long)n * inDim || dst.Length < (long)n * rowBytes)
            throw new ArgumentException($"PackedQ8_0Activations: {n} rows of {inDim} need {(long)n * inDim} floats and {(long)n * rowBytes} bytes");
        int nb = inDim / 32;
        Span<byte> block = stackalloc byte[BlockQ8_0.Size];
        fixed (byte* dst0 = dst)
        fixed (byte* q = block)
        {
            for (int row = 0; row < n; row++)
            {
                for (int b = 0; b < nb; b++)
                {
                    ActivationQuantize.Q8_0(x.Slice(row * inDim + b * 32, 32), block);
                    byte* outBlock = dst0 + (long)row * rowBytes + b * BlockBytes;
                    sbyte* qs = (sbyte*)(q + 2);
                    int sum = 0;
                    for (int i = 0; i < 32; i++)
                    {
                        ((sbyte*)outBlock)[i] = qs[i];
                        ((sbyte*)outBlock)[32 + i] = (sbyte)-qs[i]; // ggml's Q8_0 values lie in -127..127
                        sum += qs[i];
                    }
                    *(float*)(outBlock + 64) = Dequantize.F16(q);
                    *(int*)(outBlock + 68) = sum;
                }
            }
        }
    }
}

internal static unsafe class PackedQ8_0MatMul
{
    private const int TR = PackedQ8_0Matrix.TileRows, TB = PackedQ8_0Matrix.BlockBytes, AB = PackedQ8_0Activations.BlockBytes;

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
            sbyte* y = (sbyte*)(a + b * AB);
            int isum = 0;
            for (int c = 0; c < 8; c++)
                for (int e = 0; e < 4; e++)
                    isum += (sbyte)(wb[64 * c + 4 * lane + e] ^ 0x80) * y[4 * c + e];
            acc = MathF.FusedMultiplyAdd(isum, ((float*)(wb + 512))[lane] * *(float*)(a + b * AB + 64), acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512Of<T>(byte* wt, int nb, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize
    {
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0, acc5 = acc0, acc6 = acc0, acc7 = acc0;
        for (int b = 0; b < nb; b++)
        {
            byte* wb = wt + b * TB;
            StreamPrefetch.Lines(wb, TB / 64);
            Vector512<float> dw = Vector512.Load((float*)(wb + 512));
            byte* ya = a + b * AB;
            if (AvxVnni.IsSupported)
            {
                // 256-bit vpdpbusd (the only VNNI form .NET exposes here) on each half of the tile's lanes, then 512-bit float steps.
                Vector256<byte> u0 = Vector256.Load(wb), u1 = Vector256.Load(wb + 64), u2 = Vector256.Load(wb + 128), u3 = Vector256.Load(wb + 192);
                Vector256<byte> u4 = Vector256.Load(wb + 256), u5 = Vector256.Load(wb + 320), u6 = Vector256.Load(wb + 384), u7 = Vector256.Load(wb + 448);
                Vector256<byte> v0 = Vector256.Load(wb + 32), v1 = Vector256.Load(wb + 96), v2 = Vector256.Load(wb + 160), v3 = Vector256.Load(wb + 224);
                Vector256<byte> v4 = Vector256.Load(wb + 288), v5 = Vector256.Load(wb + 352), v6 = Vector256.Load(wb + 416), v7 = Vector256.Load(wb + 480);
                acc0 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya, acc0);
                if (T.Count > 1) acc1 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya + aStride, acc1);
                if (T.Count > 2) acc2 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya + 2 * aStride, acc2);
                if (T.Count > 3) acc3 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya + 3 * aStride, acc3);
                if (T.Count > 4) acc4 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya + 4 * aStride, acc4);
                if (T.Count > 5) acc5 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya + 5 * aStride, acc5);
                if (T.Count > 6) acc6 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya + 6 * aStride, acc6);
                if (T.Count > 7) acc7 = PairVnni512(u0, u1, u2, u3, u4, u5, u6, u7, v0, v1, v2, v3, v4, v5, v6, v7, dw, ya + 7 * aStride, acc7);
                continue;
            }
            Vector512<sbyte> bias = Vector512.Create((sbyte)-128);
            Vector512<sbyte> x0 = Vector512.Load((sbyte*)wb) ^ bias, x1 = Vector512.Load((sbyte*)(wb + 64)) ^ bias, x2 = Vector512.Load((sbyte*)(wb + 128)) ^ bias, x3 = Vector512.Load((sbyte*)(wb + 192)) ^ bias;
            Vector512<sbyte> x4 = Vector512.Load((sbyte*)(wb + 256)) ^ bias, x5 = Vector512.Load((sbyte*)(wb + 320)) ^ bias, x6 = Vector512.Load((sbyte*)(wb + 384)) ^ bias, x7 = Vector512.Load((sbyte*)(wb + 448)) ^ bias;
            acc0 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya, acc0);
            if (T.Count > 1) acc1 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + aStride, acc1);
            if (T.Count > 2) acc2 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + 2 * aStride, acc2);
            if (T.Count > 3) acc3 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + 3 * aStride, acc3);
            if (T.Count > 4) acc4 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + 4 * aStride, acc4);
            if (T.Count > 5) acc5 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + 5 * aStride, acc5);
            if (T.Count > 6) acc6 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + 6 * aStride, acc6);
            if (T.Count > 7) acc7 = Pair512(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + 7 * aStride, acc7);
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

    /// <summary>Chunk c's products for 16 lanes as int32: |x| times y or -y (by x's sign), pairs summed, then pairs of pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Chunk512(Vector512<sbyte> x, byte* y)
    {
        Vector512<sbyte> ys = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<sbyte>.Zero),
            Vector512.Create(*(int*)(y + 32)).AsSByte(), Vector512.Create(*(int*)y).AsSByte());
        return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(x), ys), Vector512.Create((short)1));
    }

    /// <summary>One block against one activation row through vpdpbusd: u* are lanes 0-7 of chunks 0-7, v* lanes 8-15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairVnni512(Vector256<byte> u0, Vector256<byte> u1, Vector256<byte> u2, Vector256<byte> u3,
        Vector256<byte> u4, Vector256<byte> u5, Vector256<byte> u6, Vector256<byte> u7,
        Vector256<byte> v0, Vector256<byte> v1, Vector256<byte> v2, Vector256<byte> v3,
        Vector256<byte> v4, Vector256<byte> v5, Vector256<byte> v6, Vector256<byte> v7, Vector512<float> dw, byte* ya, Vector512<float> acc)
    {
        Vector256<int> init = Vector256.Create(-(*(int*)(ya + 68) << 7));
        Vector256<sbyte> y = Broadcast256(ya);
        Vector256<int> lo = AvxVnni.MultiplyWideningAndAdd(init, u0, y), hi = AvxVnni.MultiplyWideningAndAdd(init, v0, y);
        y = Broadcast256(ya + 4);
        lo = AvxVnni.MultiplyWideningAndAdd(lo, u1, y); hi = AvxVnni.MultiplyWideningAndAdd(hi, v1, y);
        y = Broadcast256(ya + 8);
        lo = AvxVnni.MultiplyWideningAndAdd(lo, u2, y); hi = AvxVnni.MultiplyWideningAndAdd(hi, v2, y);
        y = Broadcast256(ya + 12);
        lo = AvxVnni.MultiplyWideningAndAdd(lo, u3, y); hi = AvxVnni.MultiplyWideningAndAdd(hi, v3, y);
        y = Broadcast256(ya + 16);
        lo = AvxVnni.MultiplyWideningAndAdd(lo, u4, y); hi = AvxVnni.MultiplyWideningAndAdd(hi, v4, y);
        y = Broadcast256(ya + 20);
        lo = AvxVnni.MultiplyWideningAndAdd(lo, u5, y); hi = AvxVnni.MultiplyWideningAndAdd(hi, v5, y);
        y = Broadcast256(ya + 24);
        lo = AvxVnni.MultiplyWideningAndAdd(lo, u6, y); hi = AvxVnni.MultiplyWideningAndAdd(hi, v6, y);
        y = Broadcast256(ya + 28);
        lo = AvxVnni.MultiplyWideningAndAdd(lo, u7, y); hi = AvxVnni.MultiplyWideningAndAdd(hi, v7, y);
        Vector512<int> isum = Vector512.Create(lo, hi);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), dw * Vector512.Create(*(float*)(ya + 64)), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair512(Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<sbyte> x2, Vector512<sbyte> x3,
        Vector512<sbyte> x4, Vector512<sbyte> x5, Vector512<sbyte> x6, Vector512<sbyte> x7, Vector512<float> dw, byte* ya, Vector512<float> acc)
    {
        Vector512<int> isum = ((Chunk512(x0, ya) + Chunk512(x1, ya + 4)) + (Chunk512(x2, ya + 8) + Chunk512(x3, ya + 12)))
            + ((Chunk512(x4, ya + 16) + Chunk512(x5, ya + 20)) + (Chunk512(x6, ya + 24) + Chunk512(x7, ya + 28)));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), dw * Vector512.Create(*(float*)(ya + 64)), acc);
    }

    /// <summary>
    /// The 256-bit path (AVX-512 off): lanes 8h..8h+7 of the tile against T (1-2) activation rows. With AVX-VNNI,
    /// vpdpbusd on x + 128 (unsigned) and y, then minus 128 sum(y); else vpmaddubsw of |x| and y with x's sign.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256Of<T>(byte* wt, int nb, int h, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = acc0;
        for (int b = 0; b < nb; b++)
        {
            byte* wb = wt + b * TB + 32 * h;
            if (h == 0) StreamPrefetch.Lines(wt + b * TB, TB / 64); // the second half reads the lines the first brought in
            Vector256<float> dw = Vector256.Load((float*)(wt + b * TB + 512) + 8 * h);
            byte* ya = a + b * AB;
            if (AvxVnni.IsSupported)
            {
                Vector256<byte> u0 = Vector256.Load(wb), u1 = Vector256.Load(wb + 64), u2 = Vector256.Load(wb + 128), u3 = Vector256.Load(wb + 192);
                Vector256<byte> u4 = Vector256.Load(wb + 256), u5 = Vector256.Load(wb + 320), u6 = Vector256.Load(wb + 384), u7 = Vector256.Load(wb + 448);
                acc0 = PairVnni(u0, u1, u2, u3, u4, u5, u6, u7, dw, ya, acc0);
                if (T.Count > 1) acc1 = PairVnni(u0, u1, u2, u3, u4, u5, u6, u7, dw, ya + aStride, acc1);
            }
            else
            {
                Vector256<sbyte> bias = Vector256.Create((sbyte)-128);
                Vector256<sbyte> x0 = Vector256.Load((sbyte*)wb) ^ bias, x1 = Vector256.Load((sbyte*)(wb + 64)) ^ bias, x2 = Vector256.Load((sbyte*)(wb + 128)) ^ bias, x3 = Vector256.Load((sbyte*)(wb + 192)) ^ bias;
                Vector256<sbyte> x4 = Vector256.Load((sbyte*)(wb + 256)) ^ bias, x5 = Vector256.Load((sbyte*)(wb + 320)) ^ bias, x6 = Vector256.Load((sbyte*)(wb + 384)) ^ bias, x7 = Vector256.Load((sbyte*)(wb + 448)) ^ bias;
                acc0 = Pair256(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya, acc0);
                if (T.Count > 1) acc1 = Pair256(x0, x1, x2, x3, x4, x5, x6, x7, dw, ya + aStride, acc1);
            }
        }
        acc0.Store(y);
        if (T.Count > 1) acc1.Store(y + yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast256(byte* p) => Vector256.Create(*(int*)p).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PairVnni(Vector256<byte> u0, Vector256<byte> u1, Vector256<byte> u2, Vector256<byte> u3,
        Vector256<byte> u4, Vector256<byte> u5, Vector256<byte> u6, Vector256<byte> u7, Vector256<float> dw, byte* ya, Vector256<float> acc)
    {
        Vector256<int> isum = AvxVnni.MultiplyWideningAndAdd(Vector256.Create(-(*(int*)(ya + 68) << 7)), u0, Broadcast256(ya));
        isum = AvxVnni.MultiplyWideningAndAdd(isum, u1, Broadcast256(ya + 4));
        isum = AvxVnni.MultiplyWideningAndAdd(isum, u2, Broadcast256(ya + 8));
        isum = AvxVnni.MultiplyWideningAndAdd(isum, u3, Broadcast256(ya + 12));
        isum = AvxVnni.MultiplyWideningAndAdd(isum, u4, Broadcast256(ya + 16));
        isum = AvxVnni.MultiplyWideningAndAdd(isum, u5, Broadcast256(ya + 20));
        isum = AvxVnni.MultiplyWideningAndAdd(isum, u6, Broadcast256(ya + 24));
        isum = AvxVnni.MultiplyWideningAndAdd(isum, u7, Broadcast256(ya + 28));
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), dw * Vector256.Create(*(float*)(ya + 64)), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk256(Vector256<sbyte> x, byte* y) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(Broadcast256(y), x)), Vector256.Create((short)1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pair256(Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<sbyte> x2, Vector256<sbyte> x3,
        Vector256<sbyte> x4, Vector256<sbyte> x5, Vector256<sbyte> x6, Vector256<sbyte> x7, Vector256<float> dw, byte* ya, Vector256<float> acc)
    {
        Vector256<int> isum = ((Chunk256(x0, ya) + Chunk256(x1, ya + 4)) + (Chunk256(x2, ya + 8) + Chunk256(x3, ya + 12)))
            + ((Chunk256(x4, ya + 16) + Chunk256(x5, ya + 20)) + (Chunk256(x6, ya + 24) + Chunk256(x7, ya + 28)));
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), dw * Vector256.Create(*(float*)(ya + 64)), acc);
    }
}
