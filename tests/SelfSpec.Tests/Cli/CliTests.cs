using System.Text.Json;
using SelfSpec.Gguf;
using SelfSpec.Quantization;
using SelfSpec.Tokenization;

namespace SelfSpec.Tests.Cli;

/// <summary>The command-line contract (architecture.md 7): output shapes and exit codes, good and bad input.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void GenerateJsonMatchesTheLibraryGreedyOutput()
    {
        var r = CliRunner.Run("generate", "--model", TestModels.Bundled, "--prompt", "The capital of France is", "--max-tokens", "12", "--json");
        Assert.True(r.ExitCode == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var root = doc.RootElement;
        int[] output = root.GetProperty("output_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] prompt = root.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        Assert.Equal(lm.Tokenize("The capital of France is"), prompt);
        var expected = lm.Generate(prompt, new SelfSpec.Decoding.GenerationOptions { MaxTokens = 12 });
        Assert.Equal(expected.OutputTokens, output);
        Assert.Equal(lm.Tokenizer.Decode(output), root.GetProperty("text").GetString());
        var stats = root.GetProperty("stats");
        Assert.Equal("hybrid", stats.GetProperty("method").GetString());
        foreach (string key in new[] { "prefill_tokens_per_s", "decode_tokens_per_s", "rounds", "drafted", "accepted", "mean_accepted_length", "acceptance_rate", "exit_layer_histogram" })
            Assert.True(stats.TryGetProperty(key, out _), $"stats lacks {key}");
        Assert.True(stats.GetProperty("decode_tokens_per_s").GetDouble() > 0);
        // The price bound's timed cost table: one entry per batch size a round can use, costs never decreasing.
        var costs = stats.GetProperty("cost_ms");
        double[] layer = costs.GetProperty("layer_by_rows").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] head = costs.GetProperty("head_by_rows").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.True(layer.Length >= 2 && head.Length == layer.Length, $"{layer.Length} layer and {head.Length} head entries");
        Assert.True(layer[0] > 0 && head[0] > 0);
        for (int i = 1; i < layer.Length; i++) Assert.True(layer[i] >= layer[i - 1] && head[i] >= head[i - 1]);
        // The time split: every round verifies and samples, so both took time; the parts are timed apart, inside
        // the decode time (each rounded to a microsecond).
        var time = stats.GetProperty("time_s");
        double Part(string name) => time.GetProperty(name).GetDouble();
        Assert.True(Part("prefill") > 0 && Part("decode") > 0 && Part("verify") > 0 && Part("sampling") > 0,
            $"prefill {Part("prefill")}, decode {Part("decode")}, verify {Part("verify")}, sampling {Part("sampling")}");
        double parts = Part("draft") + Part("verify") + Part("heads") + Part("sampling");
        Assert.True(Part("draft") >= 0 && Part("heads") >= 0 && parts <= Part("decode") + 5e-6,
            $"draft {Part("draft")} + verify {Part("verify")} + heads {Part("heads")} + sampling {Part("sampling")} = {parts} > decode {Part("decode")}");
    }

    [Fact]
    public void GenerateStreamsTextWithTheChatTemplate()
    {
        var r = CliRunner.Run("generate", "--model", TestModels.Bundled, "--chat", "--prompt", "What is 2+2?", "--max-tokens", "16");
        Assert.True(r.ExitCode == 0, r.StdErr);
        // --chat applies the model's template: SmolLM2's ChatML with its default system message, written out here.
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        int[] prompt = lm.Tokenize(SpecBench.ChatMl("What is 2+2?"));
        Assert.Equal(prompt, lm.TokenizeChat([new SelfSpec.Tokenization.ChatMessage("user", "What is 2+2?")]));
        var expected = lm.Generate(prompt, new SelfSpec.Decoding.GenerationOptions { MaxTokens = 16 });
        Assert.NotEmpty(expected.OutputTokens);
        Assert.Equal(lm.Tokenizer.Decode(expected.OutputTokens) + "\n", r.StdOut);
        Assert.Contains($"generated {expected.OutputTokens.Length} tokens", r.StdErr);
    }

    [Fact]
    public void NoThinkingAsksQwen3sTemplateForItsNonThinkingMode()
    {
        string path = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 5,
            extras: new TinyModels.Extras { Metadata = (w, _) => w.Add("tokenizer.chat_template", SelfSpec.Tests.Tokenization.ArchitectureChatTemplateTests.Qwen3) });
        int[] PromptTokens(params string[] flags)
        {
            var r = CliRunner.Run(["generate", "--model", path, "--chat", "--prompt", "What is 2+2?", "--max-tokens", "1", "--method", "ar", "--json", .. flags]);
            Assert.True(r.ExitCode == 0, r.StdErr);
            using var doc = JsonDocument.Parse(r.StdOut);
            return [.. doc.RootElement.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32())];
        }
        using var lm = LanguageModel.Load(path, threads: 1);
        ChatMessage[] messages = [new("user", "What is 2+2?")];
        int[] thinking = lm.TokenizeChat(messages), plain = lm.TokenizeChat(messages, new ChatTemplateOptions { EnableThinking = false });
        Assert.Equal(lm.Tokenize(lm.ChatTemplate.Apply(messages) + "<think>\n\n</think>\n\n"), plain);
        Assert.Equal(thinking, PromptTokens());
        Assert.Equal(plain, PromptTokens("--no-thinking"));
        AssertBadInput(CliRunner.Run("generate", "--model", path, "--prompt", "x", "--no-thinking"), "--chat");
    }

    [Fact]
    public void ExitLayersPastTheModelAreRefusedWithOneLine()
    {
        var r = CliRunner.Run("generate", "--model", TestModels.Bundled, "--prompt", "Hi", "--max-tokens", "2", "--method", "specbound", "--exit-layers", "99");
        Assert.True(r.ExitCode == 2, $"exit code {r.ExitCode}; stderr: {r.StdErr}");
        Assert.Contains("exit layer 99", r.StdErr);
        Assert.Single(r.StdErr.Trim().Split('\n'));
    }

    [Fact]
    public void InspectPrintsTheModel()
    {
        var r = CliRunner.Run("inspect", TestModels.Bundled);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("general.architecture = \"llama\"", r.StdOut);
        Assert.Contains("30 layers", r.StdOut);
        Assert.Contains("token_embd.weight", r.StdOut);
    }

    [Fact]
    public void MissingModelFileIsExitCode2()
    {
        var r = CliRunner.Run("generate", "--model", Path.Combine(_dir, "nope.gguf"), "--prompt", "x");
        AssertBadInput(r, "not found");
    }

    [Fact]
    public void CorruptFileIsExitCode2()
    {
        string path = Path.Combine(_dir, "corrupt.gguf");
        File.WriteAllBytes(path, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 37))]);
        AssertBadInput(CliRunner.Run("generate", "--model", path, "--prompt", "x"), "not a GGUF file");
        AssertBadInput(CliRunner.Run("inspect", path), "not a GGUF file");
    }

    [Fact]
    public void TruncatedModelIsExitCode2()
    {
        string path = Path.Combine(_dir, "truncated.gguf");
        using (var src = File.OpenRead(TestModels.Bundled))
        using (var dst = File.Create(path))
        {
            var buffer = new byte[3_000_000];
            src.ReadExactly(buffer);
            dst.Write(buffer);
        }
        AssertBadInput(CliRunner.Run("generate", "--model", path, "--prompt", "x"), "past the end of the file");
    }

    [Fact]
    public void UnsupportedArchitectureIsExitCode2()
    {
        string path = Path.Combine(_dir, "mamba.gguf");
        new GgufWriter().Add("general.architecture", "mamba").AddTensor("x", GgmlType.F32, [4], new byte[16]).WriteTo(path);
        AssertBadInput(CliRunner.Run("generate", "--model", path, "--prompt", "x"), "unsupported architecture 'mamba'");
    }

    [Fact]
    public void UnsupportedTensorTypeIsExitCode2()
    {
        // A tiny model with one IQ2_XXS matrix: a valid ggml type this engine does not run.
        string good = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 1);
        string path = Path.Combine(_dir, "iq2_xxs.gguf");
        using (var f = GgufFile.Open(good))
        {
            var w = new GgufWriter();
            foreach (string key in f.MetadataKeys) w.Add(key, f.Metadata[key]);
            foreach (var t in f.Tensors)
            {
                if (t.Name == "blk.0.attn_q.weight")
                    w.AddTensor(t.Name, GgmlType.IQ2_XXS, t.Dimensions, new byte[t.ElementCount / 256 * 66]);
                else
                    w.AddTensor(t.Name, t.Type, t.Dimensions, f.TensorBytes(t));
            }
            w.WriteTo(path);
        }
        AssertBadInput(CliRunner.Run("generate", "--model", path, "--prompt", "x"), "tensor 'blk.0.attn_q.weight' has unsupported type IQ2_XXS");
    }

    [Fact]
    public void PromptLongerThanTheContextIsExitCode2()
    {
        string path = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 2, new TinyModels.Shape(Context: 32));
        AssertBadInput(CliRunner.Run("generate", "--model", path, "--prompt", string.Concat(Enumerable.Repeat("ab cd ", 40))), "does not fit");
    }

    [Theory]
    [InlineData("--max-tokens", "many")]
    [InlineData("--method", "beam")]
    [InlineData("--no-such-flag", "1")]
    [InlineData("--temperature", "-1")]
    [InlineData("--top-p", "0")]
    [InlineData("--threads", "-3")]
    public void BadFlagsAreExitCode2(string flag, string value)
    {
        var r = CliRunner.Run("generate", "--model", TestModels.Bundled, "--prompt", "x", flag, value);
        Assert.Equal(2, r.ExitCode);
        Assert.False(string.IsNullOrWhiteSpace(r.StdErr));
        Assert.Equal(string.Empty, r.StdOut.Trim());
    }

    [Fact]
    public void MissingPromptIsExitCode2() =>
        AssertBadInput(CliRunner.Run("generate", "--model", TestModels.Bundled), "--prompt");

    private static void AssertBadInput(CliRunner.Result r, string messagePart)
    {
        Assert.True(r.ExitCode == 2, $"exit code {r.ExitCode}; stderr: {r.StdErr}");
        Assert.Contains(messagePart, r.StdErr);
        Assert.DoesNotContain("internal error", r.StdErr);
        Assert.DoesNotContain("   at ", r.StdErr); // no stack trace
    }
}
