using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SelfSpec.Calibration;
using Spectre.Console;

namespace SelfSpec.Cli;

/// <summary>
/// <c>selfspec calibrate</c> (architecture.md 6): trains exit heads and measures speculation parameters for one model, and
/// writes them to <c>MODEL.gguf.selfspec</c> (or --out), which generate and the library then load by themselves.
/// </summary>
internal static class CalibrateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var threads = CommonOptions.Threads();
        var prompts = new Option<string?>("--prompts") { Description = "JSONL prompts (JSON strings, or objects with \"turns\"); default: the built-in mixed set" };
        var positions = new Option<int>("--positions") { Description = "positions to record (memory: about 8 KB each with 7 candidate layers)", DefaultValueFactory = _ => 30_000 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "greedy tokens generated per prompt", DefaultValueFactory = _ => 160 };
        var layers = new Option<string?>("--layers") { Description = "candidate exit layers to fit, e.g. 4,6,8,10,12,16,20 (default)" };
        var distill = new Option<double>("--distill-seconds") { Description = "distillation budget for all layers together", DefaultValueFactory = _ => 150 };
        var output = new Option<string?>("--out") { Description = "sidecar path (default: MODEL.selfspec beside the model)" };
        var json = new Option<bool>("--json") { Description = "print the report as one JSON object" };
        var cmd = new Command("calibrate", "fit exit heads and measure speculation parameters; write the sidecar beside the model")
        {
            model, prompts, positions, maxNew, layers, distill, threads, output, json,
        };
        cmd.SetAction(r => ExitCodes.Guard(() =>
        {
            var options = new CalibrationOptions
            {
                Positions = r.GetValue(positions),
                MaxNewTokens = r.GetValue(maxNew),
                DistillSeconds = r.GetValue(distill),
                Layers = ParseLayers(r.GetValue(layers)),
                PromptsPath = r.GetValue(prompts),
            };
            options.Validate(); // before the model loads
            string path = ModelLocator.Resolve(r.GetValue(model));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var lm = LanguageModel.Load(path, new ModelLoadOptions { Threads = r.GetValue(threads), Calibration = CalibrationChoice.None, RememberedAnswers = 0 });
            string outPath = r.GetValue(output) ?? lm.DefaultSidecarPath;
            var report = WithProgress(progress => lm.Calibrate(options, progress));
            double total = clock.Elapsed.TotalSeconds;
            using (var summary = new MemoryStream())
            {
                WriteJson(summary, report, outPath, total, indented: false);
                report.WriteSidecar(outPath, System.Text.Encoding.UTF8.GetString(summary.ToArray()));
            }
            if (r.GetValue(json)) PrintJson(report, outPath, total);
            else Print(report, outPath, total, lm.Threads);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    private static int[]? ParseLayers(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int l) && l > 0
                ? l
                : throw new InvalidRequestException($"--layers: '{p}' is not a positive layer number"))
            .Distinct().Order().ToArray();
    }

    /// <summary>A progress bar on an interactive terminal (on stderr's console), otherwise a line per stage on stderr.</summary>
    private static CalibrationReport WithProgress(Func<IProgress<CalibrationProgress>, CalibrationReport> body)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (!Console.IsErrorRedirected && console.Profile.Capabilities.Interactive)
        {
            CalibrationReport? result = null;
            console.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("calibrating", maxValue: 1000);
                    result = body(new Progress(p =>
                    {
                        task.Description = Markup.Escape(p.Step);
                        task.Value = 1000 * p.Fraction;
                    }));
                });
            return result!;
        }
        string last = "";
        int lastStep = -1;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        return body(new Progress(p =>
        {
            int step = (int)(p.Fraction * 20); // a line per stage and per 5%
            if (p.Stage == last && step == lastStep) return;
            last = p.Stage;
            lastStep = step;
            Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,6:F1}s {p.Fraction,4:P0}] {p.Step}");
        }));
    }

    /// <summary>Progress reported on the calibrating thread itself (System.Progress would post to the thread pool, out of order).</summary>
    private sealed class Progress(Action<CalibrationProgress> report) : IProgress<CalibrationProgress>
    {
        public void Report(CalibrationProgress value) => report(value);
    }

    private static void Print(CalibrationReport r, string outPath, double total, int threads)
    {
        var o = AnsiConsole.Console;
        if (Console.IsOutputRedirected) o.Profile.Width = 200;
        o.WriteLine($"calibrated in {total:F0} s with {threads} threads: {r.Positions:N0} positions from {r.Prompts} prompts " +
            $"({r.DataBytes / 1e6:F0} MB recorded; {r.TrainPositions:N0} train, {r.ValidationPositions:N0} validation, {r.TestPositions:N0} test positions)");
        o.WriteLine("stages: " + string.Join(", ", r.StageSeconds.Select(s => $"{s.Key} {s.Value:F0} s")));

        var layers = new Table().Title("held-out (test) agreement with the final greedy token, " + $"{r.Vocab[^1].Size}-token draft vocabulary");
        layers.AddColumns("exit after layer", "own head", "ridge", "distilled", "ridge lambda (rel.)", "val. KL ridge -> distilled", "steps");
        foreach (var l in r.Layers)
            layers.AddRow($"{l.Layer}", P(l.Before), P(l.Ridge), P(l.Distilled), $"{l.Lambda:G2}", $"{l.KlRidge:F3} -> {l.KlDistilled:F3}", $"{l.Steps} ({l.Seconds:F0} s)");
        o.Write(layers);

        var vocab = new Table().Title("draft vocabulary (distilled exits, mean over layers)");
        vocab.AddColumns("size", "covers final tokens", "agreement", "head call", "cost saved vs full head");
        foreach (var v in r.Vocab)
            vocab.AddRow($"{v.Size}", P(v.Coverage), P(v.Agreement), $"{v.HeadMilliseconds:F3} ms", P(v.CostSaved));
        vocab.AddRow("full", "100%", "-", $"{r.Costs.HeadByRows[0] * 1e3:F3} ms", "0%");
        o.Write(vocab);
        var k = r.Costs;
        o.WriteLine($"costs (the decoder's table after timing rounds): plain token {k.PlainToken * 1e3:F2} ms; layer by rows " +
            string.Join(" / ", k.LayerByRows.Select(x => $"{x * 1e6:F0}")) + " us; final head by rows " +
            string.Join(" / ", k.HeadByRows.Select(x => $"{x * 1e6:F0}")) + " us; exit head " +
            string.Join(", ", k.ExitHead.OrderBy(e => e.Key).Select(e => $"{e.Value * 1e6:F0} us ({e.Key})")));
        var dk = r.DecoderCosts;
        o.WriteLine($"the model's table after the confirming runs: plain token {dk.PlainToken * 1e3:F2} ms; layer by rows " +
            string.Join(" / ", dk.LayerByRows.Select(x => $"{x * 1e6:F0}")) + " us; final head by rows " +
            string.Join(" / ", dk.HeadByRows.Select(x => $"{x * 1e6:F0}")) + " us");

        var search = new Table().Title("parameter search: real decoding on test prompts (best simulated settings)");
        search.AddColumns("", "exit layers", "alpha", "tau", "w_max", "draft vocab", "simulated", "ar tok/s", "specbound", "hybrid");
        foreach (var c in r.Confirmed)
            search.AddRow(c == r.Chosen ? "chosen" : c.Label, string.Join(",", c.Spec.ExitLayers), $"{c.Spec.Alpha:G3}", $"{c.Spec.Tau:G3}", $"{c.Spec.ResolveMaxExitDrafts()}",
                $"{c.Vocab}", $"{c.EstimatedSpeedup:F2}x", $"{c.ArTokensPerSecond:F1}",
                $"{c.SpecBoundTokensPerSecond:F1} ({c.SpecBoundTokensPerSecond / c.ArTokensPerSecond:F2}x)",
                $"{c.HybridTokensPerSecond:F1} ({c.HybridTokensPerSecond / c.ArTokensPerSecond:F2}x)");
        o.Write(search);
        o.WriteLine($"wrote {outPath}");
    }

    private static string P(double v) => $"{100 * v:F1}%";

    private static void PrintJson(CalibrationReport r, string outPath, double total)
    {
        using var stdout = Console.OpenStandardOutput();
        WriteJson(stdout, r, outPath, total, indented: true);
        stdout.WriteByte((byte)'\n');
    }

    private static void WriteCosts(Utf8JsonWriter w, string name, CalibrationCosts k)
    {
        w.WriteStartObject(name);
        w.WriteNumber("plain_token_ms", Math.Round(k.PlainToken * 1e3, 4));
        w.WriteStartArray("layer_ms_by_rows");
        foreach (double x in k.LayerByRows) w.WriteNumberValue(Math.Round(x * 1e3, 4));
        w.WriteEndArray();
        w.WriteStartArray("head_ms_by_rows");
        foreach (double x in k.HeadByRows) w.WriteNumberValue(Math.Round(x * 1e3, 4));
        w.WriteEndArray();
        w.WriteStartObject("exit_head_ms");
        foreach (var (size, x) in k.ExitHead.OrderBy(e => e.Key)) w.WriteNumber($"{size}", Math.Round(x * 1e3, 4));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteJson(Stream stream, CalibrationReport r, string outPath, double total, bool indented)
    {
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteString("sidecar", outPath);
            w.WriteNumber("seconds", Math.Round(total, 2));
            w.WriteNumber("positions", r.Positions);
            w.WriteNumber("train_positions", r.TrainPositions);
            w.WriteNumber("validation_positions", r.ValidationPositions);
            w.WriteNumber("test_positions", r.TestPositions);
            w.WriteNumber("prompts", r.Prompts);
            w.WriteNumber("data_bytes", r.DataBytes);
            w.WriteStartObject("stage_seconds");
            foreach (var (k, v) in r.StageSeconds) w.WriteNumber(k, Math.Round(v, 2));
            w.WriteEndObject();
            WriteCosts(w, "costs", r.Costs);
            WriteCosts(w, "decoder_costs", r.DecoderCosts);
            w.WriteStartArray("layers");
            foreach (var l in r.Layers)
            {
                w.WriteStartObject();
                w.WriteNumber("layer", l.Layer);
                w.WriteNumber("own_head", Math.Round(l.Before, 4));
                w.WriteNumber("ridge", Math.Round(l.Ridge, 4));
                w.WriteNumber("distilled", Math.Round(l.Distilled, 4));
                w.WriteNumber("lambda_relative", l.Lambda);
                w.WriteNumber("kl_ridge", Math.Round(l.KlRidge, 4));
                w.WriteNumber("kl_distilled", Math.Round(l.KlDistilled, 4));
                w.WriteNumber("steps", l.Steps);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("draft_vocab");
            foreach (var v in r.Vocab)
            {
                w.WriteStartObject();
                w.WriteNumber("size", v.Size);
                w.WriteNumber("coverage", Math.Round(v.Coverage, 4));
                w.WriteNumber("agreement", Math.Round(v.Agreement, 4));
                w.WriteNumber("head_ms", Math.Round(v.HeadMilliseconds, 4));
                w.WriteNumber("cost_saved", Math.Round(v.CostSaved, 4));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("confirmed");
            foreach (var c in r.Confirmed)
            {
                w.WriteStartObject();
                w.WriteBoolean("chosen", c == r.Chosen);
                w.WriteStartArray("exit_layers");
                foreach (int l in c.Spec.ExitLayers) w.WriteNumberValue(l);
                w.WriteEndArray();
                w.WriteNumber("alpha", c.Spec.Alpha);
                w.WriteNumber("tau", c.Spec.Tau);
                w.WriteNumber("d_max", c.Spec.MaxDepth);
                w.WriteNumber("w_max", c.Spec.ResolveMaxExitDrafts());
                w.WriteNumber("draft_vocab", c.Vocab);
                w.WriteNumber("simulated_speedup", Math.Round(c.EstimatedSpeedup, 4));
                w.WriteNumber("ar_tokens_per_s", Math.Round(c.ArTokensPerSecond, 2));
                w.WriteNumber("specbound_tokens_per_s", Math.Round(c.SpecBoundTokensPerSecond, 2));
                w.WriteNumber("hybrid_tokens_per_s", Math.Round(c.HybridTokensPerSecond, 2));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }
}
