using System.Diagnostics;
using System.Globalization;

namespace SelfSpec.ServeBench;

/// <summary>
/// The bounded loopback load run (issue 16's load and faults): C clients x R requests at once against one server with
/// --parallel slots and a queue, chat and text, streamed and whole; a quarter of the clients abandon a stream midway,
/// and a few send a malformed body between their requests (each must get 400 in OpenAI's error shape and disturb no
/// one). Every completed response must be well-formed, complete and exactly the text the same request gets alone
/// (greedy decoding is exact, and batch invariance makes a request's output independent of what shares its passes);
/// none lost (a 429 is retried after its Retry-After), none duplicated (ids unique); when more clients than slots
/// plus queue ask at once the overflow is answered 429; resident memory after the last round within 10 % of after the
/// first (the server at its working size under this load).
/// Reported: time to first token and total latency (p50, p95), aggregate tokens/s.
/// </summary>
internal static class LoadBench
{
    private static readonly string[] Prompts =
    [
        "Name three primary colors.",
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "List the days of the week.",
        "Explain what a CPU does in one sentence.",
    ];

    /// <summary>Bodies a client sends between its requests; each must be answered 400 with OpenAI's error shape.</summary>
    private static readonly (bool Chat, string Body)[] Malformed =
    [
        (true, """{"messages":[{"role":"user","content":"hi"}"""),                              // cut short
        (true, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":"ten"}"""),          // wrong type
        (false, """{"prompt":"hi","max_tokens":-3}"""),                                         // out of range
        (false, "hello, not json"),
        (true, """{"messages":[]}"""),                                                          // nothing to answer
    ];

    public static async Task<int> RunAsync(BenchArgs a)
    {
        int disconnecting = Math.Max(1, a.Clients / 4);
        bool overflow = a.Clients > a.Parallel + a.MaxQueue;
        Console.WriteLine($"load: {a.Clients} clients x {a.Requests} requests, {a.MaxTokens} tokens each, {a.Parallel} slots, queue {a.MaxQueue}, method {a.Method}, " +
                          $"{a.Threads} threads, {disconnecting} clients disconnecting mid-stream, malformed bodies from clients 4, 9, 14..., model {a.Model}");
        await using var server = await ServerProcess.StartAsync("--model", a.Model, "--threads", a.Threads.ToString(CultureInfo.InvariantCulture),
            "--max-queue", a.MaxQueue.ToString(CultureInfo.InvariantCulture), "--parallel", a.Parallel.ToString(CultureInfo.InvariantCulture), "--method", a.Method);
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(10) };
        long coldRss = server.ResidentBytes();

        // References, one request at a time (this also warms the server up): each prompt alone, on each route.
        var reference = new Dictionary<(bool, int), string>();
        for (int j = 0; j < a.Requests; j++)
            foreach (bool chat in new[] { true, false })
            {
                var alone = await Exchange.SendAsync(http, Spec(a, chat, j, stream: false));
                if (alone.Problem != null) throw new InvalidOperationException($"reference request failed: {alone.Problem}");
                reference[(chat, j)] = alone.Text;
            }

        int failures = 0, disconnected = 0, completed = 0, rejected = 0, badRejections = 0, malformedSent = 0, malformedBad = 0, expectDisconnects = 0;
        // Memory is compared from after the first round to after the last: the first concurrent round brings the
        // server to its working size under load (a KV cache per slot and per pooled session, Kestrel's and the thread
        // pool's buffers), which a solo warm-up does not; after it, growth would be a leak. Within a round it swings
        // with where the collector is (each generation's vocabulary-sized buffers land on the large object heap,
        // collected only at gen2), which says nothing about leaks; every round's figures, and the growth from the solo
        // warm-up, are printed too. With one round the baseline is the solo warm-up.
        await Settle();
        long rssWarm = server.ResidentBytes(), rssStart = rssWarm, rssBefore, rssAfter = rssWarm;
        var all = new List<Outcome>();
        for (int round = 1; round <= a.Rounds; round++)
        {
            await Settle();
            rssBefore = server.ResidentBytes();
            var clock = Stopwatch.StartNew();
            using var start = new Barrier(a.Clients);
            var clients = Enumerable.Range(0, a.Clients).Select(i => Task.Run(async () =>
            {
                var outcomes = new List<Outcome>();
                start.SignalAndWait();
                for (int j = 0; j < a.Requests; j++)
                {
                    if (i % 5 == 4 && j == 1)
                    {
                        // In between two requests, a malformed body; answered 400 (retried past a 429 like any request).
                        var (mChat, mBody) = Malformed[(i / 5) % Malformed.Length];
                        var bad = new RequestSpec(mChat, "", a.MaxTokens, false) { RawBody = mBody };
                        Outcome m;
                        while ((m = await Exchange.SendAsync(http, bad)).Status == 429) await Task.Delay(TimeSpan.FromSeconds(m.RetryAfter ?? 1));
                        outcomes.Add(m with { Malformed = true });
                    }
                    bool chat = (i + j) % 2 == 0, disconnect = i < disconnecting && j == 2;
                    var spec = Spec(a, chat, j, stream: disconnect || (i + 2 * j) % 3 != 0) with { DisconnectAfterChunks = disconnect ? 2 : 0 };
                    while (true)
                    {
                        var o = await Exchange.SendAsync(http, spec);
                        outcomes.Add(o);
                        if (o.Status != 429) break;
                        await Task.Delay(TimeSpan.FromSeconds(o.RetryAfter ?? 1));
                    }
                    var last = outcomes[^1];
                    if (last.Problem == null && !last.Disconnected && last.Text != reference[(chat, j)])
                        outcomes[^1] = last with { Problem = $"text differs from the request alone: '{Short(last.Text)}' vs '{Short(reference[(chat, j)])}'" };
                }
                return outcomes;
            })).ToArray();
            var results = (await Task.WhenAll(clients)).SelectMany(o => o).ToList();
            double wall = clock.Elapsed.TotalSeconds;
            await Settle();
            rssAfter = server.ResidentBytes();

            var malformed = results.Where(o => o.Malformed).ToList();
            results = results.Where(o => !o.Malformed).ToList();
            malformedSent += malformed.Count;
            malformedBad += malformed.Count(o => o.Problem != null);
            expectDisconnects += disconnecting;
            var answered = results.Where(o => o.Status != 429).ToList();
            var done = answered.Where(o => o.Problem == null && !o.Disconnected).ToList();
            int roundFailures = answered.Count(o => o.Problem != null) + results.Count(o => o.Status == 429 && o.Problem != null);
            int duplicates = answered.Count(o => o.Id != null) - answered.Where(o => o.Id != null).Select(o => o.Id).Distinct().Count();
            int lost = a.Clients * a.Requests - answered.Count;
            failures += roundFailures + duplicates + lost;
            completed += done.Count;
            disconnected += answered.Count(o => o.Disconnected);
            rejected += results.Count(o => o.Status == 429);
            badRejections += results.Count(o => o.Status == 429 && o.Problem != null);
            all.AddRange(results);
            var streamed = done.Where(o => o.ContentChunks > 0).ToList();
            long tokens = done.Sum(o => (long)o.CompletionTokens);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: {results.Count} requests sent ({a.Clients * a.Requests} asked), {done.Count} completed, {answered.Count(o => o.Disconnected)} disconnected on purpose, " +
                $"{results.Count(o => o.Status == 429)} answered 429, {roundFailures} failures, {duplicates} duplicated ids, {lost} lost; " +
                $"{malformed.Count} malformed bodies, {malformed.Count(o => o.Status == 400 && o.Problem == null)} answered 400 in OpenAI's error shape; wall {wall:F2} s"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  time to first token (streamed, n={streamed.Count}): p50 {Percentiles.Median(streamed.Select(o => o.FirstTokenSeconds)) * 1e3:F0} ms, p95 {Percentiles.Of(streamed.Select(o => o.FirstTokenSeconds), 95) * 1e3:F0} ms"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  total (completed, n={done.Count}): p50 {Percentiles.Median(done.Select(o => o.TotalSeconds)) * 1e3:F0} ms, p95 {Percentiles.Of(done.Select(o => o.TotalSeconds), 95) * 1e3:F0} ms; " +
                $"{tokens} tokens, {tokens / wall:F1} tokens/s aggregate"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  resident memory: before {rssBefore / 1e6:F1} MB, after {rssAfter / 1e6:F1} MB ({(rssAfter - rssBefore) * 100.0 / rssBefore:+0.0;-0.0} %); at start {coldRss / 1e6:F1} MB"));
            if (round == 1 && a.Rounds > 1) rssStart = rssAfter;
            foreach (var o in answered.Concat(malformed).Where(o => o.Problem != null).Take(5)) Console.WriteLine($"  problem: {o.Problem}");
        }

        // The server still serves, with nothing left running (the abandoned streams were cancelled).
        string metrics = await http.GetStringAsync("/metrics");
        bool idle = metrics.Contains("selfspec:requests_processing 0\n", StringComparison.Ordinal) && metrics.Contains("selfspec:requests_deferred 0\n", StringComparison.Ordinal);
        var after = await Exchange.SendAsync(http, Spec(a, true, 0, stream: true));
        bool healthy = idle && after.Problem == null && after.Text == reference[(true, 0)];
        bool memoryOk = Math.Abs(rssAfter - rssStart) <= 0.10 * rssStart;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"resident memory: after {(a.Rounds > 1 ? "round 1" : "the solo warm-up")} {rssStart / 1e6:F1} MB, after the last round {rssAfter / 1e6:F1} MB " +
            $"({(rssAfter - rssStart) * 100.0 / rssStart:+0.0;-0.0} %); after the solo warm-up {rssWarm / 1e6:F1} MB ({(rssAfter - rssWarm) * 100.0 / rssWarm:+0.0;-0.0} % to the end)"));
        bool ok = failures == 0 && (rejected > 0 || !overflow) && badRejections == 0 && memoryOk && healthy && disconnected == expectDisconnects
                  && malformedBad == 0 && malformedSent > 0;
        Console.WriteLine($"summary: {completed} completed (each equal to its request alone), {disconnected} disconnected of {expectDisconnects}, {rejected} answered 429 " +
                          $"(all with Retry-After and the error shape: {badRejections == 0}{(overflow ? "" : "; none needed: slots + queue hold every client")}), " +
                          $"{malformedSent} malformed bodies ({malformedBad} not answered 400 in the error shape), {failures} failures (lost, duplicated, wrong or malformed responses); " +
                          $"idle and serving afterwards: {healthy}; memory within 10 %: {memoryOk}; {(ok ? "PASS" : "FAIL")}");
        return ok ? 0 : 1;

        async Task Settle()
        {
            // Let the server finish cancelled work and collect before memory is read.
            await Task.Delay(1500);
        }
    }

    private static RequestSpec Spec(BenchArgs a, bool chat, int j, bool stream) => new(chat, Prompts[j % Prompts.Length], a.MaxTokens, stream);

    private static string Short(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
