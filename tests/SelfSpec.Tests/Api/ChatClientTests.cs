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

    [Fact]
    public async Task UnsupportedRolesAreRefused()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        using var client = new LanguageModelChatClient(lm);
        await Assert.ThrowsAsync<InvalidRequestException>(() => client.GetResponseAsync([new(ChatRole.Tool, "x")]));
    }
}
