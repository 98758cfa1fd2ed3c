// GgmlType: tensor element types with ggml's numeric ids (as stored in GGUF tensor infos).
// GgmlTypeInfo: block geometry (elements per block, bytes per block) and names for those types, read from the
// tensor-type table.
// Ids must never change: they are read straight from GGUF files.
namespace SelfSpec.Quantization;

/// <summary>Tensor element type, numbered exactly as ggml numbers it (GGUF tensor info field).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    // 4 and 5 (Q4_2, Q4_3) were removed from ggml long ago.
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// <summary>Block geometry and names of the tensor types; the geometry is read from <see cref="TensorTypes"/>.</summary>
internal static class GgmlTypeInfo
{
    /// <summary>Elements per super-block of the K-quants.</summary>
    public const int QK_K = 256;

    /// <summary>Elements per block of the legacy quants (Q4_0, Q4_1, Q8_0, Q8_1).</summary>
    public const int QK = 32;

    /// <summary>Elements per block; 1 for plain float types. Throws for types this engine cannot read.</summary>
    public static int BlockSize(GgmlType t) => Readable(t).BlockSize;

    /// <summary>Bytes per block (per element for plain float types). Throws for types this engine cannot read.</summary>
    public static int BlockBytes(GgmlType t) => Readable(t).BlockBytes;

    /// <summary>Bytes of a row of <paramref name="n"/> elements; n must be a multiple of the block size.</summary>
    public static long RowBytes(GgmlType t, long n) => Readable(t).RowBytes(n);

    /// <summary>
    /// Geometry of every ggml type, supported or not, so a file's tensor sizes can be validated before
    /// anything is known about whether the engine runs that type. False for ids ggml does not define.
    /// </summary>
    public static bool TryGetBlock(GgmlType t, out int blockSize, out int blockBytes)
    {
        TensorTypeInfo? info = TensorTypes.Find(t);
        (blockSize, blockBytes) = info == null ? (0, 0) : (info.BlockSize, info.BlockBytes);
        return info != null;
    }

    /// <summary>True for the weight types that dequantize, quantize and dot products support.</summary>
    public static bool IsSupportedWeight(GgmlType t) => TensorTypes.Find(t)?.IsWeight == true;

    private static TensorTypeInfo Readable(GgmlType t)
    {
        TensorTypeInfo? info = TensorTypes.Find(t);
        return info is { CanDequantize: true } ? info : throw new NotSupportedException($"Tensor type {Name(t)} is not supported.");
    }

    /// <summary>ggml's name for the type ("q4_K"), or "type(N)" for ids this engine does not know.</summary>
    public static string Name(GgmlType t)
    {
        if (!Enum.IsDefined(t))
        {
            return $"type({(uint)t})";
        }

        string s = t.ToString().ToLowerInvariant();
        return s.EndsWith("_k", StringComparison.Ordinal) ? string.Concat(s.AsSpan(0, s.Length - 1), "K") : s;
    }
}
