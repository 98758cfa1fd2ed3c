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
