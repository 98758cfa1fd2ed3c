// A model file reached through a symbolic link (the Hugging Face cache stores every download as one) loads and
// runs exactly as the file itself: the size must come from the target, not from the link.
using SelfSpec.Gguf;
using SelfSpec.Tests.Model;

namespace SelfSpec.Tests.Gguf;

public sealed class SymbolicLinkTests
{
    [Fact]
    public void LinkedModelLoadsAndGeneratesTheSameTokens()
    {
        string dir = Path.Combine(Path.GetTempPath(), "selfspec-link-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            // A link to a link, relative and absolute, as caches chain them (snapshot -> blob).
            string inner = Path.Combine(dir, "blob.gguf");
            File.CreateSymbolicLink(inner, TestModels.Bundled);
            string link = Path.Combine(dir, "model.gguf");
            File.CreateSymbolicLink(link, "blob.gguf");

            using (var linked = GgufFile.Open(link))
            using (var plain = GgufFile.Open(TestModels.Bundled))
            {
                Assert.Equal(plain.FileSize, linked.FileSize);
                Assert.Equal(plain.Tensors.Count, linked.Tensors.Count);
            }

            Assert.Equal(Greedy(TestModels.Bundled), Greedy(link));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void DanglingLinkIsNotFound()
    {
        string dir = Path.Combine(Path.GetTempPath(), "selfspec-link-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string link = Path.Combine(dir, "model.gguf");
            File.CreateSymbolicLink(link, Path.Combine(dir, "missing.gguf"));
            Assert.Throws<FileNotFoundException>(() => GgufFile.Open(link));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Six greedy tokens after a fixed prompt, each from a full recomputation.</summary>
    private static int[] Greedy(string path)
    {
        using var harness = new ModelHarness(path, threads: 2);
        int v = harness.Config.VocabSize;
        var tokens = new List<int> { 1, 504, 3458, 282, 4649, 314 };
        var generated = new List<int>();
        for (int step = 0; step < 6; step++)
        {
            var (_, logits) = harness.Run(tokens.ToArray(), [tokens.Count]);
            var last = logits.AsSpan((tokens.Count - 1) * v, v);
            int best = 0;
            for (int i = 1; i < v; i++)
            {
                if (last[i] > last[best]) best = i;
            }

            tokens.Add(best);
            generated.Add(best);
        }

        return generated.ToArray();
    }
}
