using SelfSpec.Quantization;

namespace SelfSpec.Gguf;

/// <summary>
/// One tensor's header entry. Dimensions are in ggml order: Dimensions[0] is the contiguous (row) length,
/// so a matrix with Dimensions = [inDim, outDim] holds outDim rows of inDim elements.
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, long Offset, long ByteSize)
{
    /// <summary>Which file of a split model holds the bytes (0: the first, or the only one); Offset is within that file's data.</summary>
    public int Split { get; init; }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Dimensions) n *= d;
            return n;
        }
    }

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Dimensions)}]";
}
