using SelfSpec.Gguf;
using SelfSpec.Kernels;
using SelfSpec.Quantization;

namespace SelfSpec.Model;

/// <summary>
/// A matrix used in place from the memory-mapped file: OutDim rows of InDim elements, encoded in Type.
/// y = W x computes one output per row. A matrix may also carry a copy repacked for the SIMD kernels
/// (<see cref="PackedMatrix"/>), which the forward pass then uses instead of the file's bytes.
/// </summary>
internal readonly unsafe struct WeightMatrix
{
    public readonly byte* Data;
    public readonly GgmlType Type;
    public readonly int InDim;
    public readonly int OutDim;
    public readonly int RowBytes;
    public readonly PackedMatrix? Packed;
    /// <summary>Where the rows lie in the file, for <see cref="ReadRow"/>; null for a matrix that is not a whole tensor or rows of one.</summary>
    public readonly FileRows? File;

    public WeightMatrix(byte* data, GgmlType type, int inDim, int outDim, PackedMatrix? packed = null, FileRows? file = null)
    {
        Packed = packed;
        File = file;
        Data = data;
        Type = type;
        InDim = inDim;
        OutDim = outDim;
        RowBytes = checked((int)GgmlTypeInfo.RowBytes(type, inDim));
    }

    public ReadOnlySpan<byte> Bytes => new(Data, checked(RowBytes * OutDim));

    /// <summary>Whether <see cref="WithPacked"/> makes a packed copy of a matrix of this type here.</summary>
    public static bool Packable(GgmlType type) => TensorTypes.Find(type)?.Pack != null;

    /// <summary>
    /// This matrix with a packed copy made from <paramref name="bytes"/> (the tensor's bytes, read from the file
    /// rather than through the mapping, so the mapped pages of a matrix used only packed never become resident).
    /// Unchanged where the type or the values do not pack.
    /// </summary>
    public WeightMatrix WithPacked(ReadOnlySpan<byte> bytes)
    {
        var pack = TensorTypes.Get(Type).Pack;
        if (Packed != null || pack == null || InDim % 32 != 0) return this;
        PackedMatrix? packed = pack(bytes, InDim, OutDim);
        return packed == null ? this : new WeightMatrix(Data, Type, InDim, OutDim, packed, File);
    }

    /// <summary>
    /// Copies one row's bytes (the embedding's rows a step, the exit head's draft rows at load). Read from the file,
    /// not the mapping, where the matrix knows its place there: a fault on the mapping maps the cached pages around
    /// it too, and after a few hundred distinct tokens tens of megabytes of a table counted as resident
    /// (architecture.md, "memory").
    /// </summary>
    public void ReadRow(int row, Span<byte> destination)
    {
        if ((uint)row >= (uint)OutDim) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} of a matrix of {OutDim}");
        if (File != null) File.Read(row, destination[..RowBytes]);
        else new ReadOnlySpan<byte>(Data + (long)row * RowBytes, RowBytes).CopyTo(destination);
    }

    public static WeightMatrix FromTensor(GgufFile file, string name, int inDim, int outDim)
    {
        var t = file.GetTensor(name);
        if (t.Dimensions.Length > 2 && t.Dimensions.Skip(2).Any(d => d != 1) || t.Dimensions[0] != inDim || (t.Dimensions.Length > 1 ? t.Dimensions[1] : 1) != outDim)
            throw new UnsupportedModelException($"tensor '{name}' has shape [{string.Join(", ", t.Dimensions)}], expected [{inDim}, {outDim}]");
        if (!GgmlTypeInfo.IsSupportedWeight(t.Type))
            throw new UnsupportedModelException($"tensor '{name}' has unsupported type {t.Type} (supported: {TensorTypes.SupportedWeightList})");
        var rows = new FileRows(file, t, 0, checked((int)GgmlTypeInfo.RowBytes(t.Type, inDim)));
        return new WeightMatrix(file.TensorData(t), t.Type, inDim, outDim, file: rows);
    }
}

/// <summary>Rows of a tensor from <paramref name="firstRow"/> on, read from the file on demand (positioned reads: any thread, no mapped pages).</summary>
internal sealed class FileRows(GgufFile file, GgufTensorInfo tensor, int firstRow, int rowBytes)
{
    /// <summary>The same tensor's rows from <paramref name="first"/> rows further on.</summary>
    public FileRows From(int first) => new(file, tensor, firstRow + first, rowBytes);

    public void Read(int row, Span<byte> destination) => file.ReadTensorRange(tensor, (long)(firstRow + row) * rowBytes, destination);
}
