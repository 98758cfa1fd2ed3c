using System.Text;
using SelfSpec.Gguf;
using SelfSpec.Quantization;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Gguf;

/// <summary>
/// Invariant 5 for the GGUF reader: a truncated, corrupt or hostile file raises <see cref="GgufFormatException"/>
/// (never another exception type, a crash or a hang) and allocates no more than a small multiple of its own
/// size, whatever its counts and lengths claim. Files are built byte by byte here because
/// <see cref="GgufWriter"/> refuses to write most of them. A path that does not exist is the one exception:
/// it raises <see cref="FileNotFoundException"/>, which is what callers expect of a missing file.
/// </summary>
public sealed class GgufCorruptionTests(ITestOutputHelper output)
{
    private const uint Magic = 0x46554747;
    private const uint TypeF32 = 0, TypeF16 = 1, TypeQ8_0 = 8, TypeQ4_K = 12;

    // ---- harness ----

    /// <summary>Allocation allowed for opening a crafted file: a few times its size, plus fixed slack for the
    /// mapping, dictionaries and the exception itself.</summary>
    private static long SmallAllocLimit(long fileSize) => 4 * fileSize + (1 << 20);

    /// <summary>Opens <paramref name="path"/>; returns null when it opens, the exception when it is rejected.
    /// Fails on any exception other than <see cref="GgufFormatException"/> and on excess allocation.</summary>
    [ThreadStatic] private static long _maxAllocated;

    private static GgufFormatException? TryOpen(string path, long allocLimit, string context)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Exception? error = null;
        try
        {
            using var file = GgufFile.Open(path);
            _ = file.Tensors.Count;
        }
        catch (Exception e)
        {
            error = e;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        _maxAllocated = Math.Max(_maxAllocated, allocated);
        Assert.True(allocated <= allocLimit, $"{context}: opening allocated {allocated} bytes, limit {allocLimit}");
        if (error is null) return null;
        if (error is not GgufFormatException format)
            throw new Xunit.Sdk.XunitException($"{context}: expected GgufFormatException, got {error.GetType().Name}: {error}");
        Assert.False(string.IsNullOrWhiteSpace(format.Message));
        return format;
    }

    private static GgufFormatException AssertRejects(byte[] bytes, string? messagePart = null)
    {
        using var temp = new TempFile(bytes);
        var e = TryOpen(temp.Path, SmallAllocLimit(bytes.Length), "crafted file");
        Assert.True(e is not null, $"a {bytes.Length}-byte crafted file opened but should have been rejected");
        if (messagePart is not null)
            Assert.Contains(messagePart, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    private static void AssertOpens(byte[] bytes)
    {
        using var temp = new TempFile(bytes);
        var e = TryOpen(temp.Path, SmallAllocLimit(bytes.Length), "control file");
        Assert.True(e is null, $"control file should open: {e?.Message}");
    }

    private sealed class TempFile : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"selfspec-corrupt-{Guid.NewGuid():N}.gguf");
        public TempFile(ReadOnlySpan<byte> bytes)
        {
            using var fs = new FileStream(Path, FileMode.CreateNew, FileAccess.Write);
            fs.Write(bytes);
        }
        public TempFile(string copyOf) => File.Copy(copyOf, Path);
        public void SetLength(long length)
        {
            using var fs = new FileStream(Path, FileMode.Open, FileAccess.Write);
            fs.SetLength(length);
        }
        public void WriteByte(long offset, byte value)
        {
            using var fs = new FileStream(Path, FileMode.Open, FileAccess.Write);
            fs.Position = offset;
            fs.WriteByte(value);
        }
        public void Dispose() => File.Delete(Path);
    }

    /// <summary>Raw little-endian GGUF builder that writes whatever it is told, lies included.</summary>
    private sealed class Raw
    {
        private readonly MemoryStream _ms = new();
        private readonly BinaryWriter _w;
        public Raw() => _w = new BinaryWriter(_ms);
        public long Length { get { _w.Flush(); return _ms.Length; } }

        public Raw Header(ulong tensors, ulong kvs, uint version = 3, uint magic = Magic) => U32(magic).U32(version).U64(tensors).U64(kvs);
        public Raw U8(byte v) { _w.Write(v); return this; }
        public Raw U32(uint v) { _w.Write(v); return this; }
        public Raw U64(ulong v) { _w.Write(v); return this; }
        public Raw Bytes(ReadOnlySpan<byte> b) { _w.Write(b); return this; }
        public Raw Zeros(long n) { for (long i = 0; i < n; i++) _w.Write((byte)0); return this; }
        public Raw Str(string s) { byte[] b = Encoding.UTF8.GetBytes(s); return U64((ulong)b.Length).Bytes(b); }
        public Raw Kv(string key, GgufValueType type) => Str(key).U32((uint)type);
        public Raw Tensor(string name, uint type, ulong offset, ulong[] dims, uint? rank = null)
        {
            Str(name).U32(rank ?? (uint)dims.Length);
            foreach (ulong d in dims) U64(d);
            return U32(type).U64(offset);
        }
        public Raw PadTo(int alignment) => Zeros((alignment - Length % alignment) % alignment);
        public byte[] ToArray() { _w.Flush(); return _ms.ToArray(); }
    }

    /// <summary>One tensor, optionally a general.alignment (uint32) entry, the header padded to
    /// <paramref name="pad"/> and <paramref name="dataBytes"/> of zero data.</summary>
    private static byte[] OneTensor(uint type, ulong offset, ulong[] dims, long dataBytes = 32, uint? alignment = null, uint? rank = null, int pad = 32)
    {
        var r = new Raw().Header(1, alignment is null ? 0u : 1u);
        if (alignment is uint a) r.Kv("general.alignment", GgufValueType.UInt32).U32(a);
        return r.Tensor("t", type, offset, dims, rank).PadTo(pad).Zeros(dataBytes).ToArray();
    }

    /// <summary>A header with one metadata entry whose type and value bytes the caller writes.</summary>
    private static byte[] OneValue(Action<Raw> value, long trailingZeros = 0)
    {
        var r = new Raw().Header(0, 1).Str("k");
        value(r);
        return r.Zeros(trailingZeros).ToArray();
    }

    // ---- the small valid file ----

    private static readonly byte[] SmallFile = BuildSmallFile();

    private static byte[] BuildSmallFile()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama").Add("general.name", "corruption-fixture")
         .Add("u8", (byte)7).Add("i8", (sbyte)-7).Add("u16", (ushort)700).Add("i16", (short)-700)
         .Add("u32", 70000u).Add("i32", -70000).Add("f32", 1.5f).Add("bool", true).Add("str", "héllo ✓")
         .Add("u64", ulong.MaxValue).Add("i64", long.MinValue).Add("f64", Math.PI)
         .Add("strs", new[] { "a", "", "ü", "<|im_start|>" }).Add("ints", new[] { 1, 2, 3 }).Add("bools", new[] { true, false })
         .Add("nested", new GgufArray(GgufValueType.Array, new[]
         {
             new GgufArray(GgufValueType.Int32, new[] { 4, 5 }),
             new GgufArray(GgufValueType.String, new[] { "x", "yz" }),
         }));
        // Q8_0: blocks of fp16 scale + 32 int8.
        var q8 = new byte[4 * 34];
        for (int b = 0; b < 4; b++)
        {
            BitConverter.TryWriteBytes(q8.AsSpan(b * 34, 2), BitConverter.HalfToUInt16Bits((Half)0.25f));
            for (int i = 0; i < 32; i++) q8[b * 34 + 2 + i] = (byte)(sbyte)(i - 16);
        }
        var f16 = new byte[16 * 3 * 2];
        for (int i = 0; i < 48; i++) BitConverter.TryWriteBytes(f16.AsSpan(i * 2, 2), BitConverter.HalfToUInt16Bits((Half)(i * 0.5f)));
        var f32 = new byte[8 * 4];
        for (int i = 0; i < 8; i++) BitConverter.TryWriteBytes(f32.AsSpan(i * 4, 4), i * 1.25f);
        // F32 last, 32 bytes: the file ends exactly where its data ends, so every truncation cuts something.
        w.AddTensor("q8", GgmlType.Q8_0, [64, 2], q8).AddTensor("f16", GgmlType.F16, [16, 3], f16).AddTensor("f32", GgmlType.F32, [8], f32);
        using var ms = new MemoryStream();
        w.WriteTo(ms);
        return ms.ToArray();
    }

    private static (long DataOffset, long RequiredEnd) Extent(string path)
    {
        using var f = GgufFile.Open(path);
        return (f.DataOffset, f.DataOffset + f.Tensors.Max(t => t.Offset + t.ByteSize));
    }

    [Fact]
    public void SmallFileOpens()
    {
        using var temp = new TempFile(SmallFile);
        Assert.Null(TryOpen(temp.Path, SmallAllocLimit(SmallFile.Length), "small file"));
        using var f = GgufFile.Open(temp.Path);
        Assert.Equal(3, f.Tensors.Count);
        Assert.Equal(SmallFile.Length, Extent(temp.Path).RequiredEnd);
        Assert.Equal(2, ((GgufArray[])f.GetArrayOrNull("nested")!.Values).Length);
    }

    [Fact]
    public void EveryTruncationOfTheSmallFileIsRejected()
    {
        using var temp = new TempFile(SmallFile);
        for (long length = SmallFile.Length - 1; length >= 0; length--)
        {
            temp.SetLength(length);
            Assert.True(TryOpen(temp.Path, SmallAllocLimit(length), $"small file cut at {length}") is not null,
                $"small file cut to {length} of {SmallFile.Length} bytes opened");
        }
    }

    [Fact]
    public void SeededByteFlipsInTheSmallHeaderOpenOrRaiseFormatErrors()
    {
        using var temp = new TempFile(SmallFile);
        long dataOffset = Extent(temp.Path).DataOffset;
        var rng = new Random(20261129);
        int rejected = 0;
        for (int i = 0; i < 2000; i++)
        {
            int offset = rng.Next((int)dataOffset);
            byte flipped = (byte)(SmallFile[offset] ^ rng.Next(1, 256));
            temp.WriteByte(offset, flipped);
            if (TryOpen(temp.Path, SmallAllocLimit(SmallFile.Length), $"flip {i}: byte {offset} -> 0x{flipped:X2}") is not null) rejected++;
            temp.WriteByte(offset, SmallFile[offset]);
        }
        output.WriteLine($"2000 flips: {rejected} rejected, {2000 - rejected} opened");
        Assert.InRange(rejected, 1, 2000);
    }

    // ---- the real model's header ----

    private static readonly Lazy<byte[]> RealHeader = new(() =>
    {
        long dataOffset;
        using (var f = GgufFile.Open(TestModels.Bundled)) dataOffset = f.DataOffset;
        var bytes = new byte[dataOffset];
        using var fs = File.OpenRead(TestModels.Bundled);
        fs.ReadExactly(bytes);
        return bytes;
    });

    /// <summary>The vocabulary legitimately costs a few MB of strings; allow that plus a multiple of the size.</summary>
    private static long RealAllocLimit(long fileSize) => 4 * fileSize + (16 << 20);

    [Fact]
    public void TruncationsOfTheRealHeaderAreRejected()
    {
        byte[] header = RealHeader.Value;
        // The header alone (no tensor data) is itself a truncated model: the first tensor lies past its end.
        var offsets = new SortedSet<long> { header.Length, header.Length - 1, 24, 23, 16, 8, 4, 1, 0 };
        var rng = new Random(135);
        while (offsets.Count < 209) offsets.Add(rng.NextInt64(header.Length));
        using var temp = new TempFile(header);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        foreach (long length in offsets.Reverse())
        {
            temp.SetLength(length);
            Assert.True(TryOpen(temp.Path, RealAllocLimit(length), $"real header cut at {length}") is not null,
                $"real header cut to {length} of {header.Length} bytes opened");
        }
        output.WriteLine($"{offsets.Count} truncations of a {header.Length}-byte header in {sw.ElapsedMilliseconds} ms, most allocated {_maxAllocated}");
    }

    [Fact]
    public void SeededByteFlipsInTheRealHeaderOpenOrRaiseFormatErrors()
    {
        byte[] header = RealHeader.Value;
        // Keep the tensor data so that an intact header opens: flips are the only damage.
        using var temp = new TempFile(copyOf: TestModels.Bundled);
        _maxAllocated = 0;
        Assert.Null(TryOpen(temp.Path, RealAllocLimit(header.Length), "intact real model"));
        output.WriteLine($"intact real model: {header.Length}-byte header, open allocated {_maxAllocated} bytes");
        var rng = new Random(576);
        int rejected = 0;
        const int Flips = 60;
        for (int i = 0; i < Flips; i++)
        {
            // Half the flips in the first 4 KiB (counts, scalar metadata, the start of the vocabulary), half anywhere.
            int offset = i % 2 == 0 ? rng.Next(Math.Min(4096, header.Length)) : rng.Next(header.Length);
            byte flipped = (byte)(header[offset] ^ rng.Next(1, 256));
            temp.WriteByte(offset, flipped);
            // A flipped string length may legitimately claim up to 64 MiB of the tensor data (128 MiB as UTF-16):
            // the bound is relative to the whole file here.
            if (TryOpen(temp.Path, 2 * new FileInfo(temp.Path).Length + (16 << 20), $"real flip {i}: byte {offset} -> 0x{flipped:X2}") is not null) rejected++;
            temp.WriteByte(offset, header[offset]);
        }
        output.WriteLine($"{Flips} real-header flips: {rejected} rejected, most allocated {_maxAllocated} bytes");
    }

    // ---- files too small, missing, wrong magic or version ----

    [Fact]
    public void EmptyAndTinyFilesAreRejected()
    {
        AssertRejects([]);
        AssertRejects(new byte[10]);
        AssertRejects(Encoding.ASCII.GetBytes("GGUF\x03\0\0\0\0\0"));
        AssertRejects(new Raw().Header(0, 0).ToArray()[..23]);
        AssertOpens(new Raw().Header(0, 0).ToArray()); // the smallest valid file: 24 bytes, nothing in it
    }

    [Fact]
    public void MissingPathRaisesFileNotFound()
    {
        // Documented exception to "GgufFormatException only": a missing file is not a bad file.
        string path = Path.Combine(Path.GetTempPath(), $"selfspec-missing-{Guid.NewGuid():N}.gguf");
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open(path));
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open(Path.GetTempPath())); // a directory is not a file
    }

    [Theory]
    [InlineData(0x46554746u)] // "FGUF"
    [InlineData(0x47475546u)] // "FUGG" (byte-swapped)
    [InlineData(0x4C4D4747u)] // "GGML"
    [InlineData(0u)]
    [InlineData(uint.MaxValue)]
    public void WrongMagicIsRejected(uint magic) =>
        AssertRejects(new Raw().Header(0, 0, magic: magic).Zeros(64).ToArray(), "magic");

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(4u)]
    [InlineData(0x03000000u)] // big-endian 3
    [InlineData(uint.MaxValue)]
    public void UnsupportedVersionsAreRejected(uint version) =>
        AssertRejects(new Raw().Header(0, 0, version).Zeros(64).ToArray(), "version");

    [Fact]
    public void Version2Opens() => AssertOpens(new Raw().Header(0, 0, 2).ToArray());

    // ---- counts and lengths that lie ----

    public static TheoryData<ulong> HugeCounts => new() { ulong.MaxValue, 1UL << 63, 1UL << 40, (1UL << 20) + 1, 1000 };

    [Theory]
    [MemberData(nameof(HugeCounts))]
    public void HugeTensorCountIsRejected(ulong count) => AssertRejects(new Raw().Header(count, 0).Zeros(200).ToArray());

    [Theory]
    [MemberData(nameof(HugeCounts))]
    public void HugeKeyValueCountIsRejected(ulong count) => AssertRejects(new Raw().Header(0, count).Zeros(200).ToArray());

    public static TheoryData<ulong> HugeLengths => new() { ulong.MaxValue, 1UL << 63, 1UL << 40, (64UL << 20) + 1, 41 };

    [Theory]
    [MemberData(nameof(HugeLengths))]
    public void HugeKeyLengthIsRejected(ulong length) =>
        AssertRejects(new Raw().Header(0, 1).U64(length).Bytes(new byte[40]).ToArray());

    [Theory]
    [MemberData(nameof(HugeLengths))]
    public void HugeStringValueLengthIsRejected(ulong length) =>
        AssertRejects(OneValue(r => r.U32((uint)GgufValueType.String).U64(length).Bytes(new byte[40])));

    [Theory]
    [MemberData(nameof(HugeLengths))]
    public void HugeTensorNameLengthIsRejected(ulong length) =>
        AssertRejects(new Raw().Header(1, 0).U64(length).Bytes(new byte[40]).ToArray());

    [Fact]
    public void StringJustPastTheEndIsRejectedAndExactFitOpens()
    {
        AssertRejects(new Raw().Header(0, 1).U64(41).Bytes(new byte[40]).ToArray(), "cannot fit");
        // Exact fit: a 40-byte key followed by a one-byte value opens.
        AssertOpens(new Raw().Header(0, 1).Str(new string('k', 40)).U32((uint)GgufValueType.UInt8).U8(1).ToArray());
        AssertRejects(new Raw().Header(0, 1).Str(new string('k', 40)).U32((uint)GgufValueType.UInt8).ToArray(), "truncated");
    }

    [Fact]
    public void KeysAndTensorNamesAreCappedBelowStrings()
    {
        // Found by the real-header flips: one flipped length byte made a key of 11 MB of tensor data, which
        // decoded to UTF-16 and copied into the error message allocated 200 MB. Keys and names have their own cap.
        AssertRejects(new Raw().Header(0, 1).U64(1 << 20).Zeros(2 << 20).ToArray(), "limit");
        AssertRejects(new Raw().Header(1, 0).U64(1 << 20).Zeros(2 << 20).ToArray(), "limit");
        AssertRejects(new Raw().Header(0, 1).Str(new string('k', 4097)).U32((uint)GgufValueType.UInt8).U8(1).ToArray(), "limit");
        AssertOpens(new Raw().Header(0, 1).Str(new string('k', 4096)).U32((uint)GgufValueType.UInt8).U8(1).ToArray());
        // String values keep the larger cap: a 1 MiB chat template opens.
        AssertOpens(OneValue(r => r.U32((uint)GgufValueType.String).Str(new string('t', 1 << 20))));
    }

    [Fact]
    public void InvalidUtf8IsDecodedLenientlyWithoutExcessAllocation()
    {
        // Found by the real-header flips: Encoding.UTF8's replacement fallback allocated ~15 bytes per byte of
        // garbage when a flipped length made a token string swallow tensor data.
        var garbage = new byte[1 << 20];
        new Random(7).NextBytes(garbage);
        byte[] file = OneValue(r => r.U32((uint)GgufValueType.String).U64((ulong)garbage.Length).Bytes(garbage));
        using var temp = new TempFile(file);
        Assert.Null(TryOpen(temp.Path, 4L * file.Length + (1 << 20), "1 MiB of invalid UTF-8"));
        using var f = GgufFile.Open(temp.Path);
        Assert.Equal(Encoding.UTF8.GetString(garbage), f.GetString("k"));
        byte[] mixed = [0x61, 0xFF, 0x62, 0xC3, 0xA9, 0xE2, 0x82, 0x63, 0xF0, 0x9F, 0x98, 0x80];
        using var temp2 = new TempFile(OneValue(r => r.U32((uint)GgufValueType.String).U64((ulong)mixed.Length).Bytes(mixed)));
        using var f2 = GgufFile.Open(temp2.Path);
        Assert.Equal(Encoding.UTF8.GetString(mixed), f2.GetString("k"));
    }

    [Fact]
    public void DenseArraysStayWithinTheAllocationBound()
    {
        // The worst ratios of objects to file bytes that a valid-looking array can reach: many empty nested arrays
        // (12 bytes each), many one-byte strings (9 bytes each), a long bool array. AssertOpens checks the bound.
        AssertOpens(OneValue(r =>
        {
            r.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.Array).U64(50_000);
            for (int i = 0; i < 50_000; i++) r.U32((uint)GgufValueType.Int32).U64(0);
        }));
        AssertOpens(OneValue(r =>
        {
            r.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.String).U64(100_000);
            for (int i = 0; i < 100_000; i++) r.U64(1).U8((byte)('a' + i % 26));
        }));
        AssertOpens(OneValue(r => r.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(1 << 20).Zeros(1 << 20)));
    }

    public static TheoryData<uint, ulong> ArrayCountCases()
    {
        var data = new TheoryData<uint, ulong>();
        foreach (GgufValueType type in Enum.GetValues<GgufValueType>())
        {
            foreach (ulong count in new[] { ulong.MaxValue, 1UL << 63, 1UL << 40, (1UL << 26) + 1 })
                data.Add((uint)type, count);
            data.Add((uint)type, 0); // marker: just past the end, computed in the test
        }
        return data;
    }

    private static int MinElementBytes(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.Array => 12,
        _ => 8,
    };

    [Theory]
    [MemberData(nameof(ArrayCountCases))]
    public void HugeArrayCountIsRejectedForEveryElementType(uint elementType, ulong count)
    {
        const int Payload = 96;
        if (count == 0) count = (ulong)(Payload / MinElementBytes((GgufValueType)elementType) + 1);
        AssertRejects(OneValue(r => r.U32((uint)GgufValueType.Array).U32(elementType).U64(count), Payload));
    }

    [Fact]
    public void ArraysWhoseElementsOutrunTheFileAreRejected()
    {
        // The count passes the minimum-size check (8 bytes a string, 12 an array), the elements do not fit.
        AssertRejects(OneValue(r =>
        {
            r.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.String).U64(8);
            for (int i = 0; i < 8; i++) r.U64(4).Bytes("abcd"u8);
        }).AsSpan(..^1).ToArray());
        AssertRejects(OneValue(r =>
        {
            r.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.Array).U64(4);
            for (int i = 0; i < 4; i++) r.U32((uint)GgufValueType.UInt32).U64(2).U32(1).U32(2);
        }).AsSpan(..^1).ToArray());
        // The same arrays, whole, open.
        AssertOpens(OneValue(r =>
        {
            r.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.Array).U64(4);
            for (int i = 0; i < 4; i++) r.U32((uint)GgufValueType.UInt32).U64(2).U32(1).U32(2);
        }));
    }

    // ---- types the reader does not know ----

    [Theory]
    [InlineData(13u)]
    [InlineData(255u)]
    [InlineData(0x80000000u)]
    [InlineData(uint.MaxValue)]
    public void UnknownValueTypeIsRejected(uint type) =>
        AssertRejects(OneValue(r => r.U32(type), 64), "unknown value type");

    [Theory]
    [InlineData(13u)]
    [InlineData(255u)]
    [InlineData(uint.MaxValue)]
    public void UnknownArrayElementTypeIsRejected(uint type) =>
        AssertRejects(OneValue(r => r.U32((uint)GgufValueType.Array).U32(type).U64(1), 64), "unknown element type");

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BoolOtherThanZeroOrOneIsRejected(bool inArray)
    {
        foreach (byte b in new byte[] { 2, 0x80, 0xFF })
        {
            AssertRejects(OneValue(r =>
            {
                if (inArray) r.U32((uint)GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(3).U8(1).U8(0).U8(b);
                else r.U32((uint)GgufValueType.Bool).U8(b);
            }), "bool");
        }
    }

    private static byte[] NestedArrays(int levels)
    {
        return OneValue(r =>
        {
            r.U32((uint)GgufValueType.Array);
            for (int i = 1; i < levels; i++) r.U32((uint)GgufValueType.Array).U64(1);
            r.U32((uint)GgufValueType.Int32).U64(1).U32(42);
        });
    }

    [Fact]
    public void DeepNestingIsRejected()
    {
        AssertOpens(NestedArrays(1));
        AssertOpens(NestedArrays(3));
        AssertOpens(NestedArrays(8));
        AssertRejects(NestedArrays(9), "nested");
        AssertRejects(NestedArrays(64), "nested");
        AssertRejects(NestedArrays(100_000), "nested"); // would overflow the stack if recursion were unbounded
    }

    // ---- tensor infos ----

    [Fact]
    public void OneTensorControlOpens()
    {
        AssertOpens(OneTensor(TypeF32, 0, [8]));
        AssertOpens(OneTensor(TypeQ8_0, 0, [32, 2], 68));
        AssertOpens(OneTensor(TypeF32, 0, [4, 2], alignment: 64, pad: 64));
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(uint.MaxValue)]
    public void BadRankIsRejected(uint rank) =>
        AssertRejects(OneTensor(TypeF32, 0, rank == 5 ? [2, 2, 2, 2, 1] : [8], 64, rank: rank), "rank");

    public static TheoryData<ulong[]> BadDims => new()
    {
        new ulong[] { 0 }, new ulong[] { 8, 0 }, new ulong[] { 8, 1, 1, 0 },
        new ulong[] { 1UL << 41 }, new ulong[] { 1UL << 63 }, new ulong[] { ulong.MaxValue }, new ulong[] { 8, ulong.MaxValue },
    };

    [Theory]
    [MemberData(nameof(BadDims))]
    public void ZeroOrHugeDimensionIsRejected(ulong[] dims) => AssertRejects(OneTensor(TypeF32, 0, dims), "dimension");

    public static TheoryData<ulong[]> OverflowingDims => new()
    {
        new ulong[] { 1UL << 32, 1UL << 32 }, new ulong[] { 1UL << 40, 2 }, new ulong[] { 1UL << 21, 1UL << 21 },
        new ulong[] { 1UL << 20, 1UL << 20, 1UL << 20, 1UL << 20 }, new ulong[] { 1UL << 40, 1UL << 40, 1UL << 40, 1UL << 40 },
        new ulong[] { 3, 0x5555555555ul, 3 },
    };

    [Theory]
    [MemberData(nameof(OverflowingDims))]
    public void DimensionProductsThatOverflowAreRejected(ulong[] dims) => AssertRejects(OneTensor(TypeF32, 0, dims), "elements");

    [Theory]
    [InlineData(4u)]   // removed Q4_2
    [InlineData(5u)]   // removed Q4_3
    [InlineData(31u)]
    [InlineData(40u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public void UnknownTensorTypeIsRejected(uint type) => AssertRejects(OneTensor(type, 0, [256], 1024), "unknown tensor type");

    [Theory]
    [InlineData(TypeQ8_0, 33ul, 1ul)]
    [InlineData(TypeQ8_0, 16ul, 2ul)]
    [InlineData(TypeQ4_K, 32ul, 8ul)]
    public void RowLengthNotAMultipleOfTheBlockIsRejected(uint type, ulong row, ulong rows) =>
        AssertRejects(OneTensor(type, 0, [row, rows], 1024), "block size");

    [Theory]
    [InlineData(1ul, null)]
    [InlineData(16ul, null)]
    [InlineData(31ul, null)]
    [InlineData(32ul, 64u)]
    public void MisalignedOffsetIsRejected(ulong offset, uint? alignment) =>
        AssertRejects(OneTensor(TypeF32, offset, [8], 256, alignment, pad: (int)(alignment ?? 32)), "aligned");

    [Theory]
    [InlineData(32ul)]
    [InlineData(64ul)]
    [InlineData(1ul << 40)]
    [InlineData(0xFFFFFFFFFFFFFFE0ul)]
    public void OffsetPastTheEndIsRejected(ulong offset) => AssertRejects(OneTensor(TypeF32, offset, [8], 32), "past the end");

    [Fact]
    public void TensorSizePastTheEndIsRejected()
    {
        AssertRejects(OneTensor(TypeF32, 0, [9], 32), "past the end");
        AssertRejects(OneTensor(TypeF16, 0, [32], 32), "past the end");
        AssertRejects(OneTensor(TypeQ8_0, 0, [32, 2], 67), "past the end");
        AssertRejects(OneTensor(TypeF32, 0, [1UL << 20, 1UL << 20], 32), "past the end");
        // Header ends inside the padding: tensor data would start past the end of the file.
        AssertRejects(new Raw().Header(1, 0).Tensor("t", TypeF32, 0, [1]).ToArray(), "truncated");
        // Second tensor runs past the end, first one fine.
        AssertRejects(new Raw().Header(2, 0).Tensor("a", TypeF32, 0, [8]).Tensor("b", TypeF32, 32, [8]).PadTo(32).Zeros(63).ToArray(), "past the end");
        AssertOpens(new Raw().Header(2, 0).Tensor("a", TypeF32, 0, [8]).Tensor("b", TypeF32, 32, [8]).PadTo(32).Zeros(64).ToArray());
    }

    // ---- duplicates ----

    [Fact]
    public void DuplicateKeyIsRejected() =>
        AssertRejects(new Raw().Header(0, 2).Kv("a", GgufValueType.UInt32).U32(1).Kv("a", GgufValueType.String).Str("x").ToArray(), "twice");

    [Fact]
    public void DuplicateTensorNameIsRejected() =>
        AssertRejects(new Raw().Header(2, 0).Tensor("t", TypeF32, 0, [8]).Tensor("t", TypeF32, 32, [8]).PadTo(32).Zeros(64).ToArray(), "twice");

    // ---- alignment ----

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(48u)]
    [InlineData(1u << 20)]
    [InlineData(uint.MaxValue)]
    public void BadAlignmentIsRejected(uint alignment) =>
        AssertRejects(OneTensor(TypeF32, 0, [8], 64, alignment), "alignment");

    [Fact]
    public void AlignmentOfTheWrongTypeIsRejected()
    {
        AssertRejects(new Raw().Header(0, 1).Kv("general.alignment", GgufValueType.Int32).U32(unchecked((uint)-32)).ToArray(), "alignment");
        AssertRejects(new Raw().Header(0, 1).Kv("general.alignment", GgufValueType.UInt64).U64(1UL << 63).ToArray(), "alignment");
        AssertRejects(new Raw().Header(0, 1).Kv("general.alignment", GgufValueType.String).Str("32").ToArray(), "alignment");
        AssertRejects(new Raw().Header(0, 1).Kv("general.alignment", GgufValueType.Float32).U32(BitConverter.SingleToUInt32Bits(32f)).ToArray(), "alignment");
    }
}
