using System.Text;
using SelfSpec.Quantization;

namespace SelfSpec.Gguf;

/// <summary>
/// Writes GGUF files (version 3 by default): metadata in insertion order, tensors aligned.
/// Used by tests to build tiny models of every tensor type and by tools that write sidecars.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = [];
    private readonly List<(string Name, GgmlType Type, long[] Dims, byte[] Data)> _tensors = [];

    public GgufWriter(int alignment = 32, uint version = 3)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(alignment));
        Alignment = alignment;
        Version = version;
        if (alignment != 32) Add("general.alignment", (uint)alignment);
    }

    public int Alignment { get; }
    public uint Version { get; }

    /// <summary>Adds a metadata value; CLR types map to GGUF types (string[] and other arrays to arrays).</summary>
    public GgufWriter Add(string key, object value)
    {
        _metadata.Add((key, TypeOf(value), value));
        return this;
    }

    /// <summary>Adds a tensor whose bytes are already encoded in <paramref name="type"/>; dims in ggml order.</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] dims, ReadOnlySpan<byte> data)
    {
        if (!GgmlTypeInfo.TryGetBlock(type, out int blockSize, out int blockBytes))
            throw new ArgumentException($"unknown tensor type {type}", nameof(type));
        long elements = 1;
        foreach (long d in dims) elements *= d;
        if (dims[0] % blockSize != 0 || data.Length != elements / blockSize * blockBytes)
            throw new ArgumentException($"tensor '{name}': {data.Length} bytes do not match {type} [{string.Join(", ", dims)}]");
        _tensors.Add((name, type, dims, data.ToArray()));
        return this;
    }

    public void WriteTo(string path)
    {
        using var stream = File.Create(path);
        WriteTo(stream);
    }

    public void WriteTo(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(0x46554747u);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, type, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)type);
            WriteValue(w, type, value);
        }
        long offset = 0;
        foreach (var (name, type, dims, data) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (long d in dims) w.Write((ulong)d);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offset = AlignUp(offset + data.Length);
        }
        w.Flush();
        Pad(w, AlignUp(stream.Position) - stream.Position);
        foreach (var (_, _, _, data) in _tensors)
        {
            w.Write(data);
            Pad(w, AlignUp(data.Length) - data.Length);
        }
    }

    private long AlignUp(long v) => (v + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w, long n)
    {
        for (long i = 0; i < n; i++) w.Write((byte)0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static GgufValueType TypeOf(object value) => value switch
    {
        byte => GgufValueType.UInt8, sbyte => GgufValueType.Int8, ushort => GgufValueType.UInt16,
        short => GgufValueType.Int16, uint => GgufValueType.UInt32, int => GgufValueType.Int32,
        float => GgufValueType.Float32, bool => GgufValueType.Bool, string => GgufValueType.String,
        ulong => GgufValueType.UInt64, long => GgufValueType.Int64, double => GgufValueType.Float64,
        GgufArray or Array => GgufValueType.Array,
        _ => throw new ArgumentException($"no GGUF type for {value.GetType().Name}"),
    };

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write((byte)(v ? 1 : 0)); break;
            case string v: WriteString(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            case GgufArray a: WriteArray(w, a.ElementType, a.Values); break;
            case Array a: WriteArray(w, TypeOf(a.Length > 0 ? a.GetValue(0)! : ElementDefault(a)), a); break;
            default: throw new ArgumentException($"cannot write {type}");
        }
    }

    private static object ElementDefault(Array a) =>
        a.GetType().GetElementType() == typeof(string) ? "" : Activator.CreateInstance(a.GetType().GetElementType()!)!;

    private static void WriteArray(BinaryWriter w, GgufValueType elementType, Array values)
    {
        w.Write((uint)elementType);
        w.Write((ulong)values.Length);
        foreach (object v in values)
            WriteValue(w, elementType, v);
    }
}
