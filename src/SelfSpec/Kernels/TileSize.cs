namespace SelfSpec.Kernels;

/// <summary>
/// A kernel tile's row count as a type: a kernel generic over <c>T : struct, ITileSize</c> is compiled once per
/// size with <c>T.Count</c> a constant, so unused accumulators and their branches disappear and one written-out
/// kernel serves every size (1 to 4 for the matrix kernels, 1 to 8 for attention).
/// </summary>
internal interface ITileSize { static abstract int Count { get; } }

internal struct TileOf1 : ITileSize { public static int Count => 1; }
internal struct TileOf2 : ITileSize { public static int Count => 2; }
internal struct TileOf3 : ITileSize { public static int Count => 3; }
internal struct TileOf4 : ITileSize { public static int Count => 4; }
internal struct TileOf5 : ITileSize { public static int Count => 5; }
internal struct TileOf6 : ITileSize { public static int Count => 6; }
internal struct TileOf7 : ITileSize { public static int Count => 7; }
internal struct TileOf8 : ITileSize { public static int Count => 8; }

internal static class TileSizes
{
    /// <summary>
    /// The next tile for <paramref name="remaining"/> rows: 4 at a time, but 5 as 3 + 2 (a lone row pays its
    /// weight row's whole unpacking and reduction for one output).
    /// </summary>
    public static int Next(int remaining) => remaining == 5 ? 3 : Math.Min(4, remaining);
}

/// <summary>A packed matrix's kernel of one weight row against <c>T.Count</c> activation rows (1-4).</summary>
internal unsafe interface IRowStreamKernel
{
    /// <summary>Writes the T.Count outputs (yStride apart) and returns the first; y may be null for one row.</summary>
    static abstract float Stream<T>(byte* w, byte* a, int aStride, int groups, float* y, int yStride) where T : struct, ITileSize;
}

/// <summary>The small-batch loop of the packed matrices: one weight row against every activation row, in tiles.</summary>
internal static unsafe class RowStream
{
    /// <summary>Output column of weight row <paramref name="w"/> for each of the batch's activation rows, in tiles of <see cref="TileSizes.Next"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static void Run<K>(byte* w, byte* a0, int aStride, int batch, int groups, float* y0, int yStride) where K : IRowStreamKernel
    {
        for (int b = 0, t; b < batch; b += t)
        {
            t = TileSizes.Next(batch - b);
            byte* a = a0 + (long)b * aStride;
            float* y = y0 + (long)b * yStride;
            switch (t)
            {
                case 1: y[0] = K.Stream<TileOf1>(w, a, aStride, groups, y, yStride); break;
                case 2: K.Stream<TileOf2>(w, a, aStride, groups, y, yStride); break;
                case 3: K.Stream<TileOf3>(w, a, aStride, groups, y, yStride); break;
                default: K.Stream<TileOf4>(w, a, aStride, groups, y, yStride); break;
            }
        }
    }
}
