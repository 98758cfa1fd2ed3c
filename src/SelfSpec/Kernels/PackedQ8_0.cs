// PackedQ8_0: a Q8_0 matrix (in practice the output head, often tied to the token embedding) repacked once at
// load for 512-bit integer dot products, with its kernels and scalar reference, used only where AVX-512BW is.
//
// Why: the head is the largest single product of a decode step, and verification multiplies it by every
// drafted row. The file's 34-byte blocks need a scalar half scale per block and 256-bit steps; here a group of
// 2 blocks (64 elements) is one aligned 64-byte load plus two float scales:
//   weight row:        qs[groups x 64] (the blocks' int8 values in file order), then d[groups x 2] float;
//   activation group:  y[64], -y[64] (so y * sign(x) is one select), d[16] float (each block's scale over the
//                      8 int32 lanes its products land in), 192 bytes.
// Signed x signed products use |x| (unsigned) times y with x's sign moved onto y, as vpmaddubsw needs one
// unsigned operand; no pair sum reaches int16 saturation (127 * 127 * 2 < 32767).
// Per (weight group, activation group) the step is: select, vpmaddubsw, vpmaddwd with ones (8 lanes a block),
// conversion, multiply by the weight scales spread over their lanes, fused multiply-add by the activation's.
// Batch invariance: the tiles (4 weight rows x 1 or 2 activation rows; 1 weight row x 1-4 for small batches) and the one-row dot run the same Step
// per pair with their own accumulators in the same group order, and reduce the same way.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>A Q8_0 matrix in the packed layout: OutDim rows of Groups groups of 2 blocks.</summary>
internal sealed unsafe class PackedQ8_0Matrix : PackedMatrix
{
    public const int GroupElements = 64;

    private readonly byte[] _storage; // pinned; RowBytes * OutDim bytes from a 64-byte aligned start
    private readonly int _offset;

    public override int InDim { get; }
    public override int OutDim { get; }
    public int Groups { get; }
    /// <summary>qs (Groups x 64 bytes) then scales (Groups x 2 floats); a multiple of 64 bytes.</summary>
    public int RowBytes { get; }
    public override long ByteSize => (long)RowBytes * OutDim;
    public override string ActivationFormat => "packed q8_0";
    public override int ActivationRowBytes => PackedQ8_0Activations.RowBytes(InDim);

    public override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) =>
        PackedQ8_0Activations.Quantize(x, n, InDim, dst);

    public override void Rows(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd) =>
        PackedQ8_0MatMul.Rows(this, activations, batch, output, colStart, colEnd);
    public byte* Data => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage)) + _offset;

    /// <summary>The packed kernels need AVX-512BW; elsewhere the file-layout kernels serve Q8_0.</summary>
    public static bool Supported => Avx512BW.IsSupported;

    private PackedQ8_0Matrix(int inDim, int outDim)
    {
        InDim = inDim;
        OutDim = outDim;
        Groups = (inDim + GroupElements - 1) / GroupElements;
        RowBytes = (Groups * 72 + 63) / 64 * 64;
        _storage = GC.AllocateArray<byte>(checked(RowBytes * outDim + 64), pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        _offset = (int)((64 - (start & 63)) & 63);
    }

    public static PackedQ8_0Matrix Pack(ReadOnlySpan<byte> rows, int inDim, int outDim)
    {
        if (inDim % 32 != 0) throw new ArgumentException($"row length {inDim} is not a whole number of blocks");
        int nb = inDim / 32, fileRowBytes = nb * BlockQ8_0.Size;
        if (rows.Length < (long)fileRowBytes * outDim) throw new ArgumentException("too few bytes for the matrix");
        var p = new PackedQ8_0Matrix(inDim, outDim);
        fixed (byte* src0 = rows)
        {
            for (int r = 0; r < outDim; r++)
            {
                byte* src = src0 + (long)r * fileRowBytes;
                byte* dst = p.Data + (long)r * p.RowBytes;
                new Span<byte>(dst, p.RowBytes).Clear();
                float* scales = (float*)(dst + p.Groups * 64);
                for (int b = 0; b < nb; b++)
                {
                    new ReadOnlySpan<byte>(src + b * BlockQ8_0.Size + 2, 32).CopyTo(new Span<byte>(dst + b * 32, 32));
                    scales[b] = Dequantize.F16(src + b * BlockQ8_0.Size);
                }
            }
        }
        return p;
    }
}

/// <summary>Activation rows for <see cref="PackedQ8_0Matrix"/> products, quantized as ggml's Q8_0 (bit-exact blocks).</summary>
internal static unsafe class PackedQ8_0Activations
{
    public const int GroupBytes = 192;

    public static int RowBytes(int inDim) => (inDim + PackedQ8_0Matrix.GroupElements - 1) / PackedQ8_0Matrix.GroupElements * GroupBytes;

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
                byte* outRow = dst0 + (long)row * rowBytes;
                new Span<byte>(outRow, rowBytes).Clear();
                for (int b = 0; b < nb; b++)
                {
                    ActivationQuantize.Q8_0(x.Slice(row * inDim + b * 32, 32), block);
                    byte* group = outRow + b / 2 * GroupBytes;
                    int j = b % 2;
                    sbyte* qs = (sbyte*)(q + 2);
                    for (int i = 0; i < 32; i++)
                    {
                        ((sbyte*)group)[32 * j + i] = qs[i];
                        ((sbyte*)group)[64 + 32 * j + i] = (sbyte)-qs[i];
                    }
                    float d = Dequantize.F16(q);
                    for (int i = 0; i < 8; i++) ((float*)(group + 128))[8 * j + i] = d;
                }
            }
        }
    }
}

internal static unsafe class PackedQ8_0MatMul
{
    private const int AG = PackedQ8_0Activations.GroupBytes;

    /// <summary>
    /// Batches up to this size run one weight row at a time against up to 4 activation rows (the row streams in
    /// order and is prepared once); larger ones in 4 x 2 tiles. Measured on the 576 x 49152 head, 2 threads,
    /// 8 rows: 3.9-4.2 ms one weight row at a time against 4.4-4.7 ms in 4 x 2 tiles (interleaved weight rows
    /// defeat the hardware prefetcher).
    /// </summary>
    private const int MaxStreamedBatch = 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(PackedQ8_0Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        int outDim = w.OutDim, groups = w.Groups, wb = w.RowBytes, ab = PackedQ8_0Activations.RowBytes(w.InDim);
        byte* pw0 = w.Data;
        fixed (byte* pa0 = activations)
        fixed (float* py = output)
        {
            int o = colStart;
            if (batch > MaxStreamedBatch && Avx512BW.IsSupported)
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
                        py[(long)b * outDim + o] = DotReference(pw, pa0 + (long)b * ab, groups);
                    continue;
                }
                RowStream.Run<Streamer>(pw, pa0, ab, batch, groups, py + o, outDim);
            }
        }
    }

    public static void RowsReference(PackedQ8_0Matrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        int ab = PackedQ8_0Activations.RowBytes(w.InDim);
        fixed (byte* pa0 = activations)
        {
            for (int o = colStart; o < colEnd; o++)
                for (int b = 0; b < batch; b++)
                    output[b * w.OutDim + o] = DotReference(w.Data + (long)o * w.RowBytes, pa0 + (long)b * ab, w.Groups);
        }
    }

    /// <summary>The plain formula: sum over blocks of dw * da * sum(x * y), left to right.</summary>
    public static float DotReference(byte* w, byte* a, int groups)
    {
        float* scales = (float*)(w + groups * 64);
        float sum = 0;
        for (int g = 0; g < groups; g++)
        {
            for (int j = 0; j < 2; j++)
            {
                int sumi = 0;
                for (int i = 0; i < 32; i++) sumi += ((sbyte*)w)[g * 64 + 32 * j + i] * ((sbyte*)a)[g * AG + 32 * j + i];
                sum += scales[2 * g + j] * ((float*)(a + g * AG + 128))[8 * j] * sumi;
            }
        }
        return sum;
    }

    public static float Dot(byte* w, byte* a, int groups) =>
        Avx512BW.IsSupported ? Streamer.Stream<TileOf1>(w, a, 0, groups, null, 0) : DotReference(w, a, groups);

    /// <summary>The small-batch kernel, as the type <see cref="RowStream"/> runs.</summary>
    private struct Streamer : IRowStreamKernel
    {
        /// <summary>
        /// One weight row against T.Count (1-4) activation rows: the row is read and prepared once for all of them.
        /// Writes every row's output (T.Count outputs yStride apart) and returns the first.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float Stream<T>(byte* w, byte* pa, int aStride, int groups, float* y, int yStride) where T : struct, ITileSize
        {
            byte* pb = pa + aStride, pc = pb + aStride, pd = pc + aStride;
            float* scales = (float*)(w + groups * 64);
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (int g = 0; g < groups; g++)
            {
                var x = Vector512.Load((sbyte*)(w + g * 64));
                var ax = Avx512BW.Abs(x);
                var negative = Negative(x);
                var dw = Spread(scales + 2 * g);
                int off = g * AG;
                acc0 = Step(ax, negative, dw, pa + off, acc0);
                if (T.Count > 1) acc1 = Step(ax, negative, dw, pb + off, acc1);
                if (T.Count > 2) acc2 = Step(ax, negative, dw, pc + off, acc2);
                if (T.Count > 3) acc3 = Step(ax, negative, dw, pd + off, acc3);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x1(byte* pw, int wStride, byte* pa, int groups, float* y)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        int sOff = groups * 64;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int g = 0; g < groups; g++)
        {
            byte* a = pa + g * AG;
            int off = g * 64, so = sOff + 8 * g;
            Vector512<sbyte> x, neg;
            Vector512<byte> ax;
            Vector512<float> dw;
            x = Vector512.Load((sbyte*)(pw + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw + so));
            acc0 = Step(ax, neg, dw, a, acc0);
            x = Vector512.Load((sbyte*)(pw1 + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw1 + so));
            acc1 = Step(ax, neg, dw, a, acc1);
            x = Vector512.Load((sbyte*)(pw2 + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw2 + so));
            acc2 = Step(ax, neg, dw, a, acc2);
            x = Vector512.Load((sbyte*)(pw3 + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw3 + so));
            acc3 = Step(ax, neg, dw, a, acc3);
        }
        y[0] = FloatSum.Sum(acc0);
        y[1] = FloatSum.Sum(acc1);
        y[2] = FloatSum.Sum(acc2);
        y[3] = FloatSum.Sum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2(byte* pw, int wStride, byte* pa, int aStride, int groups, float* y, int yStride)
    {
        byte* pw1 = pw + wStride, pw2 = pw1 + wStride, pw3 = pw2 + wStride;
        byte* pb = pa + aStride;
        int sOff = groups * 64;
        Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        for (int g = 0; g < groups; g++)
        {
            byte* a = pa + g * AG, b = pb + g * AG;
            int off = g * 64, so = sOff + 8 * g;
            Vector512<sbyte> x, neg;
            Vector512<byte> ax;
            Vector512<float> dw;
            x = Vector512.Load((sbyte*)(pw + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw + so));
            a00 = Step(ax, neg, dw, a, a00);
            a10 = Step(ax, neg, dw, b, a10);
            x = Vector512.Load((sbyte*)(pw1 + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw1 + so));
            a01 = Step(ax, neg, dw, a, a01);
            a11 = Step(ax, neg, dw, b, a11);
            x = Vector512.Load((sbyte*)(pw2 + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw2 + so));
            a02 = Step(ax, neg, dw, a, a02);
            a12 = Step(ax, neg, dw, b, a12);
            x = Vector512.Load((sbyte*)(pw3 + off)); ax = Avx512BW.Abs(x); neg = Negative(x); dw = Spread((float*)(pw3 + so));
            a03 = Step(ax, neg, dw, a, a03);
            a13 = Step(ax, neg, dw, b, a13);
        }
        float* z = y + yStride;
        y[0] = FloatSum.Sum(a00);
        y[1] = FloatSum.Sum(a01);
        y[2] = FloatSum.Sum(a02);
        y[3] = FloatSum.Sum(a03);
        z[0] = FloatSum.Sum(a10);
        z[1] = FloatSum.Sum(a11);
        z[2] = FloatSum.Sum(a12);
        z[3] = FloatSum.Sum(a13);
    }

    // The helpers return values rather than taking ref/out arguments: the JIT then keeps every accumulator of a
    // tile in a register across the loop instead of spilling it to the stack each group.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Negative(Vector512<sbyte> x) => Vector512.LessThan(x, Vector512<sbyte>.Zero);

    /// <summary>A weight group's two scales spread over their 8 lanes each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Spread(float* scales)
    {
        Vector512<float> two = Vector128.CreateScalarUnsafe(*(double*)scales).AsSingle().ToVector256Unsafe().ToVector512Unsafe();
        return Avx512F.PermuteVar16x32(two, Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    }

    /// <summary>acc + (x . y per 8-lane block part) * dw * da, the one step every kernel runs per pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step(Vector512<byte> ax, Vector512<sbyte> negative, Vector512<float> dw, byte* a, Vector512<float> acc)
    {
        Vector512<sbyte> ys = Vector512.ConditionalSelect(negative, Vector512.Load((sbyte*)(a + 64)), Vector512.Load((sbyte*)a));
        Vector512<int> p = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(ax, ys), Vector512.Create((short)1));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p) * dw, Vector512.Load((float*)(a + 128)), acc);
    }
}
