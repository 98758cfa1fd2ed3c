using System.Text;
using SelfSpec.Tokenization;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Tokenization;

/// <summary>Our byte-level BPE against llama.cpp on the bundled SmolLM2 model: ids, decoding and streaming.</summary>
public sealed class TokenizerOracleTests(BundledTokenizerFixture fx, ITestOutputHelper log) : IClassFixture<BundledTokenizerFixture>
{
    [Fact]
    public void Metadata_matches_the_model_readme()
    {
        Tokenizer t = fx.Tokenizer;
        Assert.Equal("gpt2", t.Model);
        Assert.Equal("smollm", t.PreTokenizerName);
        Assert.Equal(49152, t.VocabSize);
        Assert.Equal(1, t.BosId);
        Assert.Equal(2, t.EosId);
        Assert.False(t.AddBos);
        Assert.Equal(2, t.EotId);
        Assert.True(t.IsEndOfGeneration(2));
        Assert.True(t.IsEndOfGeneration(0)); // <|endoftext|>
        Assert.False(t.IsEndOfGeneration(1));
        Assert.Equal((int)fx.Weights.Vocab.Count, t.VocabSize);
        var oracleEog = Enumerable.Range(0, t.VocabSize)
            .Where(id => ((LLama.Native.LLamaToken)id).IsEndOfGeneration(fx.Weights.NativeHandle.Vocab)).ToArray();
        var ourEog = Enumerable.Range(0, t.VocabSize).Where(t.IsEndOfGeneration).ToArray();
        Assert.Equal(oracleEog, ourEog);
    }

    [Fact]
    public void Every_token_piece_matches_llama_cpp()
    {
        int mismatches = 0;
        for (int id = 0; id < fx.Tokenizer.VocabSize; id++)
        {
            if (!fx.OraclePiece(id).AsSpan().SequenceEqual(fx.Tokenizer.TokenBytes(id)))
            {
                if (mismatches++ < 10) log.WriteLine($"piece {id} '{fx.Tokenizer.Tokens[id]}' differs");
            }
        }
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void SpecBench_turns_tokenize_as_llama_cpp()
    {
        var turns = TokenizerOracleCases.SpecBenchTurns().ToList();
        Assert.NotEmpty(turns);
        int n = CheckAll(turns, parseSpecial: true);
        log.WriteLine($"{n} spec-bench turns matched llama.cpp");
    }

    [Fact]
    public void Edge_cases_tokenize_as_llama_cpp()
    {
        int n = CheckAll(TokenizerOracleCases.EdgeCases, parseSpecial: true);
        n += CheckAll(TokenizerOracleCases.EdgeCases, parseSpecial: false);
        log.WriteLine($"{n} edge cases matched llama.cpp");
    }

    [Fact]
    public void Edge_cases_with_add_special_tokenize_as_llama_cpp()
    {
        foreach (string text in TokenizerOracleCases.EdgeCases.Take(10))
            Assert.Equal(fx.OracleEncode(text, true, true), fx.Tokenizer.Encode(text, addSpecial: true));
    }

    [Fact]
    public void Random_unicode_tokenizes_as_llama_cpp()
    {
        var rng = new Random(1234);
        string[] alphabet = ["a", "B", " ", "  ", "\n", "\t", "1", "23", "'", "'s", ".", "!", "é", "ß", "日", "ب", "😀", "\u200D", "<|im_end|>", "_", "-", "ǅ", "Ⅻ", "\u0301", "\u00A0", "\r\n"];
        var texts = new List<string>();
        for (int i = 0; i < 300; i++)
        {
            var sb = new StringBuilder();
            int len = rng.Next(1, 20);
            for (int j = 0; j < len; j++) sb.Append(alphabet[rng.Next(alphabet.Length)]);
            texts.Add(sb.ToString());
        }
        CheckAll(texts, parseSpecial: true);
    }

    [Fact]
    public void Decode_round_trips_and_streaming_matches()
    {
        var texts = TokenizerOracleCases.EdgeCases.Concat(TokenizerOracleCases.SpecBenchTurns()).ToList();
        foreach (string text in texts)
        {
            int[] ids = fx.Tokenizer.Encode(text, addSpecial: false);
            string decoded = fx.Tokenizer.Decode(ids);
            Assert.Equal(text, decoded);

            var stream = new StreamingDetokenizer(fx.Tokenizer);
            var sb = new StringBuilder();
            foreach (int id in ids)
            {
                string s = stream.Push(id);
                Assert.False(s.Length > 0 && char.IsHighSurrogate(s[^1]), "streamed text ends inside a surrogate pair");
                Assert.DoesNotContain('\uFFFD', s);
                sb.Append(s);
            }
            sb.Append(stream.Flush());
            Assert.Equal(decoded, sb.ToString());
        }
    }

    [Fact]
    public void Decode_without_special_hides_control_tokens()
    {
        int[] ids = fx.Tokenizer.Encode("<|im_start|>assistant\nHello!<|im_end|>\n");
        Assert.Equal("assistant\nHello!\n", fx.Tokenizer.Decode(ids, renderSpecial: false));
        Assert.Equal("<|im_start|>assistant\nHello!<|im_end|>\n", fx.Tokenizer.Decode(ids));
    }

    private int CheckAll(IEnumerable<string> texts, bool parseSpecial)
    {
        int n = 0;
        var failures = new List<string>();
        foreach (string text in texts)
        {
            int[] expected = fx.OracleEncode(text, false, parseSpecial);
            int[] actual = fx.Tokenizer.Encode(text, addSpecial: false, parseSpecial: parseSpecial);
            if (!expected.AsSpan().SequenceEqual(actual))
                failures.Add($"'{Escape(text)}'\n  llama.cpp: [{string.Join(",", expected)}]\n  ours:      [{string.Join(",", actual)}]");
            n++;
        }
        foreach (string f in failures.Take(20)) log.WriteLine(f);
        Assert.True(failures.Count == 0, $"{failures.Count} of {n} texts differ from llama.cpp:\n" + string.Join("\n", failures.Take(5)));
        return n;
    }

    internal static string Escape(string s)
    {
        var sb = new StringBuilder();
        foreach (char c in s)
            sb.Append(c < 0x20 || c > 0x7E ? $"\\u{(int)c:X4}" : c.ToString());
        return sb.ToString();
    }
}
