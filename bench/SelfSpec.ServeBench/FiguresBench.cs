using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace SelfSpec.ServeBench;

/// <summary>
/// What serving costs over the command line, one client on an idle server, interleaved repetition by repetition with
/// <c>selfspec generate</c> (separate processes, same model, threads and method):
/// time to first token of a ~200-token prompt against the CLI's prefill time, and streamed decode tokens/s against
/// the CLI's decode tokens/s.
/// </summary>
internal static class FiguresBench
{
    private const string Filler =
        "The history of computing is a long story of people trying to make machines that calculate faster and more reliably " +
        "than any clerk could. Early mechanical calculators used gears and levers; later, relays and vacuum tubes switched " +
        "currents instead of turning wheels, and the transistor made the switches small, cheap and fast. Integrated circuits " +
        "put thousands, then billions, of transistors on a single chip, and software grew to match: operating systems, " +
        "compilers, databases and networks that connect the whole world. Each step changed what people expected a computer to " +
        "do, from tabulating a census to answering questions in plain language. Along the way engineers learned that memory " +
        "is often slower than arithmetic, that parallel work is hard to coordinate, and that the simplest design that works " +
        "is usually the one that lasts. Today a phone holds more computing power than the machines that guided the first " +
        "missions to the moon, and the most interesting question is no longer how fast a computer can add, but what we ask it to do.";

    private static readonly string[] Openers =
        ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet", "Kilo", "Lima", "Mike", "November", "Oscar", "Papa"];

    public static async Task<int> RunAsync(BenchArgs a)
    {
        // The tokenizer, and a warm in-process prefill as a third reference: the CLI's process is cold (its prefill runs
        // partly on code not yet optimized by the JIT), the server's is warm. Each is timed while the others are idle.
        using var lm = LanguageModel.Load(a.Model, threads: a.Threads);
        Console.WriteLine($"figures: {a.Reps} repetitions, {a.Threads} threads, model {a.Model}; CLI and server interleaved (separate processes)");
        // No remembered answers: a fresh `generate` has none to draft from, and the decode figure repeats one prompt, whose
        // earlier answer a one-at-a-time server's hybrid would otherwise copy (same work on both sides).
        await using var server = await ServerProcess.StartAsync("--model", a.Model, "--threads", a.Threads.ToString(CultureInfo.InvariantCulture), "--remembered-answers", "0");
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(10) };
        await Exchange.SendAsync(http, new RequestSpec(false, "Hello", 4, true)); // warm-up (JIT, first session)

        // Time to first token vs the CLI's prefill: a fresh prompt each repetition, so no cache is reused.
        var ttft = new List<double>();
        var serverPrefill = new List<double>();
        var cliPrefill = new List<double>();
        var warmPrefill = new List<double>();
        int promptTokens = 0;
        for (int w = 0; w < 3; w++) lm.Generate(lm.Tokenize(PromptOf(lm, "Warm: ", a.PromptTokens, out _)), new Decoding.GenerationOptions { MaxTokens = 1, Method = Decoding.DecodingMethod.Autoregressive });
        int k = 0;
        foreach (string method in a.Methods)
        {
            for (int r = 0; r < a.Reps; r++)
            {
                // A different first word each time: the server's sessions share at most the BOS token with it.
                string prompt = PromptOf(lm, $"{Openers[k++ % Openers.Length]}: ", a.PromptTokens, out promptTokens);
                async Task Server()
                {
                    var o = await Exchange.SendAsync(http, new RequestSpec(false, prompt, 2, true) { Method = method });
                    if (o.Problem != null) throw new InvalidOperationException(o.Problem);
                    if (o.CachedTokens > 1) throw new InvalidOperationException($"the server reused {o.CachedTokens} cached tokens");
                    ttft.Add(o.FirstTokenSeconds > 0 ? o.FirstTokenSeconds : o.TotalSeconds);
                    serverPrefill.Add(o.PromptMs / 1e3);
                }
                async Task Cli() => cliPrefill.Add((await GenerateAsync(a, prompt, 2, method)).GetProperty("stats").GetProperty("time_s").GetProperty("prefill").GetDouble());
                void Warm() => warmPrefill.Add(lm.Generate(lm.Tokenize(prompt), new Decoding.GenerationOptions { MaxTokens = 2, Method = Decoding.DecodingMethodNames.Parse(method) }).Stats.PrefillSeconds);
                if (r % 2 == 0) { await Cli(); await Server(); Warm(); } else { Warm(); await Server(); await Cli(); }
            }
        }
        double ttftMedian = Percentiles.Median(ttft), cliMedian = Percentiles.Median(cliPrefill);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"time to first token, {promptTokens}-token prompt ({string.Join(",", a.Methods)}, n={ttft.Count}): server {ttftMedian * 1e3:F1} ms median (its own prefill {Percentiles.Median(serverPrefill) * 1e3:F1} ms), " +
            $"CLI prefill {cliMedian * 1e3:F1} ms median; ratio {ttftMedian / cliMedian:F3} (target <= 1.2)"));
        double warmMedian = Percentiles.Median(warmPrefill);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  against a warm in-process prefill {warmMedian * 1e3:F1} ms median: ratio {ttftMedian / warmMedian:F3}; serving overhead (time to first token minus the server's own prefill) " +
            $"{Percentiles.Median(ttft.Zip(serverPrefill, (t, p) => t - p)) * 1e3:F1} ms median"));
        Console.WriteLine($"  server ttft ms: {Join(ttft)}; server prefill ms: {Join(serverPrefill)}; cli prefill ms: {Join(cliPrefill)}; warm prefill ms: {Join(warmPrefill)}");

        // Decode tokens/s: one streamed request vs `selfspec generate`, same prompt, same method.
        int status = ttftMedian / cliMedian <= 1.2 ? 0 : 1;
        const string story = "Once upon a time, in a small village by the sea, there lived an old fisherman who";
        foreach (string method in a.Methods)
        {
            var streamed = new List<double>();
            var reported = new List<double>();
            var cli = new List<double>();
            int tokens = 0;
            for (int r = 0; r < a.Reps; r++)
            {
                async Task Server()
                {
                    var o = await Exchange.SendAsync(http, new RequestSpec(false, story, a.DecodeTokens, true) { Method = method });
                    if (o.Problem != null) throw new InvalidOperationException(o.Problem);
                    tokens = o.CompletionTokens;
                    // Client-side: tokens after the first over the time from the first content chunk to the last.
                    streamed.Add((o.CompletionTokens - 1) / o.StreamSeconds);
                    reported.Add(o.PredictedPerSecond);
                }
                async Task Cli() => cli.Add((await GenerateAsync(a, story, a.DecodeTokens, method)).GetProperty("stats").GetProperty("decode_tokens_per_s").GetDouble());
                if (r % 2 == 0) { await Cli(); await Server(); } else { await Server(); await Cli(); }
            }
            double s = Percentiles.Median(streamed), c = Percentiles.Median(cli);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"decode {method}, {tokens} tokens streamed (n={a.Reps}): server {s:F1} tokens/s at the client ({Percentiles.Median(reported):F1} by its own timings), CLI {c:F1} tokens/s; " +
                $"ratio {s / c:F3} (target >= 0.95)"));
            Console.WriteLine($"  server: {Join(streamed, 1)}; cli: {Join(cli, 1)}");
            if (s / c < 0.95) status = 1;
        }
        return status;
    }

    /// <summary>A prompt of about <paramref name="target"/> tokens: the prefix, then the filler text word by word.</summary>
    private static string PromptOf(LanguageModel lm, string prefix, int target, out int tokens)
    {
        string[] words = Filler.Split(' ');
        var text = new System.Text.StringBuilder(prefix);
        int i = 0;
        tokens = lm.Tokenize(text.ToString()).Length;
        while (tokens < target)
        {
            text.Append(words[i % words.Length]).Append(' ');
            i++;
            tokens = lm.Tokenize(text.ToString()).Length;
        }
        return text.ToString();
    }

    private static async Task<JsonElement> GenerateAsync(BenchArgs a, string prompt, int maxTokens, string method)
    {
        var psi = ServerProcess.Cli("generate", "--model", a.Model, "--prompt", prompt, "--max-tokens", maxTokens.ToString(CultureInfo.InvariantCulture),
            "--method", method, "--threads", a.Threads.ToString(CultureInfo.InvariantCulture), "--json");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"selfspec generate exited {p.ExitCode}: {await stderr}");
        using var doc = JsonDocument.Parse(await stdout);
        return doc.RootElement.Clone();
    }

    private static string Join(IEnumerable<double> seconds) => string.Join(" ", seconds.Select(s => (s * 1e3).ToString("F1", CultureInfo.InvariantCulture)));
    private static string Join(IEnumerable<double> values, int digits) => string.Join(" ", values.Select(v => v.ToString("F" + digits, CultureInfo.InvariantCulture)));
}
