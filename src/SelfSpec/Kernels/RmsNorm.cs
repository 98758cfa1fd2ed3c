using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SelfSpec.Kernels;

/// <summary>
/// RMSNorm: dst[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]. The squares are rounded to float and summed in
/// double, as ggml does, but in eight interleaved chains (element i in chain i % 8) combined in a fixed order: a
/// single chain of dependent double adds cost a verification pass 0.5 us a row a norm. The order is the same on
/// every instruction set (Vector256 of doubles, emulated where not accelerated), so the scale is the same bits
/// whatever the batch and machine; one row at a time.
/// </summary>
internal static class RmsNorm
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> dst)
    {
        if (weight.Length != x.Length || dst.Length != x.Length) throw new ArgumentException("length mismatch");
        float scale = Scale(x, epsilon);
        System.Numerics.Tensors.TensorPrimitives.Multiply(x, scale, dst);
        System.Numerics.Tensors.TensorPrimitives.Multiply(dst, weight, dst);
    }

    /// <summary>1 / sqrt(mean(x^2) + eps), the sum of squares in the fixed eight-chain order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Scale(ReadOnlySpan<float> x, float epsilon)
    {
        var low = Vector256<double>.Zero;
        var high = Vector256<double>.Zero;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        int i = 0;
        for (; i + 8 <= x.Length; i += 8)
        {
            var v = Vector256.LoadUnsafe(ref x0, (nuint)i);
            var (lo, hi) = Vector256.Widen(v * v);
            low += lo;
            high += hi;
        }
        var pairs = low + high; // chains (0,4), (1,5), (2,6), (3,7)
        double sum = (pairs.GetElement(0) + pairs.GetElement(1)) + (pairs.GetElement(2) + pairs.GetElement(3));
        for (; i < x.Length; i++) sum += (double)(x[i] * x[i]);
        float mean = (float)(sum / x.Length);
        return 1f / MathF.Sqrt(mean + epsilon);
    }

    /// <summary>Plain reference of <see cref="Apply"/>: one chain in index order, as ggml sums (agrees to rounding).</summary>
    public static void Reference(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> dst)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += (double)(x[i] * x[i]);
        float scale = 1f / MathF.Sqrt((float)(sum / x.Length) + epsilon);
        for (int i = 0; i < x.Length; i++) dst[i] = x[i] * scale * weight[i];
    }
}
