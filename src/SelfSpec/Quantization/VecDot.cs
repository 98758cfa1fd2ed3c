// VecDot: dot product of one weight row with one activation row already quantized to the weight type's
// "vec_dot type" (ggml's type_traits.vec_dot_type), both read from the weight type's row of TensorTypes.
// Parameter order: (weight type, weight row bytes, activation row bytes, element count n).
// Dot picks the fastest kernel the CPU has; the result depends only on the two rows (each kernel walks the
// blocks in a fixed order with a fixed instruction sequence), which MatMul's batch invariance relies on.
// DotReference is the plain scalar version. The fast path chosen depends on the CPU (AVX-512, AVX2, none), so
// Q4_0 / Q4_1 / Q8_0 / float results may differ in the last bits between machines, never between calls on one.
// Every fast kernel, and every non-inlined method a kernel calls, is [MethodImpl(AggressiveOptimization)]:
// compiled once, fully optimized, so the same machine code runs from the first call on (under tiered compilation
// kernels were measured running 5-15x slower for a long while after first use), and horizontal float sums use
// FloatSum's written-out order.
// Fast vs reference: K-quants agree bit for bit (both sum each super-block exactly in integers and then
// combine floats in the same order); Q4_0 / Q4_1 / Q8_0 / F32 / BF16 accumulate floats in SIMD lanes, so
// they differ from the sequential reference by float rounding only: |fast - ref| <= 1e-5 * sum|terms|.
namespace SelfSpec.Quantization;

internal static class VecDot
{
    /// <summary>The type the activation row must be quantized to for a dot with a weight row of type t.</summary>
    public static GgmlType ActivationType(GgmlType weight) => WeightRow(weight).Activation!.Value;

    public static unsafe float Dot(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n)
    {
        Check(weightType, weightRow, activationRow, n);
        fixed (byte* pw = weightRow)
        fixed (byte* pa = activationRow)
        {
            return Kernel(weightType)(pw, pa, n);
        }
    }

    /// <summary>The fast kernel for a weight type, resolved once so MatMul can call it per row pair without dispatch.</summary>
    internal static unsafe delegate*<byte*, byte*, int, float> Kernel(GgmlType weightType) => WeightRow(weightType).Dot;

    /// <summary>
    /// The tile kernel for a weight type, or null: (first weight row, weight stride bytes, first activation row,
    /// activation stride bytes, n, output, output stride floats, batch rows 1 or 2) for 4 weight rows x that many
    /// activation rows. Each result is bit-identical to <see cref="Kernel"/> on the same pair of rows.
    /// </summary>
    internal static unsafe delegate*<byte*, int, byte*, int, int, float*, int, int, void> KernelTile(GgmlType weightType) => WeightRow(weightType).Tile;

    /// <summary>The table row of a type usable as weights; a clear refusal otherwise.</summary>
    internal static TensorTypeInfo WeightRow(GgmlType weightType)
    {
        TensorTypeInfo? info = TensorTypes.Find(weightType);
        return info is { IsWeight: true } ? info : throw new NotSupportedException($"Dot products with {GgmlTypeInfo.Name(weightType)} weights are not supported.");
    }

    public static unsafe float DotReference(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n)
    {
        Check(weightType, weightRow, activationRow, n);
        return VecDotReference.Dot(weightType, weightRow, activationRow, n);
    }

    /// <summary>Lengths are checked once here so kernels can use raw pointers.</summary>
    internal static void Check(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n)
    {
        GgmlType at = ActivationType(weightType);
        long wb = GgmlTypeInfo.RowBytes(weightType, n);
        long ab = GgmlTypeInfo.RowBytes(at, n);
        if (weightRow.Length < wb || activationRow.Length < ab)
        {
            throw new ArgumentException(
                $"Rows too short for n={n}: weight {weightRow.Length}/{wb} bytes ({GgmlTypeInfo.Name(weightType)}), activation {activationRow.Length}/{ab} bytes ({GgmlTypeInfo.Name(at)}).");
        }
    }
}
