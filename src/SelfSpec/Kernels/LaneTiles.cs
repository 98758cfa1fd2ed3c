// LaneTiles: the tile driver shared by the lane-per-row packed kernels (PackedQ4MatMul for Q4_0 / Q4_1,
// PackedQ8_0MatMul for the Q8_0 head; docs/architecture.md, packed layouts). Their layouts differ, their loops do
// not: tiles of 16 weight rows (one output per float lane) cut to the requested columns, each tile run over the
// batch in groups of up to eight activation rows, the tile's kernel chosen by instruction set.
//
// Batch invariance: a kernel computes each output block by block in order with the same operations whatever the
// group it is in (ILaneKernel), so the group sizes chosen here (LaneTiles.Next) change only how often a weight
// block is unpacked, never a result (architecture.md 2.1).
//
// Why groups of eight on the 512-bit path: a block's unpacking (loads, nibble masks, half widening) is paid once
// per group, so eight rows pay it half as often per row as four; eight accumulators, eight unpacked vectors and
// the scales fit the 32 vector registers. The 256-bit path has 16 registers and runs two rows at a time.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Kernels;

/// <summary>
/// One packed layout's kernels over a tile of 16 weight rows (wt: the tile's first block, blocks following each
/// other): each computes, per output, the same operations in the same order (its scalar <see cref="Lane"/>).
/// </summary>
internal unsafe interface ILaneKernel
{
    /// <summary>The 16 outputs for T.Count (1-8) activation rows aStride apart, written yStride apart (AVX-512BW).</summary>
    static abstract void Tile512<T>(byte* wt, int nb, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize;

    /// <summary>Lanes 8h..8h+7 for T.Count (1-2) activation rows (AVX2 and FMA).</summary>
    static abstract void Tile256<T>(byte* wt, int nb, int h, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize;

    /// <summary>The scalar reference: one lane of the tile against one activation row.</summary>
    static abstract float Lane(byte* wt, int nb, int lane, byte* a);
}

/// <summary>
/// A matrix in a lane-per-row layout: ceil(OutDim / 16) tiles of 16 rows, Blocks blocks of TileBlockBytes each,
/// in pinned storage aligned to 64 bytes. Rows past OutDim are zero and never written out.
/// </summary>
internal abstract unsafe class LanePackedMatrix : PackedMatrix
{
    private readonly byte[] _storage; // pinned; TileBytes * Tiles bytes from a 64-byte aligned start
    private readonly int _offset;

    public sealed override int InDim { get; }
    public sealed override int OutDim { get; }
    public int Blocks { get; }
    public int Tiles { get; }
    public int TileBlockBytes { get; }
    public int TileBytes => Blocks * TileBlockBytes;
    public sealed override long ByteSize => (long)TileBytes * Tiles;

    /// <summary>The first tile; tiles follow every <see cref="TileBytes"/> bytes. Valid while this object lives.</summary>
    public byte* Data => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage)) + _offset;

    /// <summary>Zeroed storage for the layout (the packer fills it).</summary>
    protected LanePackedMatrix(int inDim, int outDim, int tileBlockBytes)
    {
        InDim = inDim;
        OutDim = outDim;
        Blocks = inDim / 32;
        Tiles = (outDim + LaneTiles.TileRows - 1) / LaneTiles.TileRows;
        TileBlockBytes = tileBlockBytes;
        _storage = GC.AllocateArray<byte>(checked(TileBytes * Tiles + 64), pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        _offset = (int)((64 - (start & 63)) & 63);
    }
}

/// <summary>A lane-per-row matrix whose products run through the kernels <typeparamref name="K"/> (the layout's own).</summary>
internal abstract unsafe class LanePackedMatrix<K>(int inDim, int outDim, int tileBlockBytes) : LanePackedMatrix(inDim, outDim, tileBlockBytes)
    where K : struct, ILaneKernel
{
    public sealed override void Rows(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd) =>
        LaneTiles.Rows<K>(this, activations, batch, output, colStart, colEnd);

    /// <summary>Same contract as <see cref="Rows"/>, with the scalar reference per output.</summary>
    public void RowsReference(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd) =>
        LaneTiles.RowsReference<K>(this, activations, batch, output, colStart, colEnd);

    /// <summary>Weight row <paramref name="row"/> against one activation row, the fastest path this machine has.</summary>
    public float Dot(int row, byte* a) => LaneTiles.Dot<K>(this, row, a);

    /// <summary>The layout's plain formula for one output.</summary>
    public float DotReference(int row, byte* a) => LaneTiles.DotReference<K>(this, row, a);
}

internal static unsafe class LaneTiles
{
    /// <summary>Weight rows a tile interleaves: the float lanes of a 512-bit vector.</summary>
    public const int TileRows = 16;

    /// <summary>Most activation rows one tile call serves.</summary>
    public const int MaxGroup = 8;

    /// <summary>Which kernel runs here: "avx512", "avx2+vnni", "avx2" or "scalar".</summary>
    public static string Path =>
        Avx512BW.IsSupported ? "avx512" : Avx2.IsSupported && Fma.IsSupported ? (AvxVnni.IsSupported ? "avx2+vnni" : "avx2") : "scalar";

    /// <summary>The next group for <paramref name="remaining"/> activation rows: up to eight at a time.</summary>
    public static int Next(int remaining) => Math.Min(MaxGroup, remaining);

    /// <summary>output[b, o] = dot(weight row o, activation row b) for o in [colStart, colEnd); output is (batch x OutDim).</summary>
    public static void Rows<K>(LanePackedMatrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
        where K : struct, ILaneKernel
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        fixed (byte* pa0 = activations)
        fixed (float* py = output)
            Rows<K>(w.Data, w.TileBytes, w.Blocks, w.OutDim, pa0, w.ActivationRowBytes, batch, py, colStart, colEnd);
    }

    /// <summary>Same contract as <see cref="Rows{K}(LanePackedMatrix, ReadOnlySpan{byte}, int, Span{float}, int, int)"/>, with the scalar reference per output.</summary>
    public static void RowsReference<K>(LanePackedMatrix w, ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
        where K : struct, ILaneKernel
    {
        w.CheckProduct(activations, batch, output, colStart, colEnd);
        fixed (byte* pa0 = activations)
        {
            for (int o = colStart; o < colEnd; o++)
                for (int b = 0; b < batch; b++)
                    output[b * w.OutDim + o] = DotReference<K>(w, o, pa0 + (long)b * w.ActivationRowBytes);
        }
    }

    /// <summary>Weight row <paramref name="row"/> against one activation row, the fastest path this machine has.</summary>
    public static float Dot<K>(LanePackedMatrix w, int row, byte* a) where K : struct, ILaneKernel
    {
        float* y = stackalloc float[TileRows];
        Tile<K>(1, w.Data + (long)(row / TileRows) * w.TileBytes, w.Blocks, a, 0, y, TileRows);
        return y[row % TileRows];
    }

    /// <summary>The plain formula for one output.</summary>
    public static float DotReference<K>(LanePackedMatrix w, int row, byte* a) where K : struct, ILaneKernel =>
        K.Lane(w.Data + (long)(row / TileRows) * w.TileBytes, w.Blocks, row % TileRows, a);

    /// <summary>
    /// The product's loop: tiles tileBytes apart from w0, activation rows ab bytes apart from a0, y row-major
    /// (batch x outDim). Arguments checked by the caller.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows<K>(byte* w0, int tileBytes, int nb, int outDim, byte* a0, int ab, int batch, float* py, int colStart, int colEnd)
        where K : struct, ILaneKernel
    {
        if (batch == 0 || colStart == colEnd) return;
        float* part = stackalloc float[MaxGroup * TileRows];
        for (int t = colStart / TileRows; t * TileRows < colEnd; t++)
        {
            int first = t * TileRows, lo = Math.Max(colStart - first, 0), hi = Math.Min(colEnd - first, TileRows);
            bool whole = lo == 0 && hi == TileRows;
            byte* wt = w0 + (long)t * tileBytes;
            for (int b = 0, n; b < batch; b += n)
            {
                n = Next(batch - b);
                byte* a = a0 + (long)b * ab;
                if (whole)
                {
                    Tile<K>(n, wt, nb, a, ab, py + (long)b * outDim + first, outDim);
                    continue;
                }
                // A tile cut by the column range (a thread's share ending inside it): all 16 lanes computed, the range kept.
                Tile<K>(n, wt, nb, a, ab, part, TileRows);
                for (int r = 0; r < n; r++)
                    for (int lane = lo; lane < hi; lane++)
                        py[(long)(b + r) * outDim + first + lane] = part[r * TileRows + lane];
            }
        }
    }

    /// <summary>The 16 outputs of one tile for n (1-8) activation rows aStride apart, written yStride apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile<K>(int n, byte* wt, int nb, byte* a, int aStride, float* y, int yStride) where K : struct, ILaneKernel
    {
        if (Avx512BW.IsSupported)
        {
            switch (n)
            {
                case 1: K.Tile512<TileOf1>(wt, nb, a, aStride, y, yStride); break;
                case 2: K.Tile512<TileOf2>(wt, nb, a, aStride, y, yStride); break;
                case 3: K.Tile512<TileOf3>(wt, nb, a, aStride, y, yStride); break;
                case 4: K.Tile512<TileOf4>(wt, nb, a, aStride, y, yStride); break;
                case 5: K.Tile512<TileOf5>(wt, nb, a, aStride, y, yStride); break;
                case 6: K.Tile512<TileOf6>(wt, nb, a, aStride, y, yStride); break;
                case 7: K.Tile512<TileOf7>(wt, nb, a, aStride, y, yStride); break;
                default: K.Tile512<TileOf8>(wt, nb, a, aStride, y, yStride); break;
            }
            return;
        }
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            // Two rows at a time: 16 vector registers hold a half tile's unpacked block and two rows' accumulators.
            for (int r = 0; r < n; r += 2)
                for (int h = 0; h < 2; h++)
                {
                    if (r + 1 < n) K.Tile256<TileOf2>(wt, nb, h, a + (long)r * aStride, aStride, y + (long)r * yStride + 8 * h, yStride);
                    else K.Tile256<TileOf1>(wt, nb, h, a + (long)r * aStride, aStride, y + (long)r * yStride + 8 * h, yStride);
                }
            return;
        }
        for (int r = 0; r < n; r++)
            for (int lane = 0; lane < TileRows; lane++)
                y[(long)r * yStride + lane] = K.Lane(wt, nb, lane, a + (long)r * aStride);
    }
}
