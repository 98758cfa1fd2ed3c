using Microsoft.Extensions.AI;
using SelfSpec.Chat;
using SelfSpec.Decoding;

namespace SelfSpec.Tests.Api;

/// <summary>The <see cref="IChatClient"/> gives, streaming or not, exactly what generating from the chat template gives.</summary>
public sealed class ChatClientTests
{
    [Fact]
    public async Task StreamingAndNonStreamingEqualGenerate()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        var expected = lm.Generate(lm.TokenizeChat([new("system", "Be brief."), new("user", "What is 2+2?")]), new GenerationOptions { MaxTokens = 24 });
        Assert.Equal(lm.Tokenizer.Decode(expected.OutputTokens), expected.Text);

        using var client = new LanguageModelChatClient(lm);
        List<ChatMessage> messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "What is 2+2?")];
        var options = new ChatOptions { MaxOutputTokens = 24 };
        var response = await client.GetResponseAsync(messages, options);
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(expected.OutputTokens.Length, response.Usage!.OutputTokenCount);
        Assert.Equal(expected.PromptTokens.Length, response.Usage.InputTokenCount);
        Assert.NotNull(response.FinishReason);

        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await foreach (var u in client.GetStreamingResponseAsync(messages, options))
        {
            text.Append(u.Text);
            finish ??= u.FinishReason;
            usage ??= u.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        }
        Assert.Equal(expected.Text, text.ToString());
        Assert.Equal(response.FinishReason, finish);
        // The second identical call reuses the first's session: all but the last prompt token come from its cache.
        Assert.Equal(expected.PromptTokens.Length - 1, usage!.CachedInputTokenCount);
    }

    /// <summary>The additional property enable_thinking reaches the chat template (Qwen3's, on a tiny model that carries it).</summary>
    [Fact]
    public async Task EnableThinkingReachesTheTemplate()
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, SelfSpec.Quantization.GgmlType.Q8_0, seed: 5,
                extras: new TinyModels.Extras { Metadata = (w, _) => w.Add("tokenizer.chat_template", Tokenization.ArchitectureChatTemplateTests.Qwen3) });
            using var lm = LanguageModel.Load(path, threads: 1);
            using var client = new LanguageModelChatClient(lm);
            SelfSpec.Tokenization.ChatMessage[] template = [new("user", "What is 2+2?")];
            int thinking = lm.TokenizeChat(template).Length;
            int plain = lm.TokenizeChat(template, new SelfSpec.Tokenization.ChatTemplateOptions { EnableThinking = false }).Length;
            Assert.True(plain > thinking);
            async Task<long?> InputTokens(ChatOptions o) => (await client.GetResponseAsync([new(ChatRole.User, "What is 2+2?")], o)).Usage!.InputTokenCount;
            Assert.Equal(thinking, await InputTokens(new ChatOptions { MaxOutputTokens = 1 }));
            Assert.Equal(plain, await InputTokens(new ChatOptions { MaxOutputTokens = 1, AdditionalProperties = new() { ["enable_thinking"] = false } }));
            Assert.Equal(thinking, await InputTokens(new ChatOptions { MaxOutputTokens = 1, AdditionalProperties = new() { ["enable_thinking"] = true } }));
            var e = await Assert.ThrowsAsync<InvalidRequestException>(() =>
                client.GetResponseAsync([new(ChatRole.User, "x")], new ChatOptions { AdditionalProperties = new() { ["enable_thinking"] = "no" } }));
            Assert.Contains("enable_thinking", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task UnsupportedRolesAreRefused()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        using var client = new LanguageModelChatClient(lm);
        await Assert.ThrowsAsync<InvalidRequestException>(() => client.GetResponseAsync([new(ChatRole.Tool, "x")]));
    }
}
