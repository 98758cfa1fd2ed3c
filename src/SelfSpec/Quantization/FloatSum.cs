// Horizontal sums of float vectors in one written-out order.
// Why not Vector256.Sum: its order is an implementation detail (the JIT's expansion and the managed fallback
// that unoptimized tier-0 code may call need not add lanes in the same order), and a dot product must give
// the same bits on every call, from the first to the millionth (batch invariance, architecture.md 2.1).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SelfSpec.Quantization;

internal static class FloatSum
{
    /// <summary>(lo + hi) lanewise, then (l0 + l1) + (l2 + l3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> v) => (v.GetElement(0) + v.GetElement(1)) + (v.GetElement(2) + v.GetElement(3));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v) => Sum(v.GetLower() + v.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Sum(v.GetLower() + v.GetUpper());
}
