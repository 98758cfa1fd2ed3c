using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace SelfSpec.Bench;

/// <summary>One llama-bench test: prompt (pp) or generation (tg) of N tokens, at a depth of cached tokens.</summary>
internal sealed record NativeTest(int Prompt, int Generated, int Depth, double TokensPerSecond, double Stddev);

/// <summary>
/// What a native llama.cpp <c>llama-bench</c> binary measured on the same model and thread count: the prompt-processing
/// curve (pp 1, 2, 4, 8, 16, 64: a pass over n positions, logits for the last only) and generation at the prompts' depth.
/// </summary>
internal sealed record NativeLlamaBenchResult(string Executable, int Threads, int Depth, IReadOnlyList<NativeTest> Tests, string? Error)
{
    public static readonly int[] PromptSizes = [1, 2, 4, 8, 16, 64];
    public const int GeneratedTokens = 128;

    public IEnumerable<NativeTest> PromptCurve => Tests.Where(t => t.Prompt > 0 && t.Generated == 0).OrderBy(t => t.Prompt);
    public NativeTest? Generation => Tests.FirstOrDefault(t => t.Generated > 0);

    /// <summary>Time of a pass over n positions relative to one position, from tokens/s (n / ts_n over 1 / ts_1).</summary>
    public double? RelativePass(int n)
    {
        var one = PromptCurve.FirstOrDefault(t => t.Prompt == 1);
        var at = PromptCurve.FirstOrDefault(t => t.Prompt == n);
        return one is { TokensPerSecond: > 0 } && at is { TokensPerSecond: > 0 } ? n / at.TokensPerSecond / (1 / one.TokensPerSecond) : null;
    }
}

/// <summary>
/// Runs a native <c>llama-bench</c> (built from llama.cpp's sources, path given by <c>--llama-bench</c>) as a separate
/// process, after SelfSpec's timed work, so that nothing of it runs inside the process being timed: the peer's worker
/// threads spin after each call and slowed the engine measured next when it ran in-process (issue 18).
/// </summary>
internal static class NativeLlamaBench
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    public static NativeLlamaBenchResult Run(string executable, string model, int threads, int depth, int reps)
    {
        var tests = new List<NativeTest>();
        string sizes = string.Join(",", NativeLlamaBenchResult.PromptSizes.Select(n => n.ToString(CultureInfo.InvariantCulture)));
        string common = $"-m \"{model}\" -t {threads} -r {reps} -o json";
        try
        {
            tests.AddRange(RunOnce(executable, $"{common} -p {sizes} -n 0"));
            tests.AddRange(RunOnce(executable, $"{common} -p 0 -n {NativeLlamaBenchResult.GeneratedTokens} -d {depth}"));
            return new NativeLlamaBenchResult(executable, threads, depth, tests, null);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or JsonException or TimeoutException or IOException)
        {
            return new NativeLlamaBenchResult(executable, threads, depth, tests, e.Message);
        }
    }

    private static List<NativeTest> RunOnce(string executable, string arguments)
    {
        var psi = new ProcessStartInfo(executable, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {executable}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(Timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(executable)} {arguments} ran past {Timeout.TotalMinutes} minutes");
        }
        string output = stdout.Result;
        if (p.ExitCode != 0)
        {
            string err = stderr.Result.Trim();
            throw new InvalidOperationException($"{Path.GetFileName(executable)} exited with {p.ExitCode}: {(err.Length > 300 ? err[^300..] : err)}");
        }
        return Parse(output);
    }

    /// <summary>Reads llama-bench's <c>-o json</c> output: an array of tests with n_prompt, n_gen, n_depth, avg_ts, stddev_ts.</summary>
    public static List<NativeTest> Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var list = new List<NativeTest>();
        foreach (var t in doc.RootElement.EnumerateArray())
        {
            list.Add(new NativeTest(t.GetProperty("n_prompt").GetInt32(), t.GetProperty("n_gen").GetInt32(),
                t.TryGetProperty("n_depth", out var d) ? d.GetInt32() : 0, t.GetProperty("avg_ts").GetDouble(), t.GetProperty("stddev_ts").GetDouble()));
        }
        return list;
    }

    /// <summary>Lines for the console and results.md: the native figures beside SelfSpec's curve and decode speed.</summary>
    public static IEnumerable<string> Describe(NativeLlamaBenchResult r, ForwardCurveResult? curve, double? selfSpecDecodeTokensPerSecond)
    {
        yield return $"native llama-bench ({r.Executable}), {r.Threads} threads, a separate process run after SelfSpec's timed work:";
        if (r.Error != null) yield return $"  failed: {r.Error}";
        foreach (var t in r.PromptCurve)
        {
            string mine = curve != null && t.Prompt <= curve.MaxN
                ? $"; SelfSpec {t.Prompt / curve.SelfSpecSeconds[t.Prompt]:F1} tok/s, pass {ForwardCurveResult.Relative(curve.SelfSpecSeconds, t.Prompt):F2}x one row (logits for every row)"
                : "";
            yield return $"  pp{t.Prompt}: {t.TokensPerSecond:F1} +- {t.Stddev:F1} tok/s, pass {r.RelativePass(t.Prompt):F2}x one row (logits for the last row only){mine}";
        }
        if (r.Generation is { } g)
        {
            string mine = selfSpecDecodeTokensPerSecond is double s ? $"; SelfSpec ar {s:F1} tok/s ({s / g.TokensPerSecond:F2}x)" : "";
            yield return $"  tg{g.Generated} at depth {g.Depth}: {g.TokensPerSecond:F1} +- {g.Stddev:F1} tok/s{mine}";
        }
    }
}
