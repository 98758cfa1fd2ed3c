// StreamPrefetch: the software prefetch of the packed tile kernels and of attention's cache reads (docs/architecture.md
// 8, "decoding one row").
//
// Why: at one activation row a tile kernel does some 30 vector operations per 256 weight bytes, so the core's
// out-of-order window reaches only a few KB ahead of the loads it is executing, and the hardware prefetchers alone
// left one core reading its weights at about half the rate a plain streaming read reaches (measured by
// `SelfSpec.Kernels.Bench shapes bandwidth --threads 1`: 6-7 GB/s against 12.5). Each kernel therefore asks for
// the line Distance bytes ahead of every line it reads: a matrix's tiles are one contiguous stream per worker (the
// column split hands each worker whole consecutive tiles), so the lines asked for are the ones read next. A
// prefetch changes no value (results stay bit for bit what they were) and asking past the end of the array faults
// nothing. 8 KB measured best of 4, 8 and 16 KB.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Kernels;

internal static unsafe class StreamPrefetch
{
    /// <summary>How many bytes ahead of its reads a kernel asks for weight lines.</summary>
    public const int Distance = 8192;

    /// <summary>Asks for the cache line <see cref="Distance"/> bytes past <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Line(byte* p)
    {
        if (Sse.IsSupported) Sse.Prefetch0(p + Distance);
    }

    /// <summary>The lines <see cref="Distance"/> past the <paramref name="lines"/> lines from <paramref name="p"/> (a block's tail, once a block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Lines(byte* p, int lines)
    {
        for (int i = 0; i < lines; i++) Line(p + 64 * i);
    }
}
