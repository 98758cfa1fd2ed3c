using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace SelfSpec.Server.Tests.Server;

/// <summary>
/// A client that gives up while its request waits in the queue leaves the queue at once, not when the running request
/// ends: on the real (Kestrel) server, where a disconnect is seen by the transport, one at a time and batching.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class QueuedDisconnectTests(ModelFixture fx)
{
    // Thousands of tokens: the running request outlasts the test by far, so a place freed only at its end would show.
    private const string Counting = """{"prompt":"1, 2, 3, 4, 5, 6, 7, 8,","max_tokens":4000,"stream":true,"selfspec":{"method":"ar"}}""";
    private const string Short = """{"prompt":"Hi","max_tokens":2}""";

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task AQueuedClientThatDisconnectsLeavesTheQueueAtOnce(int parallel)
    {
        using var batching = parallel > 0 ? LanguageModel.Load(fx.Model.Path, new ModelLoadOptions { Threads = 2, Parallel = parallel }) : null;
        var app = SelfSpecServer.Build(new ServerOptions { Port = 0, MaxQueue = 1 }, batching ?? fx.Model);
        await app.StartAsync();
        await using (app)
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
            using var http = new HttpClient { BaseAddress = address };
            using var runningCts = new CancellationTokenSource();
            using var running = await Post(http, Counting, runningCts.Token);
            Assert.Equal(HttpStatusCode.OK, running.StatusCode);
            var stream = await running.Content.ReadAsStreamAsync(runningCts.Token);
            Assert.True(await stream.ReadAsync(new byte[64], runningCts.Token) > 0); // generating now

            // A second client (its own connection) waits in the one-place queue: a third is refused.
            using var queuedClient = new HttpClient { BaseAddress = address };
            using var queuedCts = new CancellationTokenSource();
            var queued = Post(queuedClient, Counting, queuedCts.Token);
            await MetricsUntil(http, "\nselfspec:requests_deferred 1\n");
            using (var refused = await Post(http, Short, CancellationToken.None))
                Assert.Equal("queue_full", (await Http.ReadErrorAsync(refused, 429)).GetProperty("code").GetString());

            // It gives up: the connection closes, and the queue is empty again while the first request still runs.
            await queuedCts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
            string metrics = await MetricsUntil(http, "\nselfspec:requests_deferred 0\n");
            Assert.Contains("\nselfspec:requests_processing 1\n", metrics);
            Assert.True(await stream.ReadAsync(new byte[64], runningCts.Token) > 0); // still streaming

            // Its place is free: the next request is admitted to wait (not 429), and runs once the first is gone.
            var next = Post(http, Short, CancellationToken.None);
            await MetricsUntil(http, "\nselfspec:requests_deferred 1\n");
            Assert.False(next.IsCompleted);
            await runningCts.CancelAsync();
            running.Dispose();
            using var answered = await next;
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            await Http.ReadJsonAsync(answered);
        }
    }

    private static Task<HttpResponseMessage> Post(HttpClient http, string json, CancellationToken cancellation) =>
        http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = Http.Json(json) }, HttpCompletionOption.ResponseHeadersRead, cancellation);

    /// <summary>Polls /metrics until it contains <paramref name="line"/> (at most 15 s: far less than the running request's length).</summary>
    private static async Task<string> MetricsUntil(HttpClient http, string line)
    {
        string metrics = "";
        for (int i = 0; i < 300 && !metrics.Contains(line, StringComparison.Ordinal); i++)
        {
            if (i > 0) await Task.Delay(50);
            metrics = await http.GetStringAsync("/metrics");
        }
        Assert.Contains(line, metrics);
        return metrics;
    }
}
