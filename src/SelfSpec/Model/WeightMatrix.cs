using SelfSpec.Gguf;
using SelfSpec.Kernels;
using SelfSpec.Quantization;

namespace SelfSpec.Model;

/// <summary>
/// A matrix used in place from the memory-mapped file: OutDim rows of InDim elements, encoded in Type.
/// y = W x computes one output per row. Q4_0 and Q4_1 matrices also carry a copy repacked for the SIMD
/// kernels (<see cref="PackedQ4Matrix"/>), which the forward pass uses instead of the file's bytes.
/// </summary>
internal readonly unsafe struct WeightMatrix
{
    public readonly byte* Data;
    public readonly GgmlType Type;
    public readonly int InDim;
    public readonly int OutDim;
    public readonly int RowBytes;
    public readonly PackedQ4Matrix? Packed;

    public WeightMatrix(byte* data, GgmlType type, int inDim, int outDim, PackedQ4Matrix? packed = null)
    {
        Packed = packed;
        Data = data;
        Type = type;
        InDim = inDim;
        OutDim = outDim;
        RowBytes = checked((int)GgmlTypeInfo.RowBytes(type, inDim));
    }

    public ReadOnlySpan<byte> Bytes => new(Data, checked(RowBytes * OutDim));

    /// <summary>This matrix with a packed copy for the fast kernels, where its type has one.</summary>
    public WeightMatrix WithPacked() =>
        Packed == null && PackedQ4Matrix.CanPack(Type) && InDim % 32 == 0
            ? new WeightMatrix(Data, Type, InDim, OutDim, PackedQ4Matrix.Pack(Type, Bytes, InDim, OutDim))
            : this;

    public ReadOnlySpan<byte> Row(int row) => new(Data + (long)row * RowBytes, RowBytes);

    public static WeightMatrix FromTensor(GgufFile file, string name, int inDim, int outDim)
    {
        var t = file.GetTensor(name);
        if (t.Dimensions.Length > 2 && t.Dimensions.Skip(2).Any(d => d != 1) || t.Dimensions[0] != inDim || (t.Dimensions.Length > 1 ? t.Dimensions[1] : 1) != outDim)
            throw new UnsupportedModelException($"tensor '{name}' has shape [{string.Join(", ", t.Dimensions)}], expected [{inDim}, {outDim}]");
        if (!GgmlTypeInfo.IsSupportedWeight(t.Type))
            throw new UnsupportedModelException($"tensor '{name}' has unsupported type {t.Type} (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)");
        return new WeightMatrix(file.TensorData(t), t.Type, inDim, outDim);
    }
}
