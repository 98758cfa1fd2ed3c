using System.Runtime.CompilerServices;

namespace SelfSpec.Kernels;

/// <summary>
/// RMSNorm: dst[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]. The sum of squares is accumulated in double
/// in index order, as ggml does, so the scale is the same whatever the batch; one row at a time.
/// </summary>
internal static class RmsNorm
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> dst)
    {
        if (weight.Length != x.Length || dst.Length != x.Length) throw new ArgumentException("length mismatch");
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += (double)(x[i] * x[i]);
        float mean = (float)(sum / x.Length);
        float scale = 1f / MathF.Sqrt(mean + epsilon);
        System.Numerics.Tensors.TensorPrimitives.Multiply(x, scale, dst);
        System.Numerics.Tensors.TensorPrimitives.Multiply(dst, weight, dst);
    }

    /// <summary>Plain reference of <see cref="Apply"/>.</summary>
    public static void Reference(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> dst)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += (double)(x[i] * x[i]);
        float scale = 1f / MathF.Sqrt((float)(sum / x.Length) + epsilon);
        for (int i = 0; i < x.Length; i++) dst[i] = x[i] * scale * weight[i];
    }
}
