using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SelfSpec.Server.Generation;

namespace SelfSpec.Server.Tests.Server;

/// <summary>Loading, the informational routes, the queue, failures inside the engine and clients that go away.</summary>
[Collection(ServerCollection.Name)]
public sealed class LifecycleTests(ModelFixture fx)
{
    private const string Counting = """{"prompt":"1, 2, 3, 4, 5, 6, 7, 8,","max_tokens":4000,"stream":true,"selfspec":{"method":"ar"}}""";

    [Fact]
    public async Task HealthModelsMetricsAndPage()
    {
        using var client = fx.Server.CreateClient();
        using (var health = await client.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("ok", (await Http.ReadJsonAsync(health)).GetProperty("status").GetString());
        }
        using (var models = await client.GetAsync("/v1/models"))
        {
            var json = await Http.ReadJsonAsync(models);
            Assert.Equal("list", json.GetProperty("object").GetString());
            var ids = json.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
            Assert.Equal(["smol", fx.ModelId], ids);
        }
        using (var done = await Http.PostAsync(client, "/v1/completions", """{"prompt":"Hello","max_tokens":3}"""))
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        using (var bad = await Http.PostAsync(client, "/v1/completions", "{"))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using (var metrics = await client.GetAsync("/metrics"))
        {
            Assert.Equal("text/plain", metrics.Content.Headers.ContentType?.MediaType);
            string text = await metrics.Content.ReadAsStringAsync();
            Assert.Contains("selfspec:http_requests_total{route=\"/v1/completions\",status=\"200\"}", text);
            Assert.Contains("selfspec:http_requests_total{route=\"/v1/completions\",status=\"400\"}", text);
            foreach (string name in new[] { "selfspec:prompt_tokens_total", "selfspec:tokens_predicted_total", "selfspec:requests_deferred",
                         "selfspec:predicted_tokens_seconds", "selfspec:n_decode_total", "selfspec:n_draft_total", "selfspec:n_draft_accepted_total" })
                Assert.Contains($"\n{name} ", text);
        }
        using (var page = await client.GetAsync("/"))
        {
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            string html = await page.Content.ReadAsStringAsync();
            Assert.Contains("/v1/chat/completions", html);
            Assert.Contains("tokens/s", html);
        }
    }

    [Fact]
    public async Task HealthIs503WhileTheModelIsMissingThen200OnceLoaded()
    {
        using (var missing = new ServerFactory(new ServerOptions { ModelPath = "/nonexistent/model.gguf" }, model: null))
        {
            using var client = missing.CreateClient();
            using var health = await client.GetAsync("/health");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            using var chat = await Http.PostAsync(client, "/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}""");
            await Http.ReadErrorAsync(chat, 503);
        }
        using var loading = new ServerFactory(new ServerOptions { ModelPath = fx.Model.Path, Threads = 1 }, model: null);
        using var c = loading.CreateClient();
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 600 && statuses.LastOrDefault() != HttpStatusCode.OK; i++)
        {
            using var r = await c.GetAsync("/health");
            statuses.Add(r.StatusCode);
            if (r.StatusCode != HttpStatusCode.OK) await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.OK, statuses[^1]);
        Assert.All(statuses[..^1], s => Assert.Equal(HttpStatusCode.ServiceUnavailable, s));
    }

    [Fact]
    public async Task QueueFullIs429WithRetryAfterAndCancellingFreesTheEngine()
    {
        using var server = new ServerFactory(new ServerOptions { MaxQueue = 0 }, fx.Model);
        using var client = server.CreateClient();
        using var cts = new CancellationTokenSource();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = Http.Json(Counting) };
        var running = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, running.StatusCode);
        var stream = await running.Content.ReadAsStreamAsync(cts.Token);
        Assert.True(await stream.ReadAsync(new byte[64], cts.Token) > 0); // generating now

        string metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("\nselfspec:requests_processing 1\n", metrics);
        Assert.Contains("\nselfspec:requests_deferred 0\n", metrics);

        using (var refused = await Http.PostAsync(client, "/v1/completions", """{"prompt":"Hi","max_tokens":2}"""))
        {
            var error = await Http.ReadErrorAsync(refused, 429);
            Assert.Equal("queue_full", error.GetProperty("code").GetString());
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        // The client goes away: its generation ends and the next request runs.
        await cts.CancelAsync();
        running.Dispose();
        HttpStatusCode status = HttpStatusCode.TooManyRequests;
        for (int i = 0; i < 300 && status == HttpStatusCode.TooManyRequests; i++)
        {
            using var next = await Http.PostAsync(client, "/v1/completions", """{"prompt":"Hi","max_tokens":2}""");
            status = next.StatusCode;
            if (status == HttpStatusCode.TooManyRequests) await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task EngineFailureIs500AndTheServerKeepsServing()
    {
        using var server = new ServerFactory(new ServerOptions(), fx.Model, s => s.AddSingleton<IGenerationService>(new FailingGeneration(0)));
        using var client = server.CreateClient();
        for (int i = 0; i < 2; i++)
        {
            using var response = await Http.PostAsync(client, "/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}""");
            var error = await Http.ReadErrorAsync(response, 500);
            Assert.Equal("server_error", error.GetProperty("type").GetString());
            using var health = await client.GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
    }

    [Fact]
    public async Task FailureAfterStreamingBeganIsAFinalErrorEvent()
    {
        using var server = new ServerFactory(new ServerOptions(), fx.Model, s => s.AddSingleton<IGenerationService>(new FailingGeneration(3)));
        using var client = server.CreateClient();
        using var response = await Http.PostAsync(client, "/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"stream":true}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var data = Http.SseData(await response.Content.ReadAsStringAsync());
        Assert.DoesNotContain("[DONE]", data);
        var last = JsonDocument.Parse(data[^1]).RootElement.GetProperty("error");
        Assert.Equal("server_error", last.GetProperty("type").GetString());
        Assert.Equal("assistant", JsonDocument.Parse(data[0]).RootElement.GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
    }
}
