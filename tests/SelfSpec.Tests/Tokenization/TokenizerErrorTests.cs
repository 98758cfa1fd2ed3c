using SelfSpec.Gguf;
using SelfSpec.Tokenization;

namespace SelfSpec.Tests.Tokenization;

/// <summary>Bad or unsupported tokenizer metadata gets a typed error naming the problem.</summary>
public sealed class TokenizerErrorTests
{
    private static SelfSpecException Load(GgufWriter w, string name)
    {
        string path = VocabOnlyGguf.TempPath("err-" + name);
        w.WriteTo(path);
        try
        {
            using GgufFile f = GgufFile.Open(path);
            return Assert.ThrowsAny<SelfSpecException>(() => Tokenizer.FromGguf(f));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Unsupported_tokenizer_model_is_named()
    {
        SelfSpecException e = Load(VocabOnlyGguf.Llama("bert", ["a", "b"]), "bert");
        Assert.IsType<UnsupportedModelException>(e);
        Assert.Contains("bert", e.Message);
    }

    [Fact]
    public void Unknown_pre_tokenizer_is_named()
    {
        SelfSpecException e = Load(VocabOnlyGguf.Llama("gpt2", ["a", "b", "ab"]).Add("tokenizer.ggml.merges", new[] { "a b" })
            .Add("tokenizer.ggml.pre", "no-such-pre").Add("tokenizer.ggml.bos_token_id", 0u).Add("tokenizer.ggml.eos_token_id", 0u), "pre");
        Assert.IsType<UnsupportedModelException>(e);
        Assert.Contains("no-such-pre", e.Message);
    }

    [Fact]
    public void Scores_of_wrong_length_are_a_format_error()
    {
        SelfSpecException e = Load(VocabOnlyGguf.Llama("llama", ["<unk>", "<s>", "</s>", "a"]).Add("tokenizer.ggml.scores", new[] { 0f, 1f }), "scores");
        Assert.IsType<GgufFormatException>(e);
        Assert.Contains("scores", e.Message);
    }

    [Fact]
    public void Special_id_outside_vocabulary_is_a_format_error()
    {
        SelfSpecException e = Load(VocabOnlyGguf.Llama("llama", ["<unk>", "<s>", "</s>", "a"]).Add("tokenizer.ggml.eos_token_id", 99u), "eos");
        Assert.IsType<GgufFormatException>(e);
        Assert.Contains("eos_token_id", e.Message);
    }

    [Fact]
    public void Gpt2_without_merges_is_a_format_error()
    {
        SelfSpecException e = Load(VocabOnlyGguf.Llama("gpt2", ["a", "b"]).Add("tokenizer.ggml.pre", "gpt-2")
            .Add("tokenizer.ggml.bos_token_id", 0u).Add("tokenizer.ggml.eos_token_id", 0u), "merges");
        Assert.IsType<GgufFormatException>(e);
        Assert.Contains("merges", e.Message);
    }

    [Fact]
    public void Streaming_holds_back_partial_utf8()
    {
        Assert.Equal(0, StreamingDetokenizer.CompleteLength([0xF0, 0x9F]));
        Assert.Equal(1, StreamingDetokenizer.CompleteLength([(byte)'a', 0xE2, 0x82]));
        Assert.Equal(4, StreamingDetokenizer.CompleteLength([0xF0, 0x9F, 0x98, 0x80]));
        Assert.Equal(2, StreamingDetokenizer.CompleteLength([0x80, 0x80])); // stray continuation bytes are passed on
    }
}
