using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace SelfSpec.Kernels;

/// <summary>
/// GeGLU: dst = gelu(gate) * up with GELU's tanh approximation, gelu(x) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
/// the form gemma's feed-forward uses. Element-wise, vectorized.
/// </summary>
internal static class GeGlu
{
    private const float Sqrt2OverPi = 0.7978845608028654f;
    private const float Cubic = 0.044715f;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dst)
    {
        if (up.Length != gate.Length || dst.Length != gate.Length) throw new ArgumentException("length mismatch");
        if (gate.IsEmpty) return;
        TensorPrimitives.Multiply(gate, gate, dst);                 // x^2
        TensorPrimitives.Multiply(dst, Cubic, dst);
        TensorPrimitives.Add(dst, 1f, dst);                         // 1 + c x^2
        TensorPrimitives.Multiply(dst, gate, dst);                  // x + c x^3
        TensorPrimitives.Multiply(dst, Sqrt2OverPi, dst);
        TensorPrimitives.Tanh(dst, dst);
        TensorPrimitives.Add(dst, 1f, dst);
        TensorPrimitives.Multiply(dst, 0.5f, dst);                  // (1 + tanh) / 2
        TensorPrimitives.Multiply(dst, gate, dst);
        TensorPrimitives.Multiply(dst, up, dst);
    }

    /// <summary>Plain reference of <see cref="Apply"/>.</summary>
    public static void Reference(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dst)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            double x = gate[i];
            dst[i] = (float)(0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))) * up[i]);
        }
    }
}
