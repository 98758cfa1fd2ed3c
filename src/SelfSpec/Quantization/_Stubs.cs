// TEMPORARY: stands in for the quantization branch until it is merged. Deleted at merge.
namespace SelfSpec.Quantization
{
    internal static class Dequantize
    {
        public static void Row(GgmlType t, ReadOnlySpan<byte> src, Span<float> dst) => throw new NotImplementedException();
    }
}
namespace SelfSpec.Kernels
{
    using SelfSpec.Quantization;
    internal static class MatMul
    {
        public static int ActivationRowBytes(GgmlType weightType, int inDim) => throw new NotImplementedException();
        public static void QuantizeActivations(GgmlType weightType, ReadOnlySpan<float> x, int batch, int inDim, Span<byte> dst) => throw new NotImplementedException();
        public static void Rows(GgmlType weightType, ReadOnlySpan<byte> weights, int inDim, ReadOnlySpan<byte> activations, int batch, Span<float> output, int outDim, int colStart, int colEnd) => throw new NotImplementedException();
    }
}
namespace SelfSpec.Quantization
{
    internal static class GgmlTypeInfo
    {
        public static long RowBytes(GgmlType t, long n) => throw new NotImplementedException();
        public static bool IsSupportedWeight(GgmlType t) => throw new NotImplementedException();
    }
}
namespace SelfSpec.Quantization
{
    internal static class VecDot
    {
        public static GgmlType ActivationType(GgmlType weight) => throw new NotImplementedException();
    }
}
