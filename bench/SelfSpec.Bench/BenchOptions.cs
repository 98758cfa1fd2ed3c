using SelfSpec.Decoding;

namespace SelfSpec.Bench;

/// <summary>A method the harness can run: one of SelfSpec's decoding methods, or llama.cpp as the peer.</summary>
internal sealed record BenchMethod(string Name, DecodingMethod? Decoding)
{
    public bool IsLlamaCpp => Decoding == null;

    public static readonly BenchMethod[] All =
    [
        new("ar", DecodingMethod.Autoregressive),
        new("specbound", DecodingMethod.SpecBound),
        new("hybrid", DecodingMethod.Hybrid),
        new("static", DecodingMethod.Static),
        new("lookup", DecodingMethod.Lookup),
        new("llamacpp", null),
    ];

    public static BenchMethod Parse(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidRequestException($"unknown method '{name}': expected one of {string.Join(", ", All.Select(m => m.Name))}");
}

/// <summary>Command-line settings of the harness (architecture.md 7).</summary>
internal sealed record BenchOptions
{
    public string? Model { get; init; }
    public string? Prompts { get; init; }
    public int MaxTokens { get; init; } = 256;
    public IReadOnlyList<BenchMethod> Methods { get; init; } = [BenchMethod.Parse("ar"), BenchMethod.Parse("llamacpp")];
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int Limit { get; init; }
    /// <summary>Runs of each prompt per method; the fastest decode is kept (this machine's noise only ever adds time).</summary>
    public int Repeat { get; init; } = 1;
    public string Out { get; init; } = "bench-results";
    /// <summary>0: the brief curve before the run; >0: that many timed repetitions per batch size.</summary>
    public int CurveReps { get; init; } = 5;
    public int CurveMaxBatch { get; init; } = 16;
    public bool CurveOnly { get; init; }
    public bool NoCurve { get; init; }
    /// <summary>Only print the per-stage profile of a forward pass (needs SELFSPEC_PROFILE=1).</summary>
    public bool Profile { get; init; }
    /// <summary>llama.cpp's flash attention; null leaves llama.cpp's default.</summary>
    public bool? LlamaFlashAttention { get; init; }
    /// <summary>Calibration sidecar: null = MODEL.selfspec when it exists, "none" = none, else a path.</summary>
    public string? Sidecar { get; init; }
    /// <summary>A native llama.cpp llama-bench binary to run beside SelfSpec, as a separate process (null: none).</summary>
    public string? LlamaBench { get; init; }
    /// <summary>Overrides of the speculation settings (null: the model's defaults), for sweeps.</summary>
    public int? MaxDrafts { get; init; }
    public int? StaticExitLayer { get; init; }
    public int? StaticDraftLength { get; init; }
    public int? MinNgram { get; init; }
    public int? MaxNgram { get; init; }
    public bool NoPriceBound { get; init; }
    /// <summary>Concurrent client counts for the continuous-batching load run (empty: the usual prompt-by-prompt run).</summary>
    public IReadOnlyList<int> Clients { get; init; } = [];

    /// <summary>The model's speculation defaults with this run's overrides.</summary>
    public SpeculationOptions Speculation(SpeculationOptions defaults) => defaults with
    {
        MaxDrafts = MaxDrafts ?? defaults.MaxDrafts,
        StaticExitLayer = StaticExitLayer ?? defaults.StaticExitLayer,
        StaticDraftLength = StaticDraftLength ?? defaults.StaticDraftLength,
        LookupMinNgram = MinNgram ?? defaults.LookupMinNgram,
        LookupMaxNgram = Math.Max(MinNgram ?? 1, MaxNgram ?? defaults.LookupMaxNgram),
        HybridMinNgram = MinNgram ?? defaults.HybridMinNgram,
        PriceBound = defaults.PriceBound && !NoPriceBound,
    };

    public const string Usage =
        "usage: SelfSpec.Bench [--model PATH] [--prompts FILE.jsonl] [--max-tokens N] " +
        "[--methods ar,specbound,hybrid,static,lookup,llamacpp] [--threads N] [--limit K] [--repeat N] [--out DIR]\n" +
        "                      [--forward-curve] [--no-curve] [--curve-reps R] [--profile] [--llama-flash-attention on|off|auto] [--sidecar PATH|none]\n" +
        "                      [--llama-bench PATH]\n" +
        "                      [--w-max N] [--static-layer L] [--static-length N] [--min-ngram N] [--max-ngram N] [--no-bound] [--clients 1,2,4,8]\n" +
        "  --forward-curve  only measure the cost of a forward pass over 1..16 positions (logits for every row), SelfSpec and llama.cpp (SelfSpec alone unless --methods lists llamacpp)\n" +
        "  --profile        only print where a forward pass over 1, 2, 3, 4 and 8 positions spends its time (run with SELFSPEC_PROFILE=1)\n" +
        "  --llama-bench    a native llama.cpp llama-bench binary: run after SelfSpec's timed work, as a separate process, for the pp 1-64 curve and tg128 at the prompts' depth, reported beside SelfSpec's figures\n" +
        "  --sidecar        calibration sidecar for SelfSpec's methods (default: MODEL.selfspec when present; none: without)\n" +
        "  --clients        only measure continuous batching: aggregate decode tokens/s of that many concurrent streaming greedy clients (--repeat rounds, interleaved)\n" +
        "  --no-curve       skip the brief forward-pass curve that otherwise runs before the prompts\n" +
        "  --repeat         run each prompt N times per method (method order rotated each time) and keep the fastest decode\n" +
        "  --w-max, --static-layer, --static-length, --min-ngram (lookup and hybrid), --max-ngram, --no-bound: override the speculation settings (sweeps)\n" +
        "  defaults: the bundled model, ../shared/data/spec-bench/questions.dev.jsonl, 256 tokens, ar,llamacpp, all cores, bench-results/";

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new InvalidRequestException($"{a} needs a value");
            int Int(int min)
            {
                string v = Value();
                if (!int.TryParse(v, out int n) || n < min) throw new InvalidRequestException($"{a} expects an integer >= {min}, got '{v}'");
                return n;
            }
            o = a switch
            {
                "--model" => o with { Model = Value() },
                "--prompts" => o with { Prompts = Value() },
                "--max-tokens" => o with { MaxTokens = Int(1) },
                "--methods" => o with { Methods = ParseMethods(Value()) },
                "--threads" => o with { Threads = Int(1) },
                "--limit" => o with { Limit = Int(1) },
                "--repeat" => o with { Repeat = Int(1) },
                "--out" => o with { Out = Value() },
                "--forward-curve" => o with { CurveOnly = true, CurveReps = Math.Max(o.CurveReps, 15) },
                "--no-curve" => o with { NoCurve = true },
                "--profile" => o with { Profile = true },
                "--sidecar" => o with { Sidecar = Value() },
                "--llama-bench" => o with { LlamaBench = Value() },
                "--w-max" => o with { MaxDrafts = Int(1) },
                "--static-layer" => o with { StaticExitLayer = Int(1) },
                "--static-length" => o with { StaticDraftLength = Int(1) },
                "--min-ngram" => o with { MinNgram = Int(1) },
                "--max-ngram" => o with { MaxNgram = Int(1) },
                "--no-bound" => o with { NoPriceBound = true },
                "--clients" => o with { Clients = ParseClients(Value()) },
                "--curve-reps" => o with { CurveReps = Int(1) },
                "--llama-flash-attention" => o with { LlamaFlashAttention = Value() switch
                {
                    "on" => true,
                    "off" => false,
                    "auto" => null,
                    var v => throw new InvalidRequestException($"--llama-flash-attention expects on, off or auto, got '{v}'"),
                } },
                "-h" or "--help" => throw new HelpRequested(),
                _ => throw new InvalidRequestException($"unknown argument '{a}'"),
            };
        }
        return o;
    }

    private static List<int> ParseClients(string list)
    {
        var counts = new List<int>();
        foreach (string part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out int n) || n < 1 || n > LanguageModel.MaxBatch)
                throw new InvalidRequestException($"--clients expects counts between 1 and {LanguageModel.MaxBatch}, got '{part}'");
            counts.Add(n);
        }
        if (counts.Count == 0) throw new InvalidRequestException("--clients lists no count");
        return [.. counts.Distinct().Order()];
    }

    private static List<BenchMethod> ParseMethods(string list)
    {
        var methods = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(BenchMethod.Parse).Distinct().ToList();
        if (methods.Count == 0) throw new InvalidRequestException("--methods lists no method");
        return methods;
    }

    /// <summary>The default prompt file: ../shared/data/spec-bench/questions.dev.jsonl beside the repository root.</summary>
    public static string DefaultPrompts()
    {
        const string relative = "shared/data/spec-bench/questions.dev.jsonl";
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "SelfSpec.sln")))
                {
                    string candidate = Path.GetFullPath(Path.Combine(dir.FullName, "..", relative));
                    if (File.Exists(candidate)) return candidate;
                }
                string direct = Path.Combine(dir.FullName, relative);
                if (File.Exists(direct)) return direct;
            }
        }
        throw new InvalidRequestException($"no prompt file given and ../{relative} was not found beside the repository: pass --prompts FILE.jsonl");
    }
}

internal sealed class HelpRequested : Exception;
