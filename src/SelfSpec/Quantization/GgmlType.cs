// GgmlType: tensor element types with ggml's numeric ids (as stored in GGUF tensor infos).
// GgmlTypeInfo: block geometry (elements per block, bytes per block) and names for those types.
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

/// <summary>Block geometry of the types this engine reads or writes.</summary>
internal static class GgmlTypeInfo
{
    /// <summary>Elements per super-block of the K-quants.</summary>
    public const int QK_K = 256;

    /// <summary>Elements per block of the legacy quants (Q4_0, Q4_1, Q8_0, Q8_1).</summary>
    public const int QK = 32;

    /// <summary>Elements per block; 1 for plain float types. Throws for types without known geometry.</summary>
    public static int BlockSize(GgmlType t) => t switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1 => QK,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K => QK_K,
        _ => throw new NotSupportedException($"Tensor type {Name(t)} is not supported."),
    };

    /// <summary>Bytes per block (per element for plain float types).</summary>
    public static int BlockBytes(GgmlType t) => t switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q4_0 => 18,
        GgmlType.Q4_1 => 20,
        GgmlType.Q5_0 => 22,
        GgmlType.Q5_1 => 24,
        GgmlType.Q8_0 => 34,
        GgmlType.Q8_1 => 36,
        GgmlType.Q2_K => 84,
        GgmlType.Q3_K => 110,
        GgmlType.Q4_K => 144,
        GgmlType.Q5_K => 176,
        GgmlType.Q6_K => 210,
        GgmlType.Q8_K => 292,
        _ => throw new NotSupportedException($"Tensor type {Name(t)} is not supported."),
    };

    /// <summary>Bytes of a row of <paramref name="n"/> elements; n must be a multiple of the block size.</summary>
    public static long RowBytes(GgmlType t, long n)
    {
        int bs = BlockSize(t);
        if (n < 0 || n % bs != 0)
        {
            throw new ArgumentException($"Row length {n} is not a multiple of the {Name(t)} block size {bs}.", nameof(n));
        }

        return n / bs * BlockBytes(t);
    }

    /// <summary>
    /// Geometry of every ggml type, supported or not, so a file's tensor sizes can be validated before
    /// anything is known about whether the engine runs that type. False for ids ggml does not define.
    /// </summary>
    public static bool TryGetBlock(GgmlType t, out int blockSize, out int blockBytes)
    {
        (blockSize, blockBytes) = t switch
        {
            GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1
                or GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K
                or GgmlType.Q6_K or GgmlType.Q8_K => (BlockSize(t), BlockBytes(t)),
            GgmlType.IQ2_XXS => (QK_K, 66), GgmlType.IQ2_XS => (QK_K, 74), GgmlType.IQ3_XXS => (QK_K, 98),
            GgmlType.IQ1_S => (QK_K, 50), GgmlType.IQ4_NL => (QK, 18), GgmlType.IQ3_S => (QK_K, 110),
            GgmlType.IQ2_S => (QK_K, 82), GgmlType.IQ4_XS => (QK_K, 136), GgmlType.I8 => (1, 1), GgmlType.I16 => (1, 2),
            GgmlType.I32 => (1, 4), GgmlType.I64 => (1, 8), GgmlType.F64 => (1, 8), GgmlType.IQ1_M => (QK_K, 56),
            GgmlType.TQ1_0 => (QK_K, 54), GgmlType.TQ2_0 => (QK_K, 66), GgmlType.MXFP4 => (QK, 17),
            _ => (0, 0),
        };
        return blockSize != 0;
    }

    /// <summary>True for the weight types that dequantize, quantize and dot products support.</summary>
    public static bool IsSupportedWeight(GgmlType t) => t is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

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
