using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SelfSpec;
using SelfSpec.Bench;
using SelfSpec.Decoding;
using Spectre.Console;

// The benchmark harness (architecture.md 7): SelfSpec's decoding methods and llama.cpp on the same prompts, file and
// threads, interleaved prompt by prompt so machine noise hits every method alike. Exit codes: 0 ok, 2 bad usage
// or input, 1 internal error.
try
{
    if (args.Length > 0 && args[0] == BatchedPeer.ChildVerb) return BatchedPeer.RunChild(args);
    return Harness.Run(BenchOptions.Parse(args));
}
catch (HelpRequested)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}
catch (SelfSpecException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"internal error: {e}");
    return 1;
}

internal static class Harness
{
    /// <summary>Positions of prompt in the KV cache before the forward-pass curve's batches.</summary>
    private const int CurvePrefix = 100;

    public static int Run(BenchOptions o)
    {
        string modelPath = Path.GetFullPath(ModelLocator.Resolve(o.Model));
        if (!File.Exists(modelPath)) throw new InvalidRequestException($"model file {modelPath} does not exist");
        if (o.LlamaBench != null && !File.Exists(o.LlamaBench)) throw new InvalidRequestException($"--llama-bench: {o.LlamaBench} does not exist");
        string promptPath = Path.GetFullPath(o.Prompts ?? BenchOptions.DefaultPrompts());
        var started = DateTimeOffset.Now;
        double? loadBefore = LoadAverage();
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 240;

        using var lm = LanguageModel.Load(modelPath, ModelLoadOptions.FromCommandLine(o.Threads, o.Sidecar));
        if (lm.SidecarWarning != null) AnsiConsole.WriteLine($"warning: {lm.SidecarWarning}");
        // The datastore keeps one answer per question, added after all of the question's runs: a method must not
        // draft from another method's (or its own earlier repetition's) answer to the same question.
        lm.RecordsAnswers = false;
        AnsiConsole.WriteLine(lm.SidecarPath != null ? $"calibration sidecar {lm.SidecarPath}" : "no calibration sidecar (default speculation settings)");
        long weightBytes = lm.WeightBytes;
        var prompts = PromptSet.Stratified(PromptSet.Load(promptPath), o.Limit);
        PromptSet.Tokenize(lm, prompts);
        if (o.Clients.Count > 0)
        {
            ConcurrentLoad.Run(modelPath, o, prompts);
            return 0;
        }
        if (o.Profile)
        {
            StageProfile.Run(lm, o.Threads, prompts[0].Tokens, Math.Max(o.CurveReps, 200));
            return 0;
        }
        var methods = o.CurveOnly ? [] : o.Methods;
        // The peer joins the curve only when it is among --methods: its worker threads spin after each call and
        // slow the engine measured next, so a clean curve of SelfSpec alone is `--forward-curve --methods ar`.
        bool wantPeer = o.Methods.Any(m => m.IsLlamaCpp);
        AnsiConsole.WriteLine($"model {modelPath} ({lm.FileSize / 1e6:F1} MB, {weightBytes / 1e6:F1} MB of tensors), {o.Threads} threads");
        AnsiConsole.WriteLine(o.CurveOnly
            ? "forward-pass curve only"
            : $"{prompts.Count} prompts from {promptPath}; methods {string.Join(",", methods.Select(m => m.Name))}; up to {o.MaxTokens} new tokens" +
              (o.Repeat > 1 ? $"; {o.Repeat} runs a prompt per method, fastest kept" : ""));

        var skipped = new Dictionary<string, string>();
        LlamaCppPeer? peer = null;
        if (wantPeer)
        {
            int longest = Math.Max(CurvePrefix + o.CurveMaxBatch, prompts.Max(p => p.Tokens.Length) + o.MaxTokens + 1);
            uint ctx = (uint)Math.Min(lm.Config.ContextLength, longest);
            try
            {
                peer = new LlamaCppPeer(modelPath, o.Threads, ctx, o.LlamaFlashAttention);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                skipped["llamacpp"] = $"llama.cpp could not load the model: {e.Message}";
            }
        }
        try
        {
            ForwardCurveResult? curve = o.NoCurve ? null : MeasureCurve(lm, peer, o, prompts[0].Tokens);
            var runs = new List<PromptRun>();
            if (methods.Count > 0)
            {
                WarmUp(lm, peer, methods, prompts[0], skipped, o);
                RunPrompts(lm, peer, o, methods, prompts, runs, skipped);
            }
            // The native peer runs last, in its own process, so nothing of it overlaps SelfSpec's timed work.
            NativeLlamaBenchResult? native = null;
            if (o.LlamaBench != null)
            {
                int depth = o.CurveOnly ? CurvePrefix : (int)Math.Round(prompts.Average(p => p.Tokens.Length));
                AnsiConsole.WriteLine($"running {o.LlamaBench} (pp {string.Join(",", NativeLlamaBenchResult.PromptSizes)}, tg{NativeLlamaBenchResult.GeneratedTokens} at depth {depth})");
                native = NativeLlamaBench.Run(o.LlamaBench, modelPath, o.Threads, depth, reps: 3);
            }
            var names = methods.Select(m => m.Name).ToList();
            var report = new BenchReport
            {
                Model = modelPath,
                ModelFileBytes = lm.FileSize,
                WeightBytes = weightBytes,
                PromptFile = promptPath,
                Prompts = prompts.Count,
                MaxTokens = o.MaxTokens,
                Threads = o.Threads,
                Methods = names,
                Repeat = o.Repeat,
                Skipped = skipped,
                Machine = Machine(),
                LoadAverageBefore = loadBefore,
                LoadAverageAfter = LoadAverage(),
                Sidecar = lm.SidecarPath ?? "none",
                LlamaFlashAttention = o.LlamaFlashAttention switch { true => "on", false => "off", null => "llama.cpp default" },
                Started = started,
                ForwardCurve = curve,
                NativeLlamaBench = native,
                Summaries = Summary.Build(runs, names, weightBytes),
                Runs = runs,
            };
            Report.Print(report);
            Report.Write(report, o.Out);
            if (report.Summaries.Count > 0 && names.Any(n => n != "ar")) SpeedupChart.Write(report.Summaries, names, Path.Combine(o.Out, "speedup.png"));
            AnsiConsole.WriteLine($"wrote {Path.GetFullPath(o.Out)}/results.json, results.md{(report.Summaries.Count > 0 ? ", speedup.png" : "")}");
            return 0;
        }
        finally
        {
            peer?.Dispose();
        }
    }

    private static ForwardCurveResult MeasureCurve(LanguageModel lm, LlamaCppPeer? peer, BenchOptions o, int[] seed)
    {
        int[] prefix = ForwardCurve.Prefix(seed, CurvePrefix);
        int maxN = o.CurveMaxBatch;
        double[] mine = [];
        double[]? theirs = null;
        WithProgress(o.CurveReps + 3, "forward-pass curve", step =>
        {
            using var selfSpec = new SelfSpecForwardTimer(lm, o.Threads, prefix, maxN);
            (mine, theirs) = ForwardCurve.Measure(selfSpec, peer?.ForwardTimer(prefix, maxN), maxN, o.CurveReps, step);
        });
        return new ForwardCurveResult(prefix.Length, o.CurveReps, mine, theirs);
    }

    /// <summary>Compiles every path once (a few tokens on the first prompt, not recorded) and finds the methods this build lacks.</summary>
    private static void WarmUp(LanguageModel lm, LlamaCppPeer? peer, IReadOnlyList<BenchMethod> methods, BenchPrompt prompt, Dictionary<string, string> skipped, BenchOptions o)
    {
        foreach (var m in methods)
        {
            if (skipped.ContainsKey(m.Name)) continue;
            try
            {
                RunOne(lm, peer, m, prompt, 32, o);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                skipped[m.Name] = e.Message;
            }
        }
    }

    private static void RunPrompts(LanguageModel lm, LlamaCppPeer? peer, BenchOptions o, IReadOnlyList<BenchMethod> methods,
        List<BenchPrompt> prompts, List<PromptRun> runs, Dictionary<string, string> skipped)
    {
        var active = methods.Where(m => !skipped.ContainsKey(m.Name)).ToList();
        WithProgress(prompts.Count * active.Count * o.Repeat, "prompts", step =>
        {
            foreach (var p in prompts)
            {
                // The fastest of the prompt's runs per method; each repetition starts the round at another method,
                // so none always runs right after llama.cpp (whose spinning threads slow what follows).
                var best = new Dictionary<string, PromptRun>();
                for (int rep = 0; rep < o.Repeat; rep++)
                {
                    for (int k = 0; k < active.Count; k++)
                    {
                        var m = active[(k + rep) % active.Count];
                        if (skipped.ContainsKey(m.Name)) { step($"{p.Id} {m.Name} skipped"); continue; }
                        try
                        {
                            var r = RunOne(lm, peer, m, p, o.MaxTokens, o);
                            if (best.TryGetValue(m.Name, out var earlier) && !earlier.Output.AsSpan().SequenceEqual(r.Output))
                                throw new InvalidOperationException($"greedy output changed between repetitions of prompt {p.Id}");
                            if (earlier == null || r.DecodeSeconds < earlier.DecodeSeconds) best[m.Name] = r;
                            step($"q{p.Id} {p.Task}: {m.Name} {r.Generated} tokens, {r.DecodeTokensPerSecond:F1} tok/s");
                        }
                        catch (Exception e) when (e is not OutOfMemoryException)
                        {
                            skipped[m.Name] = $"failed on prompt {p.Id}: {e.Message}";
                            best.Remove(m.Name);
                            step($"q{p.Id} {m.Name} failed: {e.Message}");
                        }
                    }
                }
                var mine = active.Where(m => best.ContainsKey(m.Name)).Select(m => best[m.Name]).ToList();
                var ar = mine.FirstOrDefault(r => r.Method == "ar");
                if (ar != null)
                    foreach (var r in mine) r.EqualsAr = r.Output.AsSpan().SequenceEqual(ar.Output);
                runs.AddRange(mine);
                var answer = ar ?? mine.FirstOrDefault(r => r.Method != "llamacpp");
                if (answer != null) lm.RememberAnswer(answer.Output);
            }
        });
    }

    private static PromptRun RunOne(LanguageModel lm, LlamaCppPeer? peer, BenchMethod m, BenchPrompt p, int maxTokens, BenchOptions o)
    {
        if (m.Decoding is DecodingMethod method)
        {
            var options = new GenerationOptions { MaxTokens = maxTokens, Method = method, Speculation = o.Speculation(lm.SpeculationDefaults) };
            var g = lm.Generate(p.Tokens, options);
            var s = g.Stats;
            return new PromptRun
            {
                Prompt = p.Index, Id = p.Id, Task = p.Task, Method = m.Name, PromptTokens = p.Tokens.Length,
                Output = g.OutputTokens, Finish = g.FinishReason.ToString(),
                PrefillSeconds = s.PrefillSeconds, DecodeSeconds = s.DecodeSeconds,
                Rounds = s.Rounds, Drafted = s.Drafted, Accepted = s.Accepted,
                ExitLayerHistogram = new Dictionary<int, int>(s.ExitLayerHistogram),
                DraftedBySource = new Dictionary<string, int>(s.DraftedBySource),
                AcceptedBySource = new Dictionary<string, int>(s.AcceptedBySource),
                DraftSeconds = s.DraftSeconds, VerifySeconds = s.VerifySeconds, HeadSeconds = s.HeadSeconds,
                SamplingSeconds = s.SamplingSeconds, Rho = s.Rho,
                LayerMsByRows = s.LayerMillisecondsByRows, HeadMsByRows = s.HeadMillisecondsByRows,
                Stats = s,
            };
        }
        if (peer == null) throw new InvalidRequestException("llama.cpp is not loaded");
        var r = peer.Generate(p.Tokens, maxTokens, lm.Tokenizer.IsEndOfGeneration);
        return new PromptRun
        {
            Prompt = p.Index, Id = p.Id, Task = p.Task, Method = m.Name, PromptTokens = p.Tokens.Length,
            Output = r.Output, Finish = r.Output.Length >= maxTokens ? "Length" : "EndOfGeneration",
            PrefillSeconds = r.PrefillSeconds, DecodeSeconds = r.DecodeSeconds,
            Rounds = Math.Max(0, r.Output.Length - 1),
        };
    }

    /// <summary>A Spectre progress bar on a terminal; plain numbered lines when output is redirected.</summary>
    private static void WithProgress(int total, string title, Action<Action<string>> body)
    {
        if (!Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(1, total));
                    body(line =>
                    {
                        task.Description = Markup.Escape(line);
                        task.Increment(1);
                    });
                    task.Description = Markup.Escape(title);
                });
            return;
        }
        int done = 0;
        body(line => Console.WriteLine($"[{++done}/{total}] {line}"));
    }

    /// <summary>The one-minute load average (Linux), to tell a quiet machine from a busy one in the report.</summary>
    private static double? LoadAverage()
    {
        try
        {
            string first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.TryParse(first, System.Globalization.CultureInfo.InvariantCulture, out double v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Machine() =>
        $"{Environment.ProcessorCount} logical cores, {RuntimeInformation.ProcessArchitecture}, {RuntimeInformation.OSDescription}, " +
        $".NET {Environment.Version}, Vector512 {(Vector512.IsHardwareAccelerated ? "yes" : "no")}";
}
