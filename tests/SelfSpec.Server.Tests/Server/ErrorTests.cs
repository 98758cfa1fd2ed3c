using System.Net;

namespace SelfSpec.Server.Tests.Server;

/// <summary>Every refusal has OpenAI's error shape, the right status and names the field at fault.</summary>
[Collection(ServerCollection.Name)]
public sealed class ErrorTests(ModelFixture fx)
{
    private const string Chat = "/v1/chat/completions";
    private const string Text = "/v1/completions";
    private const string User = """[{"role":"user","content":"hi"}]""";

    [Theory]
    [InlineData(Chat, "{", null)]
    [InlineData(Chat, "[1,2]", null)]
    [InlineData(Chat, "{}", "messages")]
    [InlineData(Chat, """{"messages":"hi"}""", "messages")]
    [InlineData(Chat, """{"messages":[]}""", "messages")]
    [InlineData(Chat, """{"messages":[{"content":"x"}]}""", "messages[0].role")]
    [InlineData(Chat, """{"messages":[{"role":"tool","content":"x"}]}""", "messages[0].role")]
    [InlineData(Chat, """{"messages":[{"role":"user","content":5}]}""", "messages[0].content")]
    [InlineData(Chat, """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0].type")]
    [InlineData(Chat, """{"messages":USER,"temperature":3}""", "temperature")]
    [InlineData(Chat, """{"messages":USER,"temperature":"hot"}""", "temperature")]
    [InlineData(Chat, """{"messages":USER,"top_p":0}""", "top_p")]
    [InlineData(Chat, """{"messages":USER,"top_k":-1}""", "top_k")]
    [InlineData(Chat, """{"messages":USER,"min_p":1.5}""", "min_p")]
    [InlineData(Chat, """{"messages":USER,"repeat_penalty":0}""", "repeat_penalty")]
    [InlineData(Chat, """{"messages":USER,"seed":"x"}""", "seed")]
    [InlineData(Chat, """{"messages":USER,"max_tokens":0}""", "max_tokens")]
    [InlineData(Chat, """{"messages":USER,"max_tokens":2.5}""", "max_tokens")]
    [InlineData(Chat, """{"messages":USER,"max_completion_tokens":-3}""", "max_completion_tokens")]
    [InlineData(Chat, """{"messages":USER,"max_tokens":1000000}""", "max_tokens")]
    [InlineData(Chat, """{"messages":USER,"n":2}""", "n")]
    [InlineData(Chat, """{"messages":USER,"tools":[{"type":"function","function":{"name":"f"}}]}""", "tools")]
    [InlineData(Chat, """{"messages":USER,"response_format":{"type":"json_object"}}""", "response_format")]
    [InlineData(Chat, """{"messages":USER,"logprobs":"yes"}""", "logprobs")]
    [InlineData(Chat, """{"messages":USER,"logprobs":true,"top_logprobs":21}""", "top_logprobs")]
    [InlineData(Chat, """{"messages":USER,"logprobs":true,"top_logprobs":-1}""", "top_logprobs")]
    [InlineData(Chat, """{"messages":USER,"logprobs":true,"top_logprobs":1.5}""", "top_logprobs")]
    [InlineData(Chat, """{"messages":USER,"top_logprobs":2}""", "top_logprobs")]
    [InlineData(Chat, """{"messages":USER,"stream":"yes"}""", "stream")]
    [InlineData(Chat, """{"messages":USER,"stream_options":{"include_usage":true}}""", "stream_options")]
    [InlineData(Chat, """{"messages":USER,"stop":5}""", "stop")]
    [InlineData(Chat, """{"messages":USER,"stop":[""]}""", "stop")]
    [InlineData(Chat, """{"messages":USER,"selfspec":{"method":"fast"}}""", "selfspec.method")]
    [InlineData(Chat, """{"messages":USER,"selfspec":{"w_max":0}}""", "selfspec")]
    [InlineData(Chat, """{"messages":USER,"selfspec":{"exit_layers":[99]}}""", "selfspec")]
    [InlineData(Chat, """{"messages":USER,"selfspec":{"turbo":true}}""", "selfspec.turbo")]
    [InlineData(Chat, """{"messages":USER,"chat_template_kwargs":5}""", "chat_template_kwargs")]
    [InlineData(Chat, """{"messages":USER,"chat_template_kwargs":{"enable_thinking":"no"}}""", "chat_template_kwargs.enable_thinking")]
    [InlineData(Text, "{}", "prompt")]
    [InlineData(Text, """{"prompt":5}""", "prompt")]
    [InlineData(Text, """{"prompt":["a","b"]}""", "prompt")]
    [InlineData(Text, """{"prompt":"hi","logprobs":21}""", "logprobs")]
    [InlineData(Text, """{"prompt":"hi","logprobs":-1}""", "logprobs")]
    [InlineData(Text, """{"prompt":"hi","logprobs":true}""", "logprobs")]
    [InlineData(Text, """{"prompt":"hi","echo":true}""", "echo")]
    public async Task BadRequestsAre400NamingTheField(string path, string body, string? param)
    {
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, path, body.Replace("USER", User, StringComparison.Ordinal));
        var error = await Http.ReadErrorAsync(response, 400);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        if (param != null) Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task TokenIdsOutsideTheVocabularyAre400()
    {
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, Text, """{"prompt":[1,2,99999999]}""");
        await Http.ReadErrorAsync(response, 400);
    }

    [Fact]
    public async Task UnknownModelIs404ModelNotFound()
    {
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, Chat, $$"""{"model":"gpt-4o","messages":{{User}}}""");
        var error = await Http.ReadErrorAsync(response, 404);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("GET", "/v1/nothing")]
    [InlineData("POST", "/v2/chat/completions")]
    [InlineData("GET", "/v1/chat/completions")]
    [InlineData("DELETE", "/health")]
    public async Task UnknownRoutesAre404(string method, string path)
    {
        using var client = fx.Server.CreateClient();
        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        int status = (int)response.StatusCode;
        Assert.True(status is 404 or 405, $"status {status}");
        await Http.ReadErrorAsync(response, status);
    }

    [Fact]
    public async Task PromptLongerThanTheContextIs400WithTheCounts()
    {
        using var server = new ServerFactory(new ServerOptions { ContextLength = 32 }, fx.Model);
        using var client = server.CreateClient();
        string prompt = string.Join(' ', Enumerable.Repeat("word", 100));
        using var response = await Http.PostAsync(client, Text, $$"""{"prompt":"{{prompt}}","max_tokens":4}""");
        var error = await Http.ReadErrorAsync(response, 400);
        string message = error.GetProperty("message").GetString()!;
        int tokens = fx.Model.Tokenize(prompt).Length;
        Assert.Contains($"{tokens} tokens", message);
        Assert.Contains("32", message);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());

        using var tooMany = await Http.PostAsync(client, Text, """{"prompt":"Hello","max_tokens":40}""");
        error = await Http.ReadErrorAsync(tooMany, 400);
        Assert.Equal("max_tokens", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task BodyOverTheLimitIs413()
    {
        using var server = new ServerFactory(new ServerOptions { MaxBodyBytes = 2048 }, fx.Model);
        using var client = server.CreateClient();
        string big = new('x', 5000);
        using var response = await Http.PostAsync(client, Chat, $$"""{"messages":[{"role":"user","content":"{{big}}"}]}""");
        await Http.ReadErrorAsync(response, 413);
    }

    [Fact]
    public async Task ApiKeyGuardsAllButHealthModelsAndThePage()
    {
        using var server = new ServerFactory(new ServerOptions { ApiKey = "sekret" }, fx.Model);
        using var client = server.CreateClient();
        string body = $$"""{"messages":{{User}},"max_tokens":2}""";

        using (var none = await Http.PostAsync(client, Chat, body))
            Assert.Equal("invalid_api_key", (await Http.ReadErrorAsync(none, 401)).GetProperty("code").GetString());
        using (var wrong = await Http.PostAsync(client, Chat, body, key: "sekreT"))
            await Http.ReadErrorAsync(wrong, 401);
        using (var prefix = await Http.PostAsync(client, Chat, body, key: "sekre"))
            await Http.ReadErrorAsync(prefix, 401);
        using (var right = await Http.PostAsync(client, Chat, body, key: "sekret"))
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        using (var metrics = await client.GetAsync("/metrics"))
            await Http.ReadErrorAsync(metrics, 401);
        foreach (string open in new[] { "/health", "/v1/models", "/" })
        {
            using var r = await client.GetAsync(open);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
    }
}
