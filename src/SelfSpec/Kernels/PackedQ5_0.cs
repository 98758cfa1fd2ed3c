// PackedQ5_0: a Q5_0 matrix (most of a Q4_K_M file whose width is not a multiple of 256: llama.cpp's quantizer
// falls back from Q4_K to Q5_0 per tensor, as for Qwen2.5-0.5B's 896) repacked once at load for 512-bit integer
// dot products, with its activation layout, kernels and scalar reference; used where AVX-512BW is.
//
// Why: the file's 22-byte blocks are unaligned and each needs its 32 fifth bits spread over 32 bytes and a scalar
// half scale product; the file-layout kernel works one 32-value block per 256-bit step. Here a group of 4 blocks
// (128 values) is
//   weight row:       nibbles[groups x 64] (each block's 16 bytes as in the file: value i low, i + 16 high), then
//                     qh[groups x 16] (the blocks' fifth bits as in the file), then d[groups x 4] float (the
//                     file's halves, widened exactly): 96 bytes a group against the file's 88;
//   activation group: lo[4 x 16] (values 0..15 of each block), hi[4 x 16] (16..31), da[16] float (each block's
//                     Q8_0 scale over its 4 int32 lanes), o[16] int32 (16 x the sum of the 8 values whose products
//                     land in that lane): 256 bytes.
// Per (weight group, activation group): the fifth bits are spread to bytes with one shuffle, test and mask per
// plane (once per weight group, shared by up to 4 activation rows), then 2 x vpmaddubsw, vpmaddwd with ones, minus
// the offset lanes, giving (q - 16) . y exactly per lane as ggml does per block, then one conversion and one fused
// multiply-add by dw*da. Batch invariance: every output is the one-row Stream's fixed sequence on its two rows,
// whatever the tile (architecture.md 2.1). The scalar reference is the plain per-block formula.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q5_0 matrix in the packed layout: OutDim rows of Groups groups of 4 blocks.</summary>
internal sealed unsafe class PackedQ5_0Matrix : PackedMatrix
{
    public const int BlocksPerGroup = 4;
    public const int GroupElements = 128;

    private readonly AlignedRows _rows;

    public override int InDim { get; }
    public override int OutDim { get; }
    public int Groups { get; }
    /// <summary>nibbles (Groups x 64), fifth bits (Groups x 16), scales (Groups x 4 floats); a multiple of 64.</summary>
    public int RowBytes { get; }
    public override long ByteSize => (long)RowBytes * OutDim;
    public override string ActivationFormat => "packed q5_0";
    public override int ActivationRowBytes => PackedQ5_0Activations.RowBytes(InDim);
    public byte* Data => _rows.Data;

    public static bool Supported => Avx512BW.IsSupported;

    public override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) => PackedQ5_0Activations.Quantize(x, n, InDim, dst);

    public override void Rows(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd) =>
        PackedQ5_0MatMul.Rows(this, activations, batch, output, colStart, colEnd);

    private PackedQ5_0Matrix(int inDim, int outDim)
    {
        InDim = inDim;
        OutDim = outDim;
        Groups = (inDim + GroupElements - 1) / GroupElements;
        RowBytes = (Groups * 96 + 63) / 64 * 64;
        _rows = new AlignedRows((long)RowBytes * outDim);
    }

    /// <summary>Repacks <paramref name="outDim"/> rows of the file's Q5_0 blocks; padding blocks are zero (they add exactly 0).</summary>
    public static PackedQ5_0Matrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim)
    {
        if (inDim <= 0 || inDim % 32 != 0) throw new ArgumentException($"row length {inDim} is not a whole number of Q5_0 blocks");
        int nb = inDim / 32, fileRowBytes = nb * BlockQ5_0.Size;
        if (rows.Length < (long)fileRowBytes * outDim) throw new ArgumentException("too few bytes for the matrix");
        var p = new PackedQ5_0Matrix(inDim, outDim);
        int groups = p.Groups;
        fixed (byte* src0 = rows)
        {
            for (int r = 0; r < outDim; r++)
            {
                byte* dst = p.Data + (long)r * p.RowBytes;
                new Span<byte>(dst, p.RowBytes).Clear();
                for (int b = 0; b < nb; b++)
                {
                    byte* block = src0 + (long)r * fileRowBytes + b * BlockQ5_0.Size;
                    int g = b / BlocksPerGroup, j = b % BlocksPerGroup;
                    Buffer.MemoryCopy(block + 6, dst + 64 * g + 16 * j, 16, 16);
                    Buffer.MemoryCopy(block + 2, dst + 64 * groups + 16 * g + 4 * j, 4, 4);
                    ((float*)(dst + 80 * groups))[4 * g + j] = Dequantize.F16(block);
                }
            }
        }
        return p;
    }
}

/// <summary>Activation rows for <see cref="PackedQ5_0Matrix"/> products: ggml's Q8_0 blocks (bit for bit), repacked.</summary>
internal static unsafe class PackedQ5_0Activations
{
    public const int GroupBytes = 256;

    public static int RowBytes(int inDim) => (inDim + PackedQ5_0Matrix.GroupElements - 1) / PackedQ5_0Matrix.GroupElements * GroupBytes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(ReadOnlySpan<float> x, int n, int inDim, Span<byte> dst)
    {
        int rowBytes = RowBytes(inDim);
        if (inDim % 32 != 0 || x.Length < (long)n * inDim || dst.Length < (long)n * rowBytes)
            throw new ArgumentException($"PackedQ5_0Activations: {n} rows of {inDim} need {(long)n * inDim} floats and {(long)n * rowBytes} bytes");
        int nb = inDim / 32;
        Span<byte> block = stackalloc byte[BlockQ8_0.Size];
        fixed (byte* dst0 = dst)
        fixed (byte* q = block)
        {
            for (int row = 0; row < n; row++)
            {
                byte* outRow = dst0 + (long)row * rowBytes;
                if (nb % PackedQ5_0Matrix.BlocksPerGroup != 0) new Span<byte>(outRow + rowBytes - GroupBytes, GroupBytes).Clear();
                for (int b = 0; b < nb; b++)
                {
                    ActivationQuantize.Q8_0(x.Slice(row * inDim + b * 32, 32), block);
                    byte* group = outRow + b / PackedQ5_0Matrix.BlocksPerGroup * GroupBytes;
                    int j = b % PackedQ5_0Matrix.BlocksPerGroup;
                    sbyte* qs = (sbyte*)(q + 2);
                    Buffer.MemoryCopy(qs, group + 16 * j, 16, 16);
                    Buffer.MemoryCopy(qs + 16, group + 64 + 16 * j, 16, 16);
                    float d = Dequantize.F16(q);
                    for (int t = 0; t < 4; t++)
                    {
                        ((float*)(group + 128))[4 * j + t] = d;
                        // Lane 4j + t of vpmaddwd holds the products of values 4t..4t+3 and 16+4t..16+4t+3.
                        int sum = 0;
                        for (int i = 0; i < 4; i++) sum += qs[4 * t + i] + qs[16 + 4 * t + i];
                        ((int*)(group + 192))[4 * j + t] = 16 * sum;
                    }
                }
            }
        }
    }
}

internal static unsafe class PackedQ5_0MatMul
{
    private const int AG = PackedQ5_0Activations.GroupBytes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(PackedQ5_0Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        int outDim = w.OutDim, groups = w.Groups, wb = w.RowBytes, ab = PackedQ5_0Activations.RowBytes(w.InDim);
        byte* pw0 = w.Data;
        fixed (byte* pa0 = activations)
        fixed (float* py = output)
        {
            for (int o = colStart; o < colEnd; o++)
            {
                byte* pw = pw0 + (long)o * wb;
                if (!Avx512BW.IsSupported)
                {
                    for (int b = 0; b < batch; b++)
                        py[(long)b * outDim + o] = DotReference(pw, pa0 + (long)b * ab, groups);
                    continue;
                }
                RowStream.Run<Streamer>(pw, pa0, ab, batch, groups, py + o, outDim);
            }
        }
    }

    public static void RowsReference(PackedQ5_0Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        int ab = PackedQ5_0Activations.RowBytes(w.InDim);
        fixed (byte* pa0 = activations)
        {
            for (int o = colStart; o < colEnd; o++)
                for (int b = 0; b < batch; b++)
                    output[b * w.OutDim + o] = DotReference(w.Data + (long)o * w.RowBytes, pa0 + (long)b * ab, w.Groups);
        }
    }

    /// <summary>The plain formula: sum over blocks of (dw * da) * sum((q - 16) * y), left to right.</summary>
    public static float DotReference(byte* w, byte* a, int groups)
    {
        byte* qh = w + 64 * groups;
        float* dw = (float*)(w + 80 * groups);
        float sum = 0;
        for (int g = 0; g < groups; g++)
        {
            byte* ag = a + g * AG;
            for (int j = 0; j < PackedQ5_0Matrix.BlocksPerGroup; j++)
            {
                uint bits = *(uint*)(qh + 16 * g + 4 * j);
                int sumi = 0;
                for (int i = 0; i < 16; i++)
                {
                    byte nib = w[64 * g + 16 * j + i];
                    int lo = (nib & 0xF) | (int)((bits >> i) & 1) << 4;
                    int hi = (nib >> 4) | (int)((bits >> (i + 16)) & 1) << 4;
                    sumi += (lo - 16) * ((sbyte*)ag)[16 * j + i] + (hi - 16) * ((sbyte*)ag)[64 + 16 * j + i];
                }
                sum += dw[4 * g + j] * ((float*)(ag + 128))[4 * j] * sumi;
            }
        }
        return sum;
    }

    public static float Dot(byte* w, byte* a, int groups) =>
        Avx512BW.IsSupported ? Streamer.Stream<TileOf1>(w, a, 0, groups, null, 0) : DotReference(w, a, groups);

    private struct Streamer : IRowStreamKernel
    {
        /// <summary>
        /// One weight row against T.Count (1-4) activation rows: each group is unpacked once for all of them.
        /// Writes every row's output (T.Count outputs yStride apart) and returns the first.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float Stream<T>(byte* w, byte* pa, int aStride, int groups, float* y, int yStride) where T : struct, ITileSize
        {
            byte* pb = pa + aStride, pc = pb + aStride, pd = pc + aStride;
            byte* qh = w + 64 * groups;
            float* dws = (float*)(w + 80 * groups);
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (int g = 0; g < groups; g++)
            {
                var v = Vector512.Load(w + 64 * g);
                var m4 = Vector512.Create((byte)0x0F);
                // The 4 blocks' fifth bits in every 128-bit lane; lane j byte i takes block j's bit i (low plane) or
                // bit 16 + i (high plane): qh byte 4j + i / 8 or 4j + 2 + i / 8, tested against 1 << (i % 8).
                var h = Vector512.Create(Vector128.Load(qh + 16 * g));
                var bit = Vector512.Create(Vector128.Create(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, (byte)128));
                var loBytes = Avx512BW.Shuffle(h, Vector512.Create(
                    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5,
                    8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, (byte)13));
                var hiBytes = Avx512BW.Shuffle(h, Vector512.Create(
                    2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7,
                    10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, (byte)15));
                var sixteen = Vector512.Create((byte)0x10);
                var lo = (v & m4) | (Vector512.Equals(loBytes & bit, bit) & sixteen);
                var hi = (Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & m4) | (Vector512.Equals(hiBytes & bit, bit) & sixteen);
                var dw = Avx512F.PermuteVar16x32(Vector128.Load(dws + 4 * g).ToVector256Unsafe().ToVector512Unsafe(),
                    Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
                int off = g * AG;
                acc0 = Step(lo, hi, dw, pa + off, acc0);
                if (T.Count > 1) acc1 = Step(lo, hi, dw, pb + off, acc1);
                if (T.Count > 2) acc2 = Step(lo, hi, dw, pc + off, acc2);
                if (T.Count > 3) acc3 = Step(lo, hi, dw, pd + off, acc3);
            }
            float first = FloatSum.Sum(acc0);
            if (T.Count > 1)
            {
                y[0] = first;
                y[yStride] = FloatSum.Sum(acc1);
            }
            if (T.Count > 2) y[2 * yStride] = FloatSum.Sum(acc2);
            if (T.Count > 3) y[3 * yStride] = FloatSum.Sum(acc3);
            return first;
        }
    }

    /// <summary>acc + ((q - 16) . y per lane, exact) * (dw * da): the one step every kernel runs per pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step(Vector512<byte> lo, Vector512<byte> hi, Vector512<float> dw, byte* a, Vector512<float> acc)
    {
        // q <= 31 and |y| <= 127: pair sums at most 7874, the two planes' sum at most 15748, inside int16.
        Vector512<short> p16 = Avx512BW.MultiplyAddAdjacent(lo, Vector512.Load((sbyte*)a))
            + Avx512BW.MultiplyAddAdjacent(hi, Vector512.Load((sbyte*)(a + 64)));
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(p16, Vector512.Create((short)1)) - Vector512.Load((int*)(a + 192));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), dw * Vector512.Load((float*)(a + 128)), acc);
    }
}
