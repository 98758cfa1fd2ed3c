using System.Text;
using LLama;
using LLama.Common;
using SelfSpec.Gguf;
using SelfSpec.Tokenization;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Tokenization;

/// <summary>
/// Every supported <c>tokenizer.ggml.pre</c> checked against llama.cpp: the bundled model's byte-level vocabulary
/// and merges written into vocabulary-only GGUFs that differ only in the pre-tokenizer name.
/// </summary>
public sealed class PreTokenizerOracleTests(ITestOutputHelper log)
{
    public static TheoryData<string> PreNames => new()
    {
        "default", "gpt-2", "smollm", "starcoder", "refact", "llama-bpe", "llama3", "qwen2", "stablelm2", "tekken", "command-r", "olmo", "gpt-4o", "llama4",
    };

    [Fact]
    public void Unknown_pre_tokenizer_is_unsupported()
    {
        var e = Assert.Throws<UnsupportedModelException>(() => PreTokenizerFor("deepseek-llm"));
        Assert.Contains("deepseek-llm", e.Message);
    }

    private static void PreTokenizerFor(string name) => PreTokenizer.ForName(name);

    [Theory]
    [MemberData(nameof(PreNames))]
    public void Pre_tokenizer_matches_llama_cpp(string pre)
    {
        string path = VocabOnlyGguf.TempPath("pre-" + pre);
        try
        {
            using (GgufFile bundled = GgufFile.Open(TestModels.Bundled))
            {
                VocabOnlyGguf.Llama("gpt2", (string[])bundled.GetArrayOrNull("tokenizer.ggml.tokens")!.Values)
                    .Add("tokenizer.ggml.token_type", (int[])bundled.GetArrayOrNull("tokenizer.ggml.token_type")!.Values)
                    .Add("tokenizer.ggml.merges", (string[])bundled.GetArrayOrNull("tokenizer.ggml.merges")!.Values)
                    .Add("tokenizer.ggml.pre", pre)
                    .Add("tokenizer.ggml.bos_token_id", 1u)
                    .Add("tokenizer.ggml.eos_token_id", 2u)
                    .WriteTo(path);
            }
            LLama.Native.NativeLogConfig.llama_log_set((level, message) => { });
            using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { VocabOnly = true, GpuLayerCount = 0 });
            using GgufFile file = GgufFile.Open(path);
            Tokenizer tok = Tokenizer.FromGguf(file);

            var texts = TokenizerOracleCases.EdgeCases.Concat(TokenizerOracleCases.SpecBenchTurns().Take(40)).ToList();
            var failures = new List<string>();
            foreach (string text in texts)
                foreach (bool addSpecial in new[] { false, true })
                {
                    int[] expected = weights.Tokenize(text, addSpecial, true, Encoding.UTF8).Select(t => (int)t).ToArray();
                    int[] actual = tok.Encode(text, addSpecial);
                    if (!expected.AsSpan().SequenceEqual(actual))
                        failures.Add($"'{TokenizerOracleTests.Escape(text)}' add={addSpecial}\n  llama.cpp: [{string.Join(",", expected)}]\n  ours:      [{string.Join(",", actual)}]");
                }
            foreach (string f in failures.Take(10)) log.WriteLine(f);
            Assert.True(failures.Count == 0, $"{pre}: {failures.Count} of {texts.Count * 2} differ:\n" + string.Join("\n", failures.Take(3)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
