using System.ClientModel;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using SelfSpec.Chat;
using TemplateMessage = SelfSpec.Tokenization.ChatMessage;

namespace SelfSpec.Server.Tests.Server;

/// <summary>
/// Real clients against the real (Kestrel) server on a free loopback port: the official OpenAI .NET client, streaming
/// and not, and Microsoft.Extensions.AI's chat client over it, each giving the library's greedy text.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ClientTests(ModelFixture fx)
{
    private const string Key = "test-key";

    private async Task<(WebApplication App, Uri Endpoint)> StartAsync()
    {
        var app = SelfSpecServer.Build(new ServerOptions { Port = 0, ApiKey = Key, Alias = "smol" }, fx.Model);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Assert.StartsWith("http://127.0.0.1:", address);
        return (app, new Uri(address.TrimEnd('/') + "/v1"));
    }

    private ChatClient OpenAiChat(Uri endpoint) => new("smol", new ApiKeyCredential(Key), new OpenAIClientOptions { Endpoint = endpoint });

    [Fact]
    public async Task OpenAiClientStreamingAndNotEqualsLibraryGreedy()
    {
        var expected = fx.Greedy(fx.Model.TokenizeChat([new TemplateMessage("system", "Be brief."), new TemplateMessage("user", "What is 2+2?")]), 24);
        var (app, endpoint) = await StartAsync();
        await using (app)
        {
            var chat = OpenAiChat(endpoint);
            OpenAI.Chat.ChatMessage[] messages = [new SystemChatMessage("Be brief."), new UserChatMessage("What is 2+2?")];
            var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };
            ChatCompletion completion = await chat.CompleteChatAsync(messages, options);
            Assert.Equal(expected.Text, completion.Content[0].Text);
            Assert.Equal(expected.OutputTokens.Length, completion.Usage.OutputTokenCount);
            Assert.Equal(expected.PromptTokens.Length, completion.Usage.InputTokenCount);

            var text = new StringBuilder();
            OpenAI.Chat.ChatFinishReason? finish = null;
            ChatTokenUsage? usage = null;
            await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
            {
                foreach (var part in update.ContentUpdate) text.Append(part.Text);
                finish ??= update.FinishReason;
                usage ??= update.Usage;
            }
            Assert.Equal(expected.Text, text.ToString());
            Assert.Equal(completion.FinishReason, finish);
            Assert.Equal(expected.OutputTokens.Length, usage?.OutputTokenCount);

            var wrongKey = new ChatClient("smol", new ApiKeyCredential("nope"), new OpenAIClientOptions { Endpoint = endpoint });
            var e = await Assert.ThrowsAsync<ClientResultException>(() => wrongKey.CompleteChatAsync(messages, options));
            Assert.Equal(401, e.Status);
        }
    }

    [Fact]
    public async Task OpenAiClientReadsLogprobs()
    {
        var prompt = fx.Model.TokenizeChat([new TemplateMessage("user", "What is 2+2?")]);
        var expected = fx.Model.Generate(prompt, new Decoding.GenerationOptions { MaxTokens = 12, Method = Decoding.DecodingMethod.Autoregressive, TopLogprobs = 4 });
        var (app, endpoint) = await StartAsync();
        await using (app)
        {
            var chat = OpenAiChat(endpoint);
            var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12, IncludeLogProbabilities = true, TopLogProbabilityCount = 4 };
            ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("What is 2+2?")], options);
            var logprobs = completion.ContentTokenLogProbabilities;
            Assert.Equal(expected.OutputTokens.Length, logprobs.Count);
            for (int i = 0; i < logprobs.Count; i++)
            {
                Assert.Equal(expected.Logprobs![i].Logprob, logprobs[i].LogProbability);
                Assert.Equal(fx.Model.Tokenizer.TokenBytes(expected.OutputTokens[i]), logprobs[i].Utf8Bytes!.Value.ToArray());
                Assert.Equal(4, logprobs[i].TopLogProbabilities.Count);
                Assert.Equal(expected.Logprobs[i].Top.Select(t => t.Logprob), logprobs[i].TopLogProbabilities.Select(t => t.LogProbability));
            }

            var streamed = new List<ChatTokenLogProbabilityDetails>();
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("What is 2+2?")], options))
                streamed.AddRange(update.ContentTokenLogProbabilities);
            Assert.Equal(logprobs.Select(l => l.LogProbability), streamed.Select(l => l.LogProbability));
            Assert.Equal(logprobs.Select(l => l.Token), streamed.Select(l => l.Token));
        }
    }

    [Fact]
    public async Task ExtensionsAiChatClientOverTheServerEqualsTheLibraryChatClient()
    {
        var (app, endpoint) = await StartAsync();
        await using (app)
        {
            List<Microsoft.Extensions.AI.ChatMessage> messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Name a fruit.")];
            var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 20 };
            using var local = new LanguageModelChatClient(fx.Model);
            var expected = await local.GetResponseAsync(messages, options);

            IChatClient remote = OpenAiChat(endpoint).AsIChatClient();
            var response = await remote.GetResponseAsync(messages, options);
            Assert.Equal(expected.Text, response.Text);
            Assert.Equal(expected.Usage!.OutputTokenCount, response.Usage!.OutputTokenCount);
            Assert.Equal(expected.FinishReason, response.FinishReason);

            var text = new StringBuilder();
            await foreach (var u in remote.GetStreamingResponseAsync(messages, options)) text.Append(u.Text);
            Assert.Equal(expected.Text, text.ToString());
        }
    }
}
