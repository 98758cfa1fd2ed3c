using System.Buffers.Binary;
using System.Text;

namespace SelfSpec.Gguf;

/// <summary>
/// A bounds-checked little-endian cursor over the file header. Every read checks the remaining length
/// first, so a truncated or lying header raises <see cref="GgufFormatException"/> instead of reading past
/// the mapping; sizes are checked against what is left in the file before anything is allocated.
/// </summary>
internal unsafe ref struct GgufReader
{
    private readonly byte* _base;
    private readonly long _length;
    private long _pos;

    public GgufReader(byte* data, long length)
    {
        _base = data;
        _length = length;
        _pos = 0;
    }

    public readonly long Position => _pos;
    public readonly long Remaining => _length - _pos;

    private ReadOnlySpan<byte> Take(long count, string what)
    {
        if (count < 0 || count > Remaining)
            throw new GgufFormatException($"GGUF file truncated: {what} needs {count} bytes at offset {_pos}, {Remaining} left");
        var span = new ReadOnlySpan<byte>(_base + _pos, (int)count);
        _pos += count;
        return span;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));
    public float F32(string what) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what));
    public double F64(string what) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what));

    /// <summary>A count (uint64) that must fit a limit and, at minElementBytes each, the rest of the file.</summary>
    public long Count(string what, long limit, long minElementBytes)
    {
        ulong raw = U64(what);
        if (raw > (ulong)limit)
            throw new GgufFormatException($"GGUF {what} {raw} exceeds the limit of {limit}");
        long n = (long)raw;
        if (minElementBytes > 0 && n > Remaining / minElementBytes)
            throw new GgufFormatException($"GGUF {what} {n} cannot fit in the {Remaining} bytes left in the file");
        return n;
    }

    public string String(string what)
    {
        long len = Count($"length of {what}", GgufLimits.MaxStringBytes, 1);
        // Lenient decoding, as llama.cpp keeps raw bytes: a stray invalid byte in one token string must not
        // make a whole model unloadable.
        return Encoding.UTF8.GetString(Take(len, what));
    }
}
