using System.Text;
using LLama;
using LLama.Common;
using SelfSpec.Gguf;
using SelfSpec.Tokenization;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Tokenization;

/// <summary>
/// SentencePiece BPE ("llama") on a tiny hand-made vocabulary: hand-checked expectations, then llama.cpp on the same
/// vocabulary (a vocabulary-only GGUF) as the oracle.
/// </summary>
public sealed class SentencePieceTokenizerTests(ITestOutputHelper log)
{
    private const int Unk = 0, Bos = 1, Eos = 2, FirstByte = 3;

    // Normal pieces and their scores: higher scores merge first.
    private static readonly (string Piece, float Score)[] Pieces =
    [
        ("▁", -1), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("w", -2), ("r", -2), ("d", -2), ("a", -2), ("b", -2),
        ("t", -2), ("s", -2), ("x", -2), ("1", -2), ("2", -2), ("!", -2), ("日", -2),
        ("▁h", -3), ("he", -4), ("ll", -3.5f), ("▁he", -5), ("llo", -5.5f), ("▁hello", -6), ("▁w", -3), ("or", -4),
        ("▁wor", -7), ("▁world", -8), ("ld", -4.5f), ("ab", -1.5f), ("▁a", -2.5f), ("▁ab", -9), ("▁▁", -10), ("12", -6),
        ("es", -5), ("▁t", -5), ("▁te", -6), ("▁tes", -7), ("▁test", -8), ("st", -4.2f), ("te", -4.1f),
    ];

    private static readonly string[] Controls = ["<|im_start|>", "<|im_end|>"];
    private const string UserDefined = "<sep>";

    private static (string[] Tokens, float[] Scores, int[] Types) Vocabulary()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var scores = new List<float> { 0, 0, 0 };
        var types = new List<int> { 2, 3, 3 };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); scores.Add(0); types.Add(6); }
        foreach ((string p, float s) in Pieces) { tokens.Add(p); scores.Add(s); types.Add(1); }
        foreach (string c in Controls) { tokens.Add(c); scores.Add(0); types.Add(3); }
        tokens.Add(UserDefined); scores.Add(0); types.Add(4);
        return (tokens.ToArray(), scores.ToArray(), types.ToArray());
    }

    private static string WriteModel(string name, bool? addSpacePrefix = null, bool? addBos = null)
    {
        (string[] tokens, float[] scores, int[] types) = Vocabulary();
        GgufWriter w = VocabOnlyGguf.Llama("llama", tokens)
            .Add("tokenizer.ggml.scores", scores)
            .Add("tokenizer.ggml.token_type", types)
            .Add("tokenizer.ggml.bos_token_id", (uint)Bos)
            .Add("tokenizer.ggml.eos_token_id", (uint)Eos)
            .Add("tokenizer.ggml.unknown_token_id", (uint)Unk);
        if (addSpacePrefix is bool asp) w.Add("tokenizer.ggml.add_space_prefix", asp);
        if (addBos is bool ab) w.Add("tokenizer.ggml.add_bos_token", ab);
        string path = VocabOnlyGguf.TempPath("spm-" + name);
        w.WriteTo(path);
        return path;
    }

    private static int Id(string piece) => Array.IndexOf(Vocabulary().Tokens, piece);

    private static Tokenizer Load(string path)
    {
        using GgufFile f = GgufFile.Open(path);
        return Tokenizer.FromGguf(f);
    }

    [Fact]
    public void Hand_checked_encodings()
    {
        string path = WriteModel("hand");
        try
        {
            Tokenizer t = Load(path);
            Assert.Equal("llama", t.Model);
            Assert.True(t.AddBos);
            Assert.True(t.AddSpacePrefix);
            Assert.Equal(Bos, t.BosId);
            Assert.Equal(Eos, t.EosId);

            Assert.Equal([Bos, Id("▁hello"), Id("▁world")], t.Encode("hello world"));
            Assert.Equal([Id("▁hello"), Id("▁world")], t.Encode("hello world", addSpecial: false));
            Assert.Equal([Bos], t.Encode(""));
            Assert.Equal([], t.Encode("", addSpecial: false));
            // "ab" scores higher than "▁a", so "▁ab" is reached via "▁" + "ab".
            Assert.Equal([Id("▁ab")], t.Encode("ab", addSpecial: false));
            // é is not a piece: its UTF-8 bytes become byte tokens.
            Assert.Equal([Id("▁h"), FirstByte + 0xC3, FirstByte + 0xA9], t.Encode("hé", addSpecial: false));
            // after a special token, the text gets a space prefix again
            Assert.Equal([Id("<|im_start|>"), Id("▁hello"), Id("<|im_end|>")], t.Encode("<|im_start|>hello<|im_end|>", addSpecial: false));
            // without parse_special, control text is plain text (here all bytes/characters)
            Assert.DoesNotContain(Id("<|im_start|>"), t.Encode("<|im_start|>", addSpecial: false, parseSpecial: false));
            // user-defined tokens are matched even without parse_special
            Assert.Contains(Id(UserDefined), t.Encode("a<sep>b", addSpecial: false, parseSpecial: false));

            Assert.Equal("hello world", t.Decode(t.Encode("hello world", addSpecial: false)));
            Assert.Equal("hé!", t.Decode(t.Encode("hé!", addSpecial: false)));
            Assert.Equal([0xC3], t.TokenBytes(FirstByte + 0xC3));
            Assert.Equal(" hello", Encoding.UTF8.GetString(t.TokenBytes(Id("▁hello"))));
            Assert.Equal("<s>", Encoding.UTF8.GetString(t.TokenBytes(Bos)));
            Assert.Empty(t.TokenBytes(Bos, renderSpecial: false));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Missing_byte_token_falls_back_to_unknown()
    {
        (string[] tokens, float[] scores, int[] types) = Vocabulary();
        // remove <0xA9> by renaming it to an unused piece
        tokens[FirstByte + 0xA9] = "unused-A9";
        types[FirstByte + 0xA9] = 5;
        string path = VocabOnlyGguf.TempPath("spm-nobyte");
        VocabOnlyGguf.Llama("llama", tokens).Add("tokenizer.ggml.scores", scores).Add("tokenizer.ggml.token_type", types).WriteTo(path);
        try
        {
            Tokenizer t = Load(path);
            Assert.Equal([Id("▁h"), FirstByte + 0xC3, Unk], t.Encode("hé", addSpecial: false));
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static TheoryData<bool?, bool?> Configurations => new() { { null, null }, { false, null }, { true, false } };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Matches_llama_cpp(bool? addSpacePrefix, bool? addBos)
    {
        string path = WriteModel($"oracle-{addSpacePrefix}-{addBos}", addSpacePrefix, addBos);
        try
        {
            Tokenizer t = Load(path);
            LLama.Native.NativeLogConfig.llama_log_set((level, message) => { });
            using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { VocabOnly = true, GpuLayerCount = 0 });

            string[] texts =
            [
                .. TokenizerOracleCases.EdgeCases,
                "hello world", "hello  world", " hello", "hellohello", "abab ab a b", "test tests tester", "12 1212 121",
                "<|im_start|>hello<|im_end|> world", "<|im_start|> <|im_end|>", "x<sep>y <sep> z", "日本 日", "hé!",
                "hello\nworld\n\n", "▁literal marker",
            ];
            var failures = new List<string>();
            int n = 0;
            foreach (string text in texts)
                foreach (bool addSpecial in new[] { false, true })
                    foreach (bool parseSpecial in new[] { true, false })
                    {
                        int[] expected = weights.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8).Select(x => (int)x).ToArray();
                        int[] actual = t.Encode(text, addSpecial, parseSpecial);
                        n++;
                        if (!expected.AsSpan().SequenceEqual(actual))
                            failures.Add($"'{TokenizerOracleTests.Escape(text)}' add={addSpecial} parse={parseSpecial}\n  llama.cpp: [{string.Join(",", expected)}]\n  ours:      [{string.Join(",", actual)}]");
                    }
            foreach (string f in failures.Take(10)) log.WriteLine(f);
            Assert.True(failures.Count == 0, $"{failures.Count} of {n} differ:\n" + string.Join("\n", failures.Take(3)));

            // Round trip and streaming. SentencePiece is lossy for text with special tokens (a space is added after
            // each) and for a literal U+2581 (it decodes as a space), as in llama.cpp.
            foreach (string text in texts.Where(x => !x.Contains('<') && !x.Contains('\u2581')))
            {
                int[] ids = t.Encode(text, addSpecial: false);
                Assert.Equal(text, t.Decode(ids));
                var stream = new StreamingDetokenizer(t);
                var sb = new StringBuilder();
                foreach (int id in ids) sb.Append(stream.Push(id));
                sb.Append(stream.Flush());
                Assert.Equal(text, sb.ToString());
            }

            // Pieces as llama.cpp renders them (special = true).
            var buf = new byte[64];
            for (int id = 0; id < t.VocabSize; id++)
            {
                int len = (int)weights.NativeHandle.TokenToSpan((LLama.Native.LLamaToken)id, buf, 0, true);
                Assert.Equal(buf.AsSpan(0, len).ToArray(), t.TokenBytes(id));
            }
            Assert.Equal(
                Enumerable.Range(0, t.VocabSize).Where(id => ((LLama.Native.LLamaToken)id).IsEndOfGeneration(weights.NativeHandle.Vocab)),
                Enumerable.Range(0, t.VocabSize).Where(t.IsEndOfGeneration));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
