using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SelfSpec.ServeBench;

/// <summary>
/// Streamed decode speed of <c>selfspec serve</c> against <c>selfspec generate</c>, every variant in one interleaved
/// run (the order rotates each repetition), so that a shared machine's drift falls on all of them alike:
/// <list type="bullet">
/// <item>CLI <c>--json</c>: the decode tokens/s <c>selfspec generate</c> reports (engine clock: decode steps only).</item>
/// <item>CLI streamed to a pipe, timed by this process as it reads: tokens after the first over the time from the
/// first piece of text to the last, the same clock boundaries the server's streams are timed with.</item>
/// <item>The server with <c>--parallel 4</c> (the default, continuous batching) and with <c>--parallel 0</c> (one
/// request at a time), each streamed and timed at the client the same way, and by the server's own timings.</item>
/// </list>
/// Each figure is the median over repetitions of the per-repetition ratio to the CLI's, so a slow moment on the shared
/// machine shifts both sides of a ratio.
/// </summary>
internal static partial class DecodeBench
{
    private const string Story = "Once upon a time, in a small village by the sea, there lived an old fisherman who";

    public static async Task<int> RunAsync(BenchArgs a)
    {
        string threads = a.Threads.ToString(CultureInfo.InvariantCulture);
        Console.WriteLine($"decode: {a.Reps} repetitions, {a.DecodeTokens} tokens, {a.Threads} threads, methods {string.Join(",", a.Methods)}, model {a.Model}; " +
            "CLI and two servers (--parallel 4 and 0) as separate processes, interleaved, order rotating");
        // The same work on both sides: a fresh `generate` has no earlier answers to draft from, so the servers keep none
        // (else the one-at-a-time server's hybrid copies the previous repetition's answer of this same prompt).
        await using var batched = await ServerProcess.StartAsync("--model", a.Model, "--threads", threads, "--remembered-answers", "0");
        await using var single = await ServerProcess.StartAsync("--model", a.Model, "--threads", threads, "--parallel", "0", "--remembered-answers", "0");
        using var httpBatched = new HttpClient { BaseAddress = batched.Address, Timeout = TimeSpan.FromMinutes(10) };
        using var httpSingle = new HttpClient { BaseAddress = single.Address, Timeout = TimeSpan.FromMinutes(10) };
        // A/B: another build's two servers beside these (with that build's defaults: it may not know --remembered-answers).
        await using var otherBatched = a.Compare != null ? await ServerProcess.StartInAsync(a.Compare, "--model", a.Model, "--threads", threads) : null;
        await using var otherSingle = a.Compare != null ? await ServerProcess.StartInAsync(a.Compare, "--model", a.Model, "--threads", threads, "--parallel", "0") : null;
        using var httpOtherBatched = new HttpClient { BaseAddress = otherBatched?.Address ?? batched.Address, Timeout = TimeSpan.FromMinutes(10) };
        using var httpOtherSingle = new HttpClient { BaseAddress = otherSingle?.Address ?? single.Address, Timeout = TimeSpan.FromMinutes(10) };
        foreach (var http in a.Compare != null ? new[] { httpBatched, httpSingle, httpOtherBatched, httpOtherSingle } : [httpBatched, httpSingle])
            foreach (string method in a.Methods)
                await Exchange.SendAsync(http, new RequestSpec(false, "Hello", 8, true) { Method = method }); // warm-up

        int status = 0;
        foreach (string method in a.Methods)
        {
            var cliJson = new List<double>();
            var cliPipe = new List<double>();
            var cliPipeReported = new List<double>();
            var p4 = new List<double>();
            var p4Own = new List<double>();
            var p0 = new List<double>();
            var p0Own = new List<double>();
            var o4 = new List<double>();
            var o0 = new List<double>();
            int tokens = 0;
            var variants = new List<Func<Task>>
            {
                async () => cliJson.Add(await CliJsonAsync(a, method)),
                async () =>
                {
                    var (client, reported) = await CliPipeAsync(a, method);
                    cliPipe.Add(client);
                    cliPipeReported.Add(reported);
                },
                async () =>
                {
                    var o = await ServerAsync(httpBatched, a, method);
                    tokens = o.CompletionTokens;
                    p4.Add((o.CompletionTokens - 1) / o.StreamSeconds);
                    p4Own.Add(o.PredictedPerSecond);
                },
                async () =>
                {
                    var o = await ServerAsync(httpSingle, a, method);
                    p0.Add((o.CompletionTokens - 1) / o.StreamSeconds);
                    p0Own.Add(o.PredictedPerSecond);
                },
            };
            if (a.Compare != null)
            {
                variants.Add(async () => { var o = await ServerAsync(httpOtherBatched, a, method); o4.Add((o.CompletionTokens - 1) / o.StreamSeconds); });
                variants.Add(async () => { var o = await ServerAsync(httpOtherSingle, a, method); o0.Add((o.CompletionTokens - 1) / o.StreamSeconds); });
            }
            for (int r = 0; r < a.Reps; r++)
                for (int i = 0; i < variants.Count; i++)
                    await variants[(i + r) % variants.Count]();

            double Ratio(List<double> x, List<double> y) => Percentiles.Median(x.Zip(y, (u, v) => u / v));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decode {method}, {tokens} tokens, n={a.Reps} (medians; ratios are medians of per-repetition ratios):"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  CLI --json (reported) {Percentiles.Median(cliJson):F1} tok/s; CLI streamed to a pipe: {Percentiles.Median(cliPipe):F1} at the reader, {Percentiles.Median(cliPipeReported):F1} reported"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  serve --parallel 4: {Percentiles.Median(p4):F1} at the client ({Percentiles.Median(p4Own):F1} own timings); ratio to CLI --json {Ratio(p4, cliJson):F3}, " +
                $"to CLI at the reader {Ratio(p4, cliPipe):F3}; own timings to CLI --json {Ratio(p4Own, cliJson):F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  serve --parallel 0: {Percentiles.Median(p0):F1} at the client ({Percentiles.Median(p0Own):F1} own timings); ratio to CLI --json {Ratio(p0, cliJson):F3}, " +
                $"to CLI at the reader {Ratio(p0, cliPipe):F3}; own timings to CLI --json {Ratio(p0Own, cliJson):F3}"));
            if (a.Compare != null)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  the other build ({a.Compare}): --parallel 4 {Percentiles.Median(o4):F1}, ratio to CLI --json {Ratio(o4, cliJson):F3}; --parallel 0 {Percentiles.Median(o0):F1}, ratio {Ratio(o0, cliJson):F3}; " +
                    $"this build over the other: --parallel 4 {Ratio(p4, o4):F3}, --parallel 0 {Ratio(p0, o0):F3}"));
            Console.WriteLine($"  cli json: {Join(cliJson)}; cli pipe: {Join(cliPipe)}; p4: {Join(p4)}; p0: {Join(p0)}" + (a.Compare != null ? $"; other p4: {Join(o4)}; other p0: {Join(o0)}" : ""));
            if (Ratio(p4, cliJson) < 0.95 || Ratio(p0, cliJson) < 0.95) status = 1;
        }
        return status;
    }

    private static async Task<Outcome> ServerAsync(HttpClient http, BenchArgs a, string method)
    {
        var o = await Exchange.SendAsync(http, new RequestSpec(false, Story, a.DecodeTokens, true) { Method = method });
        if (o.Problem != null) throw new InvalidOperationException(o.Problem);
        return o;
    }

    private static ProcessStartInfo Generate(BenchArgs a, string method, bool json)
    {
        string[] args = ["generate", "--model", a.Model, "--prompt", Story, "--max-tokens", a.DecodeTokens.ToString(CultureInfo.InvariantCulture),
            "--method", method, "--threads", a.Threads.ToString(CultureInfo.InvariantCulture)];
        return ServerProcess.Cli(json ? [.. args, "--json"] : args);
    }

    private static async Task<double> CliJsonAsync(BenchArgs a, string method)
    {
        using var p = Process.Start(Generate(a, method, json: true))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"selfspec generate exited {p.ExitCode}: {await stderr}");
        using var doc = System.Text.Json.JsonDocument.Parse(await stdout);
        return doc.RootElement.GetProperty("stats").GetProperty("decode_tokens_per_s").GetDouble();
    }

    /// <summary>The CLI streaming to a pipe: tokens/s from the first text read to the last, and what it reports.</summary>
    private static async Task<(double Client, double Reported)> CliPipeAsync(BenchArgs a, string method)
    {
        var psi = Generate(a, method, json: false);
        psi.StandardOutputEncoding = Encoding.UTF8;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        var buffer = new char[4096];
        double first = 0, last = 0;
        bool any = false;
        int n;
        while ((n = await p.StandardOutput.ReadAsync(buffer)) > 0)
        {
            // The newline after the answer comes once the generation has ended: not a token.
            if (buffer.AsSpan(0, n).Trim('\n').Length == 0) continue;
            last = clock.Elapsed.TotalSeconds;
            if (!any) (first, any) = (last, true);
        }
        await p.WaitForExitAsync();
        string err = await stderr;
        if (p.ExitCode != 0) throw new InvalidOperationException($"selfspec generate exited {p.ExitCode}: {err}");
        var m = Generated().Match(err);
        if (!m.Success) throw new InvalidOperationException($"no statistics line from selfspec generate: {err}");
        int tokens = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return ((tokens - 1) / (last - first), double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    private static string Join(IEnumerable<double> values) => string.Join(" ", values.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)));

    [GeneratedRegex(@"generated (\d+) tokens at ([0-9.]+) tokens/s")]
    private static partial Regex Generated();
}
