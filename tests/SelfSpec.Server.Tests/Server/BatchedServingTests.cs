using System.Net;
using SelfSpec.Decoding;

namespace SelfSpec.Server.Tests.Server;

/// <summary>
/// A server over a model that batches (continuous batching, architecture.md 4): requests decode together and each
/// answer equals the library's for that request alone; past the slots and the queue, 429.
/// </summary>
public sealed class BatchedServingTests : IDisposable
{
    private const string Counting = """{"prompt":"1, 2, 3, 4, 5, 6, 7, 8,","max_tokens":4000,"stream":true,"selfspec":{"method":"ar"}}""";
    private readonly LanguageModel _model = LanguageModel.Load(
        ModelLocator.FindBundled() ?? throw new InvalidOperationException("the bundled model was not found"), new ModelLoadOptions { Threads = 2, Parallel = 2 });

    public void Dispose() => _model.Dispose();

    [Fact]
    public async Task ConcurrentCompletionsEachEqualTheLibrarysAnswerAlone()
    {
        string[] prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,", "List three colors: red,"];
        string[] methods = ["ar", "hybrid", "lookup", "ar"];
        var expected = prompts.Select(p => _model.Generate(_model.Tokenize(p),
            new GenerationOptions { MaxTokens = 24, Method = DecodingMethod.Autoregressive }).Text).ToArray();
        using var server = new ServerFactory(new ServerOptions { MaxQueue = 4 }, _model);
        using var client = server.CreateClient();
        var answers = await Task.WhenAll(prompts.Select(async (p, i) =>
        {
            using var response = await Http.PostAsync(client, "/v1/completions",
                $$$"""{"prompt":"{{{p}}}","max_tokens":24,"temperature":0,"selfspec":{"method":"{{{methods[i]}}}"}}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await Http.ReadJsonAsync(response)).GetProperty("choices")[0].GetProperty("text").GetString();
        }));
        Assert.Equal(expected, answers);
    }

    [Fact]
    public async Task PastTheSlotsAndTheQueueIs429AndCancellingFreesASlot()
    {
        using var server = new ServerFactory(new ServerOptions { MaxQueue = 1 }, _model);
        using var client = server.CreateClient();
        using var cts = new CancellationTokenSource();
        // Two requests fill the two slots, a third waits in the one-place queue.
        var running = new List<HttpResponseMessage>();
        for (int i = 0; i < 2; i++)
        {
            var r = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = Http.Json(Counting) },
                HttpCompletionOption.ResponseHeadersRead, cts.Token);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.True(await (await r.Content.ReadAsStreamAsync(cts.Token)).ReadAsync(new byte[64], cts.Token) > 0);
            running.Add(r);
        }
        var waiting = client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = Http.Json(Counting) },
            HttpCompletionOption.ResponseHeadersRead, cts.Token);
        string metrics = "";
        for (int i = 0; i < 300 && !metrics.Contains("\nselfspec:requests_deferred 1\n"); i++)
        {
            await Task.Delay(50);
            metrics = await client.GetStringAsync("/metrics");
        }
        Assert.Contains("\nselfspec:requests_processing 2\n", metrics);
        Assert.Contains("\nselfspec:requests_deferred 1\n", metrics);

        using (var refused = await Http.PostAsync(client, "/v1/completions", """{"prompt":"Hi","max_tokens":2}"""))
        {
            var error = await Http.ReadErrorAsync(refused, 429);
            Assert.Equal("queue_full", error.GetProperty("code").GetString());
        }

        // The clients go away: their generations end, their slots free, and a new request is served.
        await cts.CancelAsync();
        foreach (var r in running) r.Dispose();
        try { (await waiting).Dispose(); } catch (OperationCanceledException) { }
        HttpStatusCode status = HttpStatusCode.TooManyRequests;
        for (int i = 0; i < 300 && status == HttpStatusCode.TooManyRequests; i++)
        {
            using var next = await Http.PostAsync(client, "/v1/completions", """{"prompt":"Hi","max_tokens":2}""");
            status = next.StatusCode;
            if (status == HttpStatusCode.TooManyRequests) await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.OK, status);
        for (int i = 0; i < 100 && _model.ActiveGenerations > 0; i++) await Task.Delay(50);
        Assert.Equal(0, _model.ActiveGenerations);
    }
}
