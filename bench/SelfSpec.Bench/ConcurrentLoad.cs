using System.Diagnostics;
using SelfSpec.Decoding;
using Spectre.Console;

namespace SelfSpec.Bench;

/// <summary>
/// Continuous batching under load (architecture.md 4): c clients stream greedy generations at once through one model
/// that batches, for each client count and method, interleaved (every round runs each (count, method) once, the order
/// rotated), so machine noise hits each alike. The figure is aggregate decode tokens per second while all c clients
/// decode: tokens committed between the moment the last client got its first token and the moment the first client
/// finished, over that window. End of generation is ignored so every client decodes the full length. Beside it, all
/// tokens over the process's CPU seconds for the run (prefill included): on a machine shared with other busy
/// processes wall time swings with their load, CPU time much less, so it is the steadier A/B between methods.
/// When drafting makes one client finish before the last has its first token there is no such window (the figure
/// reads 0); the decode span figure always exists: every token after each client's first, over the time from the
/// first client's first token to the last client's last (late joiners' prefill included, alike for every method).
/// </summary>
internal static class ConcurrentLoad
{
    public static void Run(string modelPath, BenchOptions o, IReadOnlyList<BenchPrompt> prompts)
    {
        int most = o.Clients.Max();
        // No remembered answers: every round asks the same questions again, and batched lookup searches the datastore,
        // so a later round would copy its answers from an earlier one.
        using var lm = LanguageModel.Load(modelPath, ModelLoadOptions.FromCommandLine(o.Threads, o.Sidecar) with { Parallel = most, RememberedAnswers = 0 });
        var methods = o.Methods.Where(m => !m.IsLlamaCpp).ToList();
        if (methods.Count == 0) throw new InvalidRequestException("--clients needs at least one SelfSpec method among --methods");
        var peer = o.Methods.FirstOrDefault(m => m.IsLlamaCpp);
        AnsiConsole.WriteLine($"concurrent load: clients {string.Join(",", o.Clients)}; methods {string.Join(",", methods.Select(m => m.Name))}; " +
            $"{o.MaxTokens} tokens each; {o.Repeat} rounds; {o.Threads} threads; {prompts.Count} prompts");
        if (peer != null) AnsiConsole.WriteLine("peer: llama.cpp through LLamaSharp's BatchedExecutor, c sequences in one decode a step, in a child process per run");
        var runs = (from c in o.Clients from m in (peer != null ? [.. methods, peer] : methods) select (Clients: c, Method: m)).ToList();
        var figures = runs.ToDictionary(r => r, _ => new List<(double Window, double EndToEnd, int Drafted, int Accepted, double PerCpuSecond, double Span)>());
        // Warm-up: compiles the paths and fills the cost table at several batch sizes.
        Measure(lm, prompts, most, methods[^1].Decoding!.Value, o, 0);
        for (int round = 0; round < o.Repeat; round++)
        {
            for (int k = 0; k < runs.Count; k++)
            {
                var r = runs[(k + round) % runs.Count];
                figures[r].Add(r.Method.IsLlamaCpp ? MeasurePeer(modelPath, prompts, r.Clients, o, round) : Measure(lm, prompts, r.Clients, r.Method.Decoding!.Value, o, round));
            }
        }
        var table = new Table().AddColumns("clients", "method", "aggregate decode tok/s (median)", "vs 1 client", "end-to-end tok/s (median)", "decode span tok/s (median)", "drafted/accepted (all rounds)", "tokens per CPU-second (median)", "samples");
        foreach (var m in peer != null ? [.. methods, peer] : methods)
        {
            double one = Median(figures[(o.Clients.Min(), m)].Select(f => f.Window));
            foreach (int c in o.Clients)
            {
                var f = figures[(c, m)];
                double window = Median(f.Select(x => x.Window));
                table.AddRow(c.ToString(), m.Name, window.ToString("F1"), (window / one).ToString("F2"), Median(f.Select(x => x.EndToEnd)).ToString("F1"),
                    double.IsNaN(f[0].Span) ? "n/a" : Median(f.Select(x => x.Span)).ToString("F1"), $"{f.Sum(x => x.Drafted)}/{f.Sum(x => x.Accepted)}", Median(f.Select(x => x.PerCpuSecond)).ToString("F1"), string.Join(" ", f.Select(x => x.Window.ToString("F1"))));
            }
        }
        AnsiConsole.Write(table);
        if (peer == null) return;
        // SelfSpec over the peer, per round (both measured in the same round, back to back), then the median.
        var ratios = new Table().AddColumns("clients", "method", "aggregate / llama.cpp batched (median of rounds)", "per round");
        foreach (int c in o.Clients)
            foreach (var m in methods)
            {
                var per = figures[(c, m)].Zip(figures[(c, peer)], (a, b) => b.Window > 0 ? a.Window / b.Window : double.NaN).ToList();
                ratios.AddRow(c.ToString(), m.Name, Median(per).ToString("F2"), string.Join(" ", per.Select(x => x.ToString("F2"))));
            }
        AnsiConsole.Write(ratios);
    }

    /// <summary>The peer's run of c sequences on the same prompts as <see cref="Measure"/>'s, in a child process.</summary>
    private static (double Window, double EndToEnd, int Drafted, int Accepted, double PerCpuSecond, double Span) MeasurePeer(string modelPath, IReadOnlyList<BenchPrompt> prompts, int clients, BenchOptions o, int round)
    {
        var tokens = Enumerable.Range(0, clients).Select(i => prompts[(i + round * clients) % prompts.Count].Tokens).ToList();
        var r = BatchedPeer.Measure(modelPath, o.Threads, o.MaxTokens, tokens);
        if (r.Error != null) AnsiConsole.WriteLine($"llama.cpp batched, {clients} sequences: {r.Error}");
        return (r.Window, r.EndToEnd, 0, 0, r.PerCpuSecond, double.NaN);
    }

    /// <summary>
    /// One run of c concurrent streaming clients; returns (aggregate decode tok/s while all decode, total tokens / wall,
    /// drafts proposed and accepted over all clients).
    /// </summary>
    private static (double Window, double EndToEnd, int Drafted, int Accepted, double PerCpuSecond, double Span) Measure(LanguageModel lm, IReadOnlyList<BenchPrompt> prompts, int clients, DecodingMethod method, BenchOptions o, int round)
    {
        var options = new GenerationOptions { MaxTokens = o.MaxTokens, Method = method, StopAtEndOfGeneration = false };
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var times = new List<double>[clients];
        int drafted = 0, accepted = 0;
        var tasks = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var t = times[i] = new List<double>(o.MaxTokens);
            var prompt = prompts[(i + round * clients) % prompts.Count].Tokens;
            await foreach (var u in lm.CreateSession().GenerateAsync(prompt, options))
            {
                if (u.Token != null) t.Add(clock.Elapsed.TotalSeconds);
                if (u.Result is { } r)
                {
                    Interlocked.Add(ref drafted, r.Stats.Drafted);
                    Interlocked.Add(ref accepted, r.Stats.Accepted);
                }
            }
        })).ToArray();
        Task.WaitAll(tasks);
        double wall = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        double from = times.Max(t => t[0]), to = times.Min(t => t[^1]);
        int inWindow = times.Sum(t => t.Count(x => x > from && x <= to));
        double spanFrom = times.Min(t => t[0]), spanTo = times.Max(t => t[^1]);
        double span = spanTo > spanFrom ? times.Sum(t => t.Count - 1) / (spanTo - spanFrom) : 0;
        return (to > from ? inWindow / (to - from) : 0, times.Sum(t => t.Count) / wall, drafted, accepted, cpuSeconds > 0 ? times.Sum(t => t.Count) / cpuSeconds : 0, span);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length == 0 ? 0 : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
