using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

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

    // Descriptions are composite formats ({0} = a key or name, {1} = an index) rendered only when a check
    // fails: the header of a real model holds hundreds of thousands of values, and building a message for
    // each read would allocate several times the file size in garbage.
    private static string Describe(string what, string? arg, long index) =>
        string.Format(CultureInfo.InvariantCulture, what, arg is { Length: > 200 } ? string.Concat(arg.AsSpan(0, 200), "...") : arg, index);

    private ReadOnlySpan<byte> Take(long count, string what, string? arg, long index)
    {
        if (count < 0 || count > Remaining)
            throw new GgufFormatException($"GGUF file truncated: {Describe(what, arg, index)} needs {count} bytes at offset {_pos}, {Remaining} left");
        var span = new ReadOnlySpan<byte>(_base + _pos, (int)count);
        _pos += count;
        return span;
    }

    public byte U8(string what, string? arg = null, long index = 0) => Take(1, what, arg, index)[0];
    public ushort U16(string what, string? arg = null, long index = 0) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what, arg, index));
    public uint U32(string what, string? arg = null, long index = 0) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what, arg, index));
    public ulong U64(string what, string? arg = null, long index = 0) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what, arg, index));
    public float F32(string what, string? arg = null, long index = 0) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what, arg, index));
    public double F64(string what, string? arg = null, long index = 0) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what, arg, index));

    /// <summary>A count (uint64) that must fit a limit and, at minElementBytes each, the rest of the file.
    /// <paramref name="what"/> is a composite format: {0} = <paramref name="arg"/>, {1} = <paramref name="index"/>.</summary>
    public long Count(string what, long limit, long minElementBytes, string? arg = null, long index = 0)
    {
        ulong raw = U64(what, arg, index);
        if (raw > (ulong)limit)
            throw new GgufFormatException($"GGUF {Describe(what, arg, index)} {raw} exceeds the limit of {limit}");
        long n = (long)raw;
        if (minElementBytes > 0 && n > Remaining / minElementBytes)
            throw new GgufFormatException($"GGUF {Describe(what, arg, index)} {n} cannot fit in the {Remaining} bytes left in the file");
        return n;
    }

    /// <summary>A length-prefixed UTF-8 string of at most <paramref name="maxBytes"/>; <paramref name="what"/> as
    /// for <see cref="Count"/>.</summary>
    public string String(string what, string? arg = null, long index = 0, long maxBytes = GgufLimits.MaxStringBytes)
    {
        ulong raw = U64(what, arg, index);
        if (raw > (ulong)maxBytes)
            throw new GgufFormatException($"GGUF length {raw} of {Describe(what, arg, index)} exceeds the limit of {maxBytes}");
        long len = (long)raw;
        if (len > Remaining)
            throw new GgufFormatException($"GGUF length {len} of {Describe(what, arg, index)} cannot fit in the {Remaining} bytes left in the file");
        if (len == 0) return "";
        ReadOnlySpan<byte> bytes = Take(len, what, arg, index);
        // Lenient decoding, as llama.cpp keeps raw bytes: a stray invalid byte in one token string must not
        // make a whole model unloadable.
        return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : DecodeLenient(bytes);
    }

    /// <summary>Invalid sequences become U+FFFD, as with Encoding.UTF8, but without its fallback machinery,
    /// which allocates for each invalid sequence (about 15 bytes per byte of garbage, measured): one pass counts
    /// the UTF-16 length through a stack buffer, a second decodes straight into the string.</summary>
    private static string DecodeLenient(ReadOnlySpan<byte> bytes)
    {
        Span<char> scratch = stackalloc char[1024];
        int chars = 0;
        for (ReadOnlySpan<byte> rest = bytes; !rest.IsEmpty;)
        {
            Utf8.ToUtf16(rest, scratch, out int read, out int written, replaceInvalidSequences: true);
            chars += written;
            rest = rest[read..];
        }
        // The bytes lie in the file mapping, which does not move.
        fixed (byte* p = bytes)
        {
            return string.Create(chars, ((IntPtr)p, bytes.Length), static (destination, source) =>
                Utf8.ToUtf16(new ReadOnlySpan<byte>((byte*)source.Item1, source.Item2), destination, out _, out _, replaceInvalidSequences: true));
        }
    }
}
