using SelfSpec.Gguf;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Gguf;

public sealed class GgufFileTests
{
    [Fact]
    public void ReadsTheBundledModel()
    {
        using var file = GgufFile.Open(TestModels.Bundled);
        Assert.Equal(3u, file.Version);
        Assert.Equal("llama", file.GetString("general.architecture"));
        Assert.Equal(30, file.GetInteger("llama.block_count"));
        Assert.Equal(576, file.GetInteger("llama.embedding_length"));
        Assert.Equal(49152, file.GetArrayOrNull("tokenizer.ggml.tokens")!.Count);
        Assert.Equal(48900, file.GetArrayOrNull("tokenizer.ggml.merges")!.Count);
        Assert.Equal(272, file.Tensors.Count);
        Assert.Equal(210, file.Tensors.Count(t => t.Type == GgmlType.Q4_1));
        Assert.Equal(61, file.Tensors.Count(t => t.Type == GgmlType.F32));
        var embd = file.GetTensor("token_embd.weight");
        Assert.Equal(GgmlType.Q8_0, embd.Type);
        Assert.Equal(new long[] { 576, 49152 }, embd.Dimensions);
        Assert.True(file.DataOffset + file.Tensors.Max(t => t.Offset + t.ByteSize) <= file.FileSize);
    }

    [Fact]
    public void WriterRoundTripsEveryMetadataType()
    {
        var w = new GgufWriter();
        w.Add("u8", (byte)7).Add("i8", (sbyte)-7).Add("u16", (ushort)700).Add("i16", (short)-700)
         .Add("u32", 70000u).Add("i32", -70000).Add("f32", 1.5f).Add("bool", true).Add("str", "héllo ✓")
         .Add("u64", ulong.MaxValue).Add("i64", long.MinValue).Add("f64", Math.PI)
         .Add("strs", new[] { "a", "", "ü" }).Add("ints", new[] { 1, 2, 3 })
         .Add("nested", new GgufArray(GgufValueType.Array, new[] { new GgufArray(GgufValueType.Int32, new[] { 4, 5 }) }));
        var data = new byte[4 * 8];
        w.AddTensor("t", GgmlType.F32, [8], data);
        string path = Path.GetTempFileName();
        try
        {
            w.WriteTo(path);
            using var f = GgufFile.Open(path);
            Assert.Equal((byte)7, f.Metadata["u8"]);
            Assert.Equal((sbyte)-7, f.Metadata["i8"]);
            Assert.Equal((ushort)700, f.Metadata["u16"]);
            Assert.Equal((short)-700, f.Metadata["i16"]);
            Assert.Equal(70000u, f.Metadata["u32"]);
            Assert.Equal(-70000, f.Metadata["i32"]);
            Assert.Equal(1.5f, f.Metadata["f32"]);
            Assert.Equal(true, f.Metadata["bool"]);
            Assert.Equal("héllo ✓", f.Metadata["str"]);
            Assert.Equal(ulong.MaxValue, f.Metadata["u64"]);
            Assert.Equal(long.MinValue, f.Metadata["i64"]);
            Assert.Equal(Math.PI, f.Metadata["f64"]);
            Assert.Equal(new[] { "a", "", "ü" }, (string[])f.GetArrayOrNull("strs")!.Values);
            Assert.Equal(new[] { 1, 2, 3 }, (int[])f.GetArrayOrNull("ints")!.Values);
            var nested = (GgufArray[])f.GetArrayOrNull("nested")!.Values;
            Assert.Equal(new[] { 4, 5 }, (int[])nested[0].Values);
            Assert.Equal(new[] { "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "u64", "i64", "f64", "strs", "ints", "nested" }, f.MetadataKeys);
            Assert.Equal(32, f.TensorBytes(f.GetTensor("t")).Length);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
