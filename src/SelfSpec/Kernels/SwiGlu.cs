using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace SelfSpec.Kernels;

/// <summary>SwiGLU: dst = silu(gate) * up, silu(x) = x * sigmoid(x). Element-wise, vectorized.</summary>
internal static class SwiGlu
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dst)
    {
        if (up.Length != gate.Length || dst.Length != gate.Length) throw new ArgumentException("length mismatch");
        if (gate.IsEmpty) return;
        TensorPrimitives.Sigmoid(gate, dst);
        TensorPrimitives.Multiply(dst, gate, dst);
        TensorPrimitives.Multiply(dst, up, dst);
    }

    /// <summary>Plain reference of <see cref="Apply"/>.</summary>
    public static void Reference(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dst)
    {
        for (int i = 0; i < gate.Length; i++) dst[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }
}
