// TensorTypeInfo: every fact the engine holds about one tensor element type, in one row: block geometry, how a
// row is dequantized and quantized, which activation format its dot products take, the dot kernels (fast and
// reference, plus the four-row tile where one exists) and the packed layout a matrix of it may be copied into.
// Loading, the supported-type list, error messages, MatMul and the tests all read these rows (TensorTypes), so
// adding a type is adding a row. Kernel columns are raw function pointers: MatMul resolves them once per call
// and then calls them per row pair with no dispatch.
using SelfSpec.Kernels;

namespace SelfSpec.Quantization;

/// <summary>One row of the tensor-type table. Null columns mean "not available for this type (on this CPU)".</summary>
internal sealed unsafe class TensorTypeInfo
{
    public required GgmlType Type { get; init; }

    /// <summary>Elements per block; 1 for plain scalar types.</summary>
    public required int BlockSize { get; init; }

    /// <summary>Bytes per block (per element for plain scalar types).</summary>
    public required int BlockBytes { get; init; }

    /// <summary>
    /// (source row, destination floats, element count) -> floats, exactly as ggml's dequantize_row_*.
    /// Null for types whose values this engine cannot read; such a row carries geometry only, so a file's
    /// tensor sizes can still be validated before its types are judged.
    /// </summary>
    public delegate*<byte*, float*, int, void> Dequantize { get; init; }

    /// <summary>(source floats, destination row, element count): the fast quantizer (SIMD for the activation types).</summary>
    public delegate*<float*, byte*, int, void> Quantize { get; init; }

    /// <summary>The plain scalar quantizer; bit-identical output to <see cref="Quantize"/>.</summary>
    public delegate*<float*, byte*, int, void> QuantizeReference { get; init; }

    /// <summary>The type an activation row is quantized to for a dot with a weight row of this type (ggml's vec_dot_type).</summary>
    public GgmlType? Activation { get; init; }

    /// <summary>(weight row, activation row, n): the fastest dot kernel this CPU runs; depends only on the two rows.</summary>
    public delegate*<byte*, byte*, int, float> Dot { get; init; }

    /// <summary>The plain scalar dot the fast kernel is tested against.</summary>
    public delegate*<byte*, byte*, int, float> DotReference { get; init; }

    /// <summary>
    /// 4 weight rows x 1 or 2 activation rows: (first weight row, weight stride, first activation row, activation
    /// stride, n, output, output stride, batch rows). Each result is bit-identical to <see cref="Dot"/> on the same rows.
    /// </summary>
    public delegate*<byte*, int, byte*, int, int, float*, int, int, void> Tile { get; init; }

    /// <summary>
    /// (the matrix's file bytes, in, out) -> a repacked copy for the SIMD kernels, or null where the values do not
    /// fit the packed layout. Null column: this type is used in the file's layout.
    /// </summary>
    public delegate*<ReadOnlySpan<byte>, int, int, PackedMatrix?> Pack { get; init; }

    /// <summary>
    /// (in, out) -> an empty packed matrix that is filled rows at a time (<see cref="IRowPacker"/>), so the loader
    /// streams a tensor through a small buffer instead of staging it whole. Null: only <see cref="Pack"/> exists.
    /// </summary>
    public delegate*<int, int, IRowPacker> CreatePacked { get; init; }

    /// <summary>ggml's name for the type ("q4_K").</summary>
    public string Name => GgmlTypeInfo.Name(Type);

    /// <summary>Readable values: dequantize exists.</summary>
    public bool CanDequantize => Dequantize != null;

    /// <summary>Usable as a matrix's weights: dequantize, quantize, an activation format and a dot kernel all exist.</summary>
    public bool IsWeight => Dequantize != null && Quantize != null && Activation != null && Dot != null && DotReference != null;

    /// <summary>Bytes of a row of <paramref name="n"/> elements; n must be a multiple of the block size.</summary>
    public long RowBytes(long n)
    {
        if (n < 0 || n % BlockSize != 0)
        {
            throw new ArgumentException($"Row length {n} is not a multiple of the {Name} block size {BlockSize}.", nameof(n));
        }

        return n / BlockSize * BlockBytes;
    }
}
