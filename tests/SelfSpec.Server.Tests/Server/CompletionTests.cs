using System.Text;
using System.Text.Json;
using SelfSpec.Tokenization;

namespace SelfSpec.Server.Tests.Server;

/// <summary>Chat and text completions over HTTP give exactly the library's greedy output, whole or streamed.</summary>
[Collection(ServerCollection.Name)]
public sealed class CompletionTests(ModelFixture fx)
{
    private const string Messages = """[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"What is 2+2?"}]}]""";
    private static readonly ChatMessage[] TemplateMessages = [new("system", "Be brief."), new("user", "What is 2+2?")];

    /// <summary>
    /// chat_template_kwargs.enable_thinking reaches the template (Qwen3's non-thinking mode); other keys are ignored,
    /// and the bundled model's ChatML, which has no thinking tags, renders the same prompt either way.
    /// </summary>
    [Fact]
    public async Task ChatTemplateKwargsReachTheTemplate()
    {
        var parsed = Protocol.RequestParser.Parse(Encoding.UTF8.GetBytes(
            $$$"""{"messages":{{{Messages}}},"chat_template_kwargs":{"enable_thinking":false,"custom":1}}"""), chat: true);
        Assert.False(parsed.TemplateOptions.EnableThinking);
        Assert.True(Protocol.RequestParser.Parse(Encoding.UTF8.GetBytes($$"""{"messages":{{Messages}}}"""), chat: true).TemplateOptions.EnableThinking);

        var noThinking = new ChatTemplateOptions { EnableThinking = false };
        var expected = fx.Greedy(fx.Model.TokenizeChat(TemplateMessages, noThinking), 12);
        Assert.Equal(fx.Model.TokenizeChat(TemplateMessages), expected.PromptTokens);
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, "/v1/chat/completions",
            $$$"""{"messages":{{{Messages}}},"max_tokens":12,"chat_template_kwargs":{"enable_thinking":false}}""");
        Assert.Equal(200, (int)response.StatusCode);
        var json = await Http.ReadJsonAsync(response);
        Assert.Equal(expected.Text, json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal(expected.PromptTokens.Length, json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task ChatGreedyEqualsLibrary()
    {
        var expected = fx.Greedy(fx.Model.TokenizeChat(TemplateMessages), 24);
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, "/v1/chat/completions", $$"""{"model":"smol","messages":{{Messages}},"max_tokens":24,"temperature":0}""");
        Assert.Equal(200, (int)response.StatusCode);
        var json = await Http.ReadJsonAsync(response);
        Assert.Equal("chat.completion", json.GetProperty("object").GetString());
        Assert.Equal("smol", json.GetProperty("model").GetString());
        var choice = json.GetProperty("choices")[0];
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal(expected.Text, choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal(expected.FinishReason == Decoding.FinishReason.Length ? "length" : "stop", choice.GetProperty("finish_reason").GetString());
        var usage = json.GetProperty("usage");
        Assert.Equal(expected.PromptTokens.Length, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(expected.OutputTokens.Length, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(expected.PromptTokens.Length + expected.OutputTokens.Length, usage.GetProperty("total_tokens").GetInt32());
        Assert.True(usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() >= 0);
        var timings = json.GetProperty("timings");
        foreach (string f in new[] { "prompt_n", "prompt_ms", "predicted_n", "predicted_ms", "predicted_per_second", "draft_n", "draft_n_accepted" })
            Assert.Equal(JsonValueKind.Number, timings.GetProperty(f).ValueKind);
        Assert.Equal(expected.OutputTokens.Length, timings.GetProperty("predicted_n").GetInt32());
        var stats = json.GetProperty("selfspec");
        Assert.Equal("hybrid", stats.GetProperty("method").GetString());
        Assert.Equal(JsonValueKind.Number, stats.GetProperty("mean_accepted_length").ValueKind);
    }

    [Theory]
    [InlineData("ar")]
    [InlineData("specbound")]
    [InlineData("lookup")]
    public async Task CompletionGreedyEqualsLibraryWithEveryMethod(string method)
    {
        const string prompt = "The capital of France is";
        var expected = fx.Greedy(fx.Model.Tokenize(prompt), 20);
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, "/v1/completions",
            $$$"""{"model":"{{{fx.ModelId}}}","prompt":"{{{prompt}}}","max_tokens":20,"temperature":0,"selfspec":{"method":"{{{method}}}","w_max":3}}""");
        Assert.Equal(200, (int)response.StatusCode);
        var json = await Http.ReadJsonAsync(response);
        Assert.Equal("text_completion", json.GetProperty("object").GetString());
        Assert.Equal(expected.Text, json.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(method, json.GetProperty("selfspec").GetProperty("method").GetString());
    }

    [Fact]
    public async Task StopSequenceIsNeverEmitted()
    {
        const string prompt = "Once upon a time";
        var free = fx.Greedy(fx.Model.Tokenize(prompt), 40);
        // A stop text from the middle of the free-running output, likely spanning a token boundary.
        string stop = free.Text.Substring(free.Text.Length / 2, 3);
        var expected = fx.Greedy(fx.Model.Tokenize(prompt), 40, [stop]);
        using var client = fx.Server.CreateClient();
        string body = JsonSerializer.Serialize(new { prompt, max_tokens = 40, stop = new[] { stop } });
        using var response = await Http.PostAsync(client, "/v1/completions", body);
        var json = await Http.ReadJsonAsync(response);
        string text = json.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.Equal(expected.Text, text);
        Assert.DoesNotContain(stop, text);
        Assert.Equal("stop", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        // Streamed, the stop text does not leak either.
        body = JsonSerializer.Serialize(new { prompt, max_tokens = 40, stop, stream = true });
        using var streamed = await Http.PostAsync(client, "/v1/completions", body);
        var data = Http.SseData(await streamed.Content.ReadAsStringAsync());
        var sb = new StringBuilder();
        foreach (string d in data[..^1])
            sb.Append(JsonDocument.Parse(d).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(expected.Text, sb.ToString());
    }

    [Fact]
    public async Task ChatStreamFramingRawBytes()
    {
        var expected = fx.Greedy(fx.Model.TokenizeChat(TemplateMessages), 24);
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, "/v1/chat/completions",
            $$$"""{"messages":{{{Messages}}},"max_tokens":24,"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        byte[] raw = await response.Content.ReadAsByteArrayAsync();
        string body = Encoding.UTF8.GetString(raw);
        Assert.DoesNotContain("event:", body);
        Assert.StartsWith("data: {", body);
        Assert.EndsWith("\n\ndata: [DONE]\n\n", body);
        var data = Http.SseData(body);
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonDocument.Parse(d).RootElement).ToArray();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());

        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(expected.OutputTokens.Length, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(expected.PromptTokens.Length, usageChunk.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var last = chunks[^2];
        Assert.NotEqual(JsonValueKind.Null, last.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind);
        Assert.Equal(expected.OutputTokens.Length, last.GetProperty("timings").GetProperty("predicted_n").GetInt32());
        Assert.True(last.TryGetProperty("selfspec", out _));
        var text = new StringBuilder();
        foreach (var c in chunks[..^2])
        {
            var choice = c.GetProperty("choices")[0];
            Assert.Equal(JsonValueKind.Null, choice.GetProperty("finish_reason").ValueKind);
            if (choice.GetProperty("delta").TryGetProperty("content", out var content)) text.Append(content.GetString());
        }
        Assert.Equal(expected.Text, text.ToString());
    }

    [Fact]
    public async Task StreamWithoutUsageOptionHasNoUsageChunk()
    {
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, "/v1/completions", """{"prompt":"Hello","max_tokens":5,"stream":true}""");
        var data = Http.SseData(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", data[^1]);
        Assert.All(data[..^1], d => Assert.Equal(1, JsonDocument.Parse(d).RootElement.GetProperty("choices").GetArrayLength()));
        Assert.DoesNotContain(data[..^1], d => JsonDocument.Parse(d).RootElement.TryGetProperty("usage", out _));
    }

    [Fact]
    public async Task ConversationContinuationReusesTheSession()
    {
        using var client = fx.Server.CreateClient();
        const string first = """[{"role":"user","content":"Name a color."}]""";
        using var r1 = await Http.PostAsync(client, "/v1/chat/completions", $$"""{"messages":{{first}},"max_tokens":12}""");
        var j1 = await Http.ReadJsonAsync(r1);
        string reply = j1.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        int promptTokens = j1.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();

        string second = JsonSerializer.Serialize(new object[]
        {
            new { role = "user", content = "Name a color." }, new { role = "assistant", content = reply }, new { role = "user", content = "Another one." },
        });
        using var r2 = await Http.PostAsync(client, "/v1/chat/completions", $$"""{"messages":{{second}},"max_tokens":12}""");
        var j2 = await Http.ReadJsonAsync(r2);
        int cached = j2.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(cached >= promptTokens, $"cached {cached} of the second prompt, the first had {promptTokens}");
        Assert.Equal(cached, j2.GetProperty("timings").GetProperty("cache_n").GetInt32());
        // Reused or not, the answer is the library's for the whole conversation.
        var expected = fx.Greedy(fx.Model.TokenizeChat([new("user", "Name a color."), new("assistant", reply), new("user", "Another one.")]), 12);
        Assert.Equal(expected.Text, j2.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task SamplingFieldsReachTheSampler()
    {
        const string prompt = "My favourite food is";
        var sampling = new Sampling.SamplingOptions { Temperature = 0.9f, TopK = 40, TopP = 0.95f, MinP = 0.05f, RepetitionPenalty = 1.1f, Seed = 1234 };
        var expected = fx.Model.Generate(fx.Model.Tokenize(prompt),
            new Decoding.GenerationOptions { MaxTokens = 16, Sampling = sampling, Method = Decoding.DecodingMethod.Autoregressive });
        using var client = fx.Server.CreateClient();
        string body = """{"prompt":"My favourite food is","max_tokens":16,"temperature":0.9,"top_k":40,"top_p":0.95,"min_p":0.05,"repeat_penalty":1.1,"seed":1234,"selfspec":{"method":"ar"}}""";
        using var response = await Http.PostAsync(client, "/v1/completions", body);
        var json = await Http.ReadJsonAsync(response);
        Assert.Equal(expected.Text, json.GetProperty("choices")[0].GetProperty("text").GetString());
        // Another seed gives the library's text for that seed: the seed is used, not ignored.
        var expected99 = fx.Model.Generate(fx.Model.Tokenize(prompt),
            new Decoding.GenerationOptions { MaxTokens = 16, Sampling = sampling with { Seed = 99 }, Method = Decoding.DecodingMethod.Autoregressive });
        using var other = await Http.PostAsync(client, "/v1/completions", body.Replace("1234", "99", StringComparison.Ordinal));
        Assert.Equal(expected99.Text, (await Http.ReadJsonAsync(other)).GetProperty("choices")[0].GetProperty("text").GetString());
        // And sampling is not greedy in disguise.
        Assert.NotEqual(fx.Greedy(fx.Model.Tokenize(prompt), 16).Text, expected.Text);
    }
}
