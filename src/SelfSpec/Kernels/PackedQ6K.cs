// PackedQ6K: a Q6_K matrix (the output head and part of attn_v / ffn_down in every Q4_K_M file) repacked once at
// load for 512-bit integer dot products against PackedKActivations rows; used where AVX-512BW is.
//
// Why: in the file's 210-byte super-blocks the low and high bits of a value sit in planes 32 values apart and the
// blocks are not aligned, so the file-layout kernel pays split loads and many shuffles. Here one super-block is
//   ql[128]: byte p (0..63) holds the low 4 bits of value p (low nibble) and of 64 + p (high nibble); byte 64 + p
//            those of 128 + p and 192 + p;
//   qh[64]:  byte p holds the high 2 bits of values p, 64 + p, 128 + p, 192 + p (bits 0-1, 2-3, 4-5, 6-7);
// so each value plane of 64 is one aligned 512-bit operand, and after all of a row's bits, 16 signed scales a
// super-block, then its d as a float (the file's half, widened exactly): 212 bytes a super-block against 210.
// Per super-block and activation row: 4 x (vpmaddubsw of the unsigned 6-bit values, vpmaddwd by the scales
// spread over their 8 lanes), the -32 offset as one vpmaddwd of the scales with the activation's 16-value sums,
// exact integer sums, then d*da*(sum - 32 offset) exactly as ggml's scalar Q6_K dot (VecDotReference.Q6_K).
// So every result is bit for bit the file-layout reference's and depends only on its two rows (architecture.md 2.1).
// Without AVX-512BW the type row has no packer (the file-layout kernels serve); Rows then runs the reference.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q6_K matrix in the packed layout: OutDim rows of Blocks super-blocks.</summary>
internal sealed unsafe class PackedQ6KMatrix : PackedMatrix
{
    private readonly AlignedRows _rows;

    public override int InDim { get; }
    public override int OutDim { get; }
    public int Blocks { get; }
    /// <summary>bits (Blocks x 192), scales (Blocks x 16), d (Blocks floats); a multiple of 64.</summary>
    public int RowBytes { get; }
    public override long ByteSize => (long)RowBytes * OutDim;
    public override string ActivationFormat => PackedKActivations.Format;
    public override int ActivationRowBytes => PackedKActivations.RowBytes(InDim);
    public byte* Data => _rows.Data;

    public static bool Supported => Avx512BW.IsSupported;

    public override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) => PackedKActivations.Quantize(x, n, InDim, dst);

    public override void Rows(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd) =>
        PackedQ6KMatMul.Rows(this, activations, batch, output, colStart, colEnd);

    private PackedQ6KMatrix(int inDim, int outDim)
    {
        InDim = inDim;
        OutDim = outDim;
        Blocks = inDim / 256;
        RowBytes = (Blocks * 212 + 63) / 64 * 64;
        _rows = new AlignedRows((long)RowBytes * outDim);
    }

    /// <summary>Repacks <paramref name="outDim"/> rows of the file's Q6_K blocks.</summary>
    public static PackedQ6KMatrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim)
    {
        if (inDim <= 0 || inDim % 256 != 0) throw new ArgumentException($"row length {inDim} is not a whole number of Q6_K blocks");
        int nb = inDim / 256, fileRowBytes = nb * BlockQ6_K.Size;
        if (rows.Length < (long)fileRowBytes * outDim) throw new ArgumentException("too few bytes for the matrix");
        var p = new PackedQ6KMatrix(inDim, outDim);
        byte* q = stackalloc byte[256];
        fixed (byte* src0 = rows)
        {
            for (int r = 0; r < outDim; r++)
            {
                byte* dst = p.Data + (long)r * p.RowBytes;
                sbyte* scales = (sbyte*)(dst + nb * 192);
                float* d = (float*)(dst + nb * 208);
                new Span<byte>(dst, p.RowBytes).Clear();
                for (int b = 0; b < nb; b++)
                {
                    byte* w = src0 + (long)r * fileRowBytes + b * BlockQ6_K.Size;
                    // The file's order (ggml's dequantize_row_q6_K): per half of 128 values, quarter k of 32 takes
                    // its low bits from ql (bytes 0-31 or 32-63 of the half, low or high nibble), its high bits from
                    // bits 2k, 2k+1 of qh.
                    for (int e = 0; e < 256; e++)
                    {
                        int half = e / 128, rest = e % 128, quarter = rest / 32, l = rest % 32;
                        byte ql = w[64 * half + l + (quarter & 1) * 32];
                        int lo = (quarter >> 1) == 0 ? ql & 0xF : ql >> 4;
                        int hi = (w[128 + 32 * half + l] >> (2 * quarter)) & 3;
                        q[e] = (byte)(lo | (hi << 4));
                    }
                    byte* bits = dst + b * 192;
                    for (int i = 0; i < 64; i++)
                    {
                        bits[i] = (byte)((q[i] & 0xF) | ((q[64 + i] & 0xF) << 4));
                        bits[64 + i] = (byte)((q[128 + i] & 0xF) | ((q[192 + i] & 0xF) << 4));
                        bits[128 + i] = (byte)((q[i] >> 4) | ((q[64 + i] >> 4) << 2) | ((q[128 + i] >> 4) << 4) | ((q[192 + i] >> 4) << 6));
                    }
                    for (int g = 0; g < 16; g++) scales[16 * b + g] = ((sbyte*)(w + 192))[g];
                    d[b] = Dequantize.F16(w + 208);
                }
            }
        }
        return p;
    }
}

internal static unsafe class PackedQ6KMatMul
{
    private const int AB = PackedKActivations.BlockBytes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(PackedQ6KMatrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        int outDim = w.OutDim, blocks = w.Blocks, wb = w.RowBytes, ab = PackedKActivations.RowBytes(w.InDim);
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
                        py[(long)b * outDim + o] = DotReference(pw, pa0 + (long)b * ab, blocks);
                    continue;
                }
                RowStream.Run<Streamer>(pw, pa0, ab, batch, blocks, py + o, outDim);
            }
        }
    }

    public static void RowsReference(PackedQ6KMatrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        int ab = PackedKActivations.RowBytes(w.InDim);
        fixed (byte* pa0 = activations)
        {
            for (int o = colStart; o < colEnd; o++)
                for (int b = 0; b < batch; b++)
                    output[b * w.OutDim + o] = DotReference(w.Data + (long)o * w.RowBytes, pa0 + (long)b * ab, w.Blocks);
        }
    }

    /// <summary>ggml's scalar Q6_K formula on the packed layout: per super-block d*da*sum(sc*(q-32)*y).</summary>
    public static float DotReference(byte* w, byte* a, int blocks)
    {
        sbyte* scales = (sbyte*)(w + blocks * 192);
        float* d = (float*)(w + blocks * 208);
        float s = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* bits = w + 192 * b;
            sbyte* y = (sbyte*)(a + AB * b);
            int isum = 0;
            for (int e = 0; e < 256; e++)
            {
                int plane = e / 64, p = e % 64;
                int lo = (bits[64 * (plane / 2) + p] >> (4 * (plane % 2))) & 0xF;
                int hi = (bits[128 + p] >> (2 * plane)) & 3;
                isum += scales[16 * b + e / 16] * ((lo | (hi << 4)) - 32) * y[e];
            }
            float da = *(float*)(a + AB * b + PackedKActivations.ScaleOffset);
            s += da * d[b] * isum;
        }
        return s;
    }

    public static float Dot(byte* w, byte* a, int blocks) =>
        Avx512BW.IsSupported ? Streamer.Stream<TileOf1>(w, a, 0, blocks, null, 0) : DotReference(w, a, blocks);

    private struct Streamer : IRowStreamKernel
    {
        /// <summary>
        /// One weight row against T.Count (1-4) activation rows: each super-block is unpacked once for all of them.
        /// Writes every row's output (T.Count outputs yStride apart) and returns the first.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float Stream<T>(byte* w, byte* pa, int aStride, int blocks, float* y, int yStride) where T : struct, ITileSize
        {
            byte* pb = pa + aStride, pc = pb + aStride, pd = pc + aStride;
            sbyte* scales = (sbyte*)(w + blocks * 192);
            float* dd = (float*)(w + blocks * 208);
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int b = 0; b < blocks; b++)
            {
                byte* bits = w + 192 * b;
                var v0 = Vector512.Load(bits);
                var v1 = Vector512.Load(bits + 64);
                var h = Vector512.Load(bits + 128);
                var m4 = Vector512.Create((byte)0x0F);
                var m2 = Vector512.Create((byte)0x03);
                // High bits are 0..3, so 16-bit shifts by 4 do not carry into the next byte.
                var q0 = (v0 & m4) | Vector512.ShiftLeft((h & m2).AsUInt16(), 4).AsByte();
                var q1 = (Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & m4) | Vector512.ShiftLeft((Vector512.ShiftRightLogical(h.AsUInt16(), 2).AsByte() & m2).AsUInt16(), 4).AsByte();
                var q2 = (v1 & m4) | Vector512.ShiftLeft((Vector512.ShiftRightLogical(h.AsUInt16(), 4).AsByte() & m2).AsUInt16(), 4).AsByte();
                var q3 = (Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & m4) | Vector512.ShiftLeft((Vector512.ShiftRightLogical(h.AsUInt16(), 6).AsByte() & m2).AsUInt16(), 4).AsByte();
                // The 16 scales sign-extended to 16 bits; a plane of 64 values covers 4 groups of 16, 8 pair-sum lanes each.
                Vector256<short> sc = Avx2.ConvertToVector256Int16(Vector128.Load(scales + 16 * b));
                Vector512<short> sc512 = sc.ToVector512Unsafe();
                var sc0 = Avx512BW.PermuteVar32x16(sc512, Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, (short)3));
                var sc1 = Avx512BW.PermuteVar32x16(sc512, Vector512.Create(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, (short)7));
                var sc2 = Avx512BW.PermuteVar32x16(sc512, Vector512.Create(8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, (short)11));
                var sc3 = Avx512BW.PermuteVar32x16(sc512, Vector512.Create(12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, (short)15));
                float d = dd[b];
                int off = AB * b;
                s0 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, sc, d, pa + off, s0);
                if (T.Count > 1) s1 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, sc, d, pb + off, s1);
                if (T.Count > 2) s2 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, sc, d, pc + off, s2);
                if (T.Count > 3) s3 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, sc, d, pd + off, s3);
            }
            if (T.Count > 1)
            {
                y[0] = s0;
                y[yStride] = s1;
            }
            if (T.Count > 2) y[2 * yStride] = s2;
            if (T.Count > 3) y[3 * yStride] = s3;
            return s0;
        }
    }

    /// <summary>One super-block of one activation row: exact integer sums, then ggml's float combination.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Step(Vector512<byte> q0, Vector512<byte> q1, Vector512<byte> q2, Vector512<byte> q3,
        Vector512<short> sc0, Vector512<short> sc1, Vector512<short> sc2, Vector512<short> sc3, Vector256<short> sc,
        float d, byte* a, float s)
    {
        // vpmaddubsw pair sums are at most 2 * 63 * 128 = 16128 (no saturation); times a scale of at most 128 they fit int32.
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q0, Vector512.Load((sbyte*)a)), sc0)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q1, Vector512.Load((sbyte*)(a + 64))), sc1)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q2, Vector512.Load((sbyte*)(a + 128))), sc2)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q3, Vector512.Load((sbyte*)(a + 192))), sc3);
        Vector256<int> offset = Avx2.MultiplyAddAdjacent(sc, Vector256.Load((short*)(a + PackedKActivations.SumsOffset)));
        int total = Vector256.Sum(p.GetLower() + p.GetUpper() - Vector256.ShiftLeft(offset, 5)); // integers: exact in any order
        float da = *(float*)(a + PackedKActivations.ScaleOffset);
        return s + da * d * total;
    }
}
