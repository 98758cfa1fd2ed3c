using SelfSpec.Decoding;
using SelfSpec.Tokenization;

namespace SelfSpec.Tests.Api;

/// <summary>Sessions on one shared model: concurrency, reuse of a conversation's cache, validation against the model.</summary>
public sealed class SessionTests
{
    private const int Tokens = 32;

    [Fact]
    public void FourSessionsOnFourThreadsEachGiveTheirSoloOutput()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        string[] prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,", "List three colors: red,"];
        DecodingMethod[] methods = [DecodingMethod.Autoregressive, DecodingMethod.Hybrid, DecodingMethod.SpecBound, DecodingMethod.Lookup];
        var options = prompts.Select((_, i) => new GenerationOptions { MaxTokens = Tokens, Method = methods[i] }).ToArray();
        var solo = prompts.Select((p, i) => lm.Generate(lm.Tokenize(p), options[i]).OutputTokens).ToArray();

        var sessions = prompts.Select(_ => lm.CreateSession()).ToArray();
        var together = new int[prompts.Length][];
        using var start = new Barrier(prompts.Length);
        var threads = prompts.Select((p, i) => new Thread(() =>
        {
            start.SignalAndWait();
            together[i] = sessions[i].Generate(lm.Tokenize(p), options[i]).OutputTokens;
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        for (int i = 0; i < prompts.Length; i++) Assert.Equal(solo[i], together[i]);
    }

    [Theory]
    [InlineData(DecodingMethod.Autoregressive)]
    [InlineData(DecodingMethod.Hybrid)]
    public void ASecondChatTurnPrefillsOnlyTheNewTokensAndEqualsAFreshRun(DecodingMethod method)
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        var options = new GenerationOptions { MaxTokens = Tokens, Method = method };
        var session = lm.CreateSession();
        List<ChatMessage> chat = [new("user", "What is the capital of France?")];
        var first = session.Generate(lm.TokenizeChat(chat), options);
        Assert.Equal(first.PromptTokens.Length, first.Stats.PrefillTokens);

        chat.Add(new("assistant", first.Text));
        chat.Add(new("user", "And of Italy?"));
        int[] second = lm.TokenizeChat(chat);
        int common = second.AsSpan().CommonPrefixLength(session.CachedTokens.ToArray());
        Assert.True(common > first.PromptTokens.Length, $"the second turn shares only {common} tokens with the first");

        var continued = session.Generate(second, options);
        Assert.Equal(second.Length - common, continued.Stats.PrefillTokens);
        Assert.Equal(common, continued.Stats.CachedPromptTokens);
        var fresh = lm.Generate(second, options);
        Assert.Equal(second.Length, fresh.Stats.PrefillTokens);
        Assert.Equal(fresh.OutputTokens, continued.OutputTokens);
    }

    [Fact]
    public void AGrownCacheKeepsWhatItHeld()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        var session = lm.CreateSession();
        int[] prompt = lm.Tokenize("The quick brown fox jumps over the lazy dog. The quick brown fox");
        session.Generate(prompt, new GenerationOptions { MaxTokens = 4, Method = DecodingMethod.Autoregressive });
        // The same prompt and more, with a longer answer: the cache must grow, keeping the prefix.
        int[] longer = [.. session.CachedTokens, .. lm.Tokenize(" jumps again and again")[1..]];
        var options = new GenerationOptions { MaxTokens = 64, Method = DecodingMethod.Hybrid };
        var continued = session.Generate(longer, options);
        Assert.True(continued.Stats.CachedPromptTokens > prompt.Length);
        Assert.Equal(lm.Generate(longer, options).OutputTokens, continued.OutputTokens);
    }

    [Fact]
    public void ExitLayersBeyondTheModelAreRefused()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        var bad = new GenerationOptions { Method = DecodingMethod.SpecBound, Speculation = new SpeculationOptions { ExitLayers = [4, 99] } };
        var e = Assert.Throws<InvalidRequestException>(() => lm.Generate(lm.Tokenize("Hi"), bad));
        Assert.Contains("99", e.Message);
        Assert.Throws<InvalidRequestException>(() => lm.Validate(new GenerationOptions { Speculation = new SpeculationOptions { StaticExitLayer = 30 } }));
        lm.Validate(new GenerationOptions { Speculation = new SpeculationOptions { ExitLayers = [29] } });
    }
}
