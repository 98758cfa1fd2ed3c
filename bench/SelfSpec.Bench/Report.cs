using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace SelfSpec.Bench;

/// <summary>Everything one run measured, as printed and written to results.json / results.md.</summary>
internal sealed record BenchReport
{
    public required string Model { get; init; }
    public required long ModelFileBytes { get; init; }
    public required long WeightBytes { get; init; }
    public required string PromptFile { get; init; }
    public required int Prompts { get; init; }
    public required int MaxTokens { get; init; }
    public required int Threads { get; init; }
    public required IReadOnlyList<string> Methods { get; init; }
    /// <summary>Runs of each prompt per method; each figure is the fastest of them.</summary>
    public int Repeat { get; init; } = 1;
    public required IReadOnlyDictionary<string, string> Skipped { get; init; }
    public required string Machine { get; init; }
    public required DateTimeOffset Started { get; init; }
    /// <summary>One-minute load average when the run started and ended: above the thread count, other work shared the cores.</summary>
    public double? LoadAverageBefore { get; init; }
    public double? LoadAverageAfter { get; init; }
    public required string LlamaFlashAttention { get; init; }
    /// <summary>The calibration sidecar SelfSpec's methods used ("none" when they ran with the default settings).</summary>
    public string Sidecar { get; init; } = "none";
    public bool Noisy => Math.Max(LoadAverageBefore ?? 0, LoadAverageAfter ?? 0) > Environment.ProcessorCount;
    public ForwardCurveResult? ForwardCurve { get; init; }
    /// <summary>Native llama.cpp's llama-bench on the same model and threads (<c>--llama-bench</c>), or null.</summary>
    public NativeLlamaBenchResult? NativeLlamaBench { get; init; }
    public required IReadOnlyList<MethodSummary> Summaries { get; init; }
    public required IReadOnlyList<PromptRun> Runs { get; init; }
}

internal static class Report
{
    private static string F(double? v, string format) => v is double d ? d.ToString(format, CultureInfo.InvariantCulture) : "-";
    private static string Exact(MethodSummary s) => s.ExactCompared == 0 ? "-" : $"{s.ExactMatches}/{s.ExactCompared}";

    private static readonly string[] Header =
        ["task", "method", "n", "decode tok/s", "geo tok/s", "prefill tok/s", "x ar", "x ar geo", "x llama.cpp", "x llama.cpp geo", "accepted len", "accept rate", "= ar", "GB/s"];

    private static string[] Row(MethodSummary s) =>
    [
        s.Task, s.Method, s.Prompts.ToString(CultureInfo.InvariantCulture), F(s.DecodeTokensPerSecond, "F1"), F(s.DecodeTokensPerSecondGeoMean, "F1"),
        F(s.PrefillTokensPerSecond, "F0"), F(s.SpeedupOverAr, "F3"), F(s.SpeedupOverArGeoMean, "F3"), F(s.SpeedupOverLlamaCpp, "F3"),
        F(s.SpeedupOverLlamaCppGeoMean, "F3"), F(s.MeanAcceptedLength, "F2"), F(s.AcceptanceRate, "P1"), Exact(s), F(s.AchievedGBPerSecond, "F1"),
    ];

    private static readonly string[] ConsoleHeader =
        ["task", "method", "n", "decode tok/s (geo)", "prefill tok/s", "x ar (geo)", "x llama.cpp (geo)", "acc. len", "acc. rate", "= ar", "GB/s"];

    private static string[] ConsoleRow(MethodSummary s) =>
    [
        s.Task, s.Method, s.Prompts.ToString(CultureInfo.InvariantCulture),
        $"{F(s.DecodeTokensPerSecond, "F1")} ({F(s.DecodeTokensPerSecondGeoMean, "F1")})", F(s.PrefillTokensPerSecond, "F0"),
        $"{F(s.SpeedupOverAr, "F2")} ({F(s.SpeedupOverArGeoMean, "F2")})", $"{F(s.SpeedupOverLlamaCpp, "F2")} ({F(s.SpeedupOverLlamaCppGeoMean, "F2")})",
        F(s.MeanAcceptedLength, "F2"), F(s.AcceptanceRate, "P1"), Exact(s), F(s.AchievedGBPerSecond, "F1"),
    ];

    public static void Print(BenchReport r)
    {
        if (r.ForwardCurve is { } curve)
        {
            var ct = new Table().Title("forward pass over n positions, logits for every row (median seconds; relative to n = 1)");
            ct.AddColumns("n", "SelfSpec ms", "SelfSpec rel", "llama.cpp ms", "llama.cpp rel");
            for (int n = 1; n <= curve.MaxN; n++)
                ct.AddRow(CurveRow(curve, n));
            AnsiConsole.Write(ct);
        }
        if (r.Summaries.Count > 0) PrintDecodeTable(r);
        if (r.NativeLlamaBench is { } native)
            foreach (string line in NativeLlamaBench.Describe(native, r.ForwardCurve, ArDecodeTokensPerSecond(r)))
                AnsiConsole.WriteLine(line);
        foreach (var (method, why) in r.Skipped)
            AnsiConsole.WriteLine($"skipped {method}: {why}");
        if (r.Noisy) AnsiConsole.WriteLine(NoiseWarning(r));
    }

    private static void PrintDecodeTable(BenchReport r)
    {
        // The console gets a narrower table (geometric means in parentheses); results.md has every column.
        if (AnsiConsole.Profile.Width < 150) AnsiConsole.Profile.Width = 150;
        var table = new Table().Title($"decode, {r.Prompts} prompts, {r.MaxTokens} max new tokens, {r.Threads} threads, greedy");
        foreach (string h in ConsoleHeader) table.AddColumn(new TableColumn(h).RightAligned());
        string? lastTask = null;
        foreach (var s in r.Summaries)
        {
            if (lastTask != null && s.Task != lastTask) table.AddEmptyRow();
            lastTask = s.Task;
            table.AddRow(ConsoleRow(s).Select(Markup.Escape).ToArray());
        }
        AnsiConsole.Write(table);
        foreach (var s in r.Summaries.Where(s => s.Task == Summary.Overall && s.ExitLayerHistogram.Count > 0))
            AnsiConsole.WriteLine($"exit layers ({s.Method}): {Histogram(s.ExitLayerHistogram)}");
        foreach (var s in r.Summaries.Where(s => s.Task == Summary.Overall && s.VerifyShare != null))
            AnsiConsole.WriteLine($"{s.Method}: {TimeSplit(s)}; acceptance {Sources(s)}");
        if (CostTable(r) is string costs) AnsiConsole.WriteLine(costs);
    }

    private static double? ArDecodeTokensPerSecond(BenchReport r) =>
        r.Summaries.FirstOrDefault(s => s.Task == Summary.Overall && s.Method == "ar")?.DecodeTokensPerSecond;

    private static string[] CurveRow(ForwardCurveResult c, int n) =>
    [
        n.ToString(CultureInfo.InvariantCulture),
        F(c.SelfSpecSeconds[n] * 1e3, "F2"), F(ForwardCurveResult.Relative(c.SelfSpecSeconds, n), "F2"),
        F(c.LlamaCppSeconds?[n] * 1e3, "F2"), c.LlamaCppSeconds is { } l ? F(ForwardCurveResult.Relative(l, n), "F2") : "-",
    ];

    private static string NoiseWarning(BenchReport r) =>
        $"warning: load average {r.LoadAverageBefore:F1} before, {r.LoadAverageAfter:F1} after, on {Environment.ProcessorCount} logical cores: " +
        "other processes shared the CPU, so absolute figures and ratios are noisy";

    private static string Histogram(SortedDictionary<int, long> h) => string.Join(" ", h.Select(kv => $"L{kv.Key}:{kv.Value}"));

    /// <summary>The price bound's timed costs by batch size after the last speculative run (they are the model's, shared by all methods).</summary>
    private static string? CostTable(BenchReport r) => r.Runs.LastOrDefault(x => x.LayerMsByRows.Length > 0) is { } last
        ? $"timed costs after the last run (ms, 1, 2, ... rows): per layer {string.Join(" ", last.LayerMsByRows.Select(v => F(v, "F3")))}; " +
          $"head {string.Join(" ", last.HeadMsByRows.Select(v => F(v, "F3")))}" +
          (last.Stats is { PassCostByRows.Length: > 1 } st
              ? $"\n\na verified pass over n = 1, 2, ... rows relative to one row: {string.Join(" ", st.PassCostByRows.Select(v => F(v, "F2")))}; " +
                $"what each extra row adds (n = 2, 3, ...): {string.Join(" ", st.ExtraRowCostByRows.Select(v => F(v, "F3")))}"
              : "")
        : null;

    private static string TimeSplit(MethodSummary s) =>
        $"decode time: draft {F(s.DraftShare, "P1")}, verify {F(s.VerifyShare, "P1")}, exit heads {F(s.HeadShare, "P1")}, sampling {F(s.SamplingShare, "P1")}; rho {F(s.MeanRho, "F2")}";

    private static string Committed(MethodSummary s) => s.CommittedPerRoundBySource.Count == 0 ? "-" :
        string.Join(", ", s.CommittedPerRoundBySource.Select(kv => $"{kv.Key} {kv.Value.ToString("F2", CultureInfo.InvariantCulture)}"));

    private static string Sources(MethodSummary s) => s.AcceptanceBySource.Count == 0 ? "-" :
        string.Join(", ", s.AcceptanceBySource.Select(kv => $"{kv.Key} {kv.Value.Accepted}/{kv.Value.Drafted} ({kv.Value.Rate.ToString("P1", CultureInfo.InvariantCulture)})"));

    public static string Markdown(BenchReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# SelfSpec benchmark").AppendLine();
        sb.AppendLine($"- model: `{Path.GetFileName(r.Model)}` ({r.ModelFileBytes / 1e6:F1} MB file, {r.WeightBytes / 1e6:F1} MB of tensors)");
        sb.AppendLine($"- prompts: {r.Prompts} from `{Path.GetFileName(r.PromptFile)}`, up to {r.MaxTokens} new tokens, greedy, {r.Threads} threads");
        sb.AppendLine($"- methods (interleaved prompt by prompt): {string.Join(", ", r.Methods)}" +
            (r.Repeat > 1 ? $"; each prompt run {r.Repeat} times per method (order rotated), the fastest decode kept" : ""));
        sb.AppendLine($"- machine: {r.Machine}; started {r.Started:u}; load average {r.LoadAverageBefore:F1} before, {r.LoadAverageAfter:F1} after");
        sb.AppendLine($"- llama.cpp flash attention: {r.LlamaFlashAttention}");
        sb.AppendLine($"- calibration sidecar: {r.Sidecar}");
        if (r.Noisy) sb.AppendLine($"- **{NoiseWarning(r)}**");
        foreach (var (method, why) in r.Skipped) sb.AppendLine($"- skipped `{method}`: {why}");
        sb.AppendLine();
        sb.AppendLine("Decode tok/s = total tokens from the decode loop / total decode seconds (the first token comes from prefill); " +
            "geo = geometric mean over prompts. `x ar` / `x llama.cpp` = decode speed relative to that method on the same prompts " +
            "(ratio of totals; geo = geometric mean of per-prompt ratios). `= ar`: prompts whose greedy output equals `ar`'s token for token. " +
            "GB/s = bytes of all tensors x decode tok/s.").AppendLine();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("|" + string.Concat(Enumerable.Repeat("---:|", Header.Length)));
        foreach (var s in r.Summaries) sb.AppendLine("| " + string.Join(" | ", Row(s)) + " |");
        sb.AppendLine();
        var hist = r.Summaries.Where(s => s.ExitLayerHistogram.Count > 0).ToList();
        if (hist.Count > 0)
        {
            sb.AppendLine("## Exit-layer histograms").AppendLine();
            foreach (var s in hist) sb.AppendLine($"- {s.Task}, {s.Method}: {Histogram(s.ExitLayerHistogram)}");
            sb.AppendLine();
        }
        var split = r.Summaries.Where(s => s.VerifyShare != null).ToList();
        if (split.Count > 0)
        {
            sb.AppendLine("## Where decode time goes, and acceptance by draft source").AppendLine();
            sb.AppendLine("Shares of decode seconds (draft = forward calls while drafting, catch-up included; verify = the staircase forward " +
                "and the final head; exit heads; sampling = choosing and accepting tokens); rho = measured cost of a second row through a " +
                "layer relative to a one-row call, mean over prompts; rounds with a draft = share of verification rounds that had one; " +
                "committed per round = tokens a round commits, by the source of its first draft.").AppendLine();
            sb.AppendLine("| task | method | draft | verify | exit heads | sampling | rho | accepted / drafted by source | rounds with a draft | committed per round |")
                .AppendLine("|---|---|---:|---:|---:|---:|---:|---|---:|---|");
            foreach (var s in split)
                sb.AppendLine($"| {s.Task} | {s.Method} | {F(s.DraftShare, "P1")} | {F(s.VerifyShare, "P1")} | {F(s.HeadShare, "P1")} | {F(s.SamplingShare, "P1")} | {F(s.MeanRho, "F2")} | {Sources(s)} | {F(s.DraftRoundShare, "P1")} | {Committed(s)} |");
            sb.AppendLine();
            if (CostTable(r) is string costs) sb.AppendLine(costs).AppendLine();
        }
        if (r.ForwardCurve is { } c)
        {
            sb.AppendLine($"## Forward pass over n positions with logits for every row").AppendLine();
            sb.AppendLine($"After a {c.PrefixTokens}-token prompt; median of {c.Reps} repetitions; rel = time / time of n = 1.").AppendLine();
            sb.AppendLine("| n | SelfSpec ms | SelfSpec rel | llama.cpp ms | llama.cpp rel |").AppendLine("|---:|---:|---:|---:|---:|");
            for (int n = 1; n <= c.MaxN; n++) sb.AppendLine("| " + string.Join(" | ", CurveRow(c, n)) + " |");
            sb.AppendLine();
        }
        if (r.NativeLlamaBench is { } native)
        {
            sb.AppendLine("## Native llama.cpp (llama-bench)").AppendLine();
            foreach (string line in NativeLlamaBench.Describe(native, r.ForwardCurve, ArDecodeTokensPerSecond(r)))
                sb.AppendLine(line.StartsWith("  ", StringComparison.Ordinal) ? "- " + line.Trim() : line + "\n");
            sb.AppendLine();
        }
        sb.AppendLine("![speedup over ar](speedup.png)");
        return sb.ToString();
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // The library's statistics keep their own JSON form (the same as generate --json prints).
        TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.Combine(
            SelfSpec.Decoding.SelfSpecJsonContext.Default, new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver()),
    };

    public static void Write(BenchReport r, string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "results.json"), JsonSerializer.Serialize(r, Json));
        File.WriteAllText(Path.Combine(dir, "results.md"), Markdown(r));
    }
}
