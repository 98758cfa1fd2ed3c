// PackedQ4: Q4_0 and Q4_1 weight matrices repacked once at load into a layout where one SIMD lane is one output
// row, and the matching activation layout (docs/architecture.md, packed layouts).
//
// Why: verification multiplies every matrix by several activation rows. With one output per lane, a block's
// integer dot for 16 weight rows is 8 u8 x s8 multiply-adds against broadcast activation bytes, and the block's
// scales apply to 16 outputs in three vector operations, with no horizontal sum at all; each unpacked weight block
// then serves up to four activation rows, and each activation block sixteen weight rows. A tile of 16 rows:
//   per block (320 bytes):  qs[4 chunks x 16 lanes x 4 bytes]: lane i of chunk c holds bytes 4c..4c+3 of row i's
//                           16 file bytes (element 4c+e in the low nibble, element 16+4c+e in the high one);
//                           d[16] half, m[16] half (the file's halves, widened exactly in the kernel);
//   tiles follow each other every Blocks x 320 bytes; rows past OutDim are zero and never written out.
//   activation group (208 bytes): lo[4 x 16] (elements 0..15 of each of 4 blocks), hi[4 x 16] (elements 16..31),
//                                 d[16] float (each block's scale, 4 copies), s[4] float (the block's offset term).
// Q4_0 (value = d (q - 8)) is stored as Q4_1 with m = -8 d, so one kernel serves both:
//   per lane, block by block: acc = fma(float(sum(q*y)), dw*da, acc); acc = fma(mw, sa, acc),
// with sa = the Q8_1 block's s (half, as ggml's Q4_1 x Q8_1 dot uses) for Q4_1, and da * sum(y) (exact
// integer sum) for Q4_0, where ggml computes d * sum((q - 8) y) without an offset term.
// Every path (AVX-512, AVX2 with or without AVX-VNNI, scalar) computes exactly that sequence per output, so they
// agree bit for bit with each other and whatever the batch (architecture.md 2.1).
// Memory: 20 bytes a block, as in the file (18 for Q4_0), held beside the mapped file, which stays unchanged.
// A Q4_0 matrix whose -8 d overflows a half is left unpacked (CanPack), so the layout holds exactly the file's values.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q4_0 or Q4_1 matrix in the packed layout: ceil(OutDim / 16) tiles of 16 rows, Blocks blocks each.</summary>
internal sealed unsafe class PackedQ4Matrix : LanePackedMatrix<PackedQ4MatMul.Kernel>
{
    public const int BlocksPerGroup = 4;
    public const int GroupElements = 128;
    /// <summary>Rows a tile interleaves: the float lanes of a 512-bit vector.</summary>
    public const int TileRows = LaneTiles.TileRows;
    /// <summary>One block of a tile: 256 bytes of nibbles, 16 half scales, 16 half mins.</summary>
    public const int BlockBytes = 320;

    public GgmlType SourceType { get; }
    public override string ActivationFormat => SourceType == GgmlType.Q4_0 ? "packed q4_0" : "packed q4_1";
    public override int ActivationRowBytes => PackedActivations.RowBytes(InDim);

    public override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) =>
        PackedActivations.Quantize(SourceType, x, n, InDim, dst);


    public static bool CanPack(GgmlType type) => type is GgmlType.Q4_0 or GgmlType.Q4_1;

    /// <summary>Whether these bytes can be packed: Q4_0 / Q4_1, whole blocks, and (Q4_0) every -8 d a finite half.</summary>
    public static bool CanPack(GgmlType type, ReadOnlySpan<byte> rows, int inDim, int outDim)
    {
        if (!CanPack(type) || inDim % 32 != 0) return false;
        if (type == GgmlType.Q4_1) return true;
        long blocks = (long)inDim / 32 * outDim;
        for (long b = 0; b < blocks; b++)
        {
            Half m = (Half)(-8f * (float)BitConverter.ToHalf(rows.Slice((int)(b * BlockQ4_0.Size), 2)));
            if (!Half.IsFinite(m)) return false;
        }
        return true;
    }

    private PackedQ4Matrix(GgmlType type, int inDim, int outDim) : base(inDim, outDim, BlockBytes) => SourceType = type;

    /// <summary>Repacks <paramref name="outDim"/> rows of Q4_0 or Q4_1 blocks (the file's bytes).</summary>
    public static PackedQ4Matrix Pack(GgmlType type, ReadOnlySpan<byte> rows, int inDim, int outDim) =>
        TryPack(type, rows, inDim, outDim) ?? throw new ArgumentException("a Q4_0 scale is too large for the packed layout");

    /// <summary>
    /// As <see cref="Pack"/>, but null where the values do not fit the layout (<see cref="CanPack(GgmlType, ReadOnlySpan{byte}, int, int)"/>):
    /// loading asks this way so the scan of the scales runs once.
    /// </summary>
    public static PackedQ4Matrix? TryPack(GgmlType type, ReadOnlySpan<byte> rows, int inDim, int outDim)
    {
        if (!CanPack(type)) throw new ArgumentException($"only Q4_0 and Q4_1 are packed, not {type}");
        if (inDim % 32 != 0) throw new ArgumentException($"row length {inDim} is not a whole number of blocks");
        int blockBytes = type == GgmlType.Q4_1 ? BlockQ4_1.Size : BlockQ4_0.Size;
        int fileRowBytes = inDim / 32 * blockBytes;
        if (rows.Length < (long)fileRowBytes * outDim) throw new ArgumentException("too few bytes for the matrix");
        if (!CanPack(type, rows, inDim, outDim)) return null;
        var p = new PackedQ4Matrix(type, inDim, outDim);
        fixed (byte* src0 = rows)
        {
            for (int r = 0; r < outDim; r++)
            {
                byte* src = src0 + (long)r * fileRowBytes;
                int lane = r % TileRows;
                byte* tile = p.Data + (long)(r / TileRows) * p.TileBytes;
                for (int b = 0; b < p.Blocks; b++)
                {
                    byte* block = src + b * blockBytes;
                    byte* dst = tile + b * BlockBytes;
                    Half d = *(Half*)block;
                    Half m = type == GgmlType.Q4_1 ? *(Half*)(block + 2) : (Half)(-8f * (float)d); // exact: a power of two
                    byte* qs = block + (type == GgmlType.Q4_1 ? 4 : 2);
                    for (int c = 0; c < 4; c++) *(uint*)(dst + 64 * c + 4 * lane) = *(uint*)(qs + 4 * c);
                    ((Half*)(dst + 256))[lane] = d;
                    ((Half*)(dst + 288))[lane] = m;
                }
            }
        }
        return p;
    }
}

/// <summary>Activation rows in the packed layout, quantized the way ggml quantizes them for Q4_0 / Q4_1 dots.</summary>
internal static unsafe class PackedActivations
{
    public const int GroupBytes = 208;

    public static int RowBytes(int inDim) => (inDim + PackedQ4Matrix.GroupElements - 1) / PackedQ4Matrix.GroupElements * GroupBytes;

    /// <summary>
    /// Quantizes n rows of x (n x inDim) for products with a packed matrix made from <paramref name="sourceType"/>:
    /// each block of 32 exactly as ggml's Q8_1 (<see cref="ActivationQuantize.Q8_1"/>), written straight into the
    /// packed layout with AVX-512 (one pass, no intermediate blocks); <see cref="QuantizeReference"/> elsewhere.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(GgmlType sourceType, ReadOnlySpan<float> x, int n, int inDim, Span<byte> dst)
    {
        int rowBytes = RowBytes(inDim);
        Check(x, n, inDim, dst, rowBytes);
        if (!Avx512F.IsSupported)
        {
            QuantizeReference(sourceType, x, n, inDim, dst);
            return;
        }
        int nb = inDim / 32;
        bool q4_0 = sourceType == GgmlType.Q4_0;
        fixed (float* x0 = x)
        fixed (byte* dst0 = dst)
        {
            for (int row = 0; row < n; row++)
            {
                byte* outRow = dst0 + (long)row * rowBytes;
                if (nb % PackedQ4Matrix.BlocksPerGroup != 0) new Span<byte>(outRow + rowBytes - GroupBytes, GroupBytes).Clear();
                float* xr = x0 + (long)row * inDim;
                for (int b = 0; b < nb; b++)
                {
                    var v0 = Vector512.Load(xr + 32 * b);
                    var v1 = Vector512.Load(xr + 32 * b + 16);
                    var m = Vector512.Max(Vector512.Abs(v0), Vector512.Abs(v1));
                    float amax = ActivationQuantize.HMax(Vector256.Max(m.GetLower(), m.GetUpper()));
                    float d = amax / 127;
                    float id = d != 0 ? 1.0f / d : 0.0f;
                    var vid = Vector512.Create(id);
                    Vector512<int> q0 = ActivationQuantize.RoundAway(v0 * vid), q1 = ActivationQuantize.RoundAway(v1 * vid);
                    byte* group = outRow + b / PackedQ4Matrix.BlocksPerGroup * GroupBytes;
                    int j = b % PackedQ4Matrix.BlocksPerGroup;
                    Avx512F.ConvertToVector128SByte(q0).Store((sbyte*)(group + 16 * j));
                    Avx512F.ConvertToVector128SByte(q1).Store((sbyte*)(group + 64 + 16 * j));
                    int sum = Vector512.Sum(q0 + q1);
                    float dv = Fp16Table.Value(HalfBits.FromSingle(d));
                    float s = q4_0 ? dv * sum : Fp16Table.Value(HalfBits.FromSingle(sum * d));
                    Vector128.Create(dv).Store((float*)(group + 128) + 4 * j);
                    ((float*)(group + 192))[j] = s;
                }
            }
        }
    }

    private static void Check(ReadOnlySpan<float> x, int n, int inDim, Span<byte> dst, int rowBytes)
    {
        if (inDim % 32 != 0 || x.Length < (long)n * inDim || dst.Length < (long)n * rowBytes)
            throw new ArgumentException($"PackedActivations: {n} rows of {inDim} need {(long)n * inDim} floats and {(long)n * rowBytes} bytes");
    }

    /// <summary>Same contract as <see cref="Quantize"/>: ggml's Q8_1 blocks (<see cref="ActivationQuantize.Q8_1"/>), then repacked.</summary>
    public static void QuantizeReference(GgmlType sourceType, ReadOnlySpan<float> x, int n, int inDim, Span<byte> dst)
    {
        int rowBytes = RowBytes(inDim);
        Check(x, n, inDim, dst, rowBytes);
        int nb = inDim / 32;
        bool q4_0 = sourceType == GgmlType.Q4_0;
        int scratchBytes = nb * BlockQ8_1.Size;
        byte[]? rented = scratchBytes > 16384 ? System.Buffers.ArrayPool<byte>.Shared.Rent(scratchBytes) : null;
        Span<byte> blocks = rented ?? stackalloc byte[scratchBytes];
        blocks = blocks[..scratchBytes];
        fixed (byte* dst0 = dst)
        fixed (byte* q0 = blocks)
        {
            for (int row = 0; row < n; row++)
            {
                ActivationQuantize.Q8_1(x.Slice(row * inDim, inDim), blocks);
                byte* outRow = dst0 + (long)row * rowBytes;
                if (nb % PackedQ4Matrix.BlocksPerGroup != 0) new Span<byte>(outRow, rowBytes).Clear();
                for (int b = 0; b < nb; b++)
                {
                    byte* block = q0 + b * BlockQ8_1.Size;
                    byte* group = outRow + b / PackedQ4Matrix.BlocksPerGroup * GroupBytes;
                    int j = b % PackedQ4Matrix.BlocksPerGroup;
                    Vector128.Load(block + 4).Store(group + 16 * j);
                    Vector128.Load(block + 20).Store(group + 64 + 16 * j);
                    float d = Dequantize.F16(block);
                    float s = q4_0 ? d * SumQs((sbyte*)(block + 4)) : Dequantize.F16(block + 2);
                    Vector128.Create(d).Store((float*)(group + 128) + 4 * j);
                    ((float*)(group + 192))[j] = s;
                }
            }
        }
        if (rented != null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
    }

    private static int SumQs(sbyte* qs)
    {
        int sum = 0;
        for (int i = 0; i < 32; i++) sum += qs[i];
        return sum;
    }
}
