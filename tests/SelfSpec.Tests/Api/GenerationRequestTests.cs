using Microsoft.Extensions.AI;
using SelfSpec.Chat;
using SelfSpec.Decoding;
using TemplateMessage = SelfSpec.Tokenization.ChatMessage;

namespace SelfSpec.Tests.Api;

/// <summary>
/// The one request path of the server's routes and the chat client: prompt and output limits against the context,
/// errors naming the input, and the session pool keeping each conversation's cache.
/// </summary>
public sealed class GenerationRequestTests
{
    [Fact]
    public void LimitsAreCheckedAgainstTheContextAndErrorsNameTheInput()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        List<TemplateMessage> chat = [new("user", "Hello there")];
        var request = GenerationRequest.ForChat(lm, chat, new GenerationOptions { MaxTokens = int.MaxValue }, contextLength: 100);
        Assert.Equal(lm.TokenizeChat(chat), request.Prompt);
        Assert.Equal(100 - request.Prompt.Length, request.Options.MaxTokens); // no limit asked: the rest of the context
        Assert.NotNull(request.Options.Speculation); // resolved against the model

        var e = Assert.Throws<InvalidRequestException>(() => GenerationRequest.ForChat(lm, chat, new GenerationOptions(), maxTokens: 100, contextLength: 100));
        Assert.Equal(("max_tokens", "context_length_exceeded"), (e.Param, e.Code));
        e = Assert.Throws<InvalidRequestException>(() => GenerationRequest.ForText(lm, string.Concat(Enumerable.Repeat("word ", 200)), new GenerationOptions(), contextLength: 100));
        Assert.Equal(("prompt", "context_length_exceeded"), (e.Param, e.Code));
        e = Assert.Throws<InvalidRequestException>(() => GenerationRequest.ForTokens(lm, [1, lm.Config.VocabSize], new GenerationOptions()));
        Assert.Equal("prompt", e.Param);
        e = Assert.Throws<InvalidRequestException>(() => GenerationRequest.ForChat(lm, [new("tool", "x")], new GenerationOptions()));
        Assert.Equal("messages", e.Param);
        e = Assert.Throws<InvalidRequestException>(() => GenerationRequest.ForChat(lm, chat, new GenerationOptions { TopLogprobs = 30 }));
        Assert.Equal("options", e.Param);
    }

    [Fact]
    public async Task TheChatClientKeepsTwoInterleavedConversationsCaches()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        using var client = new LanguageModelChatClient(lm, new GenerationOptions { MaxTokens = 8, Method = DecodingMethod.Autoregressive });
        List<ChatMessage> a = [new(ChatRole.User, "Tell me about cats.")], b = [new(ChatRole.User, "Tell me about dogs.")];
        var firstPrompt = new long[2];
        for (int i = 0; i < 2; i++)
        {
            var first = await client.GetResponseAsync(i == 0 ? a : b);
            firstPrompt[i] = first.Usage!.InputTokenCount!.Value;
            (i == 0 ? a : b).AddRange(first.Messages);
        }
        for (int i = 0; i < 2; i++)
        {
            var conversation = i == 0 ? a : b;
            conversation.Add(new(ChatRole.User, "More."));
            var response = await client.GetResponseAsync(conversation);
            // The earlier turn's whole prompt is reused, not only the template's opening the two conversations share.
            Assert.True(response.Usage!.CachedInputTokenCount >= firstPrompt[i], $"cached {response.Usage.CachedInputTokenCount} of the first turn's {firstPrompt[i]}");
        }
    }
}
