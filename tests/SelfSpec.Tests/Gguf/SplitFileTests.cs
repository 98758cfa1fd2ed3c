// A model split into several GGUF files (NAME-00001-of-0000N.gguf ..., split.* metadata, as llama.cpp's
// gguf-split writes them) opens as one model from any part and computes exactly what the single file computes.
using SelfSpec.Gguf;
using SelfSpec.Quantization;
using SelfSpec.Tests.Model;
using SelfSpec.Tests.Oracle;

namespace SelfSpec.Tests.Gguf;

public sealed class SplitFileTests : IDisposable
{
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes the tensors of <paramref name="whole"/> into count parts; metadata in the first only.</summary>
    private string Split(string whole, int count, Action<int, GgufWriter>? tamper = null)
    {
        using var file = GgufFile.Open(whole);
        string prefix = Path.Combine(_dir, "split");
        int per = (file.Tensors.Count + count - 1) / count;
        for (int k = 0; k < count; k++)
        {
            var w = new GgufWriter();
            if (k == 0)
            {
                foreach (string key in file.MetadataKeys) w.Add(key, file.Metadata[key]);
            }

            w.Add("split.no", (ushort)k).Add("split.count", (ushort)count).Add("split.tensors.count", file.Tensors.Count);
            foreach (var t in file.Tensors.Skip(k * per).Take(per)) w.AddTensor(t.Name, t.Type, t.Dimensions, file.TensorBytes(t));
            tamper?.Invoke(k, w);
            w.WriteTo($"{prefix}-{k + 1:D5}-of-{count:D5}.gguf");
        }

        return $"{prefix}-00001-of-{count:D5}.gguf";
    }

    [Fact]
    public void SplitModelOpensAsOneAndComputesTheSameLogits()
    {
        string whole = TinyModels.Write(_dir, GgmlType.Q4_0, seed: 5);
        string first = Split(whole, 3);
        using (var split = GgufFile.Open(first))
        using (var plain = GgufFile.Open(whole))
        {
            Assert.Equal(3, split.PartPaths.Count);
            Assert.Equal(plain.Tensors.Select(t => t.Name), split.Tensors.Select(t => t.Name));
            Assert.Contains(split.Tensors, t => t.Split == 2);
            foreach (var t in plain.Tensors) Assert.True(plain.TensorBytes(t).SequenceEqual(split.TensorBytes(split.GetTensor(t.Name))), t.Name);
            Assert.Equal(plain.GetString("general.architecture"), split.GetString("general.architecture"));
        }

        // Opened from a later part, it is the same model.
        using (var fromLast = GgufFile.Open(first.Replace("-00001-of-", "-00003-of-")))
            Assert.Equal(first, fromLast.Path);

        int[] tokens = [5, 80, 17, 200, 3, 42, 9];
        float[] expected, actual;
        using (var h = new ModelHarness(whole, threads: 2)) expected = h.Run(tokens, [4]).Logits;
        using (var h = new ModelHarness(first, threads: 2)) actual = h.Run(tokens, [4]).Logits;
        Assert.Equal(expected, actual);

        // llama.cpp reads the same parts as the same model: the split files are in its format.
        float[] oracleWhole, oracleSplit;
        using (var o = new LlamaOracle(whole, contextSize: 64)) oracleWhole = o.LastLogits(tokens);
        using (var o = new LlamaOracle(first, contextSize: 64)) oracleSplit = o.LastLogits(tokens);
        Assert.Equal(oracleWhole, oracleSplit);
    }

    [Fact]
    public void MissingOrMislabelledPartsAreRefused()
    {
        string whole = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 6);
        string first = Split(whole, 2);
        string second = first.Replace("-00001-of-", "-00002-of-");
        byte[] keep = File.ReadAllBytes(second);
        File.Delete(second);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(first));
        Assert.Contains("part 2 of 2", e.Message);
        Assert.Contains("missing", e.Message);

        File.WriteAllBytes(second, keep);
        File.Move(first, Path.Combine(_dir, "renamed.gguf"));
        e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(Path.Combine(_dir, "renamed.gguf")));
        Assert.Contains("cannot be found", e.Message);
    }
}
