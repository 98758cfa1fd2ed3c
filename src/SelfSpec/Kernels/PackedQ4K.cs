// PackedQ4K: a Q4_K matrix (most of every Q4_K_M file) repacked once at load for 512-bit integer dot products
// against PackedKActivations rows, with its kernels and scalar reference; used where AVX-512BW is.
//
// Why: the file's 144-byte super-blocks keep 8 six-bit scales and mins in 12 packed bytes and pair low and high
// nibbles with activations 32 values apart, so the file-layout kernel spends its time unpacking scales and works
// 256 bits at a time. Here one super-block (256 values) is
//   qs[128]: byte p (0..63) holds value p (low nibble) and 64 + p (high nibble); byte 64 + p values 128 + p and
//            192 + p, so each of the four nibble planes is 64 consecutive values, one aligned 512-bit operand;
// and, after all of a row's qs, 16 bytes a super-block (the 8 scales, then the 8 mins, unpacked), then 2 floats
// (d, dmin: the file's halves, widened exactly). 152 bytes a super-block against the file's 144.
// Per super-block and activation row the step is 4 x (vpmaddubsw, vpmaddwd by the scales spread over their 16
// lanes), one vpmaddwd of the mins with the activation's 16-value sums, two exact integer sums, and then the
// float combination d*da*isum - dmin*da*summ exactly as ggml's scalar Q4_K dot (VecDotReference.Q4_K) does it.
// The integer sums are exact, so every result is bit for bit the file-layout reference's: packing changes no
// output, and batch invariance holds because each output depends only on its two rows (architecture.md 2.1).
// Without AVX-512BW the type row has no packer (the file-layout kernels serve); Rows then runs the reference.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q4_K matrix in the packed layout: OutDim rows of Blocks super-blocks.</summary>
internal sealed unsafe class PackedQ4KMatrix : PackedMatrix
{
    private readonly AlignedRows _rows;

    public override int InDim { get; }
    public override int OutDim { get; }
    public int Blocks { get; }
    /// <summary>qs (Blocks x 128), scales and mins (Blocks x 16), d and dmin (Blocks x 2 floats); a multiple of 64.</summary>
    public int RowBytes { get; }
    public override long ByteSize => (long)RowBytes * OutDim;
    public override string ActivationFormat => PackedKActivations.Format;
    public override int ActivationRowBytes => PackedKActivations.RowBytes(InDim);
    public byte* Data => _rows.Data;

    public static bool Supported => Avx512BW.IsSupported;

    public override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) => PackedKActivations.Quantize(x, n, InDim, dst);

    public override void Rows(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd) =>
        PackedQ4KMatMul.Rows(this, activations, batch, output, colStart, colEnd);

    private PackedQ4KMatrix(int inDim, int outDim)
    {
        InDim = inDim;
        OutDim = outDim;
        Blocks = inDim / 256;
        RowBytes = (Blocks * 152 + 63) / 64 * 64;
        _rows = new AlignedRows((long)RowBytes * outDim);
    }

    /// <summary>Repacks <paramref name="outDim"/> rows of the file's Q4_K blocks.</summary>
    public static PackedQ4KMatrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim)
    {
        if (inDim <= 0 || inDim % 256 != 0) throw new ArgumentException($"row length {inDim} is not a whole number of Q4_K blocks");
        int nb = inDim / 256, fileRowBytes = nb * BlockQ4_K.Size;
        if (rows.Length < (long)fileRowBytes * outDim) throw new ArgumentException("too few bytes for the matrix");
        var p = new PackedQ4KMatrix(inDim, outDim);
        byte* q = stackalloc byte[256];
        fixed (byte* src0 = rows)
        {
            for (int r = 0; r < outDim; r++)
            {
                byte* dst = p.Data + (long)r * p.RowBytes;
                byte* side = dst + nb * 128;
                float* scales = (float*)(side + nb * 16);
                new Span<byte>(dst, p.RowBytes).Clear();
                for (int b = 0; b < nb; b++)
                {
                    byte* block = src0 + (long)r * fileRowBytes + b * BlockQ4_K.Size;
                    // The file's order: 32-byte chunk c holds values 64c..64c+31 (low nibbles) and 64c+32.. (high).
                    for (int e = 0; e < 256; e++)
                        q[e] = (byte)((block[16 + 32 * (e / 64) + e % 32] >> (4 * (e / 32 % 2))) & 0xF);
                    byte* qs = dst + b * 128;
                    for (int i = 0; i < 64; i++)
                    {
                        qs[i] = (byte)(q[i] | (q[64 + i] << 4));
                        qs[64 + i] = (byte)(q[128 + i] | (q[192 + i] << 4));
                    }
                    for (int j = 0; j < 8; j++)
                    {
                        KScales.Get(j, block + 4, out int sc, out int m);
                        side[16 * b + j] = (byte)sc;
                        side[16 * b + 8 + j] = (byte)m;
                    }
                    scales[2 * b] = Dequantize.F16(block);
                    scales[2 * b + 1] = Dequantize.F16(block + 2);
                }
            }
        }
        return p;
    }
}

internal static unsafe class PackedQ4KMatMul
{
    private const int AB = PackedKActivations.BlockBytes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(PackedQ4KMatrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
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
                // Every batch size streams: one weight row is unpacked once for up to 4 activation rows.
                RowStream.Run<Streamer>(pw, pa0, ab, batch, blocks, py + o, outDim);
            }
        }
    }

    public static void RowsReference(PackedQ4KMatrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
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

    /// <summary>ggml's scalar Q4_K formula on the packed layout: per super-block d*da*sum(sc*q*y) - dmin*da*sum(m*bsum).</summary>
    public static float DotReference(byte* w, byte* a, int blocks)
    {
        byte* side = w + blocks * 128;
        float* scales = (float*)(side + blocks * 16);
        float s = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* qs = w + 128 * b;
            byte* ab = a + AB * b;
            sbyte* y = (sbyte*)ab;
            short* bsums = (short*)(ab + PackedKActivations.SumsOffset);
            int isum = 0, summ = 0;
            for (int e = 0; e < 256; e++)
            {
                int q = (qs[64 * (e / 128) + e % 64] >> (4 * (e / 64 % 2))) & 0xF;
                isum += side[16 * b + e / 32] * q * y[e];
            }
            for (int j = 0; j < 8; j++) summ += side[16 * b + 8 + j] * (bsums[2 * j] + bsums[2 * j + 1]);
            float da = *(float*)(ab + PackedKActivations.ScaleOffset);
            s += da * scales[2 * b] * isum - da * scales[2 * b + 1] * summ;
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
            byte* side = w + blocks * 128;
            float* scales = (float*)(side + blocks * 16);
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int b = 0; b < blocks; b++)
            {
                var v0 = Vector512.Load(w + 128 * b);
                var v1 = Vector512.Load(w + 128 * b + 64);
                var m4 = Vector512.Create((byte)0x0F);
                var q0 = v0 & m4;
                var q1 = Vector512.ShiftRightLogical(v0.AsUInt16(), 4).AsByte() & m4;
                var q2 = v1 & m4;
                var q3 = Vector512.ShiftRightLogical(v1.AsUInt16(), 4).AsByte() & m4;
                // Scales (lanes 0-7) and mins (8-15) widened to 16 bits; each plane of 64 values spans 2 sub-blocks,
                // whose 16 pair-sum lanes each take their sub-block's scale.
                Vector512<short> sm = Avx2.ConvertToVector256Int16(Vector128.Load(side + 16 * b)).ToVector512Unsafe();
                var sc0 = Avx512BW.PermuteVar32x16(sm, Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, (short)1));
                var sc1 = Avx512BW.PermuteVar32x16(sm, Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, (short)3));
                var sc2 = Avx512BW.PermuteVar32x16(sm, Vector512.Create(4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, (short)5));
                var sc3 = Avx512BW.PermuteVar32x16(sm, Vector512.Create(6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, (short)7));
                // Each min twice, beside the two 16-value sums of its sub-block.
                var mins = Avx512BW.PermuteVar32x16(sm, Vector512.Create(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (short)0)).GetLower();
                float d = scales[2 * b], dmin = scales[2 * b + 1];
                int off = AB * b;
                s0 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins, d, dmin, pa + off, s0);
                if (T.Count > 1) s1 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins, d, dmin, pb + off, s1);
                if (T.Count > 2) s2 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins, d, dmin, pc + off, s2);
                if (T.Count > 3) s3 = Step(q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins, d, dmin, pd + off, s3);
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

    /// <summary>One super-block of one activation row: the exact integer sums, then ggml's float combination.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Step(Vector512<byte> q0, Vector512<byte> q1, Vector512<byte> q2, Vector512<byte> q3,
        Vector512<short> sc0, Vector512<short> sc1, Vector512<short> sc2, Vector512<short> sc3, Vector256<short> mins,
        float d, float dmin, byte* a, float s)
    {
        // Pair sums of vpmaddubsw are at most 2 * 15 * 128 (no saturation); times a scale below 64 they stay far inside int32.
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q0, Vector512.Load((sbyte*)a)), sc0)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q1, Vector512.Load((sbyte*)(a + 64))), sc1)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q2, Vector512.Load((sbyte*)(a + 128))), sc2)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q3, Vector512.Load((sbyte*)(a + 192))), sc3);
        Vector256<int> m = Avx2.MultiplyAddAdjacent(mins, Vector256.Load((short*)(a + PackedKActivations.SumsOffset)));
        // Both sums in one reduction (integers: exact in any order): [p pairs | m pairs] per 128-bit half, then the halves.
        Vector256<int> h = Avx2.HorizontalAdd(p.GetLower() + p.GetUpper(), m);
        Vector128<int> q = h.GetLower() + h.GetUpper();
        Vector128<int> r = Ssse3.HorizontalAdd(q, q);
        int isum = r.ToScalar(), summ = r.GetElement(1);
        float da = *(float*)(a + PackedKActivations.ScaleOffset);
        return s + (da * d * isum - da * dmin * summ);
    }
}
