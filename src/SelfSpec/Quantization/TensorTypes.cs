// TensorTypes: the table of tensor types, one TensorTypeInfo row per ggml type, looked up by id.
// Every ggml type has a row with its block geometry (so any file's tensor sizes can be validated); the types
// this engine runs also have their functions. The packed-layout column points into Kernels, where the packed
// matrices live: that is the one place this namespace reaches into Kernels, so the table stays whole.
using System.Runtime.CompilerServices;
using SelfSpec.Kernels;

namespace SelfSpec.Quantization;

internal static unsafe class TensorTypes
{
    private const int QK = GgmlTypeInfo.QK, QK_K = GgmlTypeInfo.QK_K;

    private static readonly TensorTypeInfo?[] ById = Build();

    /// <summary>Every row, in id order.</summary>
    public static IEnumerable<TensorTypeInfo> All => ById.OfType<TensorTypeInfo>();

    /// <summary>The types a weight matrix may have, in id order.</summary>
    public static IEnumerable<TensorTypeInfo> Weights => All.Where(r => r.IsWeight);

    /// <summary>"F32, F16, ...": the supported weight types, for error messages.</summary>
    public static string SupportedWeightList => string.Join(", ", Weights.Select(r => r.Type.ToString()));

    /// <summary>The row of a ggml type, or null for ids ggml does not define.</summary>
    public static TensorTypeInfo? Find(GgmlType t) => (uint)t < (uint)ById.Length ? ById[(uint)t] : null;

    /// <summary>The row of a ggml type; throws <see cref="NotSupportedException"/> for ids ggml does not define.</summary>
    public static TensorTypeInfo Get(GgmlType t) => Find(t) ?? throw new NotSupportedException($"Tensor type {GgmlTypeInfo.Name(t)} is not supported.");

    private static TensorTypeInfo?[] Build()
    {
        // The kernels are compiled fully optimized on first call; the JIT folds Fp16Table's pinned base pointer into
        // them as a constant only if that class is already initialized, else every scale lookup pays a static-base
        // check (measured 5x slower). Every kernel is reached through this table, so initializing it here suffices.
        RuntimeHelpers.RunClassConstructor(typeof(Fp16Table).TypeHandle);
        bool tiles = VecDotLegacy.Accelerated;
        var rows = new List<TensorTypeInfo>
        {
            new()
            {
                Type = GgmlType.F32, BlockSize = 1, BlockBytes = 4,
                Dequantize = &Dequantize.F32Row, Quantize = &Quantize.F32Row, QuantizeReference = &Quantize.F32Row,
                Activation = GgmlType.F32, Dot = &VecDotFloat.F32, DotReference = &VecDotReference.F32,
            },
            new()
            {
                Type = GgmlType.F16, BlockSize = 1, BlockBytes = 2,
                Dequantize = &Dequantize.F16Row, Quantize = &Quantize.F16Row, QuantizeReference = &Quantize.F16Row,
                Activation = GgmlType.F16, Dot = &VecDotFloat.F16, DotReference = &VecDotReference.F16,
            },
            new()
            {
                Type = GgmlType.BF16, BlockSize = 1, BlockBytes = 2,
                Dequantize = &Dequantize.BF16Row, Quantize = &Quantize.BF16Row, QuantizeReference = &Quantize.BF16Row,
                Activation = GgmlType.BF16, Dot = &VecDotFloat.BF16, DotReference = &VecDotReference.BF16,
            },
            new()
            {
                Type = GgmlType.Q4_0, BlockSize = QK, BlockBytes = BlockQ4_0.Size,
                Dequantize = &Dequantize.Q4_0Row, Quantize = &Quantize.Q4_0Row, QuantizeReference = &Quantize.Q4_0Row,
                Activation = GgmlType.Q8_0, Dot = &VecDotLegacy.Q4_0, DotReference = &VecDotReference.Q4_0,
                Tile = tiles ? &VecDotLegacy.Q4_0Tile : null, Pack = &PackQ4_0,
            },
            new()
            {
                Type = GgmlType.Q4_1, BlockSize = QK, BlockBytes = BlockQ4_1.Size,
                Dequantize = &Dequantize.Q4_1Row, Quantize = &Quantize.Q4_1Row, QuantizeReference = &Quantize.Q4_1Row,
                Activation = GgmlType.Q8_1, Dot = &VecDotQ4_1.Dot, DotReference = &VecDotReference.Q4_1,
                Tile = tiles ? &VecDotQ4_1.Tile : null, Pack = &PackQ4_1,
            },
            new()
            {
                Type = GgmlType.Q5_0, BlockSize = QK, BlockBytes = BlockQ5_0.Size,
                Dequantize = &Q5Legacy.DequantizeQ5_0, Quantize = &Q5Legacy.QuantizeQ5_0, QuantizeReference = &Q5Legacy.QuantizeQ5_0,
                Activation = GgmlType.Q8_0, Dot = &Q5Legacy.DotQ5_0, DotReference = &Q5Legacy.DotQ5_0Reference,
                Pack = PackedQ5_0Matrix.Supported ? &PackQ5_0 : null, CreatePacked = PackedQ5_0Matrix.Supported ? &CreateQ5_0 : null,
            },
            new()
            {
                Type = GgmlType.Q5_1, BlockSize = QK, BlockBytes = BlockQ5_1.Size,
                Dequantize = &Q5Legacy.DequantizeQ5_1, Quantize = &Q5Legacy.QuantizeQ5_1, QuantizeReference = &Q5Legacy.QuantizeQ5_1,
                Activation = GgmlType.Q8_1, Dot = &Q5Legacy.DotQ5_1, DotReference = &Q5Legacy.DotQ5_1Reference,
            },
            new()
            {
                Type = GgmlType.Q8_0, BlockSize = QK, BlockBytes = BlockQ8_0.Size,
                Dequantize = &Dequantize.Q8_0Row, Quantize = &Quantize.Q8_0Row, QuantizeReference = &Quantize.Q8_0RowReference,
                Activation = GgmlType.Q8_0, Dot = &VecDotLegacy.Q8_0, DotReference = &VecDotReference.Q8_0,
                Tile = tiles ? &VecDotLegacy.Q8_0Tile : null, Pack = PackedQ8_0Matrix.Supported ? &PackQ8_0 : null,
                CreatePacked = PackedQ8_0Matrix.Supported ? &CreateQ8_0 : null,
            },
            new()
            {
                // An activation format only (Q4_1's): no dot takes Q8_1 weights.
                Type = GgmlType.Q8_1, BlockSize = QK, BlockBytes = BlockQ8_1.Size,
                Dequantize = &Dequantize.Q8_1Row, Quantize = &Quantize.Q8_1Row, QuantizeReference = &Quantize.Q8_1RowReference,
            },
            new()
            {
                Type = GgmlType.Q2_K, BlockSize = QK_K, BlockBytes = BlockQ2_K.Size,
                Dequantize = &LowKQuants.DequantizeQ2_K, Quantize = &LowKQuants.QuantizeQ2_K, QuantizeReference = &LowKQuants.QuantizeQ2_K,
                Activation = GgmlType.Q8_K, Dot = &LowKQuants.DotQ2_K, DotReference = &LowKQuants.DotQ2_KReference,
            },
            new()
            {
                Type = GgmlType.Q3_K, BlockSize = QK_K, BlockBytes = BlockQ3_K.Size,
                Dequantize = &LowKQuants.DequantizeQ3_K, Quantize = &LowKQuants.QuantizeQ3_K, QuantizeReference = &LowKQuants.QuantizeQ3_K,
                Activation = GgmlType.Q8_K, Dot = &LowKQuants.DotQ3_K, DotReference = &LowKQuants.DotQ3_KReference,
            },
            new()
            {
                Type = GgmlType.Q4_K, BlockSize = QK_K, BlockBytes = BlockQ4_K.Size,
                Dequantize = &Dequantize.Q4_KRow, Quantize = &Quantize.Q4_KRow, QuantizeReference = &Quantize.Q4_KRow,
                Activation = GgmlType.Q8_K, Dot = &VecDotKQuants.Q4_K, DotReference = &VecDotReference.Q4_K,
                Pack = PackedQ4KMatrix.Supported ? &PackQ4_K : null, CreatePacked = PackedQ4KMatrix.Supported ? &CreateQ4_K : null,
            },
            new()
            {
                Type = GgmlType.Q5_K, BlockSize = QK_K, BlockBytes = BlockQ5_K.Size,
                Dequantize = &Dequantize.Q5_KRow, Quantize = &Quantize.Q5_KRow, QuantizeReference = &Quantize.Q5_KRow,
                Activation = GgmlType.Q8_K, Dot = &VecDotKQuants.Q5_K, DotReference = &VecDotReference.Q5_K,
            },
            new()
            {
                Type = GgmlType.Q6_K, BlockSize = QK_K, BlockBytes = BlockQ6_K.Size,
                Dequantize = &Dequantize.Q6_KRow, Quantize = &Quantize.Q6_KRow, QuantizeReference = &Quantize.Q6_KRow,
                Activation = GgmlType.Q8_K, Dot = &VecDotKQuants.Q6_K, DotReference = &VecDotReference.Q6_K,
                Pack = PackedQ6KMatrix.Supported ? &PackQ6_K : null, CreatePacked = PackedQ6KMatrix.Supported ? &CreateQ6_K : null,
            },
            new()
            {
                // An activation format only (the K-quants'): no dot takes Q8_K weights.
                Type = GgmlType.Q8_K, BlockSize = QK_K, BlockBytes = BlockQ8_K.Size,
                Dequantize = &Dequantize.Q8_KRow, Quantize = &Quantize.Q8_KRow, QuantizeReference = &Quantize.Q8_KRowReference,
            },

            new()
            {
                Type = GgmlType.IQ4_NL, BlockSize = QK, BlockBytes = BlockIQ4_NL.Size,
                Dequantize = &IQ4NonLinear.DequantizeIQ4_NL, Quantize = &IQ4NonLinear.QuantizeIQ4_NL, QuantizeReference = &IQ4NonLinear.QuantizeIQ4_NL,
                Activation = GgmlType.Q8_0, Dot = &IQ4NonLinear.DotIQ4_NL, DotReference = &IQ4NonLinear.DotIQ4_NLReference,
            },
            new()
            {
                Type = GgmlType.IQ4_XS, BlockSize = QK_K, BlockBytes = BlockIQ4_XS.Size,
                Dequantize = &IQ4NonLinear.DequantizeIQ4_XS, Quantize = &IQ4NonLinear.QuantizeIQ4_XS, QuantizeReference = &IQ4NonLinear.QuantizeIQ4_XS,
                Activation = GgmlType.Q8_K, Dot = &IQ4NonLinear.DotIQ4_XS, DotReference = &IQ4NonLinear.DotIQ4_XSReference,
            },

            // Geometry only: types this engine does not run.
            new() { Type = GgmlType.IQ2_XXS, BlockSize = QK_K, BlockBytes = 66 },
            new() { Type = GgmlType.IQ2_XS, BlockSize = QK_K, BlockBytes = 74 },
            new() { Type = GgmlType.IQ3_XXS, BlockSize = QK_K, BlockBytes = 98 },
            new() { Type = GgmlType.IQ1_S, BlockSize = QK_K, BlockBytes = 50 },
            new() { Type = GgmlType.IQ3_S, BlockSize = QK_K, BlockBytes = 110 },
            new() { Type = GgmlType.IQ2_S, BlockSize = QK_K, BlockBytes = 82 },
            new() { Type = GgmlType.I8, BlockSize = 1, BlockBytes = 1 },
            new() { Type = GgmlType.I16, BlockSize = 1, BlockBytes = 2 },
            new() { Type = GgmlType.I32, BlockSize = 1, BlockBytes = 4 },
            new() { Type = GgmlType.I64, BlockSize = 1, BlockBytes = 8 },
            new() { Type = GgmlType.F64, BlockSize = 1, BlockBytes = 8 },
            new() { Type = GgmlType.IQ1_M, BlockSize = QK_K, BlockBytes = 56 },
            new() { Type = GgmlType.TQ1_0, BlockSize = QK_K, BlockBytes = 54 },
            new() { Type = GgmlType.TQ2_0, BlockSize = QK_K, BlockBytes = 66 },
            new() { Type = GgmlType.MXFP4, BlockSize = QK, BlockBytes = 17 },
        };

        var byId = new TensorTypeInfo?[rows.Max(r => (int)r.Type) + 1];
        foreach (TensorTypeInfo r in rows)
        {
            if (byId[(int)r.Type] != null) throw new InvalidOperationException($"two rows for {r.Type}");
            byId[(int)r.Type] = r;
        }

        return byId;
    }

    // The packed-layout column: one (bytes, in, out) shape for every packable type, so the return type is the
    // base class the column's function-pointer type names (CA1859 would narrow it and break that shape).
#pragma warning disable CA1859
    private static PackedMatrix? PackQ4_0(ReadOnlySpan<byte> bytes, int inDim, int outDim) => PackedQ4Matrix.TryPack(GgmlType.Q4_0, bytes, inDim, outDim);

    private static PackedMatrix? PackQ4_1(ReadOnlySpan<byte> bytes, int inDim, int outDim) => PackedQ4Matrix.TryPack(GgmlType.Q4_1, bytes, inDim, outDim);

    private static PackedMatrix? PackQ8_0(ReadOnlySpan<byte> bytes, int inDim, int outDim) => PackedQ8_0Matrix.Pack(bytes, inDim, outDim);

    private static IRowPacker CreateQ8_0(int inDim, int outDim) => PackedQ8_0Matrix.Create(inDim, outDim);

    private static PackedMatrix? PackQ5_0(ReadOnlySpan<byte> bytes, int inDim, int outDim) => PackedQ5_0Matrix.Pack(bytes, inDim, outDim);

    private static PackedMatrix? PackQ4_K(ReadOnlySpan<byte> bytes, int inDim, int outDim) => PackedQ4KMatrix.Pack(bytes, inDim, outDim);

    private static PackedMatrix? PackQ6_K(ReadOnlySpan<byte> bytes, int inDim, int outDim) => PackedQ6KMatrix.Pack(bytes, inDim, outDim);

    private static IRowPacker CreateQ5_0(int inDim, int outDim) => PackedQ5_0Matrix.Create(inDim, outDim);

    private static IRowPacker CreateQ4_K(int inDim, int outDim) => PackedQ4KMatrix.Create(inDim, outDim);

    private static IRowPacker CreateQ6_K(int inDim, int outDim) => PackedQ6KMatrix.Create(inDim, outDim);
#pragma warning restore CA1859
}
