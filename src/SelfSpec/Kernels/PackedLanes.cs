// PackedLanes: the shared driver of the lane-per-row packed K-quant matrices (PackedQ4K, PackedQ6K): storage in
// tiles of 16 weight rows, the walk over output columns and activation rows, the scalar path, and the
// reference product (docs/architecture.md 3, packed layouts).
//
// Why one driver: a type contributes only its tile layout, its tile kernel (16 rows, one per 32-bit lane, against
// 1-4 activation rows) and its one-lane scalar reference; how a column range maps onto tiles (a range that cuts a
// tile computes the whole tile into scratch and keeps its own lanes: every lane is independent, so the bits are
// the same), how a batch is cut into row tiles (TileSizes.Next) and how the reference walks are written once.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Kernels;

/// <summary>A lane-per-row packed type's kernels: 16 weight rows of a tile, each row one 32-bit lane.</summary>
internal unsafe interface ILaneTileKernel
{
    /// <summary>Bytes of one super-block of a 16-row tile (a multiple of 64, so every block starts on a cache line).</summary>
    static abstract int BlockBytes { get; }

    /// <summary>The tile's 16 outputs for each of T.Count activation rows aStride apart, written yStride apart.</summary>
    static abstract void Tile<T>(byte* tile, int blocks, byte* a, int aStride, float* y, int yStride) where T : struct, ITileSize;

    /// <summary>The plain formula for one lane (one weight row) against one activation row.</summary>
    static abstract float LaneReference(byte* tile, int blocks, int lane, byte* a);
}

/// <summary>A packed matrix made empty and filled rows at a time, so loading never stages a whole tensor.</summary>
internal interface IRowPacker
{
    PackedMatrix Matrix { get; }

    /// <summary>Repacks file rows [first, first + count) from <paramref name="rows"/> (exactly those rows' bytes).</summary>
    void PackRows(ReadOnlySpan<byte> rows, int first, int count);
}

/// <summary>A matrix stored as ceil(OutDim / 16) tiles of 16 interleaved rows, each Blocks super-blocks of K.BlockBytes.</summary>
internal abstract unsafe class PackedLaneMatrix<K> : PackedMatrix, IRowPacker where K : ILaneTileKernel
{
    public const int TileRows = 16;

    private readonly AlignedRows _rows;

    public override int InDim { get; }
    public override int OutDim { get; }
    public int Blocks { get; }
    public int Tiles { get; }
    public long TileBytes => (long)Blocks * K.BlockBytes;
    public override long ByteSize => TileBytes * Tiles;
    public byte* Data => _rows.Data;
    public PackedMatrix Matrix => this;

    /// <summary>Bytes of one of the file's blocks of this type (one super-block of a row).</summary>
    protected abstract int FileBlockBytes { get; }

    /// <summary>Writes one file block's values into <paramref name="lane"/> of its tile's super-block <paramref name="dst"/>.</summary>
    protected abstract void PackBlock(byte* fileBlock, byte* dst, int lane);

    /// <summary>Repacks file rows [first, first + count) from <paramref name="rows"/> (exactly those rows' bytes), block by block.</summary>
    public void PackRows(ReadOnlySpan<byte> rows, int first, int count)
    {
        int nb = Blocks, fileRowBytes = nb * FileBlockBytes;
        CheckRows(rows, first, count, fileRowBytes);
        fixed (byte* src0 = rows)
        {
            for (int r = 0; r < count; r++)
                for (int b = 0; b < nb; b++)
                    PackBlock(src0 + (long)r * fileRowBytes + (long)b * FileBlockBytes, BlockOf(first + r, b, out int lane), lane);
        }
    }

    /// <summary>The row-length check of every lane type's factory.</summary>
    protected static void CheckShape(int inDim, int outDim, int blockElements, string type)
    {
        if (inDim <= 0 || inDim % blockElements != 0) throw new ArgumentException($"row length {inDim} is not a whole number of {type} blocks");
        if (outDim <= 0) throw new ArgumentException($"row count {outDim}");
    }

    /// <summary>Fills <paramref name="m"/> from all of its rows' file bytes.</summary>
    protected static M Filled<M>(M m, ReadOnlySpan<byte> rows) where M : PackedLaneMatrix<K>
    {
        m.PackRows(rows, 0, m.OutDim);
        return m;
    }

    /// <summary>The tile kernels need AVX-512BW; elsewhere the type row has no packer and the file-layout kernels serve.</summary>
    public static bool Supported => Avx512BW.IsSupported;

    protected PackedLaneMatrix(int inDim, int outDim, int blockElements)
    {
        InDim = inDim;
        OutDim = outDim;
        Blocks = inDim / blockElements;
        Tiles = (outDim + TileRows - 1) / TileRows;
        _rows = new AlignedRows(ByteSize);
        new Span<byte>(Data, checked((int)ByteSize)).Clear(); // rows past OutDim stay zero (scale 0): they are computed, never written out
    }

    /// <summary>Super-block <paramref name="block"/> of the tile holding row <paramref name="row"/>, and the row's lane in it.</summary>
    protected byte* BlockOf(int row, int block, out int lane)
    {
        lane = row % TileRows;
        return Data + (row / TileRows) * TileBytes + (long)block * K.BlockBytes;
    }

    public override void Rows(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd) =>
        PackedLanes.Rows<K>(this, Data, TileBytes, Blocks, activations, batch, output, colStart, colEnd);

    public void RowsReference(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        CheckProduct(activations, batch, output, colStart, colEnd);
        int ab = ActivationRowBytes;
        fixed (byte* pa0 = activations)
        {
            for (int o = colStart; o < colEnd; o++)
                for (int b = 0; b < batch; b++)
                    output[b * OutDim + o] = K.LaneReference(Data + (o / TileRows) * TileBytes, Blocks, o % TileRows, pa0 + (long)b * ab);
        }
    }

    /// <summary>Row <paramref name="row"/> against one activation row, the fastest path this machine has.</summary>
    public float Dot(int row, byte* a)
    {
        float* y = stackalloc float[TileRows];
        PackedLanes.Tile<K>(1, Data + (row / TileRows) * TileBytes, Blocks, a, 0, y, TileRows);
        return y[row % TileRows];
    }
}

internal static unsafe class PackedLanes
{
    private const int TR = 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows<K>(PackedMatrix m, byte* data, long tileBytes, int blocks, ReadOnlySpan<byte> activations, int batch,
        Span<float> output, int colStart, int colEnd) where K : ILaneTileKernel
    {
        m.CheckProduct(activations, batch, output, colStart, colEnd);
        if (batch == 0 || colStart == colEnd) return;
        int outDim = m.OutDim, ab = m.ActivationRowBytes;
        float* part = stackalloc float[4 * TR];
        fixed (byte* pa0 = activations)
        fixed (float* py = output)
        {
            for (int t = colStart / TR; t * TR < colEnd; t++)
            {
                int first = t * TR, lo = Math.Max(colStart - first, 0), hi = Math.Min(colEnd - first, TR);
                bool whole = lo == 0 && hi == TR;
                byte* wt = data + t * tileBytes;
                for (int b = 0, n; b < batch; b += n)
                {
                    n = TileSizes.Next(batch - b);
                    byte* a = pa0 + (long)b * ab;
                    if (whole)
                    {
                        Tile<K>(n, wt, blocks, a, ab, py + (long)b * outDim + first, outDim);
                        continue;
                    }
                    Tile<K>(n, wt, blocks, a, ab, part, TR);
                    for (int r = 0; r < n; r++)
                        for (int lane = lo; lane < hi; lane++)
                            py[(long)(b + r) * outDim + first + lane] = part[r * TR + lane];
                }
            }
        }
    }

    /// <summary>Writes a tile kernel's T.Count accumulators (16 outputs each) yStride apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<T>(Vector512<float> acc0, Vector512<float> acc1,
        Vector512<float> acc2, Vector512<float> acc3, float* y, int yStride) where T : struct, ITileSize
    {
        acc0.Store(y);
        if (T.Count > 1) acc1.Store(y + yStride);
        if (T.Count > 2) acc2.Store(y + 2 * yStride);
        if (T.Count > 3) acc3.Store(y + 3 * yStride);
    }

    /// <summary>One tile for n (1-4) activation rows: the SIMD kernel where AVX-512BW is, else the lane reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile<K>(int n, byte* wt, int blocks, byte* a, int aStride, float* y, int yStride) where K : ILaneTileKernel
    {
        if (Avx512BW.IsSupported)
        {
            switch (n)
            {
                case 1: K.Tile<TileOf1>(wt, blocks, a, aStride, y, yStride); break;
                case 2: K.Tile<TileOf2>(wt, blocks, a, aStride, y, yStride); break;
                case 3: K.Tile<TileOf3>(wt, blocks, a, aStride, y, yStride); break;
                default: K.Tile<TileOf4>(wt, blocks, a, aStride, y, yStride); break;
            }
            return;
        }
        for (int r = 0; r < n; r++)
            for (int lane = 0; lane < TR; lane++)
                y[(long)r * yStride + lane] = K.LaneReference(wt, blocks, lane, a + (long)r * aStride);
    }
}
