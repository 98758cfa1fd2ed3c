using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using SelfSpec.Quantization;

namespace SelfSpec.Gguf;

/// <summary>
/// A GGUF file (versions 2 and 3), memory-mapped read-only. Metadata and tensor infos are parsed and
/// validated at open; tensor data is served in place from the mapping (never copied).
/// Every count, length, rank, offset and size is checked against limits and the file length first:
/// a bad file raises <see cref="GgufFormatException"/> naming the problem.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    private const uint Magic = 0x46554747; // "GGUF" little-endian
    private const int DefaultAlignment = 32;

    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _reads; // ReadTensorRange's positioned reads, open for the file's life
    private byte* _data;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private GgufFile[] _parts; // _parts[k] holds the tensors of split k; [this] for a single file

    public string Path { get; }
    public uint Version { get; }
    public long FileSize { get; }
    public int Alignment { get; }
    /// <summary>Offset of the tensor data section from the start of the file.</summary>
    public long DataOffset { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; }
    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> MetadataKeys { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; private set; }

    /// <summary>The files of a split model in order (this file first), or just this file.</summary>
    public IReadOnlyList<string> PartPaths => [.. _parts.Select(p => p.Path)];

    private GgufFile(string path, MemoryMappedFile mapping, MemoryMappedViewAccessor view, Microsoft.Win32.SafeHandles.SafeFileHandle reads, byte* data, long size)
    {
        Path = path;
        _reads = reads;
        _mapping = mapping;
        _view = view;
        _data = data;
        FileSize = size;
        _parts = [this];

        var reader = new GgufReader(data, size);
        uint magic = reader.U32("magic");
        if (magic != Magic)
            throw new GgufFormatException($"not a GGUF file: magic is 0x{magic:X8}, expected 0x{Magic:X8} (\"GGUF\")");
        Version = reader.U32("version");
        if (Version is not (2 or 3))
            throw new GgufFormatException($"unsupported GGUF version {Version} (supported: 2, 3)");

        // Minimum on-disk sizes: a tensor info is at least name length (8) + rank (4) + type (4) + offset (8);
        // a key-value pair is at least key length (8) + value type (4) + 1 byte of value.
        long tensorCount = reader.Count("tensor count", GgufLimits.MaxTensors, 24);
        long kvCount = reader.Count("metadata key-value count", GgufLimits.MaxKeyValues, 13);

        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        var keys = new List<string>((int)kvCount);
        for (long i = 0; i < kvCount; i++)
        {
            string key = reader.String("key of metadata entry {1}", index: i, maxBytes: GgufLimits.MaxNameBytes);
            var type = (GgufValueType)reader.U32("value type of '{0}'", key);
            object value = ReadValue(ref reader, type, key, depth: 0);
            if (!metadata.TryAdd(key, value))
                throw new GgufFormatException($"GGUF metadata key '{key}' appears twice");
            keys.Add(key);
        }
        Metadata = metadata;
        MetadataKeys = keys;

        Alignment = DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out object? alignObj))
        {
            long align = alignObj switch
            {
                uint u => u, int s => s, ulong ul => (long)Math.Min(ul, int.MaxValue), long l => l, ushort us => us, byte b => b,
                _ => throw new GgufFormatException($"GGUF general.alignment has type {alignObj.GetType().Name}, expected an integer"),
            };
            if (align <= 0 || align > GgufLimits.MaxAlignment || (align & (align - 1)) != 0)
                throw new GgufFormatException($"GGUF general.alignment {align} is not a power of two up to {GgufLimits.MaxAlignment}");
            Alignment = (int)align;
        }

        var infos = new (string Name, long[] Dims, GgmlType Type, ulong Offset)[tensorCount];
        for (long i = 0; i < tensorCount; i++)
        {
            string name = reader.String("name of tensor {1}", index: i, maxBytes: GgufLimits.MaxNameBytes);
            uint rank = reader.U32("rank of tensor '{0}'", name);
            if (rank == 0 || rank > GgufLimits.MaxDimensions)
                throw new GgufFormatException($"GGUF tensor '{name}' has rank {rank}, expected 1..{GgufLimits.MaxDimensions}");
            var dims = new long[rank];
            long elements = 1;
            for (int d = 0; d < rank; d++)
            {
                ulong dim = reader.U64("dimension {1} of tensor '{0}'", name, d);
                if (dim == 0 || dim > (ulong)GgufLimits.MaxTensorElements)
                    throw new GgufFormatException($"GGUF tensor '{name}' has dimension {d} of size {dim}");
                dims[d] = (long)dim;
                if (elements > GgufLimits.MaxTensorElements / dims[d])
                    throw new GgufFormatException($"GGUF tensor '{name}' has more than {GgufLimits.MaxTensorElements} elements");
                elements *= dims[d];
            }
            uint rawType = reader.U32("type of tensor '{0}'", name);
            ulong offset = reader.U64("offset of tensor '{0}'", name);
            infos[i] = (name, dims, (GgmlType)rawType, offset);
        }

        long headerEnd = reader.Position;
        DataOffset = AlignUp(headerEnd, Alignment);
        if (DataOffset > size && tensorCount > 0)
            throw new GgufFormatException($"GGUF file truncated: tensor data would start at {DataOffset}, file has {size} bytes");

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        _tensorsByName = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        foreach (var (name, dims, type, offset) in infos)
        {
            if (!GgmlTypeInfo.TryGetBlock(type, out int blockSize, out int blockBytes))
                throw new GgufFormatException($"GGUF tensor '{name}' has unknown tensor type {(uint)type}");
            if (dims[0] % blockSize != 0)
                throw new GgufFormatException($"GGUF tensor '{name}' row length {dims[0]} is not a multiple of the {type} block size {blockSize}");
            if (offset % (ulong)Alignment != 0)
                throw new GgufFormatException($"GGUF tensor '{name}' offset {offset} is not aligned to {Alignment}");
            long elements = 1;
            foreach (long d in dims) elements *= d;
            long byteSize = elements / blockSize * blockBytes;
            long available = size - DataOffset;
            if (offset > (ulong)available || byteSize > available - (long)offset)
                throw new GgufFormatException($"GGUF tensor '{name}' ({byteSize} bytes at data offset {offset}) extends past the end of the file ({available} data bytes)");
            var info = new GgufTensorInfo(name, dims, type, (long)offset, byteSize);
            if (!_tensorsByName.TryAdd(name, info))
                throw new GgufFormatException($"GGUF tensor '{name}' appears twice");
            tensors.Add(info);
        }
        Tensors = tensors;
    }

    /// <summary>Opens and validates a GGUF file. Throws <see cref="GgufFormatException"/> on a bad file,
    /// <see cref="FileNotFoundException"/> when it does not exist. A model split into several files
    /// (<c>NAME-00001-of-0000N.gguf</c> ...) opens as one from any of its parts: metadata from the first part,
    /// tensors from all of them.</summary>
    public static GgufFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        GgufFile first = OpenPart(path);
        try
        {
            long count = first.GetIntegerOrNull(SplitCount) ?? 1;
            if (count <= 1) return first;
            long no = first.GetIntegerOrNull(SplitNo) ?? 0;
            if (no != 0)
            {
                // Any part names the model: reopen from the first, which holds the metadata.
                string firstPath = SplitPath(path, 0, count);
                first.Dispose();
                first = OpenPart(firstPath);
                if ((first.GetIntegerOrNull(SplitNo) ?? 0) != 0 || (first.GetIntegerOrNull(SplitCount) ?? 1) != count)
                    throw new GgufFormatException($"{firstPath} is not the first of the {count} parts {path} belongs to");
            }

            first.AttachParts(count);
            return first;
        }
        catch
        {
            first.Dispose();
            throw;
        }
    }

    private const string SplitNo = "split.no", SplitCount = "split.count", SplitTensors = "split.tensors.count";

    /// <summary>The path of part k (0-based) of a model split into count files, from the path of any part.</summary>
    private static string SplitPath(string anyPart, long k, long count)
    {
        var m = System.Text.RegularExpressions.Regex.Match(anyPart, @"^(.*)-\d{5}-of-(\d{5})\.gguf$");
        if (!m.Success || long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) != count)
            throw new GgufFormatException($"{anyPart} is part of a model split into {count} files, but its name does not end in -0000K-of-{count:D5}.gguf, so the other parts cannot be found");
        return $"{m.Groups[1].Value}-{k + 1:D5}-of-{count:D5}.gguf";
    }

    /// <summary>Opens parts 1..count-1 beside this first part and takes their tensors in.</summary>
    private void AttachParts(long count)
    {
        if (count > GgufLimits.MaxSplits)
            throw new GgufFormatException($"GGUF split.count {count} exceeds {GgufLimits.MaxSplits}");
        var parts = new List<GgufFile> { this };
        try
        {
            var tensors = new List<GgufTensorInfo>(Tensors);
            for (int k = 1; k < count; k++)
            {
                string partPath = SplitPath(Path, k, count);
                if (!File.Exists(partPath))
                    throw new GgufFormatException($"part {k + 1} of {count} of the split model is missing: {partPath}");
                GgufFile part = OpenPart(partPath);
                parts.Add(part);
                if (part.GetIntegerOrNull(SplitNo) != k || part.GetIntegerOrNull(SplitCount) != count)
                    throw new GgufFormatException($"{partPath} says it is part {part.GetIntegerOrNull(SplitNo)} of {part.GetIntegerOrNull(SplitCount)}, expected part {k} of {count}");
                foreach (var t in part.Tensors)
                {
                    var moved = t with { Split = k };
                    if (!_tensorsByName.TryAdd(t.Name, moved))
                        throw new GgufFormatException($"GGUF tensor '{t.Name}' appears in more than one part of the split model");
                    tensors.Add(moved);
                }
            }

            long? expected = GetIntegerOrNull(SplitTensors);
            if (expected != null && expected != tensors.Count)
                throw new GgufFormatException($"the split model should hold {expected} tensors ({SplitTensors}), its {count} parts hold {tensors.Count}");
            Tensors = tensors;
            _parts = [.. parts];
        }
        catch
        {
            for (int i = 1; i < parts.Count; i++) parts[i].Dispose();
            throw;
        }
    }

    private static GgufFile OpenPart(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fileInfo = new FileInfo(path);
        if (!fileInfo.Exists)
            throw new FileNotFoundException($"model file not found: {path}", path);
        // The size comes from the opened file, not from FileInfo: for a symbolic link (the Hugging Face cache stores
        // every download as one) FileInfo reports the link's own few bytes, while opening follows it to the target.
        var reads = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long size = RandomAccess.GetLength(reads);
        if (size < 24)
        {
            reads.Dispose();
            throw new GgufFormatException($"not a GGUF file: {path} has only {size} bytes");
        }

        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        byte* data = null;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
            view = mapping.CreateViewAccessor(0, size, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref data);
            data += view.PointerOffset;
            return new GgufFile(path, mapping, view, reads, data, size);
        }
        catch
        {
            reads.Dispose();
            if (data != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            mapping?.Dispose();
            throw;
        }
    }

    // Reader descriptions are composite formats rendered only on failure (see GgufReader); keys stay arguments
    // so that a brace in a key cannot break the format.
    private const string ValueOf = "value of '{0}'";
    private const string ElementOf = "element of array '{0}'";

    private static object ReadValue(ref GgufReader reader, GgufValueType type, string key, int depth)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return reader.U8(ValueOf, key);
            case GgufValueType.Int8: return (sbyte)reader.U8(ValueOf, key);
            case GgufValueType.UInt16: return reader.U16(ValueOf, key);
            case GgufValueType.Int16: return (short)reader.U16(ValueOf, key);
            case GgufValueType.UInt32: return reader.U32(ValueOf, key);
            case GgufValueType.Int32: return (int)reader.U32(ValueOf, key);
            case GgufValueType.Float32: return reader.F32(ValueOf, key);
            case GgufValueType.Bool: return ReadBool(ref reader, ValueOf, key);
            case GgufValueType.String: return reader.String("string value of '{0}'", key);
            case GgufValueType.UInt64: return reader.U64(ValueOf, key);
            case GgufValueType.Int64: return (long)reader.U64(ValueOf, key);
            case GgufValueType.Float64: return reader.F64(ValueOf, key);
            case GgufValueType.Array:
                if (depth >= GgufLimits.MaxArrayNesting)
                    throw new GgufFormatException($"GGUF array '{key}' is nested deeper than {GgufLimits.MaxArrayNesting}");
                return ReadArray(ref reader, key, depth + 1);
            default:
                throw new GgufFormatException($"GGUF metadata '{key}' has unknown value type {(uint)type}");
        }
    }

    // Not through ReadValue: boxing each element of a bool array would allocate 24 bytes per file byte.
    private static bool ReadBool(ref GgufReader reader, string what, string key)
    {
        byte b = reader.U8(what, key);
        if (b > 1) throw new GgufFormatException($"GGUF bool '{key}' has value {b}");
        return b != 0;
    }

    private static GgufArray ReadArray(ref GgufReader reader, string key, int depth)
    {
        var elementType = (GgufValueType)reader.U32("element type of array '{0}'", key);
        long minBytes = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw new GgufFormatException($"GGUF array '{key}' has unknown element type {(uint)elementType}"),
        };
        int n = (int)reader.Count("element count of array '{0}'", GgufLimits.MaxArrayElements, minBytes, key);
        Array values = elementType switch
        {
            GgufValueType.UInt8 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => r.U8(ElementOf, k)),
            GgufValueType.Int8 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => (sbyte)r.U8(ElementOf, k)),
            GgufValueType.UInt16 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => r.U16(ElementOf, k)),
            GgufValueType.Int16 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => (short)r.U16(ElementOf, k)),
            GgufValueType.UInt32 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => r.U32(ElementOf, k)),
            GgufValueType.Int32 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => (int)r.U32(ElementOf, k)),
            GgufValueType.Float32 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => r.F32(ElementOf, k)),
            GgufValueType.UInt64 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => r.U64(ElementOf, k)),
            GgufValueType.Int64 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => (long)r.U64(ElementOf, k)),
            GgufValueType.Float64 => Fill(ref reader, n, key, static (ref GgufReader r, string k) => r.F64(ElementOf, k)),
            GgufValueType.Bool => Fill(ref reader, n, key, static (ref GgufReader r, string k) => ReadBool(ref r, ElementOf, k)),
            GgufValueType.String => Fill(ref reader, n, key, static (ref GgufReader r, string k) => r.String(ElementOf, k)),
            _ => ReadNested(ref reader, n, key, depth),
        };
        return new GgufArray(elementType, values);
    }

    private static GgufArray[] ReadNested(ref GgufReader reader, int n, string key, int depth)
    {
        var result = new GgufArray[n];
        for (int i = 0; i < n; i++)
        {
            if (depth >= GgufLimits.MaxArrayNesting)
                throw new GgufFormatException($"GGUF array '{key}' is nested deeper than {GgufLimits.MaxArrayNesting}");
            result[i] = ReadArray(ref reader, key, depth + 1);
        }
        return result;
    }

    private delegate T ElementReader<T>(ref GgufReader reader, string key);

    private static T[] Fill<T>(ref GgufReader reader, int n, string key, ElementReader<T> read)
    {
        // Array.Empty: a crafted file can hold millions of empty nested arrays, 12 bytes each.
        T[] result = n == 0 ? [] : new T[n];
        for (int i = 0; i < n; i++) result[i] = read(ref reader, key);
        return result;
    }

    private static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;

    public bool TryGetTensor(string name, out GgufTensorInfo info) => _tensorsByName.TryGetValue(name, out info!);

    public GgufTensorInfo GetTensor(string name) =>
        _tensorsByName.TryGetValue(name, out var info) ? info : throw new UnsupportedModelException($"model has no tensor '{name}'");

    /// <summary>Pointer to a tensor's bytes inside the mapping; valid while this file is open.</summary>
    public byte* TensorData(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_data == null, this);
        GgufFile part = Part(tensor);
        return part._data + part.DataOffset + tensor.Offset;
    }

    /// <summary>The file that holds a tensor's bytes (this one unless the model is split).</summary>
    private GgufFile Part(GgufTensorInfo tensor) => (uint)tensor.Split < (uint)_parts.Length
        ? _parts[tensor.Split]
        : throw new ArgumentException($"tensor '{tensor.Name}' names part {tensor.Split} of a model with {_parts.Length}", nameof(tensor));

    /// <summary>A tensor's bytes as a span (tensors under 2 GiB).</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue)
            throw new UnsupportedModelException($"tensor '{tensor.Name}' is larger than 2 GiB");
        return new ReadOnlySpan<byte>(TensorData(tensor), (int)tensor.ByteSize);
    }

    /// <summary>
    /// Copies a tensor's bytes by reading the file, not the mapping: a caller that keeps its own copy (a packed
    /// layout) leaves the mapped pages untouched, so they never count in the process's resident memory.
    /// </summary>
    public void ReadTensor(GgufTensorInfo tensor, Span<byte> destination)
    {
        if (tensor.ByteSize > destination.Length) throw new ArgumentException($"destination holds {destination.Length} bytes, tensor '{tensor.Name}' has {tensor.ByteSize}");
        ReadTensorRange(tensor, 0, destination[..(int)tensor.ByteSize]);
    }

    /// <summary>
    /// Reads bytes [start, start + destination.Length) of a tensor from the file (not the mapping), so a large
    /// tensor can be repacked in pieces through one small buffer, and the embedding's few rows a step are read
    /// without mapping pages around them. Positioned reads on one handle: safe from several threads at once.
    /// </summary>
    public void ReadTensorRange(GgufTensorInfo tensor, long start, Span<byte> destination)
    {
        if (start < 0 || start + destination.Length > tensor.ByteSize)
            throw new ArgumentException($"bytes [{start}, {start + destination.Length}) lie outside tensor '{tensor.Name}' of {tensor.ByteSize}");
        ObjectDisposedException.ThrowIf(_data == null, this);
        GgufFile part = Part(tensor);
        long offset = part.DataOffset + tensor.Offset + start;
        while (destination.Length > 0)
        {
            int read = RandomAccess.Read(part._reads, destination, offset);
            if (read <= 0) throw new GgufFormatException($"tensor '{tensor.Name}' ends past the end of {part.Path} (the file changed after it was opened)");
            destination = destination[read..];
            offset += read;
        }
    }

    // ---- typed metadata access ----

    public bool Has(string key) => Metadata.ContainsKey(key);

    public string GetString(string key) => Get<string>(key);

    public string? GetStringOrNull(string key) =>
        Metadata.TryGetValue(key, out object? v) ? v as string ?? throw TypeError(key, v, "string") : null;

    public long GetInteger(string key) =>
        Metadata.TryGetValue(key, out object? v) ? ToInteger(key, v) : throw new UnsupportedModelException($"model metadata lacks '{key}'");

    public long? GetIntegerOrNull(string key) => Metadata.TryGetValue(key, out object? v) ? ToInteger(key, v) : null;

    public float? GetFloatOrNull(string key) => Metadata.TryGetValue(key, out object? v)
        ? v switch
        {
            float f => f, double d => (float)d,
            _ when IsInteger(v) => ToInteger(key, v),
            _ => throw TypeError(key, v, "float"),
        }
        : null;

    public bool? GetBoolOrNull(string key) =>
        Metadata.TryGetValue(key, out object? v) ? v as bool? ?? throw TypeError(key, v, "bool") : null;

    public GgufArray? GetArrayOrNull(string key) =>
        Metadata.TryGetValue(key, out object? v) ? v as GgufArray ?? throw TypeError(key, v, "array") : null;

    private T Get<T>(string key) where T : class =>
        Metadata.TryGetValue(key, out object? v)
            ? v as T ?? throw TypeError(key, v, typeof(T).Name)
            : throw new UnsupportedModelException($"model metadata lacks '{key}'");

    private static bool IsInteger(object v) => v is byte or sbyte or ushort or short or uint or int or ulong or long;

    private static long ToInteger(string key, object v) => v switch
    {
        byte b => b, sbyte sb => sb, ushort us => us, short s => s, uint u => u, int i => i, long l => l,
        ulong ul when ul <= long.MaxValue => (long)ul,
        _ => throw TypeError(key, v, "integer"),
    };

    private static GgufFormatException TypeError(string key, object v, string expected) =>
        new($"GGUF metadata '{key}' is {(v is GgufArray a ? $"an array of {a.ElementType}" : v.GetType().Name)}, expected {expected}");

    public void Dispose()
    {
        for (int i = 1; i < _parts.Length; i++) _parts[i].Dispose();
        if (_data != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _data = null;
        }
        _view?.Dispose();
        _mapping?.Dispose();
        _reads.Dispose();
    }
}
