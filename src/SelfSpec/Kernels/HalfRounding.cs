using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace SelfSpec.Kernels;

/// <summary>
/// Rounds floats to the nearest half-precision value (ties to even), kept as float: how llama.cpp's F16 KV
/// cache and F16 query conversion round. Vectorized through a half-precision scratch row.
/// </summary>
internal static class HalfRounding
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(ReadOnlySpan<float> x, Span<float> dst, Span<Half> scratch)
    {
        if (x.IsEmpty) return;
        var h = scratch[..x.Length];
        TensorPrimitives.ConvertToHalf(x, h);
        TensorPrimitives.ConvertToSingle(h, dst[..x.Length]);
    }

    /// <summary>Plain reference of <see cref="Apply"/>.</summary>
    public static void Reference(ReadOnlySpan<float> x, Span<float> dst)
    {
        for (int i = 0; i < x.Length; i++) dst[i] = (float)(Half)x[i];
    }
}
